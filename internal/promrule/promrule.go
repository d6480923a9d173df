// Package promrule generates the Prometheus recording and alerting rules of a ServiceLevel
// with a Prometheus SLI (spec.objectives.sli.prometheusRule set), as Sloth generates them
// (https://sloth.dev, the multi-window multi-burn-rate alerts of the Google SRE workbook,
// chapter 5 "Alerting on SLOs"): a pure function from the ServiceLevel to rule groups; the
// controller in controllers/promrule writes them as a PrometheusRule (monitoring.coreos.com/v1).
//
// Three groups, each named after the ServiceLevel (itops-sli-recordings-<namespace>-<name>,
// itops-slo-meta-recordings-..., itops-slo-alerts-...). Every recorded series carries the
// labels namespace and servicelevel, so the rules of several ServiceLevels never collide:
//
//   - itops:sli_error:ratio_rate<w>: the SLI's error ratio, 1 - good/total, over every distinct
//     window w of spec.burnRateAlerts (rate over w of the user's queries), and over the
//     objective's window W as the average of the shortest window's ratio over W (Sloth's
//     sum_over_time / count_over_time: no rate over 30 days of raw counters);
//   - itops:objective:ratio, itops:error_budget:ratio (1 - objective), itops:current_burn_rate:ratio
//     (shortest window), itops:period_burn_rate:ratio and
//     itops:period_error_budget_remaining:ratio (over W);
//   - one alert ItopsErrorBudgetBurn per burn-rate alert: the error ratio over both its long and
//     its short window above factor × (1 − objective), labels severity (page for a factor of 6
//     or more, else ticket, the workbook's table), long_window, short_window and
//     spec.objectives.sli.prometheusRule.labels; no `for:` (as Sloth: the short window is the
//     confirmation, and `for` only delays the page).
//
// Windows are written in Prometheus duration syntax (90m -> 1h30m, 720h -> 30d). A calendar
// window (Month, Week) has no PromQL equivalent: its rules cover the rolling window of the
// period's usual length (30d, 7d); the operator's own books keep the calendar period.
//
// Why not Sloth's own generator (github.com/slok/sloth/pkg/lib, a Go library since v0.15):
// it takes a Sloth, Kubernetes-Sloth or OpenSLO spec rather than our ServiceLevel (its alert
// windows come from its own window catalogue, not spec.burnRateAlerts; no calendar windows),
// its rules would query differently from the operator's own measurement, which must be the
// same queries (promsli.Templates), and its module brings Prometheus itself, a Go interpreter
// for SLI plugins (yaegi), MetricsQL and a second operator framework into the operator's
// binary. The rules here are the workbook's formulas, tested against a real Prometheus in e2e.
package promrule

import (
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/health"
	"github.com/itops-dev/itops-operator/internal/promsli"
	"github.com/itops-dev/itops-operator/internal/slo"
)

// Names of the generated series, alert and labels.
const (
	// AlertName is the name of every generated burn-rate alert.
	AlertName = "ItopsErrorBudgetBurn"
	// LabelNamespace and LabelServiceLevel identify the ServiceLevel on every generated series
	// and alert.
	LabelNamespace    = "namespace"
	LabelServiceLevel = "servicelevel"
	// LabelSeverity is page or ticket; LabelLongWindow and LabelShortWindow tell one alert of a
	// ServiceLevel from another.
	LabelSeverity    = "severity"
	LabelLongWindow  = "long_window"
	LabelShortWindow = "short_window"

	SeverityPage   = "page"
	SeverityTicket = "ticket"

	// ErrorRatioPrefix + a window is the error ratio series, e.g. itops:sli_error:ratio_rate5m.
	ErrorRatioPrefix             = "itops:sli_error:ratio_rate"
	ObjectiveRecord              = "itops:objective:ratio"
	ErrorBudgetRecord            = "itops:error_budget:ratio"
	CurrentBurnRateRecord        = "itops:current_burn_rate:ratio"
	PeriodBurnRateRecord         = "itops:period_burn_rate:ratio"
	PeriodBudgetRemainingRecord  = "itops:period_error_budget_remaining:ratio"
	defaultWindow                = 720 * time.Hour
	defaultBaseWindow            = 5 * time.Minute
	monthWindow                  = 30 * 24 * time.Hour
	weekWindow                   = 7 * 24 * time.Hour
	maxRatioDecimals             = 12
	pageFactor                   = 6
	annotationSummary            = "summary"
	annotationDescription        = "description"
	annotationRunbookURL         = "runbook_url"
	annotationServiceLevelObject = "servicelevel"
)

// reservedLabels are the labels that identify an alert; spec.objectives.sli.prometheusRule
// labels cannot replace them (nobody alerts in another namespace's or ServiceLevel's name).
var reservedLabels = map[string]bool{
	"alertname": true, LabelNamespace: true, LabelServiceLevel: true, LabelLongWindow: true, LabelShortWindow: true,
}

// Reserved reports whether a label name of spec.objectives.sli.prometheusRule.labels is one
// the generated alerts own (alertname, namespace, servicelevel, long_window, short_window, or
// a name beginning with __, reserved by Prometheus).
func Reserved(name string) bool { return reservedLabels[name] || strings.HasPrefix(name, "__") }

// Wants reports whether sl asks for a generated PrometheusRule: a PrometheusRatio or
// PrometheusLatency SLI with prometheusRule set.
func Wants(sl *itopsv1alpha1.ServiceLevel) bool {
	o := sl.Spec.Objectives
	if o == nil || o.SLI == nil || o.SLI.PrometheusRule == nil {
		return false
	}
	return o.SLI.Type == itopsv1alpha1.SLIPrometheusRatio || o.SLI.Type == itopsv1alpha1.SLIPrometheusLatency
}

// Generate returns the rule groups of sl (see the package comment). It fails, naming the
// field, when sl does not want rules (Wants) or its spec cannot be turned into valid rules (an
// objective, factor or window out of range, a window that is not whole milliseconds, a latency
// bucket that is not a series selector, good or total without {{.window}}).
func Generate(sl *itopsv1alpha1.ServiceLevel) ([]monitoringv1.RuleGroup, error) {
	if !Wants(sl) {
		return nil, fmt.Errorf("spec.objectives.sli: rules are generated only for a PrometheusRatio or PrometheusLatency SLI with prometheusRule set")
	}
	g, err := newGenerator(sl)
	if err != nil {
		return nil, err
	}
	return []monitoringv1.RuleGroup{g.sliGroup(), g.metaGroup(), g.alertGroup()}, nil
}

type alert struct {
	long, short time.Duration
	factor      *big.Rat
	factorText  string
}

type generator struct {
	sl        *itopsv1alpha1.ServiceLevel
	sli       *itopsv1alpha1.SLI
	objective *big.Rat // (0, 1)
	budget    string   // 1 - objective, a decimal
	window    time.Duration
	calendar  string // the calendar period, "" for a rolling window
	windows   []time.Duration
	base      time.Duration // the shortest window, averaged over the objective window
	alerts    []alert
	good      func(window string) string
	total     func(window string) string
}

func newGenerator(sl *itopsv1alpha1.ServiceLevel) (*generator, error) {
	o := sl.Spec.Objectives
	g := &generator{sl: sl, sli: o.SLI, window: defaultWindow}
	if w := o.Window; w != nil {
		switch {
		case w.Invalid != nil:
			return nil, fmt.Errorf("spec.objectives.window: %s is neither a duration nor {calendar: {period, timeZone}}", health.Truncate(string(w.Invalid), 64))
		case w.Calendar != nil && w.Calendar.Period == itopsv1alpha1.CalendarWeek:
			g.window, g.calendar = weekWindow, string(w.Calendar.Period)
		case w.Calendar != nil:
			g.window, g.calendar = monthWindow, string(w.Calendar.Period)
		case w.Rolling != nil:
			g.window = w.Rolling.Duration
		}
	}
	obj, err := slo.ParseObjective(o.Availability, g.window)
	if err != nil {
		return nil, fmt.Errorf("spec.objectives: %w", err)
	}
	if obj.Target.Cmp(big.NewRat(1, 1)) >= 0 {
		return nil, fmt.Errorf("spec.objectives.availability: %q must be less than 100", o.Availability)
	}
	g.objective = obj.Target
	g.budget = decimal(new(big.Rat).Sub(big.NewRat(1, 1), obj.Target))
	if _, err := Duration(g.window); err != nil {
		return nil, fmt.Errorf("spec.objectives.window: %w", err)
	}
	seen := map[time.Duration]bool{}
	for i, a := range sl.Spec.BurnRateAlerts {
		f, err := slo.ParseFactor(a.Factor)
		if err != nil {
			return nil, fmt.Errorf("spec.burnRateAlerts[%d].factor: %w", i, err)
		}
		if a.ShortWindow.Duration <= 0 || a.ShortWindow.Duration >= a.LongWindow.Duration {
			return nil, fmt.Errorf("spec.burnRateAlerts[%d]: shortWindow must be more than 0 and shorter than longWindow", i)
		}
		for _, w := range []struct {
			d    time.Duration
			path string
		}{{a.LongWindow.Duration, "longWindow"}, {a.ShortWindow.Duration, "shortWindow"}} {
			if _, err := Duration(w.d); err != nil {
				return nil, fmt.Errorf("spec.burnRateAlerts[%d].%s: %w", i, w.path, err)
			}
			if !seen[w.d] {
				seen[w.d] = true
				g.windows = append(g.windows, w.d)
			}
		}
		g.alerts = append(g.alerts, alert{long: a.LongWindow.Duration, short: a.ShortWindow.Duration, factor: f, factorText: decimal(f)})
	}
	sort.Slice(g.windows, func(i, j int) bool { return g.windows[i] < g.windows[j] })
	g.base = defaultBaseWindow
	if len(g.windows) > 0 {
		g.base = g.windows[0]
	} else {
		g.windows = []time.Duration{g.base}
	}
	if err := g.queries(); err != nil {
		return nil, err
	}
	return g, nil
}

// queries sets the good and total PromQL of the SLI for a window, from promsli.Templates: the
// queries the operator itself measures the SLI with (promsli.Queries), so the rules select
// exactly what the operator queries. The SLI is checked as at admission (promsli.Validate).
func (g *generator) queries() error {
	if errs := promsli.Validate(g.sli, field.NewPath("spec", "objectives", "sli")); len(errs) > 0 {
		return errs.ToAggregate()
	}
	good, total, err := promsli.Templates(g.sli)
	if err != nil {
		return fmt.Errorf("spec.objectives.sli: %w", err)
	}
	g.good = func(w string) string { return strings.ReplaceAll(good, itopsv1alpha1.SLIWindowPlaceholder, w) }
	g.total = func(w string) string { return strings.ReplaceAll(total, itopsv1alpha1.SLIWindowPlaceholder, w) }
	return nil
}

// Duration writes d in Prometheus duration syntax, largest unit first, without weeks or years
// (which Prometheus also reads, but people do not): 5m, 1h30m, 30d, 1d12h, 1s500ms. It fails
// for a non-positive d or one that is not whole milliseconds (Prometheus's resolution).
func Duration(d time.Duration) (string, error) {
	if d <= 0 {
		return "", fmt.Errorf("%s must be more than 0", d)
	}
	if d%time.Millisecond != 0 {
		return "", fmt.Errorf("%s is not a whole number of milliseconds, the resolution of Prometheus durations", d)
	}
	var b strings.Builder
	for _, u := range []struct {
		unit string
		d    time.Duration
	}{{"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}, {"ms", time.Millisecond}} {
		if n := d / u.d; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10) + u.unit)
			d -= n * u.d
		}
	}
	return b.String(), nil
}

// mustDuration is Duration for windows newGenerator has checked.
func mustDuration(d time.Duration) string {
	s, err := Duration(d)
	if err != nil {
		panic(err)
	}
	return s
}

// decimal writes a non-negative rational with up to 12 decimals, trailing zeros trimmed.
func decimal(r *big.Rat) string { return slo.Decimal(r, maxRatioDecimals) }

// ErrorRatioRecord is the name of the error ratio series over w, e.g.
// itops:sli_error:ratio_rate1h30m.
func ErrorRatioRecord(w time.Duration) string { return ErrorRatioPrefix + mustDuration(w) }

// identity is the labels of every generated series.
func (g *generator) identity() map[string]string {
	return map[string]string{LabelNamespace: g.sl.Namespace, LabelServiceLevel: g.sl.Name}
}

// selector is the series selector of a generated series of this ServiceLevel.
func (g *generator) selector(record string) string {
	return record + "{" + LabelNamespace + "=" + strconv.Quote(g.sl.Namespace) + "," +
		LabelServiceLevel + "=" + strconv.Quote(g.sl.Name) + "}"
}

func (g *generator) groupName(kind string) string {
	return "itops-" + kind + "-" + g.sl.Namespace + "-" + g.sl.Name
}

func expr(s string) intstr.IntOrString { return intstr.FromString(s) }

func (g *generator) sliGroup() monitoringv1.RuleGroup {
	group := monitoringv1.RuleGroup{Name: g.groupName("sli-recordings")}
	for _, w := range g.windows {
		ws := mustDuration(w)
		group.Rules = append(group.Rules, monitoringv1.Rule{
			Record: ErrorRatioRecord(w),
			Expr:   expr("1 - (\n  (" + g.good(ws) + ")\n  /\n  (" + g.total(ws) + ")\n)"),
			Labels: g.identity(),
		})
	}
	if !contains(g.windows, g.window) {
		base := g.selector(ErrorRatioRecord(g.base))
		ws := mustDuration(g.window)
		group.Rules = append(group.Rules, monitoringv1.Rule{
			Record: ErrorRatioRecord(g.window),
			Expr:   expr("sum_over_time(" + base + "[" + ws + "])\n/\ncount_over_time(" + base + "[" + ws + "])"),
			Labels: g.identity(),
		})
	}
	return group
}

func (g *generator) metaGroup() monitoringv1.RuleGroup {
	onIdentity := " / on(" + LabelNamespace + ", " + LabelServiceLevel + ") group_left\n"
	return monitoringv1.RuleGroup{Name: g.groupName("slo-meta-recordings"), Rules: []monitoringv1.Rule{
		{Record: ObjectiveRecord, Expr: expr("vector(" + decimal(g.objective) + ")"), Labels: g.identity()},
		{Record: ErrorBudgetRecord, Expr: expr("vector(" + g.budget + ")"), Labels: g.identity()},
		{Record: CurrentBurnRateRecord, Labels: g.identity(),
			Expr: expr(g.selector(ErrorRatioRecord(g.base)) + onIdentity + g.selector(ErrorBudgetRecord))},
		{Record: PeriodBurnRateRecord, Labels: g.identity(),
			Expr: expr(g.selector(ErrorRatioRecord(g.window)) + onIdentity + g.selector(ErrorBudgetRecord))},
		{Record: PeriodBudgetRemainingRecord, Labels: g.identity(),
			Expr: expr("1 - " + g.selector(PeriodBurnRateRecord))},
	}}
}

func (g *generator) alertGroup() monitoringv1.RuleGroup {
	group := monitoringv1.RuleGroup{Name: g.groupName("slo-alerts")}
	name := g.sl.Namespace + "/" + g.sl.Name
	windowText := mustDuration(g.window)
	if g.calendar != "" {
		windowText += " (rolling, for the calendar " + strings.ToLower(g.calendar) + ")"
	}
	for _, a := range g.alerts {
		long, short := mustDuration(a.long), mustDuration(a.short)
		threshold := "(" + a.factorText + " * " + g.budget + ")"
		severity := SeverityTicket
		if a.factor.Cmp(big.NewRat(pageFactor, 1)) >= 0 {
			severity = SeverityPage
		}
		labels := map[string]string{LabelSeverity: severity}
		if pr := g.sli.PrometheusRule; pr != nil {
			for _, l := range pr.Labels {
				if !Reserved(l.Name) {
					labels[l.Name] = templateLiteral(l.Value)
				}
			}
		}
		labels[LabelLongWindow], labels[LabelShortWindow] = long, short
		// At this burn rate the whole budget of the window goes in window / factor.
		exhaust := new(big.Rat).Quo(new(big.Rat).SetInt64(int64(g.window)), a.factor)
		exhaustIn := time.Duration(new(big.Int).Quo(exhaust.Num(), exhaust.Denom()).Int64()).Truncate(time.Minute)
		exhaustText := "less than a minute"
		if exhaustIn >= time.Minute {
			exhaustText = mustDuration(exhaustIn)
		}
		annotations := map[string]string{
			annotationSummary: templateLiteral("The error budget of ServiceLevel " + name + " is burning " + a.factorText +
				" times too fast (" + long + " and " + short + " windows)"),
			annotationDescription: templateLiteral("ServiceLevel "+name+" (objective "+g.sl.Spec.Objectives.Availability+
				" % over "+windowText+") spends its error budget more than "+a.factorText+" times faster than the window allows, over both the last "+
				long+" and the last "+short+"; at this rate the whole budget goes in "+exhaustText+". Error ratio over "+long+": ") +
				"{{ $value | humanizePercentage }}.",
			annotationServiceLevelObject: templateLiteral(name),
		}
		if o := g.sl.Spec.Owner; o != nil && o.RunbookURL != "" {
			annotations[annotationRunbookURL] = templateLiteral(o.RunbookURL)
		}
		group.Rules = append(group.Rules, monitoringv1.Rule{
			Alert: AlertName,
			Expr: expr(g.selector(ErrorRatioRecord(a.long)) + " > " + threshold + "\nand\n" +
				g.selector(ErrorRatioRecord(a.short)) + " > " + threshold),
			Labels:      labels,
			Annotations: annotations,
		})
	}
	return group
}

// templateLiteral makes s print as written where Prometheus expands Go templates (alert
// labels and annotations): text with a template delimiter {{ becomes the action printing the
// quoted string.
func templateLiteral(s string) string {
	if !strings.Contains(s, "{{") {
		return s
	}
	return "{{ " + strconv.Quote(s) + " }}"
}

func contains(ds []time.Duration, d time.Duration) bool {
	for _, x := range ds {
		if x == d {
			return true
		}
	}
	return false
}

package servicelevel

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/config"
	"github.com/itops-dev/itops-operator/internal/health"
	"github.com/itops-dev/itops-operator/internal/promsli"
	"github.com/itops-dev/itops-operator/internal/slo"
)

// maxPeriods bounds status.periods (the API's bound): a year of months, a quarter of weeks,
// and the current period.
const maxPeriods = 13

// PrometheusSource is where the SLIs of type PrometheusRatio and PrometheusLatency are
// measured: the policy's prometheus key, its Secrets read directly from the API server in the
// operator namespace at each evaluation (never cached cluster-wide; a rotated token is used
// at the next evaluation).
type PrometheusSource struct {
	// Policy is the prometheus key of the administrator policy (defaults applied).
	Policy config.PrometheusPolicy
	// APIReader reads the Secrets (uncached).
	APIReader client.Reader
	// OperatorNamespace holds the Secrets.
	OperatorNamespace string
	// Querier, when set, is used instead of one built from Policy (tests).
	Querier promsli.Querier
}

// interval is how often a Prometheus SLI is evaluated.
func (p *PrometheusSource) interval() time.Duration {
	if p == nil || p.Policy.Interval.Duration <= 0 {
		return config.DefaultPrometheusInterval
	}
	return p.Policy.Interval.Duration
}

// querier builds the client for one evaluation. Errors (PrometheusUnavailable): no URL in the
// policy, a Secret or key missing, a CA bundle without certificates.
func (p *PrometheusSource) querier(ctx context.Context) (promsli.Querier, error) {
	if p == nil {
		return nil, fmt.Errorf("no Prometheus is configured: the administrator policy has no prometheus.url")
	}
	if p.Querier != nil {
		return p.Querier, nil
	}
	if p.Policy.URL == "" {
		return nil, fmt.Errorf("no Prometheus is configured: the administrator policy has no prometheus.url")
	}
	e := promsli.Endpoint{URL: p.Policy.URL, Timeout: p.Policy.Timeout.Duration}
	if ref := p.Policy.BearerTokenSecretRef; ref != nil {
		v, err := p.secret(ctx, *ref)
		if err != nil {
			return nil, err
		}
		e.Token = string(v)
	}
	if ref := p.Policy.CASecretRef; ref != nil {
		v, err := p.secret(ctx, *ref)
		if err != nil {
			return nil, err
		}
		e.CA = v
	}
	return promsli.NewQuerier(e)
}

func (p *PrometheusSource) secret(ctx context.Context, ref config.SecretKeyRef) ([]byte, error) {
	s := &corev1.Secret{}
	if err := p.APIReader.Get(ctx, types.NamespacedName{Namespace: p.OperatorNamespace, Name: ref.Name}, s); err != nil {
		return nil, fmt.Errorf("reading Secret %s/%s of the prometheus policy: %w", p.OperatorNamespace, ref.Name, err)
	}
	v, ok := s.Data[ref.Key]
	if !ok || len(v) == 0 {
		return nil, fmt.Errorf("the Secret %s/%s of the prometheus policy has no key %q", p.OperatorNamespace, ref.Name, ref.Key)
	}
	return v, nil
}

// promMeasurement is one evaluation of a Prometheus SLI: what the pure computation works from.
type promMeasurement struct {
	// at is the instant of the queries.
	at time.Time
	// namespace and name of the ServiceLevel measured.
	namespace, name string
	// err is the first failure (*promsli.Error); the measurement is then incomplete.
	err error
	// periodStarting is true when the calendar period began less than a second before at:
	// nothing to measure yet (err is NoData), the verdict stands until the next second.
	periodStarting bool
	// window is the SLI over the objective's window (rolling, or the current calendar period
	// so far).
	window promsli.Sample
	// byRange are the SLI over each alert window, by range; a range absent had no data
	// (nothing burned in it).
	byRange map[time.Duration]promsli.Sample
	// periods are the completed calendar periods measured at their end, by start.
	periods map[time.Time]promsli.Sample
}

// cachedMeasurement is a successful measurement of one generation of a ServiceLevel.
type cachedMeasurement struct {
	generation int64
	m          *promMeasurement
}

// measurement returns the ServiceLevel's measurement at now and the time to the next one: the
// last successful measurement of the same generation while it is younger than the interval,
// else a new one (cached when it succeeded).
func (r *Reconciler) measurement(ctx context.Context, sl *itopsv1alpha1.ServiceLevel, now time.Time) (*promMeasurement, time.Duration) {
	interval := r.Prometheus.interval()
	if v, ok := r.measured.Load(sl.UID); ok {
		c := v.(cachedMeasurement)
		if age := now.Sub(c.m.at); c.generation == sl.Generation && age >= 0 && age < interval {
			return c.m, max(interval-age, time.Second)
		}
	}
	m := r.measure(ctx, sl, now)
	if m.err == nil {
		r.measured.Store(sl.UID, cachedMeasurement{generation: sl.Generation, m: m})
	} else {
		r.measured.Delete(sl.UID)
	}
	return m, interval
}

// forgetMeasurement drops the cached measurement of a deleted ServiceLevel.
func (r *Reconciler) forgetMeasurement(req ctrl.Request) {
	r.measured.Range(func(k, v any) bool {
		if c := v.(cachedMeasurement); c.m.namespace == req.Namespace && c.m.name == req.Name {
			r.measured.Delete(k)
		}
		return true
	})
}

// sloWindow is the range the objective is measured over at now: the rolling window, or the
// current calendar period from its start to now; start and end of that period.
func sloWindow(o *itopsv1alpha1.Objectives, now time.Time) (rng time.Duration, start, end time.Time, err error) {
	if w := o.Window; w != nil && w.Calendar != nil {
		start, end, err = slo.CurrentPeriod(w.Calendar, now)
		return now.Sub(start), start, end, err
	}
	rng = 720 * time.Hour
	if w := o.Window; w != nil && w.Rolling != nil {
		rng = w.Rolling.Duration
	}
	return rng, time.Time{}, time.Time{}, nil
}

// measure queries Prometheus for the ServiceLevel's SLI at now: the objective window, each
// alert window (each distinct range once), and the completed calendar periods in status not
// yet final. It stops at the first failure other than no data in an alert window or a period.
func (r *Reconciler) measure(ctx context.Context, sl *itopsv1alpha1.ServiceLevel, now time.Time) *promMeasurement {
	now = now.Truncate(time.Second)
	m := &promMeasurement{at: now, namespace: sl.Namespace, name: sl.Name, byRange: map[time.Duration]promsli.Sample{}, periods: map[time.Time]promsli.Sample{}}
	o := sl.Spec.Objectives
	rng, _, _, err := sloWindow(o, now)
	if err != nil {
		m.err = &promsli.Error{Reason: promsli.QueryFailed, Err: err}
		return m
	}
	if rng < time.Second {
		m.err = &promsli.Error{Reason: promsli.NoData, Err: fmt.Errorf("no data: the calendar period began less than a second ago")}
		m.periodStarting = true
		return m
	}
	q, err := r.Prometheus.querier(ctx)
	if err != nil {
		m.err = &promsli.Error{Reason: promsli.Unavailable, Err: err}
		return m
	}
	if m.window, err = promsli.Measure(ctx, q, o.SLI, rng, now); err != nil {
		m.err = err
		return m
	}
	for _, a := range sl.Spec.BurnRateAlerts {
		for _, d := range []time.Duration{a.LongWindow.Duration, a.ShortWindow.Duration} {
			if _, done := m.byRange[d]; done || d <= 0 {
				continue
			}
			s, err := promsli.Measure(ctx, q, o.SLI, d, now)
			var e *promsli.Error
			switch {
			case errors.As(err, &e) && e.Reason == promsli.NoData:
				// No events in the window: nothing burned in it.
			case err != nil:
				m.err = err
				return m
			default:
				m.byRange[d] = s
			}
		}
	}
	for _, p := range sl.Status.Periods {
		if p.Complete || p.End.After(now) {
			continue
		}
		s, err := promsli.Measure(ctx, q, o.SLI, p.End.Sub(p.Start.Time), p.End.Time)
		var e *promsli.Error
		switch {
		case errors.As(err, &e) && e.Reason == promsli.NoData:
			// The period holds no events: it stays without figures (retried until it
			// leaves the bounded history).
		case err != nil:
			m.err = err
			return m
		default:
			m.periods[p.Start.Time] = s
		}
	}
	return m
}

// burnRateOf is the burn rate of a sample against the objective: its error ratio over the
// error budget's ratio, (1 - good/total) / (1 - target).
func burnRateOf(s promsli.Sample, target *big.Rat) *big.Rat {
	budget := new(big.Rat).Sub(big.NewRat(1, 1), target)
	if s.Total == 0 || budget.Sign() <= 0 {
		return new(big.Rat)
	}
	errRatio := new(big.Rat).Sub(big.NewRat(1, 1), s.Availability())
	return errRatio.Quo(errRatio, budget)
}

// prometheusStatus keeps the books of a Prometheus SLI: availability, error budget, burn-rate
// alerts and calendar periods from the measurement, with the same conditions, burn incident
// and scaling as the Availability SLI. A failed measurement keeps the last good books, marked
// stale (status.sli.lastError), sets ObjectiveMet=Unknown with the failure's reason and
// Ready=False saying why: never "met", never a burn that was not measured. It returns the
// time to the next evaluation.
func prometheusStatus(sl *itopsv1alpha1.ServiceLevel, st *itopsv1alpha1.ServiceLevelStatus, obj slo.Objective, alerts []slo.Alert,
	in inputs, now time.Time, set func(string, metav1.ConditionStatus, string, string), d *desired) {
	// The books of the Availability SLI do not apply.
	st.Downtime, st.PlannedDowntime, st.Unobserved = nil, nil, nil
	st.DowntimeByDay, st.Outages, st.UnobservedPeriods, st.PlannedPeriods = nil, nil, nil, nil
	st.TrackingSince, st.LastObservedAt, st.FoldedUntil = nil, nil, nil
	spec := sl.Spec.Objectives
	m := in.prom
	if m == nil {
		m = &promMeasurement{at: now, err: &promsli.Error{Reason: promsli.Unavailable, Err: errors.New("not queried")}}
	}
	if st.SLI == nil || st.SLI.Type != spec.SLI.Type || sl.Status.ObservedGeneration != sl.Generation {
		// The figures in status were measured for another spec (the Availability SLI, other
		// queries, another objective): none of them is this SLI's last good books.
		st.Availability, st.ErrorBudgetRemaining, st.BurnRate, st.BurnRateAlerts, st.Periods = "", "", "", nil, nil
		st.SLI = &itopsv1alpha1.SLIStatus{Type: spec.SLI.Type}
		if m.err != nil {
			meta.RemoveStatusCondition(&st.Conditions, itopsv1alpha1.SLConditionBudgetExhausted)
		}
	}
	st.SLI.LastQueryTime = &metav1.Time{Time: m.at}
	target := slo.Percent(obj.Target, 8)
	rng, start, end, _ := sloWindow(spec, now)
	over := "over " + promsli.Range(rng)
	if !start.IsZero() {
		over = fmt.Sprintf("since %s (%s period)", start.Format(time.RFC3339), spec.Window.Calendar.Period)
	}

	firing := false
	switch {
	case m.err != nil && m.periodStarting && verdictHeld(st.Conditions):
		// The calendar period began less than a second ago: the conditions keep their verdict
		// (and lastTransitionTime) until the first measurement a second later, rather than
		// flapping to Unknown at every boundary.
		for _, a := range st.BurnRateAlerts {
			firing = firing || a.State == itopsv1alpha1.AlertFiring
		}
		if firing {
			d.problems = append(d.problems, staleBurnProblem(sl, st))
		}
	case m.err != nil:
		reason := promsli.Unavailable
		var e *promsli.Error
		if errors.As(m.err, &e) {
			reason = e.Reason
		}
		st.SLI.LastError = health.Truncate(m.err.Error(), 1024)
		set(itopsv1alpha1.SLConditionObjectiveMet, metav1.ConditionUnknown, reason, "not measured: "+st.SLI.LastError)
		stale := "no books yet"
		if st.Availability != "" {
			stale = fmt.Sprintf("the books shown (availability %s%%, %s%% of the budget left) are stale", st.Availability, st.ErrorBudgetRemaining)
		}
		set(itopsv1alpha1.ConditionReady, metav1.ConditionFalse, reason, fmt.Sprintf("the SLI could not be measured from Prometheus (%s): %s; %s",
			reason, st.SLI.LastError, stale))
		// The last known budget and alerts hold until Prometheus answers again.
		for _, a := range st.BurnRateAlerts {
			firing = firing || a.State == itopsv1alpha1.AlertFiring
		}
		if firing {
			d.problems = append(d.problems, staleBurnProblem(sl, st))
		}
	default:
		avail := m.window.Availability()
		st.SLI.LastError = ""
		st.SLI.Good, st.SLI.Total = promsli.Events(m.window.Good), promsli.Events(m.window.Total)
		st.Availability = slo.Percent(avail, 4)
		remaining := new(big.Rat).Sub(big.NewRat(1, 1), burnRateOf(m.window, obj.Target))
		st.ErrorBudgetRemaining = slo.Percent(remaining, 4)
		rep := slo.Report{Availability: avail, BudgetRemaining: remaining, BurnRate: new(big.Rat)}
		var shortest time.Duration
		for _, a := range alerts {
			bn := slo.Burn{Alert: a, LongRate: burnRateOf(m.byRange[a.Long], obj.Target), ShortRate: burnRateOf(m.byRange[a.Short], obj.Target)}
			bn.Firing = bn.LongRate.Cmp(a.Factor) > 0 && bn.ShortRate.Cmp(a.Factor) > 0
			rep.Burns = append(rep.Burns, bn)
			if shortest == 0 || a.Short < shortest {
				shortest, rep.BurnRate = a.Short, bn.ShortRate
			}
		}
		st.BurnRate = slo.Decimal(rep.BurnRate, 2)
		st.BurnRateAlerts = alertStatuses(st.BurnRateAlerts, rep.Burns, now)
		firing = rep.Firing()
		if rep.ObjectiveMet(obj) {
			set(itopsv1alpha1.SLConditionObjectiveMet, metav1.ConditionTrue, itopsv1alpha1.SLReasonObjectiveMet,
				fmt.Sprintf("availability %s%% %s (%s good of %s events) meets the objective %s%%", st.Availability, over, st.SLI.Good, st.SLI.Total, target))
		} else {
			set(itopsv1alpha1.SLConditionObjectiveMet, metav1.ConditionFalse, itopsv1alpha1.SLReasonObjectiveMissed,
				fmt.Sprintf("availability %s%% %s (%s good of %s events) is below the objective %s%%", st.Availability, over, st.SLI.Good, st.SLI.Total, target))
		}
		if rep.BudgetExhausted() {
			set(itopsv1alpha1.SLConditionBudgetExhausted, metav1.ConditionTrue, itopsv1alpha1.SLReasonBudgetExhausted,
				fmt.Sprintf("error budget of ServiceLevel %s exhausted: %s%% left (%s bad of %s events %s, objective %s%%)",
					sl.Name, st.ErrorBudgetRemaining, promsli.Events(m.window.Total-m.window.Good), st.SLI.Total, over, target))
		} else {
			set(itopsv1alpha1.SLConditionBudgetExhausted, metav1.ConditionFalse, itopsv1alpha1.SLReasonBudgetRemaining,
				fmt.Sprintf("%s%% of the error budget left (%s bad of %s events %s, objective %s%%)",
					st.ErrorBudgetRemaining, promsli.Events(m.window.Total-m.window.Good), st.SLI.Total, over, target))
		}
		set(itopsv1alpha1.ConditionReady, metav1.ConditionTrue, itopsv1alpha1.SLReasonMeasured,
			fmt.Sprintf("availability %s, %s%% of the budget left, burn rate %s (from Prometheus at %s)",
				orDash(st.Availability), st.ErrorBudgetRemaining, st.BurnRate, m.at.UTC().Format(time.RFC3339)))
		if firing {
			d.problems = append(d.problems, burnProblem(sl, rep, slo.Books{}, nil))
		}
	}
	if !start.IsZero() {
		st.Periods = prometheusPeriods(st.Periods, m, obj, start, end)
	} else {
		st.Periods = nil
	}
	d.requeueAfter = in.promInterval
	if next := start.Add(time.Second).Sub(now); m.periodStarting && next > 0 && next < d.requeueAfter {
		d.requeueAfter = next // the first measurement of the new period
	}
	if next := applyScaling(st, &sl.Status, &sl.Spec, in.scaling, firing, now, set, d); next > 0 && next < d.requeueAfter {
		d.requeueAfter = next
	}
}

// alertStatuses are the burn-rate alerts' statuses, keeping since while an alert stays in its
// state.
func alertStatuses(previous []itopsv1alpha1.BurnRateAlertStatus, burns []slo.Burn, now time.Time) []itopsv1alpha1.BurnRateAlertStatus {
	if len(burns) == 0 {
		return nil
	}
	out := make([]itopsv1alpha1.BurnRateAlertStatus, 0, len(burns))
	for i, b := range burns {
		state := itopsv1alpha1.AlertOK
		if b.Firing {
			state = itopsv1alpha1.AlertFiring
		}
		a := itopsv1alpha1.BurnRateAlertStatus{
			LongWindow: metav1.Duration{Duration: b.Long}, ShortWindow: metav1.Duration{Duration: b.Short},
			Factor: slo.Decimal(b.Factor, 4), LongBurnRate: slo.Decimal(b.LongRate, 2), ShortBurnRate: slo.Decimal(b.ShortRate, 2), State: state,
			Since: &metav1.Time{Time: now}}
		if i < len(previous) {
			if p := previous[i]; p.State == state && p.LongWindow == a.LongWindow && p.ShortWindow == a.ShortWindow && p.Factor == a.Factor && p.Since != nil {
				a.Since = p.Since
			}
		}
		out = append(out, a)
	}
	return out
}

// staleBurnProblem keeps the burn incident's signal while Prometheus cannot be queried and
// the last measured alerts fired.
func staleBurnProblem(sl *itopsv1alpha1.ServiceLevel, st *itopsv1alpha1.ServiceLevelStatus) health.Problem {
	return health.Problem{Reason: itopsv1alpha1.ReasonErrorBudgetBurn, Source: itopsv1alpha1.SourceServiceLevel,
		Message: health.Truncate(fmt.Sprintf("ServiceLevel %s burned its error budget too fast at the last measurement (burn rate %s, %s%% of the budget left); Prometheus cannot be queried now: %s",
			sl.Name, st.BurnRate, st.ErrorBudgetRemaining, st.SLI.LastError), 1024)}
}

// prometheusPeriods is status.periods of a calendar window measured from Prometheus: the
// completed periods, each measured once at its end (complete once Prometheus answered), and
// the current one from the measurement of the objective window; at most maxPeriods, oldest
// dropped first.
func prometheusPeriods(previous []itopsv1alpha1.PeriodReport, m *promMeasurement, obj slo.Objective, start, end time.Time) []itopsv1alpha1.PeriodReport {
	var out []itopsv1alpha1.PeriodReport
	for _, p := range previous {
		if !p.Start.Time.Before(start) {
			continue // the current period, rebuilt below
		}
		if !p.Complete {
			if s, ok := m.periods[p.Start.Time]; ok {
				p = promPeriodReport(p.Start.Time, p.End.Time, s, obj, true)
			}
		}
		out = append(out, p)
	}
	cur := itopsv1alpha1.PeriodReport{Start: metav1.Time{Time: start}, End: metav1.Time{Time: end}, Result: itopsv1alpha1.PeriodNoData}
	for _, p := range previous {
		if p.Start.Time.Equal(start) {
			cur = p // the last figures stay while Prometheus cannot be queried
		}
	}
	if m.err == nil {
		cur = promPeriodReport(start, end, m.window, obj, false)
	}
	out = append(out, cur)
	if n := len(out); n > maxPeriods {
		out = out[n-maxPeriods:]
	}
	return out
}

// promPeriodReport is the report of one period measured from Prometheus: the budget spent
// is the period's burn rate (its error ratio over the budget).
func promPeriodReport(start, end time.Time, s promsli.Sample, obj slo.Objective, complete bool) itopsv1alpha1.PeriodReport {
	return slo.PeriodReportOf(slo.PeriodFigures{Start: start, End: end, Availability: s.Availability(),
		BudgetSpent: burnRateOf(s, obj.Target)}, obj.Target, complete)
}

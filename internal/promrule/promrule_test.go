package promrule_test

import (
	"strings"
	"testing"
	"text/template"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/promrule"
)

const (
	good  = `sum(rate(http_requests_total{job="api",code!~"5.."}[{{.window}}]))`
	total = `sum(rate(http_requests_total{job="api"}[{{.window}}]))`
)

func defaultAlerts() []itopsv1alpha1.BurnRateAlert {
	return []itopsv1alpha1.BurnRateAlert{
		{LongWindow: metav1.Duration{Duration: time.Hour}, ShortWindow: metav1.Duration{Duration: 5 * time.Minute}, Factor: "14.4"},
		{LongWindow: metav1.Duration{Duration: 6 * time.Hour}, ShortWindow: metav1.Duration{Duration: 30 * time.Minute}, Factor: "6"},
	}
}

// ratioSL is a PrometheusRatio ServiceLevel shop/checkout, 99.9 % over 30 days, the default
// burn-rate alerts, prometheusRule set.
func ratioSL(mutate ...func(*itopsv1alpha1.ServiceLevel)) *itopsv1alpha1.ServiceLevel {
	sl := &itopsv1alpha1.ServiceLevel{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "checkout"},
		Spec: itopsv1alpha1.ServiceLevelSpec{
			Objectives: &itopsv1alpha1.Objectives{Availability: "99.9", Window: itopsv1alpha1.RollingWindow(720 * time.Hour),
				SLI: &itopsv1alpha1.SLI{Type: itopsv1alpha1.SLIPrometheusRatio, Good: good, Total: total,
					PrometheusRule: &itopsv1alpha1.PrometheusRuleGeneration{}}},
			BurnRateAlerts: defaultAlerts(),
		},
	}
	for _, m := range mutate {
		m(sl)
	}
	return sl
}

// TestGenerateRatioDefault is the full output for the default alerts: every rule as written.
func TestGenerateRatioDefault(t *testing.T) {
	groups, err := promrule.Generate(ratioSL(func(sl *itopsv1alpha1.ServiceLevel) {
		sl.Spec.Owner = &itopsv1alpha1.ServiceOwner{RunbookURL: "https://runbooks.example/checkout"}
	}))
	if err != nil {
		t.Fatal(err)
	}
	got, err := yaml.Marshal(groups)
	if err != nil {
		t.Fatal(err)
	}
	want := `- name: itops-sli-recordings-shop-checkout
  rules:
  - expr: |-
      1 - (
        (sum(rate(http_requests_total{job="api",code!~"5.."}[5m])))
        /
        (sum(rate(http_requests_total{job="api"}[5m])))
      )
    labels:
      namespace: shop
      servicelevel: checkout
    record: itops:sli_error:ratio_rate5m
  - expr: |-
      1 - (
        (sum(rate(http_requests_total{job="api",code!~"5.."}[30m])))
        /
        (sum(rate(http_requests_total{job="api"}[30m])))
      )
    labels:
      namespace: shop
      servicelevel: checkout
    record: itops:sli_error:ratio_rate30m
  - expr: |-
      1 - (
        (sum(rate(http_requests_total{job="api",code!~"5.."}[1h])))
        /
        (sum(rate(http_requests_total{job="api"}[1h])))
      )
    labels:
      namespace: shop
      servicelevel: checkout
    record: itops:sli_error:ratio_rate1h
  - expr: |-
      1 - (
        (sum(rate(http_requests_total{job="api",code!~"5.."}[6h])))
        /
        (sum(rate(http_requests_total{job="api"}[6h])))
      )
    labels:
      namespace: shop
      servicelevel: checkout
    record: itops:sli_error:ratio_rate6h
  - expr: |-
      sum_over_time(itops:sli_error:ratio_rate5m{namespace="shop",servicelevel="checkout"}[30d])
      /
      count_over_time(itops:sli_error:ratio_rate5m{namespace="shop",servicelevel="checkout"}[30d])
    labels:
      namespace: shop
      servicelevel: checkout
    record: itops:sli_error:ratio_rate30d
- name: itops-slo-meta-recordings-shop-checkout
  rules:
  - expr: vector(0.999)
    labels:
      namespace: shop
      servicelevel: checkout
    record: itops:objective:ratio
  - expr: vector(0.001)
    labels:
      namespace: shop
      servicelevel: checkout
    record: itops:error_budget:ratio
  - expr: |-
      itops:sli_error:ratio_rate5m{namespace="shop",servicelevel="checkout"} / on(namespace, servicelevel) group_left
      itops:error_budget:ratio{namespace="shop",servicelevel="checkout"}
    labels:
      namespace: shop
      servicelevel: checkout
    record: itops:current_burn_rate:ratio
  - expr: |-
      itops:sli_error:ratio_rate30d{namespace="shop",servicelevel="checkout"} / on(namespace, servicelevel) group_left
      itops:error_budget:ratio{namespace="shop",servicelevel="checkout"}
    labels:
      namespace: shop
      servicelevel: checkout
    record: itops:period_burn_rate:ratio
  - expr: 1 - itops:period_burn_rate:ratio{namespace="shop",servicelevel="checkout"}
    labels:
      namespace: shop
      servicelevel: checkout
    record: itops:period_error_budget_remaining:ratio
- name: itops-slo-alerts-shop-checkout
  rules:
  - alert: ItopsErrorBudgetBurn
    annotations:
      description: 'ServiceLevel shop/checkout (objective 99.9 % over 30d) spends
        its error budget more than 14.4 times faster than the window allows, over
        both the last 1h and the last 5m; at this rate the whole budget goes in 2d2h.
        Error ratio over 1h: {{ $value | humanizePercentage }}.'
      runbook_url: https://runbooks.example/checkout
      servicelevel: shop/checkout
      summary: The error budget of ServiceLevel shop/checkout is burning 14.4 times
        too fast (1h and 5m windows)
    expr: |-
      itops:sli_error:ratio_rate1h{namespace="shop",servicelevel="checkout"} > (14.4 * 0.001)
      and
      itops:sli_error:ratio_rate5m{namespace="shop",servicelevel="checkout"} > (14.4 * 0.001)
    labels:
      long_window: 1h
      severity: page
      short_window: 5m
  - alert: ItopsErrorBudgetBurn
    annotations:
      description: 'ServiceLevel shop/checkout (objective 99.9 % over 30d) spends
        its error budget more than 6 times faster than the window allows, over both
        the last 6h and the last 30m; at this rate the whole budget goes in 5d. Error
        ratio over 6h: {{ $value | humanizePercentage }}.'
      runbook_url: https://runbooks.example/checkout
      servicelevel: shop/checkout
      summary: The error budget of ServiceLevel shop/checkout is burning 6 times too
        fast (6h and 30m windows)
    expr: |-
      itops:sli_error:ratio_rate6h{namespace="shop",servicelevel="checkout"} > (6 * 0.001)
      and
      itops:sli_error:ratio_rate30m{namespace="shop",servicelevel="checkout"} > (6 * 0.001)
    labels:
      long_window: 6h
      severity: page
      short_window: 30m

`
	if strings.TrimSpace(string(got)) != strings.TrimSpace(want) {
		t.Errorf("generated rules differ:\n%s\nwant:\n%s", got, want)
	}
}

func find(groups []monitoringv1.RuleGroup, name string) []monitoringv1.Rule {
	var out []monitoringv1.Rule
	for _, g := range groups {
		for _, r := range g.Rules {
			if r.Record == name || r.Alert == name {
				out = append(out, r)
			}
		}
	}
	return out
}

func records(groups []monitoringv1.RuleGroup) []string {
	var out []string
	for _, g := range groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				out = append(out, r.Record)
			}
		}
	}
	return out
}

func TestGenerate(t *testing.T) {
	latency := func(bucket string, threshold time.Duration) func(*itopsv1alpha1.ServiceLevel) {
		return func(sl *itopsv1alpha1.ServiceLevel) {
			sl.Spec.Objectives.SLI = &itopsv1alpha1.SLI{Type: itopsv1alpha1.SLIPrometheusLatency,
				Latency:        &itopsv1alpha1.LatencySLI{Bucket: bucket, Threshold: metav1.Duration{Duration: threshold}},
				PrometheusRule: &itopsv1alpha1.PrometheusRuleGeneration{}}
		}
	}
	alerts := func(a ...itopsv1alpha1.BurnRateAlert) func(*itopsv1alpha1.ServiceLevel) {
		return func(sl *itopsv1alpha1.ServiceLevel) { sl.Spec.BurnRateAlerts = a }
	}
	brAlert := func(long, short time.Duration, factor string) itopsv1alpha1.BurnRateAlert {
		return itopsv1alpha1.BurnRateAlert{LongWindow: metav1.Duration{Duration: long}, ShortWindow: metav1.Duration{Duration: short}, Factor: factor}
	}
	labels := func(l ...itopsv1alpha1.RuleLabel) func(*itopsv1alpha1.ServiceLevel) {
		return func(sl *itopsv1alpha1.ServiceLevel) { sl.Spec.Objectives.SLI.PrometheusRule.Labels = l }
	}
	for _, tc := range []struct {
		name   string
		sl     *itopsv1alpha1.ServiceLevel
		check  func(t *testing.T, groups []monitoringv1.RuleGroup)
		errHas string
	}{
		{
			name: "latency: le of a fraction of a second exact, total the +Inf bucket",
			sl:   ratioSL(latency(`http_request_duration_seconds_bucket{job="api"}`, 300*time.Millisecond)),
			check: func(t *testing.T, groups []monitoringv1.RuleGroup) {
				r := find(groups, "itops:sli_error:ratio_rate5m")[0]
				want := "1 - (\n  (sum(rate(http_request_duration_seconds_bucket{job=\"api\",le=\"0.3\"}[5m])))\n  /\n" +
					"  (sum(rate(http_request_duration_seconds_bucket{job=\"api\",le=\"+Inf\"}[5m])))\n)"
				if r.Expr.String() != want {
					t.Errorf("expr %q, want %q", r.Expr.String(), want)
				}
			},
		},
		{
			name: "latency: whole seconds match 1 and 1.0 (Prometheus 3 normalises le), bare metric name",
			sl:   ratioSL(latency(`http_request_duration_seconds_bucket`, time.Second)),
			check: func(t *testing.T, groups []monitoringv1.RuleGroup) {
				r := find(groups, "itops:sli_error:ratio_rate1h")[0]
				if !strings.Contains(r.Expr.String(), `http_request_duration_seconds_bucket{le=~"1|1\\.0"}[1h]`) ||
					!strings.Contains(r.Expr.String(), `http_request_duration_seconds_bucket{le="+Inf"}[1h]`) {
					t.Errorf("expr %q", r.Expr.String())
				}
			},
		},
		{
			name: "latency: a trailing comma and braces without a name",
			sl:   ratioSL(latency(`{__name__="rpc_duration_seconds_bucket", service="a",}`, 2500*time.Millisecond)),
			check: func(t *testing.T, groups []monitoringv1.RuleGroup) {
				r := find(groups, "itops:sli_error:ratio_rate5m")[0]
				if !strings.Contains(r.Expr.String(), `{__name__="rpc_duration_seconds_bucket", service="a",le="2.5"}[5m]`) {
					t.Errorf("expr %q", r.Expr.String())
				}
			},
		},
		{
			name:   "latency: a bucket that already matches le",
			sl:     ratioSL(latency(`x_bucket{job="api", le="0.3"}`, 300*time.Millisecond)),
			errHas: "must not match le",
		},
		{
			name:   "latency: not a selector",
			sl:     ratioSL(latency(`sum(rate(x_bucket[5m]))`, time.Second)),
			errHas: "spec.objectives.sli.latency.bucket: Invalid value: \"sum(rate(x_bucket[5m]))\": must be a series selector",
		},
		{
			name: "custom alerts: distinct windows once each, 90m as 1h30m, a factor under 6 is a ticket",
			sl: ratioSL(alerts(brAlert(90*time.Minute, 5*time.Minute, "14.4"), brAlert(3*24*time.Hour, 6*time.Hour, "1"),
				brAlert(6*time.Hour, 90*time.Minute, "5.9999"))),
			check: func(t *testing.T, groups []monitoringv1.RuleGroup) {
				want := []string{"itops:sli_error:ratio_rate5m", "itops:sli_error:ratio_rate1h30m", "itops:sli_error:ratio_rate6h",
					"itops:sli_error:ratio_rate3d", "itops:sli_error:ratio_rate30d"}
				got := records(groups)[:5]
				if strings.Join(got, " ") != strings.Join(want, " ") {
					t.Errorf("records %v, want %v", got, want)
				}
				a := find(groups, promrule.AlertName)
				if len(a) != 3 {
					t.Fatalf("%d alerts, want 3", len(a))
				}
				for i, sev := range []string{"page", "ticket", "ticket"} {
					if a[i].Labels["severity"] != sev {
						t.Errorf("alert %d severity %q, want %q", i, a[i].Labels["severity"], sev)
					}
				}
				if a[0].Labels["long_window"] != "1h30m" || a[2].Labels["short_window"] != "1h30m" {
					t.Errorf("windows %v %v", a[0].Labels, a[2].Labels)
				}
				if !strings.Contains(a[1].Expr.String(), `itops:sli_error:ratio_rate3d{namespace="shop",servicelevel="checkout"} > (1 * 0.001)`) {
					t.Errorf("expr %q", a[1].Expr.String())
				}
				if a[0].For != nil {
					t.Errorf("for: %v, want none (as Sloth)", *a[0].For)
				}
			},
		},
		{
			name: "factor exactly 6 pages",
			sl:   ratioSL(alerts(brAlert(6*time.Hour, 30*time.Minute, "6.0"))),
			check: func(t *testing.T, groups []monitoringv1.RuleGroup) {
				if s := find(groups, promrule.AlertName)[0].Labels["severity"]; s != "page" {
					t.Errorf("severity %q", s)
				}
			},
		},
		{
			name: "no alerts: the 5m ratio is still recorded for the window's average",
			sl:   ratioSL(alerts()),
			check: func(t *testing.T, groups []monitoringv1.RuleGroup) {
				if got := strings.Join(records(groups)[:2], " "); got != "itops:sli_error:ratio_rate5m itops:sli_error:ratio_rate30d" {
					t.Errorf("records %s", got)
				}
				if len(find(groups, promrule.AlertName)) != 0 {
					t.Error("alerts generated without burnRateAlerts")
				}
			},
		},
		{
			name: "labels: added to alerts (severity overridable), reserved ones ignored, template delimiters and quotes kept literal",
			sl: ratioSL(labels(
				itopsv1alpha1.RuleLabel{Name: "team", Value: `checkout "core"`},
				itopsv1alpha1.RuleLabel{Name: "severity", Value: "critical"},
				itopsv1alpha1.RuleLabel{Name: "namespace", Value: "kube-system"},
				itopsv1alpha1.RuleLabel{Name: "note", Value: `{{ $value }} "x"`},
			)),
			check: func(t *testing.T, groups []monitoringv1.RuleGroup) {
				a := find(groups, promrule.AlertName)[0]
				want := map[string]string{"team": `checkout "core"`, "severity": "critical", "note": `{{ "{{ $value }} \"x\"" }}`,
					"long_window": "1h", "short_window": "5m"}
				if len(a.Labels) != len(want) {
					t.Errorf("labels %v, want %v", a.Labels, want)
				}
				for k, v := range want {
					if a.Labels[k] != v {
						t.Errorf("label %s = %q, want %q", k, a.Labels[k], v)
					}
				}
				for _, r := range find(groups, "itops:sli_error:ratio_rate5m") {
					if _, ok := r.Labels["team"]; ok {
						t.Error("alert labels on a recording rule")
					}
				}
			},
		},
		{
			name: "runbook with a template delimiter is printed literally",
			sl: ratioSL(func(sl *itopsv1alpha1.ServiceLevel) {
				sl.Spec.Owner = &itopsv1alpha1.ServiceOwner{RunbookURL: "https://wiki.example/{{x}}"}
			}),
			check: func(t *testing.T, groups []monitoringv1.RuleGroup) {
				if u := find(groups, promrule.AlertName)[0].Annotations["runbook_url"]; u != `{{ "https://wiki.example/{{x}}" }}` {
					t.Errorf("runbook_url %q", u)
				}
			},
		},
		{
			name: "quotes in the user's PromQL pass through verbatim, placeholders all replaced",
			sl: ratioSL(func(sl *itopsv1alpha1.ServiceLevel) {
				sl.Spec.Objectives.SLI.Good = `sum(rate(x{path="/a\"b"}[{{.window}}])) + 0 * sum(rate(y[{{.window}}]))`
			}),
			check: func(t *testing.T, groups []monitoringv1.RuleGroup) {
				e := find(groups, "itops:sli_error:ratio_rate30m")[0].Expr.String()
				if !strings.Contains(e, `sum(rate(x{path="/a\"b"}[30m])) + 0 * sum(rate(y[30m]))`) || strings.Contains(e, "{{") {
					t.Errorf("expr %q", e)
				}
			},
		},
		{
			name: "a window that is an alert window is not averaged again; 99.95 exact budget",
			sl: ratioSL(func(sl *itopsv1alpha1.ServiceLevel) {
				sl.Spec.Objectives.Availability = "99.95"
				sl.Spec.Objectives.Window = itopsv1alpha1.RollingWindow(6 * time.Hour)
			}),
			check: func(t *testing.T, groups []monitoringv1.RuleGroup) {
				if n := len(find(groups, "itops:sli_error:ratio_rate6h")); n != 1 {
					t.Errorf("%d rules record the 6h ratio", n)
				}
				if e := find(groups, "itops:error_budget:ratio")[0].Expr.String(); e != "vector(0.0005)" {
					t.Errorf("budget %q", e)
				}
			},
		},
		{
			name: "calendar month: the rolling 30d",
			sl: ratioSL(func(sl *itopsv1alpha1.ServiceLevel) {
				sl.Spec.Objectives.Window = &itopsv1alpha1.SLOWindow{Calendar: &itopsv1alpha1.CalendarWindow{Period: itopsv1alpha1.CalendarMonth}}
			}),
			check: func(t *testing.T, groups []monitoringv1.RuleGroup) {
				if len(find(groups, "itops:sli_error:ratio_rate30d")) != 1 {
					t.Errorf("records %v", records(groups))
				}
				if d := find(groups, promrule.AlertName)[0].Annotations["description"]; !strings.Contains(d, "over 30d (rolling, for the calendar month)") {
					t.Errorf("description %q", d)
				}
			},
		},
		{
			name: "calendar week: the rolling 7d",
			sl: ratioSL(func(sl *itopsv1alpha1.ServiceLevel) {
				sl.Spec.Objectives.Window = &itopsv1alpha1.SLOWindow{Calendar: &itopsv1alpha1.CalendarWindow{Period: itopsv1alpha1.CalendarWeek, TimeZone: "Europe/Berlin"}}
			}),
			check: func(t *testing.T, groups []monitoringv1.RuleGroup) {
				if len(find(groups, "itops:sli_error:ratio_rate7d")) != 1 {
					t.Errorf("records %v", records(groups))
				}
			},
		},
		{
			name: "two ServiceLevels never share a series: names and selectors carry both labels",
			sl:   ratioSL(func(sl *itopsv1alpha1.ServiceLevel) { sl.Namespace, sl.Name = "team-b", "checkout" }),
			check: func(t *testing.T, groups []monitoringv1.RuleGroup) {
				for _, g := range groups {
					if !strings.HasSuffix(g.Name, "-team-b-checkout") {
						t.Errorf("group %s", g.Name)
					}
					for _, r := range g.Rules {
						if r.Record != "" && r.Labels["namespace"] != "team-b" {
							t.Errorf("rule %s%s labels %v", r.Record, r.Alert, r.Labels)
						}
						if strings.Contains(r.Expr.String(), "itops:") && !strings.Contains(r.Expr.String(), `namespace="team-b",servicelevel="checkout"`) &&
							!strings.HasPrefix(r.Record, "itops:sli_error") {
							t.Errorf("rule %s%s selects other ServiceLevels: %s", r.Record, r.Alert, r.Expr.String())
						}
					}
				}
			},
		},
		{
			name: "availability SLI: nothing to generate",
			sl: ratioSL(func(sl *itopsv1alpha1.ServiceLevel) {
				sl.Spec.Objectives.SLI = &itopsv1alpha1.SLI{Type: itopsv1alpha1.SLIAvailability}
			}),
			errHas: "rules are generated only for",
		},
		{
			name:   "prometheusRule unset",
			sl:     ratioSL(func(sl *itopsv1alpha1.ServiceLevel) { sl.Spec.Objectives.SLI.PrometheusRule = nil }),
			errHas: "rules are generated only for",
		},
		{
			name:   "window under a millisecond",
			sl:     ratioSL(alerts(brAlert(time.Hour, 5*time.Minute+time.Microsecond, "14.4"))),
			errHas: "spec.burnRateAlerts[0].shortWindow: 5m0.000001s is not a whole number of milliseconds",
		},
		{
			name:   "good without the placeholder",
			sl:     ratioSL(func(sl *itopsv1alpha1.ServiceLevel) { sl.Spec.Objectives.SLI.Good = "sum(rate(x[5m]))" }),
			errHas: "spec.objectives.sli.good: Invalid value: \"sum(rate(x[5m]))\": must contain the range placeholder {{.window}}",
		},
		{
			name:   "bad factor",
			sl:     ratioSL(alerts(brAlert(time.Hour, 5*time.Minute, "1e3"))),
			errHas: "spec.burnRateAlerts[0].factor",
		},
		{
			name: "invalid window",
			sl: ratioSL(func(sl *itopsv1alpha1.ServiceLevel) {
				sl.Spec.Objectives.Window = &itopsv1alpha1.SLOWindow{Invalid: []byte(`"30d"`)}
			}),
			errHas: `spec.objectives.window: "30d" is neither a duration`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			groups, err := promrule.Generate(tc.sl)
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("error %v, want one containing %q", err, tc.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, groups)
		})
	}
}

func TestDuration(t *testing.T) {
	for _, tc := range []struct {
		in   time.Duration
		want string
	}{
		{5 * time.Minute, "5m"}, {90 * time.Minute, "1h30m"}, {720 * time.Hour, "30d"}, {36 * time.Hour, "1d12h"},
		{1500 * time.Millisecond, "1s500ms"}, {8784 * time.Hour, "366d"}, {time.Hour + time.Second, "1h1s"},
	} {
		if got, err := promrule.Duration(tc.in); err != nil || got != tc.want {
			t.Errorf("Duration(%s) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []time.Duration{0, -time.Minute, time.Second + time.Microsecond} {
		if _, err := promrule.Duration(bad); err == nil {
			t.Errorf("Duration(%s) did not fail", bad)
		}
	}
}

func TestReserved(t *testing.T) {
	for name, want := range map[string]bool{"namespace": true, "servicelevel": true, "alertname": true, "long_window": true,
		"short_window": true, "__tmp": true, "team": false, "severity": false} {
		if promrule.Reserved(name) != want {
			t.Errorf("Reserved(%q) = %v", name, !want)
		}
	}
}

// FuzzAlertTextLiteral: whatever a user writes in an alert label, runbook URL or name, the
// generated text, expanded as Prometheus expands alert labels and annotations (Go
// text/template), parses and prints exactly what was written.
func FuzzAlertTextLiteral(f *testing.F) {
	for _, s := range []string{"checkout", `{{ $value }}`, `a {{ b`, `}}{{`, `"quoted" \ back`, "{{`x`}}", "\x00{{\n", "ünïcode {{"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sl := ratioSL(func(sl *itopsv1alpha1.ServiceLevel) {
			sl.Spec.Objectives.SLI.PrometheusRule.Labels = []itopsv1alpha1.RuleLabel{{Name: "team", Value: s}}
		})
		groups, err := promrule.Generate(sl)
		if err != nil {
			t.Fatal(err)
		}
		got := find(groups, promrule.AlertName)[0].Labels["team"]
		tmpl, err := template.New("label").Parse(got)
		if err != nil {
			t.Fatalf("label %q does not parse as a template: %v", got, err)
		}
		var out strings.Builder
		if err := tmpl.Execute(&out, nil); err != nil {
			t.Fatalf("label %q does not execute: %v", got, err)
		}
		if out.String() != s {
			t.Fatalf("label %q prints %q, want %q", got, out.String(), s)
		}
	})
}

package servicelevel

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/config"
)

// counts are the good and total events a fake Prometheus holds for a range.
type counts struct{ good, total float64 }

// fakeProm answers the good (code="ok") and total queries of promSLI from a table of events by
// range (as rates per second, as rate() would); a range not in the table has no series. err,
// when set, answers every query.
type fakeProm struct {
	mu      sync.Mutex
	byRange map[string]counts
	err     error
	queries []string
}

// set replaces the fake's answers (safe while a reconciler queries it).
func (f *fakeProm) set(byRange map[string]counts, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.byRange, f.err = byRange, err
}

var rangeOf = regexp.MustCompile(`\[([^\]]+)\]`)

func (f *fakeProm) Query(_ context.Context, q string, _ time.Time) (model.Value, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, q)
	if f.err != nil {
		return nil, f.err
	}
	r := rangeOf.FindStringSubmatch(q)[1]
	e, ok := f.byRange[r]
	if !ok {
		return model.Vector{}, nil
	}
	d, _ := model.ParseDuration(r)
	v := e.total
	if strings.Contains(q, `code="ok"`) {
		v = e.good
	}
	return model.Vector{&model.Sample{Value: model.SampleValue(v / time.Duration(d).Seconds())}}, nil
}

func promSLI(sl *itopsv1alpha1.ServiceLevel) {
	sl.Spec.Objectives.Availability = "99"
	sl.Spec.Objectives.SLI = &itopsv1alpha1.SLI{Type: itopsv1alpha1.SLIPrometheusRatio,
		Good: `sum(rate(req{code="ok"}[{{.window}}]))`, Total: `sum(rate(req[{{.window}}]))`}
}

// evaluate measures sl with the fake and computes its status, as a reconcile does.
func evaluate(t *testing.T, sl *itopsv1alpha1.ServiceLevel, f *fakeProm, now time.Time) desired {
	t.Helper()
	r := &Reconciler{Prometheus: &PrometheusSource{Querier: f, Policy: config.PrometheusPolicy{Interval: metav1.Duration{Duration: 30 * time.Second}}}}
	m := r.measure(context.Background(), sl, now)
	d := computeStatus(sl, inputs{prom: m, promInterval: r.Prometheus.interval()}, now)
	sl.Status = d.status
	return d
}

func condition(t *testing.T, st itopsv1alpha1.ServiceLevelStatus, typ string) *metav1.Condition {
	t.Helper()
	c := meta.FindStatusCondition(st.Conditions, typ)
	if c == nil {
		t.Fatalf("no %s condition in %+v", typ, st.Conditions)
	}
	return c
}

func TestPrometheusBooks(t *testing.T) {
	sl := newSL(promSLI)
	f := &fakeProm{byRange: map[string]counts{
		"30d": {good: 999_500, total: 1_000_000}, "1h": {good: 9_990, total: 10_000}, "5m": {good: 1000, total: 1000},
		"6h": {good: 59_990, total: 60_000}, "30m": {good: 5000, total: 5000},
	}}

	t.Log("a healthy service: 99.95 % over 30 days meets 99 %")
	d := evaluate(t, sl, f, t0)
	st := d.status
	if st.Availability != "99.95" || st.ErrorBudgetRemaining != "95" || st.SLI.Good != "999500" || st.SLI.Total != "1000000" || st.SLI.LastError != "" {
		t.Fatalf("books: availability %s, budget %s, sli %+v", st.Availability, st.ErrorBudgetRemaining, st.SLI)
	}
	if c := condition(t, st, itopsv1alpha1.SLConditionObjectiveMet); c.Status != metav1.ConditionTrue {
		t.Fatalf("ObjectiveMet %+v", c)
	}
	if c := condition(t, st, itopsv1alpha1.ConditionReady); c.Status != metav1.ConditionTrue || c.Reason != itopsv1alpha1.SLReasonMeasured {
		t.Fatalf("Ready %+v", c)
	}
	if len(d.problems) != 0 || d.requeueAfter != 30*time.Second || st.Outages != nil || st.TrackingSince != nil {
		t.Fatalf("problems %v, requeue %s, availability books %v %v", d.problems, d.requeueAfter, st.Outages, st.TrackingSince)
	}
	// 2 queries per distinct range: 30d, 1h, 5m, 6h, 30m.
	if len(f.queries) != 10 {
		t.Fatalf("%d queries: %v", len(f.queries), f.queries)
	}

	t.Log("900 good of 1000: 90 % against 99 %, budget exhausted, both alerts firing, a burn incident")
	f.byRange = map[string]counts{"30d": {good: 900, total: 1000}, "1h": {good: 900, total: 1000}, "5m": {good: 90, total: 100},
		"6h": {good: 900, total: 1000}, "30m": {good: 900, total: 1000}}
	d = evaluate(t, sl, f, t0.Add(time.Minute))
	st = d.status
	if st.Availability != "90" || st.ErrorBudgetRemaining != "-900" || st.BurnRate != "10" {
		t.Fatalf("availability %s, budget %s, burn %s", st.Availability, st.ErrorBudgetRemaining, st.BurnRate)
	}
	if c := condition(t, st, itopsv1alpha1.SLConditionObjectiveMet); c.Status != metav1.ConditionFalse {
		t.Fatalf("ObjectiveMet %+v", c)
	}
	if c := condition(t, st, itopsv1alpha1.SLConditionBudgetExhausted); c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, "100 bad of 1000 events") {
		t.Fatalf("BudgetExhausted %+v", c)
	}
	if st.BurnRateAlerts[0].State != itopsv1alpha1.AlertOK || st.BurnRateAlerts[1].State != itopsv1alpha1.AlertFiring {
		t.Fatalf("alerts %+v (10x fires the 6x alert only)", st.BurnRateAlerts)
	}
	if len(d.problems) != 1 || d.problems[0].Reason != itopsv1alpha1.ReasonErrorBudgetBurn {
		t.Fatalf("problems %+v", d.problems)
	}

	t.Log("Prometheus unreachable: Unknown, never met; the last books stay, stale; the burn signal holds")
	f.err = errors.New("dial tcp 127.0.0.1:9090: connect: connection refused")
	d = evaluate(t, sl, f, t0.Add(2*time.Minute))
	st = d.status
	if c := condition(t, st, itopsv1alpha1.SLConditionObjectiveMet); c.Status != metav1.ConditionUnknown || c.Reason != itopsv1alpha1.SLReasonPrometheusUnavailable {
		t.Fatalf("ObjectiveMet %+v", c)
	}
	if c := condition(t, st, itopsv1alpha1.ConditionReady); c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, "connection refused") || !strings.Contains(c.Message, "stale") {
		t.Fatalf("Ready %+v", c)
	}
	if st.Availability != "90" || st.SLI.LastError == "" || !st.SLI.LastQueryTime.Time.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("stale books: %s %+v", st.Availability, st.SLI)
	}
	if c := condition(t, st, itopsv1alpha1.SLConditionBudgetExhausted); c.Status != metav1.ConditionTrue {
		t.Fatalf("the last known budget holds: %+v", c)
	}
	if len(d.problems) != 1 {
		t.Fatalf("the burn signal holds while Prometheus is away: %+v", d.problems)
	}

	t.Run("a spec changed while Prometheus is away: the books of the old spec are not shown as this one's", func(t *testing.T) {
		changed := sl.DeepCopy()
		changed.Generation++
		changed.Spec.Objectives.SLI.Good = `sum(rate(req{code="ok",path="/"}[{{.window}}]))`
		d := evaluate(t, changed, f, t0.Add(2*time.Minute))
		if d.status.Availability != "" || d.status.BurnRateAlerts != nil || len(d.problems) != 0 ||
			meta.FindStatusCondition(d.status.Conditions, itopsv1alpha1.SLConditionBudgetExhausted) != nil {
			t.Fatalf("old books kept: %+v, problems %+v", d.status, d.problems)
		}
	})

	t.Log("only good requests since: the short windows are clean, the burn stops")
	f.err = nil
	f.byRange = map[string]counts{"30d": {good: 1900, total: 2000}, "1h": {good: 1900, total: 2000}, "5m": {good: 500, total: 500},
		"6h": {good: 1900, total: 2000}, "30m": {good: 1000, total: 1000}}
	d = evaluate(t, sl, f, t0.Add(3*time.Minute))
	st = d.status
	if st.BurnRateAlerts[1].State != itopsv1alpha1.AlertOK || len(d.problems) != 0 || st.Availability != "95" {
		t.Fatalf("alerts %+v, problems %+v, availability %s", st.BurnRateAlerts, d.problems, st.Availability)
	}
}

func TestPrometheusFailures(t *testing.T) {
	for _, tc := range []struct {
		name   string
		f      *fakeProm
		reason string
	}{
		{"no series", &fakeProm{}, itopsv1alpha1.SLReasonNoData},
		{"query refused", &fakeProm{err: &promv1.Error{Type: promv1.ErrBadData, Msg: "parse error"}}, itopsv1alpha1.SLReasonQueryFailed},
		{"unreachable", &fakeProm{err: errors.New("context deadline exceeded")}, itopsv1alpha1.SLReasonPrometheusUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sl := newSL(promSLI)
			d := evaluate(t, sl, tc.f, t0)
			c := condition(t, d.status, itopsv1alpha1.SLConditionObjectiveMet)
			if c.Status != metav1.ConditionUnknown || c.Reason != tc.reason {
				t.Fatalf("ObjectiveMet %+v, want Unknown/%s", c, tc.reason)
			}
			if r := condition(t, d.status, itopsv1alpha1.ConditionReady); r.Status != metav1.ConditionFalse || r.Reason != tc.reason {
				t.Fatalf("Ready %+v", r)
			}
			if d.status.Availability != "" || len(d.problems) != 0 || meta.FindStatusCondition(d.status.Conditions, itopsv1alpha1.SLConditionBudgetExhausted) != nil {
				t.Fatalf("nothing measured must claim nothing: %+v, %+v", d.status, d.problems)
			}
		})
	}
	t.Run("no Prometheus configured", func(t *testing.T) {
		sl := newSL(promSLI)
		r := &Reconciler{}
		d := computeStatus(sl, inputs{prom: r.measure(context.Background(), sl, t0), promInterval: r.Prometheus.interval()}, t0)
		c := condition(t, d.status, itopsv1alpha1.SLConditionObjectiveMet)
		if c.Reason != itopsv1alpha1.SLReasonPrometheusUnavailable || !strings.Contains(c.Message, "prometheus.url") || d.requeueAfter != config.DefaultPrometheusInterval {
			t.Fatalf("%+v, requeue %s", c, d.requeueAfter)
		}
	})
}

func TestPrometheusCalendarPeriods(t *testing.T) {
	sl := newSL(promSLI, func(sl *itopsv1alpha1.ServiceLevel) {
		sl.Spec.Objectives.Window = &itopsv1alpha1.SLOWindow{Calendar: &itopsv1alpha1.CalendarWindow{Period: itopsv1alpha1.CalendarMonth}}
		sl.Spec.BurnRateAlerts = nil
	})
	// 2026-11-20 12:00 UTC: November so far is 19.5 days = 468h.
	f := &fakeProm{byRange: map[string]counts{"19d12h": {good: 990, total: 1000}}}
	d := evaluate(t, sl, f, t0)
	if p := d.status.Periods; len(p) != 1 || p[0].Complete || p[0].Availability != "99" || !p[0].Met || p[0].BudgetSpent != "100" ||
		!p[0].Start.Time.Equal(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)) || !p[0].End.Time.Equal(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("periods %+v", p)
	}

	t.Log("December: November is measured once at its end, over its 30 days")
	dec := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	f.byRange = map[string]counts{"30d": {good: 980, total: 1000}, "1d": {good: 100, total: 100}}
	f.queries = nil
	d = evaluate(t, sl, f, dec)
	p := d.status.Periods
	if len(p) != 2 || !p[0].Complete || p[0].Availability != "98" || p[0].Met || p[0].BudgetSpent != "200" || p[1].Complete || p[1].Availability != "100" {
		t.Fatalf("periods %+v", p)
	}
	f.queries = nil
	evaluate(t, sl, f, dec.Add(time.Minute))
	for _, q := range f.queries {
		if strings.Contains(q, "[30d]") {
			t.Fatalf("a complete period is not queried again: %v", f.queries)
		}
	}

	t.Log("at most 13 periods, the oldest dropped")
	sl.Status.Periods = nil
	for i := range 14 {
		s := time.Date(2025, time.Month(10+i), 1, 0, 0, 0, 0, time.UTC)
		sl.Status.Periods = append(sl.Status.Periods, itopsv1alpha1.PeriodReport{Start: metav1.Time{Time: s}, End: metav1.Time{Time: s.AddDate(0, 1, 0)}, Complete: true})
	}
	d = evaluate(t, sl, f, dec)
	if p := d.status.Periods; len(p) != 13 || !p[12].Start.Time.Equal(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("%d periods, last %+v", len(p), p[len(p)-1])
	}
}

// TestPrometheusMeasuredOncePerInterval: reconciles between two evaluations (workload events)
// reuse the last measurement instead of querying Prometheus again; a spec change, the interval
// passing or a failure queries again.
func TestPrometheusMeasuredOncePerInterval(t *testing.T) {
	sl := newSL(promSLI)
	sl.UID = "uid-1"
	f := &fakeProm{byRange: map[string]counts{"30d": {good: 99, total: 100}}}
	r := &Reconciler{Prometheus: &PrometheusSource{Querier: f, Policy: config.PrometheusPolicy{Interval: metav1.Duration{Duration: 30 * time.Second}}}}
	ctx := context.Background()
	_, next := r.measurement(ctx, sl, t0)
	n := len(f.queries)
	if n == 0 || next != 30*time.Second {
		t.Fatalf("%d queries, next %s", n, next)
	}
	if _, next := r.measurement(ctx, sl, t0.Add(10*time.Second)); len(f.queries) != n || next != 20*time.Second {
		t.Fatalf("reused: %d queries (want %d), next %s", len(f.queries), n, next)
	}
	if r.measurement(ctx, sl, t0.Add(30*time.Second)); len(f.queries) != 2*n {
		t.Fatalf("due again: %d queries", len(f.queries))
	}
	sl.Generation++
	if r.measurement(ctx, sl, t0.Add(31*time.Second)); len(f.queries) != 3*n {
		t.Fatalf("spec changed: %d queries", len(f.queries))
	}
	r.forgetMeasurement(ctrl.Request{NamespacedName: types.NamespacedName{Namespace: sl.Namespace, Name: sl.Name}})
	if _, ok := r.measured.Load(sl.UID); ok {
		t.Fatal("a deleted ServiceLevel's measurement is dropped")
	}
}

// TestPrometheusPeriodStartKeepsVerdict: in the first second of a calendar period nothing can
// be queried (a zero range); ObjectiveMet and Ready keep their verdict and lastTransitionTime
// instead of flapping to Unknown/False, and the period is measured a second later, not an
// interval later.
func TestPrometheusPeriodStartKeepsVerdict(t *testing.T) {
	sl := newSL(promSLI, func(sl *itopsv1alpha1.ServiceLevel) {
		sl.Spec.Objectives.Window = &itopsv1alpha1.SLOWindow{Calendar: &itopsv1alpha1.CalendarWindow{Period: itopsv1alpha1.CalendarMonth}}
		sl.Spec.BurnRateAlerts = nil
	})
	f := &fakeProm{byRange: map[string]counts{"19d12h": {good: 1000, total: 1000}}}
	evaluate(t, sl, f, t0)
	met, ready := *condition(t, sl.Status, itopsv1alpha1.SLConditionObjectiveMet), *condition(t, sl.Status, itopsv1alpha1.ConditionReady)
	if met.Status != metav1.ConditionTrue || ready.Status != metav1.ConditionTrue {
		t.Fatalf("measured: %+v", sl.Status.Conditions)
	}
	dec := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	f.set(map[string]counts{"30d": {good: 1000, total: 1000}}, nil)
	d := evaluate(t, sl, f, dec.Add(400*time.Millisecond))
	if c := condition(t, d.status, itopsv1alpha1.SLConditionObjectiveMet); c.Status != metav1.ConditionTrue || !c.LastTransitionTime.Equal(&met.LastTransitionTime) {
		t.Errorf("ObjectiveMet at the period start = %+v, want True since %s", c, met.LastTransitionTime)
	}
	if c := condition(t, d.status, itopsv1alpha1.ConditionReady); c.Status != metav1.ConditionTrue {
		t.Errorf("Ready at the period start = %+v", c)
	}
	if d.requeueAfter <= 0 || d.requeueAfter > time.Second {
		t.Errorf("requeueAfter = %s, want at most 1s: the first second of the period", d.requeueAfter)
	}
	if p := d.status.Periods; len(p) != 2 || p[1].Result != itopsv1alpha1.PeriodNoData {
		t.Errorf("periods %+v", p)
	}
	f.set(map[string]counts{"30d": {good: 1000, total: 1000}, "1s": {good: 10, total: 10}}, nil)
	d = evaluate(t, sl, f, dec.Add(1400*time.Millisecond))
	if c := condition(t, d.status, itopsv1alpha1.SLConditionObjectiveMet); c.Status != metav1.ConditionTrue || !c.LastTransitionTime.Equal(&met.LastTransitionTime) {
		t.Errorf("ObjectiveMet a second in = %+v, want True since %s", c, met.LastTransitionTime)
	}
	if p := d.status.Periods; len(p) != 2 || !p[0].Complete || p[0].Result != itopsv1alpha1.PeriodMet || p[1].Result != itopsv1alpha1.PeriodMet {
		t.Errorf("periods %+v", p)
	}
}

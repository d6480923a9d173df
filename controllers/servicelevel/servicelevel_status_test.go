package servicelevel

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/slo"
)

var t0 = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

func newSL(mutate ...func(*itopsv1alpha1.ServiceLevel)) *itopsv1alpha1.ServiceLevel {
	sl := &itopsv1alpha1.ServiceLevel{
		ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: "shop", Generation: 1},
		Spec: itopsv1alpha1.ServiceLevelSpec{
			Selector:   metav1.LabelSelector{MatchLabels: map[string]string{"app": "shop"}},
			Objectives: &itopsv1alpha1.Objectives{Availability: "99.9", Window: itopsv1alpha1.RollingWindow(720 * time.Hour)},
			BurnRateAlerts: []itopsv1alpha1.BurnRateAlert{
				{LongWindow: metav1.Duration{Duration: time.Hour}, ShortWindow: metav1.Duration{Duration: 5 * time.Minute}, Factor: "14.4"},
				{LongWindow: metav1.Duration{Duration: 6 * time.Hour}, ShortWindow: metav1.Duration{Duration: 30 * time.Minute}, Factor: "6"},
			},
			BudgetPolicy: itopsv1alpha1.BudgetPolicyFreezeChanges,
		},
	}
	for _, m := range mutate {
		m(sl)
	}
	return sl
}

// tracked: books begun ten days ago, last observed (up) two hours ago.
func tracked(sl *itopsv1alpha1.ServiceLevel) {
	sl.Status.TrackingSince = &metav1.Time{Time: t0.Add(-240 * time.Hour)}
	sl.Status.LastObservedAt = &metav1.Time{Time: t0.Add(-2 * time.Hour)}
}

func ptrTime(t time.Time) *metav1.Time { return &metav1.Time{Time: t} }

func up() slo.WorkloadState {
	return slo.WorkloadState{Kind: "Deployment", Name: "web", Ready: 2, Desired: 2, Since: t0.Add(-300 * time.Hour)}
}

func down(since time.Duration) slo.WorkloadState {
	return slo.WorkloadState{Kind: "Deployment", Name: "web", Desired: 2, Down: true, Since: t0.Add(-since),
		Message: "Deployment web: Available=False (MinimumReplicasUnavailable): 0 of 2 replicas available"}
}

func TestComputeStatus(t *testing.T) {
	tests := []struct {
		name             string
		sl               *itopsv1alpha1.ServiceLevel
		in               inputs
		wantAvailability string
		wantBudget       string
		wantObjective    metav1.ConditionStatus
		wantExhausted    metav1.ConditionStatus
		wantStalled      bool
		wantProblem      bool
		wantRequeue      time.Duration
		wantReady        string
		wantEvents       []string
		wantUnobserved   int
	}{
		{
			name:      "no objectives: nothing to measure",
			sl:        newSL(func(sl *itopsv1alpha1.ServiceLevel) { sl.Spec.Objectives = nil }),
			in:        inputs{states: []slo.WorkloadState{up()}, continuous: true},
			wantReady: "no objectives",
		},
		{
			name:          "the first observation starts the books",
			sl:            newSL(),
			in:            inputs{states: []slo.WorkloadState{up()}, continuous: false},
			wantBudget:    "100",
			wantObjective: metav1.ConditionUnknown, wantExhausted: metav1.ConditionFalse,
			wantReady: "availability -, 100% of the budget left",
			// Measured one second later, without waiting for an event (issue 13).
			wantRequeue: time.Second,
		},
		{
			name: "an exhausted budget is looked at again exactly when the window has dropped enough bad time",
			sl: newSL(tracked, func(sl *itopsv1alpha1.ServiceLevel) {
				sl.Spec.Objectives.Window = itopsv1alpha1.RollingWindow(time.Hour)
				sl.Status.Outages = []itopsv1alpha1.Outage{{Start: metav1.Time{Time: t0.Add(-time.Hour + time.Minute)}, End: &metav1.Time{Time: t0.Add(-time.Hour + time.Minute + 10*time.Second)}}}
			}),
			in: inputs{states: []slo.WorkloadState{up()}, continuous: true},
			// 10s down of a 3.6s budget; 3s of it are left in the window 67s from now.
			wantAvailability: "99.7222", wantBudget: "-177.7778",
			wantObjective: metav1.ConditionFalse, wantExhausted: metav1.ConditionTrue,
			wantRequeue: 67 * time.Second,
			wantEvents:  []string{"ObjectiveMissed", "BudgetExhausted"},
		},
		{
			name: "half the budget spent eight days ago: over ten days tracked, the objective is missed",
			sl: newSL(tracked, func(sl *itopsv1alpha1.ServiceLevel) {
				sl.Status.Outages = []itopsv1alpha1.Outage{{Start: metav1.Time{Time: t0.Add(-200 * time.Hour)}, End: &metav1.Time{Time: t0.Add(-200*time.Hour + 21*time.Minute + 36*time.Second)}}}
			}),
			in: inputs{states: []slo.WorkloadState{up()}, continuous: true},
			// 21m36s of 240h: 99.85%; of the 30-day budget of 43m12s: half.
			wantAvailability: "99.85", wantBudget: "50",
			wantObjective: metav1.ConditionFalse, wantExhausted: metav1.ConditionFalse,
			wantRequeue: slo.IdleResolution,
			wantEvents:  []string{"ObjectiveMissed"},
		},
		{
			name: "down for ten minutes: the fast burn alert fires",
			sl:   newSL(tracked),
			in:   inputs{states: []slo.WorkloadState{down(10 * time.Minute)}, continuous: true},
			// 10m of 240h: 99.9305%; of 43m12s: 23.15% spent.
			wantAvailability: "99.9305", wantBudget: "76.8518",
			wantObjective: metav1.ConditionTrue, wantExhausted: metav1.ConditionFalse,
			wantProblem: true, wantRequeue: slo.ActiveResolution,
			wantReady: "down: Deployment web: Available=False",
		},
		{
			name: "an outage longer than the budget exhausts it",
			sl:   newSL(tracked),
			in:   inputs{states: []slo.WorkloadState{down(time.Hour)}, continuous: true},
			// 1h of 240h: 99.5833%; 60m of 43m12s.
			wantAvailability: "99.5833", wantBudget: "-38.8889",
			wantObjective: metav1.ConditionFalse, wantExhausted: metav1.ConditionTrue,
			wantProblem: true, wantRequeue: slo.ActiveResolution,
			wantEvents: []string{"ObjectiveMissed", "BudgetExhausted"},
		},
		{
			name: "an outage inside a maintenance window costs nothing",
			sl:   newSL(tracked),
			in: inputs{states: []slo.WorkloadState{down(10 * time.Minute)}, continuous: true,
				planned: []slo.Interval{{Start: t0.Add(-time.Hour), End: t0.Add(time.Hour)}}},
			wantAvailability: "100", wantBudget: "100",
			wantObjective: metav1.ConditionTrue, wantExhausted: metav1.ConditionFalse,
			wantRequeue: slo.ActiveResolution,
		},
		{
			name: "after a restart, a StatefulSet cannot tell: the gap is unobserved, and a heartbeat bounds the next one",
			sl: newSL(tracked, func(sl *itopsv1alpha1.ServiceLevel) {
				sl.Status.LastObservedAt = &metav1.Time{Time: t0.Add(-time.Hour)}
			}),
			in:               inputs{states: []slo.WorkloadState{{Kind: "StatefulSet", Name: "db", Ready: 1, Desired: 1}}, continuous: false},
			wantAvailability: "100", wantBudget: "100",
			wantObjective: metav1.ConditionTrue, wantExhausted: metav1.ConditionFalse,
			wantRequeue: slo.IdleResolution, wantUnobserved: 1,
		},
		{
			name:        "an objective stored before validation existed: stalled",
			sl:          newSL(func(sl *itopsv1alpha1.ServiceLevel) { sl.Spec.Objectives.Availability = "100" }),
			in:          inputs{states: []slo.WorkloadState{up()}, continuous: true},
			wantStalled: true, wantEvents: []string{"InvalidSpec"},
			wantObjective: metav1.ConditionUnknown, wantExhausted: metav1.ConditionUnknown,
		},
		{
			name: "a window stored while the webhook was down (unknown time zone): stalled, nothing claimed (issue 13)",
			sl: newSL(tracked, func(sl *itopsv1alpha1.ServiceLevel) {
				sl.Spec.Objectives.Window = &itopsv1alpha1.SLOWindow{Calendar: &itopsv1alpha1.CalendarWindow{Period: "Month", TimeZone: "Mars/Olympus"}}
			}),
			in:          inputs{states: []slo.WorkloadState{up()}, continuous: true},
			wantStalled: true, wantEvents: []string{"InvalidSpec"}, wantReady: `spec.objectives.window.calendar.timeZone: Invalid value: "Mars/Olympus"`,
			wantObjective: metav1.ConditionUnknown, wantExhausted: metav1.ConditionUnknown,
		},
		{
			name: "a window of neither form (issue 13): stalled with the field path",
			sl: newSL(tracked, func(sl *itopsv1alpha1.ServiceLevel) {
				sl.Spec.Objectives.Window = &itopsv1alpha1.SLOWindow{Invalid: []byte(`"30d"`)}
			}),
			in:          inputs{states: []slo.WorkloadState{up()}, continuous: true},
			wantStalled: true, wantEvents: []string{"InvalidSpec"}, wantReady: `spec.objectives.window: Invalid value`,
			wantObjective: metav1.ConditionUnknown, wantExhausted: metav1.ConditionUnknown,
		},
		{
			name: "a selector stored while the webhook was down: an exhausted budget no longer claims exhausted (it would freeze on a spec that measures nothing)",
			sl: newSL(tracked, func(sl *itopsv1alpha1.ServiceLevel) {
				sl.Spec.Selector = metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "in", Values: []string{"web"}}}}
				sl.Spec.BudgetPolicy = itopsv1alpha1.BudgetPolicyFreezeChanges
				meta.SetStatusCondition(&sl.Status.Conditions, metav1.Condition{Type: itopsv1alpha1.SLConditionBudgetExhausted, Status: metav1.ConditionTrue,
					Reason: itopsv1alpha1.SLReasonBudgetExhausted, LastTransitionTime: metav1.NewTime(t0.Add(-time.Hour))})
			}),
			in:          inputs{states: []slo.WorkloadState{up()}, continuous: true, invalidSelector: errors.New(`spec.selector.matchExpressions[0].operator: Invalid value: "in"`)},
			wantStalled: true, wantEvents: []string{"InvalidSelector"}, wantReady: "measures nothing and freezes nothing",
			wantObjective: metav1.ConditionUnknown, wantExhausted: metav1.ConditionUnknown,
		},
		{
			name: "a huge window of neither form: the Stalled message quotes it truncated",
			sl: newSL(tracked, func(sl *itopsv1alpha1.ServiceLevel) {
				sl.Spec.Objectives.Window = &itopsv1alpha1.SLOWindow{Invalid: []byte(`"` + strings.Repeat("x", 200000) + `"`)}
			}),
			in:          inputs{states: []slo.WorkloadState{up()}, continuous: true},
			wantStalled: true, wantEvents: []string{"InvalidSpec"}, wantReady: `spec.objectives.window: Invalid value: "\"` + strings.Repeat("x", 60) + `...": window must be`,
			wantObjective: metav1.ConditionUnknown, wantExhausted: metav1.ConditionUnknown,
		},
		{
			name: "a calendar month: figures from the period's start, requeued exactly at its end",
			sl: newSL(tracked, func(sl *itopsv1alpha1.ServiceLevel) {
				sl.Spec.Objectives.Window = &itopsv1alpha1.SLOWindow{Calendar: &itopsv1alpha1.CalendarWindow{Period: "Month", TimeZone: "Europe/Berlin"}}
				// 10 minutes down on 31 October (Berlin): the previous period, not this one.
				sl.Status.Outages = []itopsv1alpha1.Outage{{Start: metav1.NewTime(time.Date(2026, 10, 31, 22, 0, 0, 0, time.UTC)),
					End: ptrTime(time.Date(2026, 10, 31, 22, 10, 0, 0, time.UTC))}}
			}),
			in:               inputs{states: []slo.WorkloadState{up()}, continuous: true},
			wantAvailability: "100", wantBudget: "100",
			wantObjective: metav1.ConditionTrue, wantExhausted: metav1.ConditionFalse,
			wantReady:   "availability 100%",
			wantRequeue: time.Date(2026, 11, 30, 23, 0, 0, 0, time.UTC).Sub(t0), // 1 December 00:00 CET
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := computeStatus(tt.sl, tt.in, t0)
			st := d.status
			if st.Availability != tt.wantAvailability || st.ErrorBudgetRemaining != tt.wantBudget {
				t.Errorf("availability %q budget %q, want %q %q", st.Availability, st.ErrorBudgetRemaining, tt.wantAvailability, tt.wantBudget)
			}
			cond := func(typ string) metav1.ConditionStatus {
				if c := meta.FindStatusCondition(st.Conditions, typ); c != nil {
					return c.Status
				}
				return ""
			}
			if cond(itopsv1alpha1.SLConditionObjectiveMet) != tt.wantObjective || cond(itopsv1alpha1.SLConditionBudgetExhausted) != tt.wantExhausted {
				t.Errorf("ObjectiveMet %q BudgetExhausted %q, want %q %q (%+v)", cond(itopsv1alpha1.SLConditionObjectiveMet),
					cond(itopsv1alpha1.SLConditionBudgetExhausted), tt.wantObjective, tt.wantExhausted, st.Conditions)
			}
			if got := meta.IsStatusConditionTrue(st.Conditions, itopsv1alpha1.ConditionStalled); got != tt.wantStalled {
				t.Errorf("Stalled = %v, want %v", got, tt.wantStalled)
			}
			if (len(d.problems) > 0) != tt.wantProblem {
				t.Errorf("problems = %+v, want one: %v", d.problems, tt.wantProblem)
			}
			if tt.wantProblem && (d.problems[0].Reason != itopsv1alpha1.ReasonErrorBudgetBurn || d.problems[0].Source != itopsv1alpha1.SourceServiceLevel ||
				!strings.Contains(d.problems[0].Message, "ServiceLevel shop burns its error budget too fast")) {
				t.Errorf("problem = %+v", d.problems[0])
			}
			if d.requeueAfter != tt.wantRequeue {
				t.Errorf("requeueAfter = %s, want %s", d.requeueAfter, tt.wantRequeue)
			}
			if c := meta.FindStatusCondition(st.Conditions, itopsv1alpha1.ConditionReady); tt.wantReady != "" && (c == nil || !strings.Contains(c.Message, tt.wantReady)) {
				t.Errorf("Ready = %+v, want a message containing %q", c, tt.wantReady)
			}
			var reasons []string
			for _, e := range d.events {
				reasons = append(reasons, e.reason)
			}
			if strings.Join(reasons, ",") != strings.Join(tt.wantEvents, ",") {
				t.Errorf("events = %v, want %v", reasons, tt.wantEvents)
			}
			if len(st.UnobservedPeriods) != tt.wantUnobserved {
				t.Errorf("unobserved periods = %v, want %d", st.UnobservedPeriods, tt.wantUnobserved)
			}
			if st.ObservedGeneration != 1 {
				t.Errorf("observedGeneration = %d", st.ObservedGeneration)
			}
		})
	}
}

// The books survive a round trip through the API (JSON, whole seconds), and a second reconcile
// at the same instant changes nothing: no status write, no event.
func TestComputeStatusIsIdempotent(t *testing.T) {
	now := t0.Add(700 * time.Millisecond)
	sl := newSL(tracked)
	in := inputs{states: []slo.WorkloadState{down(10 * time.Minute)}, continuous: true,
		planned: []slo.Interval{{Start: t0.Add(-3 * time.Hour), End: t0.Add(-150 * time.Minute)}}}
	first := computeStatus(sl, in, now)
	raw, err := json.Marshal(first.status)
	if err != nil {
		t.Fatal(err)
	}
	sl.Status = itopsv1alpha1.ServiceLevelStatus{}
	if err := json.Unmarshal(raw, &sl.Status); err != nil {
		t.Fatal(err)
	}
	second := computeStatus(sl, in, now.Add(200*time.Millisecond))
	if len(second.events) != 0 {
		t.Errorf("second pass emitted events %v", second.events)
	}
	if !apiequality.Semantic.DeepEqual(second.status, sl.Status) {
		t.Errorf("second pass changed the status:\n%+v\nwas\n%+v", second.status, sl.Status)
	}
	if len(second.status.PlannedPeriods) != 1 || len(second.status.Outages) != 1 {
		t.Errorf("planned periods %v, outages %v", second.status.PlannedPeriods, second.status.Outages)
	}
	// Recovery closes the outage at the condition's transition.
	recovered := slo.WorkloadState{Kind: "Deployment", Name: "web", Ready: 2, Desired: 2, Since: t0.Add(5 * time.Minute)}
	third := computeStatus(sl, inputs{states: []slo.WorkloadState{recovered}, continuous: true}, t0.Add(6*time.Minute))
	if o := third.status.Outages; len(o) != 1 || o[0].End == nil || !o[0].End.Time.Equal(t0.Add(5*time.Minute)) {
		t.Errorf("outages after recovery = %+v", o)
	}
	if third.status.Downtime.Duration != 15*time.Minute {
		t.Errorf("downtime = %s, want 15m", third.status.Downtime.Duration)
	}
	// The planned time booked earlier stays booked although no window says so any more.
	if third.status.PlannedDowntime.Duration != 30*time.Minute {
		t.Errorf("planned downtime = %s, want the 30m booked before", third.status.PlannedDowntime.Duration)
	}
}

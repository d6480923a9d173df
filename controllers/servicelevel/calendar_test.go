package servicelevel

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/slo"
)

// roundTrip is the status as the API returns it.
func roundTrip(t *testing.T, st itopsv1alpha1.ServiceLevelStatus) itopsv1alpha1.ServiceLevelStatus {
	t.Helper()
	raw, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var out itopsv1alpha1.ServiceLevelStatus
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCalendarBudgetRecoversAtPeriodEnd: an exhausted weekly budget (FreezeChanges) stays
// exhausted while the service is up, is requeued exactly at the week's end, and recovers
// there: the completed week is reported (overspent, missed), the new week starts whole.
func TestCalendarBudgetRecoversAtPeriodEnd(t *testing.T) {
	weekStart, weekEnd := time.Date(2026, 11, 16, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	sl := newSL(tracked, func(sl *itopsv1alpha1.ServiceLevel) {
		sl.Spec.Objectives.Window = &itopsv1alpha1.SLOWindow{Calendar: &itopsv1alpha1.CalendarWindow{Period: itopsv1alpha1.CalendarWeek}}
		// 20 minutes down on Wednesday: a week's budget at 99.9% is 10m4.8s.
		sl.Status.Outages = []itopsv1alpha1.Outage{{Start: metav1.NewTime(weekStart.Add(50 * time.Hour)), End: ptrTime(weekStart.Add(50*time.Hour + 20*time.Minute))}}
	})
	in := inputs{states: []slo.WorkloadState{up()}, continuous: true}
	d := computeStatus(sl, in, t0)
	if !meta.IsStatusConditionTrue(d.status.Conditions, itopsv1alpha1.SLConditionBudgetExhausted) || d.status.ErrorBudgetRemaining != "-98.4127" {
		t.Fatalf("exhausted: %s %+v", d.status.ErrorBudgetRemaining, d.status.Conditions)
	}
	if c := meta.FindStatusCondition(d.status.Conditions, itopsv1alpha1.SLConditionBudgetExhausted); !strings.Contains(c.Message, "this week (since 2026-11-16 00:00 UTC)") {
		t.Errorf("message %q does not name the period", c.Message)
	}
	if d.requeueAfter != slo.IdleResolution {
		t.Fatalf("requeueAfter = %s, want the figures' refresh %s", d.requeueAfter, slo.IdleResolution)
	}
	sl.Status = roundTrip(t, d.status)
	d = computeStatus(sl, in, weekEnd.Add(-200*time.Second))
	if d.requeueAfter != 200*time.Second {
		t.Fatalf("requeueAfter = %s, want 200s: exactly the week's end", d.requeueAfter)
	}
	// The first report: the current week so far (no week before is claimed: the books were
	// not kept for periods then).
	if p := d.status.Periods; len(p) != 1 || p[0].Complete || p[0].BudgetSpent != "198.4127" || p[0].Met {
		t.Fatalf("periods = %+v", p)
	}

	sl.Status = roundTrip(t, d.status)
	at := computeStatus(sl, in, weekEnd.Add(300*time.Millisecond)) // the requeue, a little late
	st := at.status
	if !meta.IsStatusConditionFalse(st.Conditions, itopsv1alpha1.SLConditionBudgetExhausted) || st.ErrorBudgetRemaining != "100" {
		t.Fatalf("at the week's end the budget is whole: %s %+v", st.ErrorBudgetRemaining, st.Conditions)
	}
	if len(st.Periods) != 2 {
		t.Fatalf("periods = %+v", st.Periods)
	}
	done, current := st.Periods[0], st.Periods[1]
	if !done.Complete || done.Met || done.BudgetSpent != "198.4127" || done.Availability != "99.8015" ||
		!done.Start.Time.Equal(weekStart) || !done.End.Time.Equal(weekEnd) {
		t.Errorf("completed week = %+v", done)
	}
	if current.Complete || current.BudgetSpent != "0" || !current.Start.Time.Equal(weekEnd) {
		t.Errorf("new week = %+v", current)
	}
	// Nothing is measured in the new week's first second: ObjectiveMet keeps its verdict (no
	// flap to Unknown and back), measured a second later.
	was := meta.FindStatusCondition(sl.Status.Conditions, itopsv1alpha1.SLConditionObjectiveMet)
	if c := meta.FindStatusCondition(st.Conditions, itopsv1alpha1.SLConditionObjectiveMet); c.Status != was.Status ||
		!c.LastTransitionTime.Equal(&was.LastTransitionTime) || c.Message != was.Message {
		t.Errorf("ObjectiveMet at the boundary = %+v, want it kept: %+v", c, was)
	}
	if at.requeueAfter != time.Second {
		t.Errorf("requeueAfter = %s, want 1s (measured one second into the new week)", at.requeueAfter)
	}
	// The reported week's days stay for slo.SwitchRetention, for a window change.
	if len(st.DowntimeByDay) == 0 || st.DowntimeByDay[0].Date != "2026-11-18" || st.DowntimeByDay[0].Downtime.Duration != 20*time.Minute {
		t.Errorf("the reported week's days = %+v, want Wednesday's 20m kept", st.DowntimeByDay)
	}

	sl.Status = roundTrip(t, st)
	next := computeStatus(sl, in, weekEnd.Add(time.Second))
	if !meta.IsStatusConditionTrue(next.status.Conditions, itopsv1alpha1.SLConditionObjectiveMet) || next.status.Availability != "100" {
		t.Errorf("one second in: %s %+v", next.status.Availability, next.status.Conditions)
	}
	if !apiequality.Semantic.DeepEqual(next.status.Periods[0], done) {
		t.Errorf("the completed report changed: %+v, was %+v", next.status.Periods[0], done)
	}
}

// TestCalendarOperatorDownOverBoundary: an operator that was not running when a week ended
// reports it at start from the books, the gap it did not observe as unobserved.
func TestCalendarOperatorDownOverBoundary(t *testing.T) {
	weekStart, weekEnd := time.Date(2026, 11, 16, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	sl := newSL(func(sl *itopsv1alpha1.ServiceLevel) {
		sl.Spec.Objectives.Window = &itopsv1alpha1.SLOWindow{Calendar: &itopsv1alpha1.CalendarWindow{Period: itopsv1alpha1.CalendarWeek}}
		sl.Status.TrackingSince = &metav1.Time{Time: weekStart}
		sl.Status.LastObservedAt = &metav1.Time{Time: weekEnd.Add(-24 * time.Hour)} // last seen Sunday 00:00
		sl.Status.Periods = []itopsv1alpha1.PeriodReport{{Start: metav1.NewTime(weekStart), End: metav1.NewTime(weekEnd), Availability: "100", BudgetSpent: "0", Met: true}}
	})
	// A StatefulSet cannot tell since when it is up: the gap is unobserved.
	in := inputs{states: []slo.WorkloadState{{Kind: "StatefulSet", Name: "db", Ready: 1, Desired: 1}}}
	st := computeStatus(sl, in, weekEnd.Add(6*time.Hour)).status
	if len(st.Periods) != 2 || !st.Periods[0].Complete || st.Periods[0].Availability != "100" || !st.Periods[0].Met {
		t.Fatalf("periods = %+v", st.Periods)
	}
	if st.Unobserved.Duration != 6*time.Hour {
		t.Errorf("unobserved this week = %s, want 6h", st.Unobserved.Duration)
	}
}

// TestCalendarDaysInZone: a calendar window's daily totals are days of its time zone, written
// as that zone's dates and read back as the same days: an outage over a Berlin midnight is
// split there, and a second reconcile changes nothing.
func TestCalendarDaysInZone(t *testing.T) {
	sl := newSL(tracked, func(sl *itopsv1alpha1.ServiceLevel) {
		sl.Spec.Objectives.Window = &itopsv1alpha1.SLOWindow{Calendar: &itopsv1alpha1.CalendarWindow{Period: itopsv1alpha1.CalendarMonth, TimeZone: "Europe/Berlin"}}
		// 23:30 to 00:30 Berlin time (22:30 to 23:30 UTC, one UTC day).
		sl.Status.Outages = []itopsv1alpha1.Outage{{Start: metav1.NewTime(time.Date(2026, 11, 19, 22, 30, 0, 0, time.UTC)),
			End: ptrTime(time.Date(2026, 11, 19, 23, 30, 0, 0, time.UTC))}}
	})
	in := inputs{states: []slo.WorkloadState{up()}, continuous: true}
	st := computeStatus(sl, in, t0).status
	days := st.DowntimeByDay
	if len(days) != 2 || days[0].Date != "2026-11-19" || days[0].Downtime.Duration != 30*time.Minute ||
		days[1].Date != "2026-11-20" || days[1].Downtime.Duration != 30*time.Minute {
		t.Fatalf("downtimeByDay = %+v, want 30m on each Berlin day", days)
	}
	if st.Downtime.Duration != time.Hour {
		t.Errorf("downtime this month = %s, want 1h", st.Downtime.Duration)
	}
	sl.Status = roundTrip(t, st)
	again := computeStatus(sl, in, t0)
	if !apiequality.Semantic.DeepEqual(again.status, sl.Status) || len(again.events) != 0 {
		t.Errorf("a second reconcile changed the status:\n%+v\nwas\n%+v", again.status, sl.Status)
	}
}

// TestCalendarObjectiveMetDoesNotFlapAtPeriodStart: a met objective stays True across a period
// boundary, its lastTransitionTime ("met since") kept; with no verdict yet, the first second
// is Unknown (nothing measured), never True.
func TestCalendarObjectiveMetDoesNotFlapAtPeriodStart(t *testing.T) {
	weekEnd := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	sl := newSL(tracked, func(sl *itopsv1alpha1.ServiceLevel) {
		sl.Spec.Objectives.Window = &itopsv1alpha1.SLOWindow{Calendar: &itopsv1alpha1.CalendarWindow{Period: itopsv1alpha1.CalendarWeek}}
	})
	in := inputs{states: []slo.WorkloadState{up()}, continuous: true}
	d := computeStatus(sl, in, t0)
	met := meta.FindStatusCondition(d.status.Conditions, itopsv1alpha1.SLConditionObjectiveMet)
	if met == nil || met.Status != metav1.ConditionTrue {
		t.Fatalf("met before the boundary: %+v", d.status.Conditions)
	}
	sl.Status = roundTrip(t, d.status)
	for _, at := range []time.Time{weekEnd, weekEnd.Add(999 * time.Millisecond), weekEnd.Add(time.Second)} {
		got := computeStatus(sl, in, at)
		c := meta.FindStatusCondition(got.status.Conditions, itopsv1alpha1.SLConditionObjectiveMet)
		if c.Status != metav1.ConditionTrue || !c.LastTransitionTime.Equal(&met.LastTransitionTime) {
			t.Errorf("at %s: ObjectiveMet = %+v, want True since %s", at, c, met.LastTransitionTime)
		}
		for _, e := range got.events {
			t.Errorf("at %s: event %+v", at, e)
		}
	}

	fresh := newSL(tracked, func(sl *itopsv1alpha1.ServiceLevel) {
		sl.Spec.Objectives.Window = &itopsv1alpha1.SLOWindow{Calendar: &itopsv1alpha1.CalendarWindow{Period: itopsv1alpha1.CalendarWeek}}
		sl.Status = roundTrip(t, d.status)
		meta.RemoveStatusCondition(&sl.Status.Conditions, itopsv1alpha1.SLConditionObjectiveMet)
	})
	if c := meta.FindStatusCondition(computeStatus(fresh, in, weekEnd).status.Conditions, itopsv1alpha1.SLConditionObjectiveMet); c.Status != metav1.ConditionUnknown {
		t.Errorf("no verdict yet: ObjectiveMet = %+v, want Unknown", c)
	}
}

// TestCalendarWindowChangeKeepsReportedDays: Week -> Month on Dec 10 after the week of Nov 30
// (with 2h down on Dec 1) was reported: December's figures and report include that outage,
// from the days kept for the switch, instead of counting Dec 1-6 as up.
func TestCalendarWindowChangeKeepsReportedDays(t *testing.T) {
	weekStart, weekEnd := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	sl := newSL(func(sl *itopsv1alpha1.ServiceLevel) {
		sl.Spec.Objectives.Window = &itopsv1alpha1.SLOWindow{Calendar: &itopsv1alpha1.CalendarWindow{Period: itopsv1alpha1.CalendarWeek}}
		sl.Status.TrackingSince = &metav1.Time{Time: weekStart}
		sl.Status.Outages = []itopsv1alpha1.Outage{{Start: metav1.NewTime(weekStart.Add(26 * time.Hour)), End: ptrTime(weekStart.Add(28 * time.Hour))}}
	})
	in := inputs{states: []slo.WorkloadState{up()}, continuous: true}
	step := func(at time.Time) itopsv1alpha1.ServiceLevelStatus {
		t.Helper()
		sl.Status = roundTrip(t, computeStatus(sl, in, at).status)
		return sl.Status
	}
	step(weekStart.Add(3 * 24 * time.Hour))
	if st := step(weekEnd.Add(time.Second)); len(st.Periods) != 2 || !st.Periods[0].Complete || st.Periods[0].Met {
		t.Fatalf("the week with 2h down is reported, missed: %+v", st.Periods)
	}
	sl.Spec.Objectives.Window = &itopsv1alpha1.SLOWindow{Calendar: &itopsv1alpha1.CalendarWindow{Period: itopsv1alpha1.CalendarMonth}}
	st := step(time.Date(2026, 12, 10, 0, 0, 0, 0, time.UTC))
	if st.Downtime == nil || st.Downtime.Duration != 2*time.Hour || st.Availability != "99.074" {
		t.Fatalf("December so far = %v down, %s%%: want Dec 1's 2h of 9 days (99.074%%)", st.Downtime, st.Availability)
	}
	st = step(time.Date(2027, 1, 1, 0, 0, 1, 0, time.UTC))
	var december *itopsv1alpha1.PeriodReport
	for i := range st.Periods {
		if p := &st.Periods[i]; p.Complete && p.Start.Time.Equal(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)) {
			december = p
		}
	}
	if december == nil || december.Met || december.Availability != "99.7311" {
		t.Fatalf("December's report = %+v (periods %+v): want the 2h of Dec 1 in it (99.7311%%, missed)", december, st.Periods)
	}
}

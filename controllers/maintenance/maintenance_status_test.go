package maintenance

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/maintenance"
)

func TestComputeStatus(t *testing.T) {
	t0 := time.Date(2027, 1, 1, 12, 0, 0, 0, time.UTC)
	window := func(schedules ...itopsv1alpha1.WindowSchedule) *itopsv1alpha1.MaintenanceWindow {
		return &itopsv1alpha1.MaintenanceWindow{ObjectMeta: metav1.ObjectMeta{Name: "w", Generation: 2},
			Spec: itopsv1alpha1.MaintenanceWindowSpec{Type: itopsv1alpha1.WindowFreeze, TimeZone: "UTC", Schedules: schedules}}
	}
	oneOff := itopsv1alpha1.WindowSchedule{Start: &metav1.Time{Time: t0.Add(time.Hour)}, End: &metav1.Time{Time: t0.Add(3 * time.Hour)}}
	tests := []struct {
		name        string
		mw          *itopsv1alpha1.MaintenanceWindow
		now         time.Time
		wantPhase   itopsv1alpha1.WindowPhase
		wantRequeue time.Duration
		wantStalled bool
	}{
		{"scheduled: requeue exactly at the start", window(oneOff), t0, itopsv1alpha1.WindowScheduled, time.Hour, false},
		{"active: requeue exactly at the end", window(oneOff), t0.Add(150 * time.Minute), itopsv1alpha1.WindowActive, 30 * time.Minute, false},
		{"a boundary hours away: re-evaluated within the hour, in case the wall clock jumps", window(oneOff), t0.Add(61 * time.Minute), itopsv1alpha1.WindowActive, time.Hour, false},
		{"expired: no requeue", window(oneOff), t0.Add(3 * time.Hour), itopsv1alpha1.WindowExpired, 0, false},
		{"invalid: stalled, no requeue", window(itopsv1alpha1.WindowSchedule{Cron: "99 * * * *", Duration: &metav1.Duration{Duration: time.Hour}}), t0, "", 0, true},
		{"an invalid selector stored while the webhook was down: stalled, covers nothing", func() *itopsv1alpha1.MaintenanceWindow {
			mw := window(oneOff)
			mw.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "in", Values: []string{"web"}}}}
			return mw
		}(), t0, "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := computeStatus(tt.mw, tt.now)
			if d.status.Phase != tt.wantPhase || d.requeueAfter != tt.wantRequeue {
				t.Errorf("computeStatus() = phase %s requeue %s, want %s %s", d.status.Phase, d.requeueAfter, tt.wantPhase, tt.wantRequeue)
			}
			if got := meta.IsStatusConditionTrue(d.status.Conditions, itopsv1alpha1.ConditionStalled); got != tt.wantStalled {
				t.Errorf("Stalled = %v, want %v", got, tt.wantStalled)
			}
			if !tt.wantStalled && !meta.IsStatusConditionTrue(d.status.Conditions, itopsv1alpha1.ConditionReady) {
				t.Errorf("Ready is not True: %+v", d.status.Conditions)
			}
			if d.status.ObservedGeneration != 2 {
				t.Errorf("observedGeneration = %d", d.status.ObservedGeneration)
			}
			// Generation 2 seen for the first time: the edit takes effect now, not before.
			if d.status.CoverageFrom == nil || !d.status.CoverageFrom.Time.Equal(tt.now) {
				t.Errorf("coverageFrom = %v, want %s", d.status.CoverageFrom, tt.now)
			}
		})
	}
	active := computeStatus(window(oneOff), t0.Add(90*time.Minute)).status
	if active.CurrentStart == nil || !active.CurrentStart.Time.Equal(t0.Add(time.Hour)) || !active.CurrentEnd.Time.Equal(t0.Add(3*time.Hour)) || active.NextStart != nil {
		t.Errorf("active status = %+v", active)
	}
}

type coverageCase struct {
	name         string
	mw           *itopsv1alpha1.MaintenanceWindow
	now          time.Time
	wantPhase    itopsv1alpha1.WindowPhase
	wantReason   string
	wantRequeue  time.Duration
	wantCurStart time.Time
}

// TestComputeStatusCoverage: a Maintenance window's status says Active only once its coverage
// (status.coverageFrom, its creation rounded up to the whole second) has begun; until then it is
// Scheduled, Ready says when coverage starts, and the controller looks again exactly then.
func TestComputeStatusCoverage(t *testing.T) {
	t0 := time.Date(2027, 1, 1, 12, 0, 0, 0, time.UTC)
	created := t0.Add(400 * time.Millisecond)
	from := t0.Add(time.Second)
	window := func(typ itopsv1alpha1.WindowType, start, end time.Time) *itopsv1alpha1.MaintenanceWindow {
		return &itopsv1alpha1.MaintenanceWindow{
			ObjectMeta: metav1.ObjectMeta{Name: "w", Generation: 1, CreationTimestamp: metav1.Time{Time: created.Truncate(time.Second)}},
			Spec: itopsv1alpha1.MaintenanceWindowSpec{Type: typ, TimeZone: "UTC", Schedules: []itopsv1alpha1.WindowSchedule{
				{Start: &metav1.Time{Time: start}, End: &metav1.Time{Time: end}}}},
		}
	}
	tests := make([]coverageCase, 0, 6)
	tests = append(tests, []coverageCase{
		{"created in the second its period began: Scheduled until coverage, requeue exactly at coverageFrom",
			window(itopsv1alpha1.WindowMaintenance, t0, t0.Add(30*time.Second)), created.Add(100 * time.Millisecond),
			itopsv1alpha1.WindowScheduled, maintenance.ReasonCoveragePending, 500 * time.Millisecond, time.Time{}},
		{"at coverageFrom: Active from coverageFrom, requeue at the end",
			window(itopsv1alpha1.WindowMaintenance, t0, t0.Add(30*time.Second)), from,
			itopsv1alpha1.WindowActive, string(itopsv1alpha1.WindowActive), 29 * time.Second, from},
		{"a Freeze gates admission as soon as it is active",
			window(itopsv1alpha1.WindowFreeze, t0, t0.Add(30*time.Second)), created.Add(100 * time.Millisecond),
			itopsv1alpha1.WindowActive, string(itopsv1alpha1.WindowActive), 29*time.Second + 500*time.Millisecond, t0},
		{"a period that starts later: unchanged",
			window(itopsv1alpha1.WindowMaintenance, t0.Add(time.Minute), t0.Add(2*time.Minute)), created,
			itopsv1alpha1.WindowScheduled, string(itopsv1alpha1.WindowScheduled), time.Minute - 400*time.Millisecond, time.Time{}},
	}...)
	// An edit takes effect when the operator observes it, rounded up to the whole second.
	edited := window(itopsv1alpha1.WindowMaintenance, t0, t0.Add(30*time.Second))
	edited.Generation, edited.Status.ObservedGeneration = 2, 1
	edited.Status.CoverageFrom = &metav1.Time{Time: from}
	editSeen := t0.Add(9*time.Second + 300*time.Millisecond)
	tests = append(tests, coverageCase{"an edit of an active window seen at 12:00:09.3: Scheduled until the edit takes effect at 12:00:10", edited, editSeen,
		itopsv1alpha1.WindowScheduled, maintenance.ReasonCoveragePending, 700 * time.Millisecond, time.Time{}})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from := from
			if tt.mw.Generation > 1 {
				from = t0.Add(10 * time.Second)
			}
			d := computeStatus(tt.mw, tt.now)
			ready := meta.FindStatusCondition(d.status.Conditions, itopsv1alpha1.ConditionReady)
			if d.status.Phase != tt.wantPhase || d.requeueAfter != tt.wantRequeue || ready == nil || ready.Reason != tt.wantReason {
				t.Fatalf("phase %s requeue %s ready %+v, want %s %s %s", d.status.Phase, d.requeueAfter, ready, tt.wantPhase, tt.wantRequeue, tt.wantReason)
			}
			if d.status.CoverageFrom == nil || !d.status.CoverageFrom.Time.Equal(from) {
				t.Errorf("coverageFrom = %v, want %s", d.status.CoverageFrom, from)
			}
			if tt.wantCurStart.IsZero() != (d.status.CurrentStart == nil) || (d.status.CurrentStart != nil && !d.status.CurrentStart.Time.Equal(tt.wantCurStart)) {
				t.Errorf("currentStart = %v, want %s", d.status.CurrentStart, tt.wantCurStart)
			}
			if tt.wantReason == maintenance.ReasonCoveragePending && (d.status.NextStart == nil || !d.status.NextStart.Time.Equal(from) ||
				!strings.Contains(ready.Message, "coverage starts at "+from.Format(time.RFC3339))) {
				t.Errorf("nextStart %v, Ready message %q: want coverage to start at %s", d.status.NextStart, ready.Message, from)
			}
		})
	}
}

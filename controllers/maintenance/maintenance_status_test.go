package maintenance

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
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

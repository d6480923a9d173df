package maintenance

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/schedule"
)

func TestEffectiveState(t *testing.T) {
	created := t0.Add(400 * time.Millisecond) // created at 22:00:00.4
	from := t0.Add(time.Second)               // coverage from 22:00:01
	iv := func(start, end time.Time) *schedule.Interval { return &schedule.Interval{Start: start, End: end} }
	active := func(start, end time.Time) schedule.State {
		return schedule.State{Phase: itopsv1alpha1.WindowActive, Current: iv(start, end), NextBoundary: end}
	}
	later := iv(t0.Add(24*time.Hour), t0.Add(25*time.Hour))
	tests := []struct {
		name        string
		typ         itopsv1alpha1.WindowType
		in          schedule.State
		now         time.Time
		wantPhase   itopsv1alpha1.WindowPhase
		wantCurrent *schedule.Interval
		wantNext    *schedule.Interval
		wantBound   time.Time
		wantPending time.Time
	}{
		{"period began before creation, same second: Scheduled until coverage begins, requeue exactly then",
			itopsv1alpha1.WindowMaintenance, active(t0, t0.Add(30*time.Second)), created,
			itopsv1alpha1.WindowScheduled, nil, iv(from, t0.Add(30*time.Second)), from, from},
		{"at coverageFrom: Active, from coverageFrom on",
			itopsv1alpha1.WindowMaintenance, active(t0, t0.Add(30*time.Second)), from,
			itopsv1alpha1.WindowActive, iv(from, t0.Add(30*time.Second)), nil, t0.Add(30 * time.Second), time.Time{}},
		{"period began an hour before the window existed: reported from coverageFrom",
			itopsv1alpha1.WindowMaintenance, active(t0.Add(-time.Hour), t0.Add(time.Hour)), t0.Add(time.Minute),
			itopsv1alpha1.WindowActive, iv(from, t0.Add(time.Hour)), nil, t0.Add(time.Hour), time.Time{}},
		{"period begins after coverageFrom: unchanged",
			itopsv1alpha1.WindowMaintenance, active(t0.Add(time.Minute), t0.Add(time.Hour)), t0.Add(2 * time.Minute),
			itopsv1alpha1.WindowActive, iv(t0.Add(time.Minute), t0.Add(time.Hour)), nil, t0.Add(time.Hour), time.Time{}},
		{"period begins exactly at coverageFrom: unchanged",
			itopsv1alpha1.WindowMaintenance, active(from, t0.Add(time.Hour)), from,
			itopsv1alpha1.WindowActive, iv(from, t0.Add(time.Hour)), nil, t0.Add(time.Hour), time.Time{}},
		{"period over before coverage begins, another later: Scheduled for the later one",
			itopsv1alpha1.WindowMaintenance, schedule.State{Phase: itopsv1alpha1.WindowActive, Current: iv(t0.Add(-time.Minute), from), Next: later, NextBoundary: from}, created,
			itopsv1alpha1.WindowScheduled, nil, later, later.Start, time.Time{}},
		{"period over before coverage begins, nothing later: Expired",
			itopsv1alpha1.WindowMaintenance, schedule.State{Phase: itopsv1alpha1.WindowActive, Current: iv(t0.Add(-time.Minute), t0.Add(500*time.Millisecond)), NextBoundary: t0.Add(500 * time.Millisecond)}, created,
			itopsv1alpha1.WindowExpired, nil, nil, time.Time{}, time.Time{}},
		{"Freeze: acts at admission time, unchanged",
			itopsv1alpha1.WindowFreeze, active(t0, t0.Add(30*time.Second)), created,
			itopsv1alpha1.WindowActive, iv(t0, t0.Add(30*time.Second)), nil, t0.Add(30 * time.Second), time.Time{}},
		{"Scheduled: unchanged",
			itopsv1alpha1.WindowMaintenance, schedule.State{Phase: itopsv1alpha1.WindowScheduled, Next: later, NextBoundary: later.Start}, created,
			itopsv1alpha1.WindowScheduled, nil, later, later.Start, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, pending := EffectiveState(tt.typ, tt.in, from, tt.now)
			if got.Phase != tt.wantPhase || !got.NextBoundary.Equal(tt.wantBound) || !pending.Equal(tt.wantPending) {
				t.Errorf("phase %s boundary %s pending %s, want %s %s %s", got.Phase, got.NextBoundary, pending, tt.wantPhase, tt.wantBound, tt.wantPending)
			}
			if !sameInterval(got.Current, tt.wantCurrent) || !sameInterval(got.Next, tt.wantNext) {
				t.Errorf("current %v next %v, want %v %v", got.Current, got.Next, tt.wantCurrent, tt.wantNext)
			}
		})
	}
}

func sameInterval(a, b *schedule.Interval) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Start.Equal(b.Start) && a.End.Equal(b.End)
}

// TestStatusAgreesWithSuppression: at every instant around a window's creation, its status says
// Active exactly when a problem detected at that instant (recorded, like every API timestamp,
// to the second) is suppressed by it. This is the race `make demo` hit: the status said Active
// in the second the window was created, and the crash detected in that second opened unsuppressed.
func TestStatusAgreesWithSuppression(t *testing.T) {
	web := Object{Namespace: "shop", Labels: map[string]string{"app": "web"}}
	for _, created := range []time.Duration{0, 1, 400 * time.Millisecond, 999 * time.Millisecond} {
		createdAt := t0.Add(created)
		for step := -time.Second; step < 3*time.Second; step += 100 * time.Millisecond {
			now := createdAt.Add(step)
			if now.Before(createdAt) {
				continue // the window does not exist yet
			}
			mw := itopsv1alpha1.MaintenanceWindow{
				ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "w", Generation: 1,
					CreationTimestamp: metav1.Time{Time: createdAt.Truncate(time.Second)}},
				Spec: itopsv1alpha1.MaintenanceWindowSpec{Type: itopsv1alpha1.WindowMaintenance},
			}
			from := CoverageFrom(&mw, now).Time
			// The schedule began a whole second before creation, as `make demo` writes it.
			st, _ := EffectiveState(mw.Spec.Type, schedule.State{Phase: itopsv1alpha1.WindowActive,
				Current: &schedule.Interval{Start: t0.Add(-time.Second), End: t0.Add(time.Minute)}}, from, now)
			mw.Status.Phase, mw.Status.ObservedGeneration = st.Phase, 1
			mw.Status.CoverageFrom = &metav1.Time{Time: from}
			if st.Current != nil {
				mw.Status.CurrentStart, mw.Status.CurrentEnd = &metav1.Time{Time: st.Current.Start}, &metav1.Time{Time: st.Current.End}
			}
			detected := now.Truncate(time.Second)
			suppressed := SuppressionFor([]itopsv1alpha1.MaintenanceWindow{mw}, web, "itops-cluster", detected, now).Window != nil
			if active := st.Phase == itopsv1alpha1.WindowActive; active != suppressed {
				t.Errorf("created %s, now %s: phase %s but suppressed=%v", createdAt.Format(time.StampMilli), now.Format(time.StampMilli), st.Phase, suppressed)
			}
		}
	}
}

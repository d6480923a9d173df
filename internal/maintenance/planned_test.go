package maintenance

import (
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/schedule"
)

// scheduled is a window with the given schedules, created at created and evaluated since.
func scheduled(ns string, typ itopsv1alpha1.WindowType, created time.Time, scheds ...itopsv1alpha1.WindowSchedule) itopsv1alpha1.MaintenanceWindow {
	return itopsv1alpha1.MaintenanceWindow{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "w", Generation: 1, CreationTimestamp: metav1.NewTime(created)},
		Spec:       itopsv1alpha1.MaintenanceWindowSpec{Type: typ, TimeZone: "UTC", Schedules: scheds},
	}
}

func oneOff(start, end time.Time) itopsv1alpha1.WindowSchedule {
	return itopsv1alpha1.WindowSchedule{Start: &metav1.Time{Time: start}, End: &metav1.Time{Time: end}}
}

func TestPlannedDowntime(t *testing.T) {
	web := Object{Namespace: "shop", Labels: map[string]string{"app": "web"}, NamespaceLabels: map[string]string{"tier": "prod"}}
	from, to := t0, t0.Add(24*time.Hour)
	h := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Hour) }
	iv := func(a, b int) schedule.Interval { return schedule.Interval{Start: h(a), End: h(b)} }
	tests := []struct {
		name    string
		windows []itopsv1alpha1.MaintenanceWindow
		want    []schedule.Interval
	}{
		{"no windows", nil, nil},
		{"a window created in advance counts in full",
			[]itopsv1alpha1.MaintenanceWindow{scheduled("shop", itopsv1alpha1.WindowMaintenance, h(-48), oneOff(h(2), h(4)))},
			[]schedule.Interval{iv(2, 4)}},
		{"a window created during the outage counts only from its creation",
			[]itopsv1alpha1.MaintenanceWindow{scheduled("shop", itopsv1alpha1.WindowMaintenance, h(3), oneOff(h(1), h(5)))},
			[]schedule.Interval{{Start: h(3).Add(time.Second), End: h(5)}}},
		{"a window created after the fact counts for nothing",
			[]itopsv1alpha1.MaintenanceWindow{scheduled("shop", itopsv1alpha1.WindowMaintenance, h(30), oneOff(h(1), h(5)))},
			nil},
		{"an edited window counts from when the operator observed the edit",
			[]itopsv1alpha1.MaintenanceWindow{func() itopsv1alpha1.MaintenanceWindow {
				mw := scheduled("shop", itopsv1alpha1.WindowMaintenance, h(-48), oneOff(h(1), h(10)))
				mw.Generation, mw.Status.ObservedGeneration, mw.Status.CoverageFrom = 2, 2, &metav1.Time{Time: h(6)}
				return mw
			}()},
			[]schedule.Interval{iv(6, 10)}},
		{"an edit not yet observed counts for nothing",
			[]itopsv1alpha1.MaintenanceWindow{func() itopsv1alpha1.MaintenanceWindow {
				mw := scheduled("shop", itopsv1alpha1.WindowMaintenance, h(-48), oneOff(h(1), h(10)))
				mw.Generation, mw.Status.ObservedGeneration = 2, 1
				return mw
			}()},
			nil},
		{"freezes plan no downtime",
			[]itopsv1alpha1.MaintenanceWindow{scheduled("shop", itopsv1alpha1.WindowFreeze, h(-48), oneOff(h(2), h(4)))},
			nil},
		{"a window in another namespace does not cover the service",
			[]itopsv1alpha1.MaintenanceWindow{scheduled("billing", itopsv1alpha1.WindowMaintenance, h(-48), oneOff(h(2), h(4)))},
			nil},
		{"a cluster-wide window covers by namespace labels",
			[]itopsv1alpha1.MaintenanceWindow{func() itopsv1alpha1.MaintenanceWindow {
				mw := scheduled("itops-cluster", itopsv1alpha1.WindowMaintenance, h(-48), oneOff(h(2), h(4)))
				mw.Spec.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "prod"}}
				return mw
			}()},
			[]schedule.Interval{iv(2, 4)}},
		{"overlapping and adjacent windows merge",
			[]itopsv1alpha1.MaintenanceWindow{
				scheduled("shop", itopsv1alpha1.WindowMaintenance, h(-48), oneOff(h(2), h(4)), oneOff(h(10), h(11))),
				scheduled("shop", itopsv1alpha1.WindowMaintenance, h(-48), oneOff(h(3), h(6)), oneOff(h(11), h(12))),
			},
			[]schedule.Interval{iv(2, 6), iv(10, 12)}},
		{"clipped to the range",
			[]itopsv1alpha1.MaintenanceWindow{scheduled("shop", itopsv1alpha1.WindowMaintenance, h(-48), oneOff(h(-2), h(1)), oneOff(h(23), h(26)))},
			[]schedule.Interval{iv(0, 1), iv(23, 24)}},
		{"a recurring nightly window",
			[]itopsv1alpha1.MaintenanceWindow{scheduled("shop", itopsv1alpha1.WindowMaintenance, h(-48),
				itopsv1alpha1.WindowSchedule{Cron: "0 2 * * *", Duration: &metav1.Duration{Duration: time.Hour}})},
			[]schedule.Interval{{Start: time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC), End: time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)}}},
		{"a window whose schedule cannot be evaluated counts for nothing",
			[]itopsv1alpha1.MaintenanceWindow{scheduled("shop", itopsv1alpha1.WindowMaintenance, h(-48),
				itopsv1alpha1.WindowSchedule{Cron: "not a cron", Duration: &metav1.Duration{Duration: time.Hour}})},
			nil},
	}
	for _, tt := range tests {
		got := PlannedDowntime(tt.windows, web, "itops-cluster", from, to)
		if len(got) != len(tt.want) {
			t.Errorf("%s: PlannedDowntime() = %v, want %v", tt.name, got, tt.want)
			continue
		}
		for i := range got {
			if !got[i].Start.Equal(tt.want[i].Start) || !got[i].End.Equal(tt.want[i].End) {
				t.Errorf("%s: PlannedDowntime() = %v, want %v", tt.name, got, tt.want)
			}
		}
	}
}

// TestPlanParsesOncePerGeneration: a window's calendar is parsed once per (uid, generation)
// (issue 13: a reconcile must not re-parse every window per selected workload); the same
// generation reuses the parsed calendar, a new generation parses the new spec, and an object
// without a UID (not from the API server) is never cached.
func TestPlanParsesOncePerGeneration(t *testing.T) {
	daily := func(cron string) itopsv1alpha1.WindowSchedule {
		return itopsv1alpha1.WindowSchedule{Cron: cron, Duration: &metav1.Duration{Duration: time.Hour}}
	}
	from, to := t0, t0.Add(24*time.Hour)
	mw := scheduled("shop", itopsv1alpha1.WindowMaintenance, t0.Add(-48*time.Hour), daily("0 2 * * *"))
	mw.UID = "uid-plan-parses-once-per-generation"

	first := calendarOf(&mw)
	if first == nil {
		t.Fatal("a valid schedule gave no calendar")
	}
	if again := calendarOf(&mw); again != first {
		t.Error("the same generation was parsed again")
	}
	want2am := []schedule.Interval{{Start: time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC), End: time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)}}
	if got := Plan([]itopsv1alpha1.MaintenanceWindow{mw}, from, to); len(got) != 1 || fmt.Sprint(got[0].Periods) != fmt.Sprint(want2am) {
		t.Fatalf("Plan = %+v, want one window active %v", got, want2am)
	}

	// The API server gives a changed spec a new generation; the calendar follows it.
	mw.Spec.Schedules = []itopsv1alpha1.WindowSchedule{daily("0 4 * * *")}
	mw.Generation = 2
	mw.Status.ObservedGeneration = 2
	mw.Status.CoverageFrom = &metav1.Time{Time: t0.Add(-time.Hour)}
	second := calendarOf(&mw)
	if second == nil || second == first {
		t.Fatalf("generation 2 reused generation 1's calendar (%p, %p)", second, first)
	}
	want4am := []schedule.Interval{{Start: time.Date(2026, 11, 25, 4, 0, 0, 0, time.UTC), End: time.Date(2026, 11, 25, 5, 0, 0, 0, time.UTC)}}
	if got := Plan([]itopsv1alpha1.MaintenanceWindow{mw}, from, to); len(got) != 1 || fmt.Sprint(got[0].Periods) != fmt.Sprint(want4am) {
		t.Fatalf("Plan after the edit = %+v, want %v", got, want4am)
	}

	noUID := mw
	noUID.UID = ""
	if a, b := calendarOf(&noUID), calendarOf(&noUID); a == nil || a == b {
		t.Error("an object without a UID must be parsed each time (nothing identifies its spec)")
	}
}

package maintenance

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

var t0 = time.Date(2026, 11, 24, 22, 0, 0, 0, time.UTC)

func window(ns, name string, typ itopsv1alpha1.WindowType, start, end time.Time, sel, nsSel map[string]string) itopsv1alpha1.MaintenanceWindow {
	mw := itopsv1alpha1.MaintenanceWindow{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: itopsv1alpha1.MaintenanceWindowSpec{Type: typ}}
	if sel != nil {
		mw.Spec.Selector = &metav1.LabelSelector{MatchLabels: sel}
	}
	if nsSel != nil {
		mw.Spec.NamespaceSelector = &metav1.LabelSelector{MatchLabels: nsSel}
	}
	if !start.IsZero() {
		mw.Status.CurrentStart, mw.Status.CurrentEnd = &metav1.Time{Time: start}, &metav1.Time{Time: end}
	}
	return mw
}

func TestCovers(t *testing.T) {
	web := Object{Namespace: "shop", Labels: map[string]string{"app": "web"}, NamespaceLabels: map[string]string{"tier": "prod"}}
	node := Object{Labels: map[string]string{"pool": "gpu"}}
	tests := []struct {
		name string
		mw   itopsv1alpha1.MaintenanceWindow
		obj  Object
		want bool
	}{
		{"same namespace, empty selector", window("shop", "w", itopsv1alpha1.WindowMaintenance, t0, t0, nil, nil), web, true},
		{"same namespace, matching selector", window("shop", "w", itopsv1alpha1.WindowMaintenance, t0, t0, map[string]string{"app": "web"}, nil), web, true},
		{"same namespace, other app", window("shop", "w", itopsv1alpha1.WindowMaintenance, t0, t0, map[string]string{"app": "api"}, nil), web, false},
		{"another namespace never covers", window("billing", "w", itopsv1alpha1.WindowMaintenance, t0, t0, nil, nil), web, false},
		{"a namespaced window ignores namespaceSelector", window("billing", "w", itopsv1alpha1.WindowMaintenance, t0, t0, nil, map[string]string{"tier": "prod"}), web, false},
		{"cluster-wide window, matching namespace", window("itops-cluster", "w", itopsv1alpha1.WindowMaintenance, t0, t0, nil, map[string]string{"tier": "prod"}), web, true},
		{"cluster-wide window, other namespaces", window("itops-cluster", "w", itopsv1alpha1.WindowMaintenance, t0, t0, nil, map[string]string{"tier": "dev"}), web, false},
		{"cluster-wide window covers nodes by label", window("itops-cluster", "w", itopsv1alpha1.WindowMaintenance, t0, t0, map[string]string{"pool": "gpu"}, nil), node, true},
		{"a namespaced window never covers nodes", window("shop", "w", itopsv1alpha1.WindowMaintenance, t0, t0, nil, nil), node, false},
	}
	for _, tt := range tests {
		if got := Covers(&tt.mw, tt.obj, "itops-cluster"); got != tt.want {
			t.Errorf("%s: Covers() = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestSuppressionFor(t *testing.T) {
	web := Object{Namespace: "shop", Labels: map[string]string{"app": "web"}}
	end := t0.Add(4 * time.Hour)
	tests := []struct {
		name       string
		windows    []itopsv1alpha1.MaintenanceWindow
		detected   time.Time
		now        time.Time
		wantWindow string
		wantUntil  time.Time
	}{
		{"no window", nil, t0.Add(time.Hour), t0.Add(time.Hour), "", time.Time{}},
		{"detected during an active window", []itopsv1alpha1.MaintenanceWindow{window("shop", "db-upgrade", itopsv1alpha1.WindowMaintenance, t0, end, nil, nil)},
			t0.Add(time.Hour), t0.Add(2 * time.Hour), "db-upgrade", end},
		{"a problem that began before the window is not planned work", []itopsv1alpha1.MaintenanceWindow{window("shop", "db-upgrade", itopsv1alpha1.WindowMaintenance, t0, end, nil, nil)},
			t0.Add(-time.Minute), t0.Add(time.Hour), "", time.Time{}},
		{"a window created after detection is not retroactive", []itopsv1alpha1.MaintenanceWindow{func() itopsv1alpha1.MaintenanceWindow {
			mw := window("shop", "cover-up", itopsv1alpha1.WindowMaintenance, t0, end, nil, nil)
			mw.CreationTimestamp = metav1.NewTime(t0.Add(2 * time.Hour))
			return mw
		}()}, t0.Add(time.Hour), t0.Add(3 * time.Hour), "", time.Time{}},
		{"a window created in the same second as the detection is not retroactive", []itopsv1alpha1.MaintenanceWindow{func() itopsv1alpha1.MaintenanceWindow {
			mw := window("shop", "cover-up", itopsv1alpha1.WindowMaintenance, t0, end, nil, nil)
			mw.CreationTimestamp = metav1.NewTime(t0.Add(time.Hour)) // truncated: created within [1h, 1h+1s)
			return mw
		}()}, t0.Add(time.Hour + 500*time.Millisecond), t0.Add(3 * time.Hour), "", time.Time{}},
		{"a window edited to cover the problem after detection is not retroactive", []itopsv1alpha1.MaintenanceWindow{func() itopsv1alpha1.MaintenanceWindow {
			mw := window("shop", "widened", itopsv1alpha1.WindowMaintenance, t0, end, nil, nil)
			mw.Generation, mw.Status.ObservedGeneration = 2, 2
			mw.Status.CoverageFrom = &metav1.Time{Time: t0.Add(2 * time.Hour)}
			return mw
		}()}, t0.Add(time.Hour), t0.Add(3 * time.Hour), "", time.Time{}},
		{"an edit the operator has not evaluated yet suppresses nothing", []itopsv1alpha1.MaintenanceWindow{func() itopsv1alpha1.MaintenanceWindow {
			mw := window("shop", "widened", itopsv1alpha1.WindowMaintenance, t0, end, nil, nil)
			mw.Generation, mw.Status.ObservedGeneration = 3, 2
			mw.Status.CoverageFrom = &metav1.Time{Time: t0.Add(-time.Hour)}
			return mw
		}()}, t0.Add(time.Hour), t0.Add(3 * time.Hour), "", time.Time{}},
		{"the window has ended", []itopsv1alpha1.MaintenanceWindow{window("shop", "db-upgrade", itopsv1alpha1.WindowMaintenance, t0, end, nil, nil)},
			t0.Add(time.Hour), end, "", time.Time{}},
		{"freezes suppress nothing", []itopsv1alpha1.MaintenanceWindow{window("shop", "xmas", itopsv1alpha1.WindowFreeze, t0, end, nil, nil)},
			t0.Add(time.Hour), t0.Add(time.Hour), "", time.Time{}},
		{"the longest covering window wins", []itopsv1alpha1.MaintenanceWindow{
			window("shop", "short", itopsv1alpha1.WindowMaintenance, t0, t0.Add(2*time.Hour), nil, nil),
			window("itops-cluster", "long", itopsv1alpha1.WindowMaintenance, t0, end, nil, nil),
		}, t0.Add(time.Hour), t0.Add(time.Hour), "long", end},
	}
	for _, tt := range tests {
		s := SuppressionFor(tt.windows, web, "itops-cluster", tt.detected, tt.now)
		got := ""
		if s.Window != nil {
			got = s.Window.Name
		}
		if got != tt.wantWindow || !s.Until.Equal(tt.wantUntil) {
			t.Errorf("%s: SuppressionFor() = %q until %s, want %q until %s", tt.name, got, s.Until, tt.wantWindow, tt.wantUntil)
		}
	}
	s := SuppressionFor([]itopsv1alpha1.MaintenanceWindow{window("itops-cluster", "patching", itopsv1alpha1.WindowMaintenance, t0, end, nil, nil)}, web, "itops-cluster", t0, t0)
	if msg := s.Message("shop"); !strings.Contains(msg, "MaintenanceWindow itops-cluster/patching covers it until 2026-11-25T02:00:00Z") {
		t.Errorf("Message() = %q", msg)
	}
}

func TestCoverageFrom(t *testing.T) {
	created := metav1.NewTime(t0)
	tests := []struct {
		name                    string
		generation, observedGen int64
		recorded                *metav1.Time
		want                    time.Time
	}{
		{"a new window counts from the second after its creation timestamp", 1, 0, nil, t0.Add(time.Second)},
		{"a first generation already observed without a record counts from its creation", 1, 1, nil, t0.Add(time.Second)},
		{"the recorded time is kept while the generation is unchanged", 2, 2, &metav1.Time{Time: t0.Add(time.Hour)}, t0.Add(time.Hour)},
		{"an edit counts from when the operator sees it", 3, 2, &metav1.Time{Time: t0.Add(time.Hour)}, t0.Add(5 * time.Hour)},
		{"an edit without a record counts from now", 2, 0, nil, t0.Add(5 * time.Hour)},
		{"an edit seen mid-second counts from the next second", 2, 1, nil, t0.Add(5*time.Hour + time.Second)},
	}
	for i, tt := range tests {
		mw := &itopsv1alpha1.MaintenanceWindow{ObjectMeta: metav1.ObjectMeta{Generation: tt.generation, CreationTimestamp: created}}
		mw.Status.ObservedGeneration, mw.Status.CoverageFrom = tt.observedGen, tt.recorded
		now := t0.Add(5 * time.Hour)
		if i == len(tests)-1 {
			now = now.Add(400 * time.Millisecond)
		}
		if got := CoverageFrom(mw, now); !got.Time.Equal(tt.want) {
			t.Errorf("%s: CoverageFrom() = %s, want %s", tt.name, got.Time, tt.want)
		}
	}
}

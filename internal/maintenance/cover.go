// Package maintenance decides what MaintenanceWindows cover: which windows are active at a
// moment, whether a window's scope includes an object, and how an incident is suppressed.
// A window's scope is exactly what its selectors say: a window in namespace A covers objects
// in A only; only windows in the cluster namespace are cluster-wide (namespaceSelector) and
// cover cluster-scoped objects (Nodes, Namespaces).
package maintenance

import (
	"fmt"
	"sort"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// Object is what a window may cover: its namespace ("" for cluster-scoped objects), its labels
// and its namespace's labels.
type Object struct {
	Namespace       string
	Labels          map[string]string
	NamespaceLabels map[string]string
}

// ActiveAt reports whether the window's current interval (from its status) contains t.
func ActiveAt(mw *itopsv1alpha1.MaintenanceWindow, t time.Time) bool {
	st := mw.Status
	return st.CurrentStart != nil && st.CurrentEnd != nil && !t.Before(st.CurrentStart.Time) && t.Before(st.CurrentEnd.Time)
}

// CoverageFrom is when the window's current spec took effect, as its status should record it at
// now: kept while the generation is the observed one, else the creation time for a first
// generation and now for an edit. Nothing a window says counts before it: a window is never
// retroactive, neither when created nor when edited. API timestamps have second precision, so
// both are rounded up to the next whole second: a window created at 10:00:00.4 covers from
// 10:00:01, never from before it existed.
func CoverageFrom(mw *itopsv1alpha1.MaintenanceWindow, now time.Time) *metav1.Time {
	if mw.Status.CoverageFrom != nil && mw.Status.ObservedGeneration == mw.Generation {
		return mw.Status.CoverageFrom.DeepCopy()
	}
	if mw.Generation <= 1 {
		return &metav1.Time{Time: createdFrom(mw)}
	}
	return &metav1.Time{Time: ceilSecond(now)}
}

// createdFrom is the first whole second at which the window certainly existed: its creation
// timestamp is truncated to the second.
func createdFrom(mw *itopsv1alpha1.MaintenanceWindow) time.Time {
	return mw.CreationTimestamp.Truncate(time.Second).Add(time.Second)
}

func ceilSecond(t time.Time) time.Time {
	if f := t.Truncate(time.Second); !f.Equal(t) {
		return f.Add(time.Second)
	}
	return t
}

// effectiveFrom is when the window's current spec took effect, as far as its status says; ok
// is false while the operator has not yet evaluated an edited window.
func effectiveFrom(mw *itopsv1alpha1.MaintenanceWindow) (time.Time, bool) {
	if mw.Status.CoverageFrom != nil && mw.Status.ObservedGeneration == mw.Generation {
		return mw.Status.CoverageFrom.Time, true
	}
	if mw.Generation <= 1 {
		return createdFrom(mw), true
	}
	return time.Time{}, false
}

// Covers reports whether the window's scope includes obj. clusterNamespace is the operator's
// cluster namespace.
func Covers(mw *itopsv1alpha1.MaintenanceWindow, obj Object, clusterNamespace string) bool {
	if mw.Namespace == clusterNamespace {
		if obj.Namespace != "" && !selects(mw.Spec.NamespaceSelector, obj.NamespaceLabels) {
			return false
		}
	} else if obj.Namespace != mw.Namespace {
		return false
	}
	return selects(mw.Spec.Selector, obj.Labels)
}

// selects: an absent or empty selector selects everything; an invalid one nothing.
func selects(sel *metav1.LabelSelector, set map[string]string) bool {
	if sel == nil {
		return true
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false
	}
	return s.Matches(labels.Set(set))
}

// Name is how incidents and denials name a window: its name in its own namespace, or
// namespace/name for a cluster-wide window.
func Name(mw *itopsv1alpha1.MaintenanceWindow, incidentNamespace string) string {
	if mw.Namespace == incidentNamespace {
		return mw.Name
	}
	return mw.Namespace + "/" + mw.Name
}

// Suppression is how a Maintenance window suppresses an incident.
type Suppression struct {
	// Window covers the incident now; nil when none does.
	Window *itopsv1alpha1.MaintenanceWindow
	// Until is when the covering window's current interval ends.
	Until time.Time
}

// SuppressionFor returns the Maintenance window that suppresses an incident detected at
// detectedAt, at now: an active Maintenance window covering the incident's subject whose
// current interval began at or before detection, and whose current spec was in effect at
// detection (status.coverageFrom). A problem that began before the window did is not planned
// work, and stays a normal incident; and a window is never retroactive: one created, or edited
// to cover the problem, after it was detected does not hide it. When several windows qualify,
// the one that lasts longest wins (then by name), so that the suppression ends when maintenance
// really ends.
func SuppressionFor(windows []itopsv1alpha1.MaintenanceWindow, subject Object, clusterNamespace string, detectedAt, now time.Time) Suppression {
	var candidates []itopsv1alpha1.MaintenanceWindow
	for i := range windows {
		mw := &windows[i]
		if mw.Spec.Type != itopsv1alpha1.WindowMaintenance || !ActiveAt(mw, now) || !ActiveAt(mw, detectedAt) {
			continue
		}
		if from, ok := effectiveFrom(mw); !ok || detectedAt.Before(from) {
			continue
		}
		if Covers(mw, subject, clusterNamespace) {
			candidates = append(candidates, *mw)
		}
	}
	if len(candidates) == 0 {
		return Suppression{}
	}
	sort.Slice(candidates, func(i, j int) bool {
		ei, ej := candidates[i].Status.CurrentEnd.Time, candidates[j].Status.CurrentEnd.Time
		if !ei.Equal(ej) {
			return ei.After(ej)
		}
		return candidates[i].Namespace+"/"+candidates[i].Name < candidates[j].Namespace+"/"+candidates[j].Name
	})
	return Suppression{Window: &candidates[0], Until: candidates[0].Status.CurrentEnd.Time}
}

// Message says why an incident is suppressed.
func (s Suppression) Message(incidentNamespace string) string {
	if s.Window == nil {
		return ""
	}
	return fmt.Sprintf("planned maintenance: MaintenanceWindow %s covers it until %s; no SLA clock runs and nobody is notified",
		Name(s.Window, incidentNamespace), s.Until.UTC().Format(time.RFC3339))
}

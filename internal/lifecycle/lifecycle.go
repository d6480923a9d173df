// Package lifecycle holds the rules of the incident lifecycle that both the health detectors
// and the incident controller apply: which incident a new observation belongs to, and when an
// incident resolves, reopens, closes and is deleted.
package lifecycle

import (
	"sort"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// Policy is the timing of the incident lifecycle.
type Policy struct {
	// ResolveAfter: a problem must stay healthy this long before its incident auto-resolves.
	ResolveAfter time.Duration
	// ReopenWindow: an auto-resolved incident reopens when its problem returns within it.
	ReopenWindow time.Duration
	// CloseAfter: a resolved incident closes after it.
	CloseAfter time.Duration
	// DeleteClosedAfter: a closed incident is deleted after it.
	DeleteClosedAfter time.Duration
}

// DefaultPolicy is the built-in policy.
var DefaultPolicy = Policy{
	ResolveAfter:      5 * time.Minute,
	ReopenWindow:      time.Hour,
	CloseAfter:        24 * time.Hour,
	DeleteClosedAfter: 30 * 24 * time.Hour,
}

// Decision says what to do with a problem observed now.
type Decision int

const (
	// Attach the observation to the existing incident (open, or auto-resolved recently enough
	// to reopen).
	Attach Decision = iota
	// OpenNew opens a new incident, with previous set when there was one.
	OpenNew
	// Continue means a person resolved the incident while the problem was still observed; it has not
	// recovered since, so it is the same occurrence, not a recurrence. Nothing to do.
	Continue
)

// IsAutoResolved reports whether the operator resolved the incident (no person did): its
// AutoResolved condition, which only the incident controller sets, is True. status.resolvedBy
// is not evidence: "operator" is a legal user name.
func IsAutoResolved(inc *itopsv1alpha1.Incident) bool {
	return inc.Spec.Resolution == nil && inc.Status.Phase == itopsv1alpha1.IncidentResolved &&
		meta.IsStatusConditionTrue(inc.Status.Conditions, itopsv1alpha1.IncidentConditionAutoResolved)
}

// IsOpen reports whether the incident is still being worked on (Open or Acknowledged, or
// not yet processed by the controller).
func IsOpen(inc *itopsv1alpha1.Incident) bool {
	if inc.Spec.Resolution != nil {
		return false
	}
	switch inc.Status.Phase {
	case itopsv1alpha1.IncidentResolved, itopsv1alpha1.IncidentClosed:
		return false
	}
	return true
}

// CanReopen reports whether a problem observed at now reopens the incident: it must have
// been auto-resolved no longer than the reopen window ago. A person's resolution is final:
// the recurrence opens a new incident.
func CanReopen(inc *itopsv1alpha1.Incident, now time.Time, p Policy) bool {
	return IsAutoResolved(inc) && inc.Status.ResolvedAt != nil && now.Sub(inc.Status.ResolvedAt.Time) <= p.ReopenWindow
}

// Decide returns what to do with a problem observed at now, given the latest incident for
// its fingerprint (nil if none).
func Decide(latest *itopsv1alpha1.Incident, now time.Time, p Policy) Decision {
	if latest == nil || latest.DeletionTimestamp != nil {
		return OpenNew
	}
	if IsOpen(latest) || CanReopen(latest, now, p) {
		return Attach
	}
	if c := ProblemPresent(latest); c != nil && c.Status == metav1.ConditionTrue {
		return Continue
	}
	return OpenNew
}

// Latest returns the most recent incident among those sharing a fingerprint: the highest
// sequence, which is the newest creation (ties broken by name for determinism).
func Latest(incidents []itopsv1alpha1.Incident) *itopsv1alpha1.Incident {
	if len(incidents) == 0 {
		return nil
	}
	sorted := append([]itopsv1alpha1.Incident(nil), incidents...)
	seq := func(inc *itopsv1alpha1.Incident) int {
		n, _ := strconv.Atoi(inc.Labels[itopsv1alpha1.LabelSequence])
		return n
	}
	sort.Slice(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		if sa, sb := seq(&a), seq(&b); sa != sb {
			return sa < sb
		}
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		if len(a.Name) != len(b.Name) {
			return len(a.Name) < len(b.Name)
		}
		return a.Name < b.Name
	})
	return &sorted[len(sorted)-1]
}

// ProblemPresent returns the ProblemPresent condition, or nil for incidents health detection
// does not follow.
func ProblemPresent(inc *itopsv1alpha1.Incident) *metav1.Condition {
	return meta.FindStatusCondition(inc.Status.Conditions, itopsv1alpha1.IncidentConditionProblemPresent)
}

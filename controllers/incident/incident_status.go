package incident

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/priority"
)

// transition is a status change worth a timeline entry and an Event.
type transition struct {
	Type    string
	Message string
}

// computeStatus returns the status an incident should have at now, and the transitions that
// lead there. It is pure: everything it needs is in the incident and the clock.
func computeStatus(inc *itopsv1alpha1.Incident, now time.Time) (itopsv1alpha1.IncidentStatus, []transition) {
	st := *inc.Status.DeepCopy()
	t := metav1.NewTime(now)
	var changes []transition

	st.Priority = priority.For(inc.Spec.Impact, inc.Spec.Urgency)
	if st.DetectedAt == nil {
		st.DetectedAt = &t
		st.LastSeenAt = &t
		if st.Occurrences == 0 {
			st.Occurrences = 1
		}
		changes = append(changes, transition{"Opened", fmt.Sprintf("%s incident opened (%s): %s", st.Priority, inc.Spec.Source, inc.Spec.Title)})
	} else if inc.Status.Priority != "" && inc.Status.Priority != st.Priority {
		changes = append(changes, transition{"Reprioritized", fmt.Sprintf("priority %s -> %s", inc.Status.Priority, st.Priority)})
	}

	phase := itopsv1alpha1.IncidentOpen
	switch {
	case st.Phase == itopsv1alpha1.IncidentClosed:
		phase = itopsv1alpha1.IncidentClosed
	case inc.Spec.Resolution != nil:
		phase = itopsv1alpha1.IncidentResolved
	case st.ResolvedBy == itopsv1alpha1.ResolvedByOperator && st.Phase == itopsv1alpha1.IncidentResolved:
		phase = itopsv1alpha1.IncidentResolved
	case inc.Spec.Acknowledgement != nil:
		phase = itopsv1alpha1.IncidentAcknowledged
	}
	if inc.Spec.Acknowledgement != nil && st.AcknowledgedAt == nil {
		st.AcknowledgedAt = timeOr(inc.Spec.Acknowledgement.At, t)
		changes = append(changes, transition{"Acknowledged", "acknowledged by " + orUnknown(inc.Spec.Acknowledgement.By)})
	}
	if r := inc.Spec.Resolution; r != nil && st.ResolvedAt == nil {
		st.ResolvedAt = timeOr(r.At, t)
		st.ResolvedBy = r.By
		changes = append(changes, transition{"Resolved", fmt.Sprintf("resolved (%s) by %s", r.Code, orUnknown(r.By))})
	}
	st.Phase = phase

	for _, c := range changes {
		st.Timeline, st.TimelineOmitted = appendTimeline(st.Timeline, st.TimelineOmitted,
			itopsv1alpha1.TimelineEntry{At: t, Type: c.Type, Message: c.Message})
	}

	st.ObservedGeneration = inc.Generation
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{
		Type:               itopsv1alpha1.ConditionReady,
		Status:             metav1.ConditionTrue,
		Reason:             itopsv1alpha1.ReasonReconciled,
		Message:            fmt.Sprintf("incident is %s at priority %s", st.Phase, st.Priority),
		ObservedGeneration: inc.Generation,
	})
	meta.RemoveStatusCondition(&st.Conditions, itopsv1alpha1.ConditionReconciling)
	meta.RemoveStatusCondition(&st.Conditions, itopsv1alpha1.ConditionStalled)
	return st, changes
}

// appendTimeline appends e, keeping the timeline within MaxTimelineEntries: the first entry
// (how it started) and the latest ones are kept, and omitted counts what was dropped.
func appendTimeline(tl []itopsv1alpha1.TimelineEntry, omitted int32, e itopsv1alpha1.TimelineEntry) ([]itopsv1alpha1.TimelineEntry, int32) {
	tl = append(tl, e)
	if len(tl) > itopsv1alpha1.MaxTimelineEntries {
		drop := len(tl) - itopsv1alpha1.MaxTimelineEntries
		tl = append(tl[:1], tl[1+drop:]...)
		omitted += int32(drop)
	}
	return tl, omitted
}

func timeOr(p *metav1.Time, def metav1.Time) *metav1.Time {
	if p != nil {
		return p.DeepCopy()
	}
	return &def
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

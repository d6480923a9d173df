package incident

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/priority"
	"github.com/itops-dev/itops-operator/internal/sla"
)

// Timeline entry types of SLA deadlines.
const (
	TransitionResponseSLABreached   = "ResponseSLABreached"
	TransitionResolutionSLABreached = "ResolutionSLABreached"
)

// applySLA sets responseDueAt, resolutionDueAt and the ResponseSLABreached and
// ResolutionSLABreached conditions from the target for the incident's priority, and raises the
// priority one level per breached deadline. A suppressed incident runs no clock; the clock
// starts when its suppression ends. It returns the breach transitions and the next deadline.
func applySLA(st *itopsv1alpha1.IncidentStatus, inc *itopsv1alpha1.Incident, target *itopsv1alpha1.SLATarget, now time.Time) ([]transition, time.Time) {
	in := sla.Input{Target: target}
	if st.DetectedAt != nil {
		in.DetectedAt = st.DetectedAt.Time
	}
	if c := meta.FindStatusCondition(st.Conditions, itopsv1alpha1.IncidentConditionSuppressed); c != nil {
		in.Suppressed = c.Status == metav1.ConditionTrue
		if !in.Suppressed {
			in.UnsuppressedAt = c.LastTransitionTime.Time
		}
	}
	if st.AcknowledgedAt != nil {
		in.AcknowledgedAt = st.AcknowledgedAt.Time
	}
	if st.ResolvedAt != nil {
		in.ResolvedAt = st.ResolvedAt.Time
	}
	r := sla.Evaluate(in, now)
	st.ResponseDueAt, st.ResolutionDueAt = timeOrNil(r.ResponseDue), timeOrNil(r.ResolutionDue)

	var out []transition
	set := func(condType string, state sla.State, due time.Time, what, breachType string) {
		old := meta.FindStatusCondition(st.Conditions, condType)
		if state == sla.None {
			meta.RemoveStatusCondition(&st.Conditions, condType)
			return
		}
		status, msg := metav1.ConditionFalse, fmt.Sprintf("%s due at %s", what, due.UTC().Format(time.RFC3339))
		switch state {
		case sla.Met:
			msg = fmt.Sprintf("%s by the deadline %s", what, due.UTC().Format(time.RFC3339))
		case sla.Breached:
			status = metav1.ConditionTrue
			msg = fmt.Sprintf("not %s by the deadline %s (%s after the SLA clock started at %s)", what,
				due.UTC().Format(time.RFC3339), due.Sub(r.ClockStart), r.ClockStart.UTC().Format(time.RFC3339))
		}
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: condType, Status: status, Reason: string(state), Message: msg,
			ObservedGeneration: inc.Generation, LastTransitionTime: metav1.NewTime(now)})
		if status == metav1.ConditionTrue && (old == nil || old.Status != metav1.ConditionTrue) {
			out = append(out, transition{Type: breachType, Message: msg})
		}
	}
	set(itopsv1alpha1.IncidentConditionResponseSLABreached, r.Response, r.ResponseDue, "acknowledged", TransitionResponseSLABreached)
	set(itopsv1alpha1.IncidentConditionResolutionSLABreached, r.Resolution, r.ResolutionDue, "resolved", TransitionResolutionSLABreached)
	st.Priority = priority.Raise(st.Priority, r.Breaches())
	return out, r.Next
}

func timeOrNil(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	return &metav1.Time{Time: t}
}

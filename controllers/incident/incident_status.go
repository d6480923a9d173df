package incident

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/health"
	"github.com/itops-dev/itops-operator/internal/lifecycle"
	"github.com/itops-dev/itops-operator/internal/maintenance"
	"github.com/itops-dev/itops-operator/internal/priority"
	"github.com/itops-dev/itops-operator/internal/sla"
)

// Timeline entry types (and Event reasons) of the incident lifecycle.
const (
	TransitionOpened         = "Opened"
	TransitionReprioritized  = "Reprioritized"
	TransitionAcknowledged   = "Acknowledged"
	TransitionUnacknowledged = "Unacknowledged"
	TransitionResolved       = "Resolved"
	TransitionAutoResolved   = "AutoResolved"
	TransitionReopened       = "Reopened"
	TransitionRecovered      = "Recovered"
	TransitionRecurred       = "Recurred"
	TransitionClosed         = "Closed"
)

// transition is a status change worth a timeline entry, an Event and an audit record.
type transition struct {
	Type    string
	Message string
	// By is the person or component the transition is attributed to.
	By string
}

// desired is what the lifecycle computes for an incident at one moment.
type desired struct {
	Status      itopsv1alpha1.IncidentStatus
	Transitions []transition
	// RequeueAfter is the exact time to the next lifecycle boundary (0: none).
	RequeueAfter time.Duration
	// Delete is true when a closed incident has outlived its retention.
	Delete bool
}

// extras are the inputs from other objects: the maintenance window suppressing the incident and
// the SLA target of its service for its priority.
type extras struct {
	// suppression is the window covering the incident now (its Window nil when none).
	suppression maintenance.Suppression
	// slaTargets are the SLA targets of the incident's ServiceLevel (nil when none).
	slaTargets []itopsv1alpha1.SLATarget
}

// computeStatus returns the status of an incident with no maintenance window and no SLA.
func computeStatus(inc *itopsv1alpha1.Incident, now time.Time, p lifecycle.Policy) desired {
	return compute(inc, now, p, extras{})
}

// detectedAt is when the incident was detected: its status once set, else the detector's
// annotation, else its creation.
func detectedAt(inc *itopsv1alpha1.Incident, now time.Time) metav1.Time {
	if inc.Status.DetectedAt != nil {
		return *inc.Status.DetectedAt
	}
	detected := metav1.NewTime(now)
	if !inc.CreationTimestamp.IsZero() && inc.CreationTimestamp.Time.Before(now) {
		detected = inc.CreationTimestamp
	}
	if at, err := time.Parse(time.RFC3339, inc.Annotations[itopsv1alpha1.AnnotationDetectedAt]); err == nil && at.Before(now) {
		detected = metav1.NewTime(at)
	}
	return detected
}

// compute returns the status an incident should have at now, the transitions that lead there,
// and the next time boundary. It is pure: everything it needs is in the incident, the clock,
// the policy and the extras.
func compute(inc *itopsv1alpha1.Incident, now time.Time, p lifecycle.Policy, ex extras) desired {
	st := *inc.Status.DeepCopy()
	t := metav1.NewTime(now)
	var out []transition
	var next time.Time
	boundary := func(at time.Time) {
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}

	st.Priority = priority.For(inc.Spec.Impact, inc.Spec.Urgency)
	if st.Previous == "" && inc.Annotations[itopsv1alpha1.AnnotationPrevious] != "" {
		st.Previous = inc.Annotations[itopsv1alpha1.AnnotationPrevious]
	}
	if st.DetectedAt == nil {
		detected := detectedAt(inc, now)
		st.DetectedAt = &detected
		if st.LastSeenAt == nil {
			st.LastSeenAt = &detected
		}
		if st.Occurrences == 0 {
			st.Occurrences = 1
		}
		msg := fmt.Sprintf("%s incident opened (%s): %s", st.Priority, inc.Spec.Source, inc.Spec.Title)
		if st.Previous != "" {
			msg += "; recurs after " + st.Previous
		}
		out = append(out, transition{TransitionOpened, msg, openedBy(inc)})
	}

	if a := inc.Spec.Acknowledgement; a != nil && st.AcknowledgedAt == nil {
		st.AcknowledgedAt = timeOr(a.At, t)
		out = append(out, transition{TransitionAcknowledged, "acknowledged by " + orUnknown(a.By) + note(a.Note), a.By})
	}
	if r := inc.Spec.Resolution; r != nil && st.Phase != itopsv1alpha1.IncidentClosed &&
		(st.ResolvedAt == nil || st.ResolvedBy == itopsv1alpha1.ResolvedByOperator) {
		st.ResolvedAt = timeOr(r.At, t)
		st.ResolvedBy = r.By
		out = append(out, transition{TransitionResolved, fmt.Sprintf("resolved (%s) by %s%s", r.Code, orUnknown(r.By), note(r.Note)), r.By})
	}

	// A person withdrawing their resolution or acknowledgement reopens the incident.
	if inc.Spec.Resolution == nil && st.ResolvedAt != nil && st.ResolvedBy != itopsv1alpha1.ResolvedByOperator &&
		st.Phase == itopsv1alpha1.IncidentResolved {
		out = append(out, transition{TransitionReopened, "resolution by " + orUnknown(st.ResolvedBy) + " withdrawn", ""})
		st.ResolvedAt, st.ResolvedBy = nil, ""
	}
	if inc.Spec.Acknowledgement == nil && st.AcknowledgedAt != nil {
		out = append(out, transition{TransitionUnacknowledged, "acknowledgement withdrawn", ""})
		st.AcknowledgedAt = nil
	}

	present := lifecycle.ProblemPresent(inc)
	if t, ok := observationChange(inc, st.Timeline, present); ok {
		out = append(out, t)
	}
	working := itopsv1alpha1.IncidentOpen
	if inc.Spec.Acknowledgement != nil {
		working = itopsv1alpha1.IncidentAcknowledged
	}
	switch {
	case st.Phase == itopsv1alpha1.IncidentClosed:
		// Closed is final.
	case inc.Spec.Resolution != nil:
		st.Phase = itopsv1alpha1.IncidentResolved
	case lifecycle.IsAutoResolved(inc):
		// The problem came back after the operator resolved it (auto-resolution needs it absent,
		// so present again means it returned; times have second precision, so compare loosely):
		// reopen within the window.
		if present != nil && present.Status == metav1.ConditionTrue &&
			present.LastTransitionTime.Sub(st.ResolvedAt.Time) <= p.ReopenWindow {
			st.Phase = working
			st.ResolvedAt, st.ResolvedBy = nil, ""
			out = append(out, transition{TransitionReopened, "the problem returned " +
				max(0, present.LastTransitionTime.Sub(inc.Status.ResolvedAt.Time)).Round(time.Second).String() +
				" after auto-resolution: " + present.Message, itopsv1alpha1.ResolvedByOperator})
		}
	default:
		st.Phase = working
		if present != nil && present.Status == metav1.ConditionFalse {
			healthyAt := present.LastTransitionTime.Add(p.ResolveAfter)
			if !now.Before(healthyAt) {
				st.Phase = itopsv1alpha1.IncidentResolved
				st.ResolvedAt, st.ResolvedBy = &t, itopsv1alpha1.ResolvedByOperator
				out = append(out, transition{TransitionAutoResolved, fmt.Sprintf("healthy since %s (%s)",
					present.LastTransitionTime.UTC().Format(time.RFC3339), p.ResolveAfter), itopsv1alpha1.ResolvedByOperator})
			} else {
				boundary(healthyAt)
			}
		}
	}

	if st.Phase == itopsv1alpha1.IncidentResolved && st.ResolvedAt != nil {
		closeAt := st.ResolvedAt.Add(p.CloseAfter)
		if !now.Before(closeAt) {
			st.Phase, st.ClosedAt = itopsv1alpha1.IncidentClosed, &t
			out = append(out, transition{TransitionClosed, "closed after " + p.CloseAfter.String() + " resolved", itopsv1alpha1.ResolvedByOperator})
		} else {
			boundary(closeAt)
		}
	}
	var remove bool
	if st.Phase == itopsv1alpha1.IncidentClosed && st.ClosedAt != nil {
		deleteAt := st.ClosedAt.Add(p.DeleteClosedAfter)
		if !now.Before(deleteAt) {
			remove = true
		} else {
			boundary(deleteAt)
		}
	}

	if tr, until := applySuppression(&st, inc, ex.suppression, now); tr != nil || !until.IsZero() {
		if tr != nil {
			out = append(out, *tr)
		}
		if until.After(now) {
			boundary(until)
		}
	}
	base := st.Priority
	slaOut, slaNext := applySLA(&st, inc, sla.TargetFor(ex.slaTargets, base), now)
	out = append(out, slaOut...)
	if !slaNext.IsZero() {
		boundary(slaNext)
	}
	if inc.Status.DetectedAt != nil && inc.Status.Priority != "" && inc.Status.Priority != st.Priority {
		msg := fmt.Sprintf("priority %s -> %s", inc.Status.Priority, st.Priority)
		if st.Priority != base {
			msg += fmt.Sprintf(" (%s by impact and urgency, escalated for missed SLA deadlines)", base)
		}
		out = append(out, transition{TransitionReprioritized, msg, ""})
	}

	for _, c := range out {
		st.Timeline, st.TimelineOmitted = appendTimeline(st.Timeline, st.TimelineOmitted,
			itopsv1alpha1.TimelineEntry{At: t, Type: c.Type, Message: health.Truncate(c.Message, 1024)})
	}

	st.ObservedGeneration = inc.Generation
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{
		Type:               itopsv1alpha1.ConditionReady,
		Status:             metav1.ConditionTrue,
		Reason:             itopsv1alpha1.ReasonReconciled,
		Message:            fmt.Sprintf("incident is %s at priority %s", st.Phase, st.Priority),
		ObservedGeneration: inc.Generation,
		LastTransitionTime: t,
	})
	meta.RemoveStatusCondition(&st.Conditions, itopsv1alpha1.ConditionReconciling)
	meta.RemoveStatusCondition(&st.Conditions, itopsv1alpha1.ConditionStalled)

	d := desired{Status: st, Transitions: out, Delete: remove}
	if !next.IsZero() {
		d.RequeueAfter = next.Sub(now)
	}
	return d
}

// observationChange returns the timeline entry for a change in what health detection
// observes: Recovered when the problem is no longer seen, Recurred when it is seen again while
// the incident is open (an auto-resolved incident's return is a Reopened entry instead).
func observationChange(inc *itopsv1alpha1.Incident, tl []itopsv1alpha1.TimelineEntry, present *metav1.Condition) (transition, bool) {
	if present == nil {
		return transition{}, false
	}
	var last string
	for i := len(tl) - 1; i >= 0; i-- {
		switch tl[i].Type {
		case TransitionRecovered, TransitionRecurred, TransitionReopened:
			last = tl[i].Type
		}
		if last != "" {
			break
		}
	}
	recovered := last == TransitionRecovered
	switch {
	case present.Status == metav1.ConditionFalse && !recovered:
		return transition{TransitionRecovered, "the problem is no longer observed", itopsv1alpha1.ResolvedByOperator}, true
	case present.Status == metav1.ConditionTrue && recovered && !lifecycle.IsAutoResolved(inc):
		return transition{TransitionRecurred, "the problem is back: " + present.Message, itopsv1alpha1.ResolvedByOperator}, true
	}
	return transition{}, false
}

func openedBy(inc *itopsv1alpha1.Incident) string {
	if inc.Spec.Source == itopsv1alpha1.SourceManual || inc.Spec.Source == "" {
		return ""
	}
	return itopsv1alpha1.ResolvedByOperator
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

func note(n string) string {
	if n == "" {
		return ""
	}
	return ": " + n
}

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
	// TransitionLinked: the incident became a symptom of another (status.causedBy).
	TransitionLinked = "Linked"
	// TransitionUnlinked: its cause is no longer open; it stands on its own.
	TransitionUnlinked = "Unlinked"
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

// extras are the inputs from other objects: the maintenance window suppressing the incident,
// the SLA target of its service, the incident that causes it and those it causes.
type extras struct {
	// suppression is the window covering the incident now (its Window nil when none).
	suppression maintenance.Suppression
	// slaTargets are the SLA targets of the incident's ServiceLevel (nil when none).
	slaTargets []itopsv1alpha1.SLATarget
	// cause is the open incident status.causedBy names (nil when none, or not open).
	cause *itopsv1alpha1.Incident
	// symptoms are the incidents whose causedBy names this one, sorted.
	symptoms []itopsv1alpha1.IncidentReference
	// owner is the ownership of the incident's service (ServiceLevel spec.owner, else the
	// namespace annotations).
	owner itopsv1alpha1.ServiceOwner
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

// state is what the steps of compute share: the incident as read, the status being computed,
// the transitions found so far and the next time boundary.
type state struct {
	inc *itopsv1alpha1.Incident
	now time.Time
	p   lifecycle.Policy
	ex  extras
	st  itopsv1alpha1.IncidentStatus
	out []transition
	// next is the earliest future boundary (zero: none).
	next time.Time
	// base is the priority before SLA escalation and cause capping.
	base   itopsv1alpha1.Priority
	remove bool
}

func (s *state) t() metav1.Time { return metav1.NewTime(s.now) }

func (s *state) emit(typ, msg, by string) {
	s.out = append(s.out, transition{Type: typ, Message: msg, By: by})
}

func (s *state) boundary(at time.Time) {
	if s.next.IsZero() || at.Before(s.next) {
		s.next = at
	}
}

// steps are the lifecycle rules, applied in this order; each is a small pure function of the
// state, table-tested on its own.
var steps = []func(*state){
	stepPriority,
	stepOpened,
	stepAcknowledgement,
	stepPersonResolution,
	stepWithdrawals,
	stepObservation,
	stepPhase,
	stepClose,
	stepRetention,
	stepSuppression,
	stepSLA,
	stepCause,
	stepOwner,
	stepReprioritized,
	stepTimeline,
	stepReady,
}

// compute returns the status an incident should have at now, the transitions that lead there,
// and the next time boundary. It is pure: everything it needs is in the incident, the clock,
// the policy and the extras.
func compute(inc *itopsv1alpha1.Incident, now time.Time, p lifecycle.Policy, ex extras) desired {
	s := &state{inc: inc, now: now, p: p, ex: ex, st: *inc.Status.DeepCopy()}
	for _, step := range steps {
		step(s)
	}
	d := desired{Status: s.st, Transitions: s.out, Delete: s.remove}
	if !s.next.IsZero() {
		d.RequeueAfter = s.next.Sub(now)
	}
	return d
}

// stepPriority: an incident with signals has the priority of its most urgent signal (active
// ones first); others that of the ITIL matrix over impact and urgency.
func stepPriority(s *state) {
	s.st.Priority = priority.For(s.inc.Spec.Impact, s.inc.Spec.Urgency)
	if p := health.SignalsPriority(s.inc.Status.Signals); p != "" {
		s.st.Priority = p
	}
	s.base = s.st.Priority
}

// stepOpened records detection once: detectedAt, lastSeenAt, occurrences, previous, and the
// Opened transition.
func stepOpened(s *state) {
	if s.st.Previous == "" && s.inc.Annotations[itopsv1alpha1.AnnotationPrevious] != "" {
		s.st.Previous = s.inc.Annotations[itopsv1alpha1.AnnotationPrevious]
	}
	if s.st.DetectedAt != nil {
		return
	}
	detected := detectedAt(s.inc, s.now)
	s.st.DetectedAt = &detected
	if s.st.LastSeenAt == nil {
		s.st.LastSeenAt = &detected
	}
	if s.st.Occurrences == 0 {
		s.st.Occurrences = 1
	}
	msg := fmt.Sprintf("%s incident opened (%s): %s", s.st.Priority, s.inc.Spec.Source, s.inc.Spec.Title)
	if s.st.Previous != "" {
		msg += "; recurs after " + s.st.Previous
	}
	s.emit(TransitionOpened, msg, openedBy(s.inc))
}

// stepAcknowledgement records a person's acknowledgement once.
func stepAcknowledgement(s *state) {
	if a := s.inc.Spec.Acknowledgement; a != nil && s.st.AcknowledgedAt == nil {
		s.st.AcknowledgedAt = timeOr(a.At, s.t())
		s.emit(TransitionAcknowledged, "acknowledged by "+orUnknown(a.By)+note(a.Note), a.By)
	}
}

// autoResolved reports whether the status says the operator resolved the incident: the
// AutoResolved condition only the controller sets (never status.resolvedBy, which a person
// named "operator" shares).
func autoResolved(st *itopsv1alpha1.IncidentStatus) bool {
	return meta.IsStatusConditionTrue(st.Conditions, itopsv1alpha1.IncidentConditionAutoResolved)
}

// stepPersonResolution records a person's resolution once: when nobody resolved the incident
// yet, or when the operator had (the person's word then replaces it). Incidents the operator
// auto-resolved before the AutoResolved condition existed are recognised by their timeline.
func stepPersonResolution(s *state) {
	if legacyAutoResolved(s.inc) {
		meta.SetStatusCondition(&s.st.Conditions, autoResolvedCondition(s.inc, "auto-resolved (recorded in the timeline)", s.now))
	}
	r := s.inc.Spec.Resolution
	if r == nil || s.st.Phase == itopsv1alpha1.IncidentClosed || (s.st.ResolvedAt != nil && !autoResolved(&s.st)) {
		return
	}
	s.st.ResolvedAt = timeOr(r.At, s.t())
	s.st.ResolvedBy = r.By
	meta.RemoveStatusCondition(&s.st.Conditions, itopsv1alpha1.IncidentConditionAutoResolved)
	s.emit(TransitionResolved, fmt.Sprintf("resolved (%s) by %s%s", r.Code, orUnknown(r.By), note(r.Note)), r.By)
}

// legacyAutoResolved: resolved by the operator before the AutoResolved condition existed.
func legacyAutoResolved(inc *itopsv1alpha1.Incident) bool {
	st := &inc.Status
	if st.Phase != itopsv1alpha1.IncidentResolved || st.ResolvedAt == nil || st.ResolvedBy != itopsv1alpha1.ResolvedByOperator ||
		meta.FindStatusCondition(st.Conditions, itopsv1alpha1.IncidentConditionAutoResolved) != nil {
		return false
	}
	for i := len(st.Timeline) - 1; i >= 0; i-- {
		switch st.Timeline[i].Type {
		case TransitionAutoResolved:
			return true
		case TransitionResolved, TransitionReopened:
			return false
		}
	}
	return false
}

func autoResolvedCondition(inc *itopsv1alpha1.Incident, msg string, now time.Time) metav1.Condition {
	return metav1.Condition{Type: itopsv1alpha1.IncidentConditionAutoResolved, Status: metav1.ConditionTrue,
		Reason: itopsv1alpha1.ReasonHealthy, Message: msg, ObservedGeneration: inc.Generation, LastTransitionTime: metav1.NewTime(now)}
}

// stepWithdrawals: a person withdrawing their resolution or acknowledgement reopens the
// incident.
func stepWithdrawals(s *state) {
	if s.inc.Spec.Resolution == nil && s.st.ResolvedAt != nil && !autoResolved(&s.st) && s.st.Phase == itopsv1alpha1.IncidentResolved {
		s.emit(TransitionReopened, "resolution by "+orUnknown(s.st.ResolvedBy)+" withdrawn", "")
		s.st.ResolvedAt, s.st.ResolvedBy = nil, ""
	}
	if s.inc.Spec.Acknowledgement == nil && s.st.AcknowledgedAt != nil {
		s.emit(TransitionUnacknowledged, "acknowledgement withdrawn", "")
		s.st.AcknowledgedAt = nil
	}
}

// stepObservation records what health detection observes (Recovered, Recurred).
func stepObservation(s *state) {
	if t, ok := observationChange(s.inc, s.st.Timeline, lifecycle.ProblemPresent(s.inc)); ok {
		s.out = append(s.out, t)
	}
}

// stepPhase sets the phase: Resolved by a person; auto-resolved once the problem stayed
// absent for ResolveAfter; reopened when it returns within ReopenWindow of auto-resolution.
func stepPhase(s *state) {
	inc, st := s.inc, &s.st
	present := lifecycle.ProblemPresent(inc)
	working := itopsv1alpha1.IncidentOpen
	if inc.Spec.Acknowledgement != nil {
		working = itopsv1alpha1.IncidentAcknowledged
	}
	switch {
	case st.Phase == itopsv1alpha1.IncidentClosed:
		// Closed is final.
	case inc.Spec.Resolution != nil:
		st.Phase = itopsv1alpha1.IncidentResolved
	case st.Phase == itopsv1alpha1.IncidentResolved && autoResolved(st):
		// The problem came back after the operator resolved it (auto-resolution needs it absent,
		// so present again means it returned; times have second precision, so compare loosely):
		// reopen within the window.
		if present != nil && present.Status == metav1.ConditionTrue &&
			present.LastTransitionTime.Sub(st.ResolvedAt.Time) <= s.p.ReopenWindow {
			returned := max(0, present.LastTransitionTime.Sub(st.ResolvedAt.Time)).Round(time.Second)
			st.Phase = working
			st.ResolvedAt, st.ResolvedBy = nil, ""
			meta.RemoveStatusCondition(&st.Conditions, itopsv1alpha1.IncidentConditionAutoResolved)
			s.emit(TransitionReopened, "the problem returned "+returned.String()+" after auto-resolution: "+present.Message,
				itopsv1alpha1.ResolvedByOperator)
		}
	default:
		st.Phase = working
		if present != nil && present.Status == metav1.ConditionFalse {
			healthyAt := present.LastTransitionTime.Add(s.p.ResolveAfter)
			if !s.now.Before(healthyAt) {
				t := s.t()
				msg := fmt.Sprintf("healthy since %s (%s)", present.LastTransitionTime.UTC().Format(time.RFC3339), s.p.ResolveAfter)
				st.Phase = itopsv1alpha1.IncidentResolved
				st.ResolvedAt, st.ResolvedBy = &t, itopsv1alpha1.ResolvedByOperator
				meta.SetStatusCondition(&st.Conditions, autoResolvedCondition(inc, msg, s.now))
				s.emit(TransitionAutoResolved, msg, itopsv1alpha1.ResolvedByOperator)
			} else {
				s.boundary(healthyAt)
			}
		}
	}
}

// stepClose closes a resolved incident after CloseAfter.
func stepClose(s *state) {
	if s.st.Phase != itopsv1alpha1.IncidentResolved || s.st.ResolvedAt == nil {
		return
	}
	closeAt := s.st.ResolvedAt.Add(s.p.CloseAfter)
	if s.now.Before(closeAt) {
		s.boundary(closeAt)
		return
	}
	t := s.t()
	s.st.Phase, s.st.ClosedAt = itopsv1alpha1.IncidentClosed, &t
	s.emit(TransitionClosed, "closed after "+s.p.CloseAfter.String()+" resolved", itopsv1alpha1.ResolvedByOperator)
}

// stepRetention deletes a closed incident after DeleteClosedAfter.
func stepRetention(s *state) {
	if s.st.Phase != itopsv1alpha1.IncidentClosed || s.st.ClosedAt == nil {
		return
	}
	deleteAt := s.st.ClosedAt.Add(s.p.DeleteClosedAfter)
	if s.now.Before(deleteAt) {
		s.boundary(deleteAt)
		return
	}
	s.remove = true
}

// stepSuppression applies the covering Maintenance window.
func stepSuppression(s *state) {
	tr, until := applySuppression(&s.st, s.inc, s.ex.suppression, s.now)
	if tr != nil {
		s.out = append(s.out, *tr)
	}
	if until.After(s.now) {
		s.boundary(until)
	}
}

// stepSLA applies the service's SLA deadlines (and escalates for breaches).
func stepSLA(s *state) {
	out, next := applySLA(&s.st, s.inc, sla.TargetFor(s.ex.slaTargets, s.base), s.now)
	s.out = append(s.out, out...)
	if !next.IsZero() {
		s.boundary(next)
	}
}

// stepCause marks a symptom (causedBy names an open incident): Symptom=True and a priority
// never above its cause's; and lists this incident's own symptoms.
func stepCause(s *state) {
	st := &s.st
	st.Symptoms = nil
	if len(s.ex.symptoms) > 0 {
		st.Symptoms = append([]itopsv1alpha1.IncidentReference(nil), s.ex.symptoms[:min(len(s.ex.symptoms), itopsv1alpha1.MaxSymptoms)]...)
	}
	c := st.CausedBy
	isSymptom := c != nil && c.Kind == "Incident" && s.ex.cause != nil && lifecycle.IsOpen(s.ex.cause)
	old := meta.FindStatusCondition(st.Conditions, itopsv1alpha1.IncidentConditionSymptom)
	switch {
	case isSymptom:
		msg := fmt.Sprintf("caused by incident %s/%s (%s): a notifier does not page on this incident on its own", c.Namespace, c.Name, s.ex.cause.Status.Priority)
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: itopsv1alpha1.IncidentConditionSymptom, Status: metav1.ConditionTrue,
			Reason: itopsv1alpha1.ReasonCausedByIncident, Message: msg, ObservedGeneration: s.inc.Generation, LastTransitionTime: s.t()})
		st.Priority = priority.Cap(st.Priority, s.ex.cause.Status.Priority)
		if old == nil || old.Status != metav1.ConditionTrue {
			s.emit(TransitionLinked, fmt.Sprintf("symptom of incident %s/%s", c.Namespace, c.Name), itopsv1alpha1.ResolvedByOperator)
		}
	case old != nil && old.Status == metav1.ConditionTrue:
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: itopsv1alpha1.IncidentConditionSymptom, Status: metav1.ConditionFalse,
			Reason: itopsv1alpha1.ReasonCauseResolved, Message: "no open incident explains this one any more: it stands on its own",
			ObservedGeneration: s.inc.Generation, LastTransitionTime: s.t()})
		s.emit(TransitionUnlinked, "no longer a symptom: its cause is resolved or gone", itopsv1alpha1.ResolvedByOperator)
	}
}

// stepOwner copies the runbook and the escalation target of the incident's owner into the
// status (the team and assignee are spec, set when the operator opens the incident and
// changed by people since).
func stepOwner(s *state) {
	s.st.RunbookURL = s.ex.owner.RunbookURL
	s.st.Escalation = s.ex.owner.Escalation
}

// stepReprioritized records a priority change.
func stepReprioritized(s *state) {
	old, cur := s.inc.Status.Priority, s.st.Priority
	if s.inc.Status.DetectedAt == nil || old == "" || old == cur {
		return
	}
	msg := fmt.Sprintf("priority %s -> %s", old, cur)
	if cur != s.base {
		msg += fmt.Sprintf(" (%s from its signals or impact and urgency", s.base)
		if priority.Rank(cur) > priority.Rank(s.base) {
			msg += ", capped at its cause's)"
		} else {
			msg += ", escalated for missed SLA deadlines)"
		}
	}
	s.emit(TransitionReprioritized, msg, "")
}

// stepTimeline appends the transitions to the bounded timeline.
func stepTimeline(s *state) {
	for _, c := range s.out {
		s.st.Timeline, s.st.TimelineOmitted = appendTimeline(s.st.Timeline, s.st.TimelineOmitted,
			itopsv1alpha1.TimelineEntry{At: s.t(), Type: c.Type, Message: health.Truncate(c.Message, 1024)})
	}
}

// stepReady reports the status as fully reconciled.
func stepReady(s *state) {
	s.st.ObservedGeneration = s.inc.Generation
	meta.SetStatusCondition(&s.st.Conditions, metav1.Condition{
		Type:               itopsv1alpha1.ConditionReady,
		Status:             metav1.ConditionTrue,
		Reason:             itopsv1alpha1.ReasonReconciled,
		Message:            fmt.Sprintf("incident is %s at priority %s", s.st.Phase, s.st.Priority),
		ObservedGeneration: s.inc.Generation,
		LastTransitionTime: s.t(),
	})
	meta.RemoveStatusCondition(&s.st.Conditions, itopsv1alpha1.ConditionReconciling)
	meta.RemoveStatusCondition(&s.st.Conditions, itopsv1alpha1.ConditionStalled)
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

// AppendTimeline appends e to a bounded timeline the way the incident controller does (the
// first entry and the latest ones kept, omitted counting the dropped), for other writers of
// timeline entries (the notification controller), which patch under optimistic locking.
func AppendTimeline(tl []itopsv1alpha1.TimelineEntry, omitted int32, e itopsv1alpha1.TimelineEntry) ([]itopsv1alpha1.TimelineEntry, int32) {
	return appendTimeline(tl, omitted, e)
}

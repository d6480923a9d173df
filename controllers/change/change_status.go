package change

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/change"
	"github.com/itops-dev/itops-operator/internal/health"
)

// inputs is what the status of a ChangeRequest is computed from.
type inputs struct {
	// policy is the approval policy in force for the change.
	policy change.Policy
	// targets are the change's target workloads that exist, by change.TargetKey.
	targets map[string]client.Object
	// gated: the change's namespace is under change control (labelled enforced, and not one
	// the gate never covers), so the gate's records on its targets (itops.dev/change-request,
	// itops.dev/rolled-back-*) are the gate's: only the gate writes them there, and deletes need
	// a change. Elsewhere anyone who can edit a workload can write them, and the change is not
	// followed (it stays Approved until it expires).
	gated bool
	// incidents are the names of the incidents opened about the change.
	incidents []string
	// rolloutTimeout, emergencyReviewWithin and retention come from the administrator policy.
	rolloutTimeout, emergencyReviewWithin, retention time.Duration
}

// desired is the computed state of a ChangeRequest.
type desired struct {
	status itopsv1alpha1.ChangeRequestStatus
	// problems are the incidents the change should have open (ChangeFailed,
	// EmergencyChangeUnreviewed).
	problems []health.Problem
	// requeueAfter is the next time boundary: a schedule or approval ending, a rollout deadline,
	// an emergency review deadline, garbage collection.
	requeueAfter time.Duration
	// delete: the change is past its retention.
	delete bool
	// transition is the phase change, if any, for the Event and audit record.
	transition string
}

func isTerminal(p itopsv1alpha1.ChangePhase) bool {
	return p == itopsv1alpha1.ChangeCompleted || p == itopsv1alpha1.ChangeFailed || p == itopsv1alpha1.ChangeExpired
}

// computeStatus is the ChangeRequest controller's decision, a pure function of the change, what
// it observed, and the clock.
func computeStatus(cr *itopsv1alpha1.ChangeRequest, in inputs, now time.Time) desired {
	st := *cr.Status.DeepCopy()
	d := desired{}
	next := boundaries{now: now}
	t := metav1.NewTime(now)

	a := change.Evaluate(cr, in.policy)
	st.ApprovalSummary = a.Summary()
	st.ContentGeneration = change.ContentGeneration(cr)
	st.ContentHash = change.ContentHash(&cr.Spec)
	st.ObservedGeneration = cr.Generation
	st.Incidents = in.incidents
	if a.Authorised {
		if st.ApprovedAt == nil || !st.ApprovedAt.Time.Equal(a.Since) {
			st.ApprovedAt = &metav1.Time{Time: a.Since}
		}
	} else if !isTerminal(st.Phase) {
		st.ApprovedAt = nil
	}

	phase, message, reason := st.Phase, "", ""
	var failed []itopsv1alpha1.ObjectReference
	if !isTerminal(st.Phase) {
		start, end := change.Window(cr, a, in.policy)
		open := a.Authorised && now.Before(end) // further targets may still be applied
		var rolledBack []rollback
		if in.gated {
			st.Applied = observeApplied(cr, st.Applied, in.targets, now)
			st.Present, st.Applied = observeDeleted(cr, st.Present, st.Applied, in.targets, open, open && !now.Before(start), now)
			rolledBack = rollbacksOf(cr, in.targets)
		}
		for _, rb := range rolledBack {
			if !slices.ContainsFunc(st.Applied, func(ap itopsv1alpha1.AppliedChange) bool { return ap.Kind == rb.kind && ap.Name == rb.name }) && len(st.Applied) < 64 {
				st.Applied = append(st.Applied, itopsv1alpha1.AppliedChange{Kind: rb.kind, Name: rb.name, At: &metav1.Time{Time: rb.at}})
			}
		}
		st.Unapplied = nil
		switch {
		case len(rolledBack) > 0:
			phase, reason = itopsv1alpha1.ChangeFailed, itopsv1alpha1.ChangeReasonRolledBack
			parts := make([]string, 0, len(rolledBack))
			for _, rb := range rolledBack {
				parts = append(parts, rb.String())
				failed = append(failed, itopsv1alpha1.ObjectReference{APIVersion: apiVersionOf(rb.kind), Kind: string(rb.kind), Namespace: cr.Namespace, Name: rb.name})
			}
			message = "rolled back: " + strings.Join(parts, "; ")
			st.Unapplied = unapplied(cr, st.Applied)
			if st.StartedAt == nil {
				st.StartedAt = st.Applied[0].At.DeepCopy()
			}
		case len(st.Applied) > 0:
			phase, message, failed = rolloutPhase(cr, st.Applied, in, now, &next)
			if st.StartedAt == nil {
				st.StartedAt = st.Applied[0].At.DeepCopy()
			}
			missing := unapplied(cr, st.Applied)
			switch {
			case len(missing) == 0:
			case phase == itopsv1alpha1.ChangeFailed:
				st.Unapplied = missing
			case open:
				// A change completes when every target has been applied and rolled out.
				waiting := fmt.Sprintf("waiting for %s to be applied until %s", targetList(missing), end.UTC().Format(time.RFC3339))
				if phase == itopsv1alpha1.ChangeCompleted {
					message = fmt.Sprintf("%d of %d targets applied and rolled out; %s", len(st.Applied), len(cr.Spec.Targets), waiting)
				} else {
					message += "; " + waiting
				}
				phase = itopsv1alpha1.ChangeInProgress
				next.at(end)
			case phase == itopsv1alpha1.ChangeCompleted:
				st.Unapplied = missing
				reason = itopsv1alpha1.ChangeReasonPartiallyApplied
				message = fmt.Sprintf("%s; %s ended with %s never applied", message, windowName(cr), targetList(missing))
			}
		case a.Rejection != nil:
			phase, message = itopsv1alpha1.ChangeRejected, fmt.Sprintf("rejected by %s", a.Rejection.Approver)
			if a.Rejection.Comment != "" {
				message += ": " + a.Rejection.Comment
			}
		case a.Authorised && !now.Before(end):
			phase, message = itopsv1alpha1.ChangeExpired, expiredMessage(cr, end, in.policy)
			st.Unapplied = unapplied(cr, nil)
		case a.Authorised:
			phase = itopsv1alpha1.ChangeApproved
			message = fmt.Sprintf("may be applied from %s until %s", start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339))
			if !in.gated {
				message += fmt.Sprintf("; namespace %s is not under change control, so what is applied under the change is not followed", cr.Namespace)
			}
			next.at(end)
		case cr.Spec.Schedule != nil && !now.Before(cr.Spec.Schedule.End.Time):
			phase, message = itopsv1alpha1.ChangeExpired, fmt.Sprintf("the schedule ended at %s before the change was approved",
				cr.Spec.Schedule.End.UTC().Format(time.RFC3339))
			st.Unapplied = unapplied(cr, nil)
		default:
			phase, message = itopsv1alpha1.ChangePending, pendingMessage(a, in.policy)
			if cr.Spec.Schedule != nil {
				next.at(cr.Spec.Schedule.End.Time)
			}
		}
	} else if c := meta.FindStatusCondition(st.Conditions, itopsv1alpha1.ConditionReady); c != nil {
		message, reason = strings.TrimPrefix(c.Message, string(st.Phase)+": "), c.Reason
	}
	if phase != st.Phase {
		d.transition = string(phase)
		st.Phase = phase
		switch {
		case phase == itopsv1alpha1.ChangeRejected || isTerminal(phase):
			st.CompletedAt = &t
		default:
			st.CompletedAt = nil
		}
	}
	setConditions(&st, cr, a, reason, message, now)

	// Incidents about the change.
	if st.Phase == itopsv1alpha1.ChangeFailed {
		d.problems = append(d.problems, health.Problem{Reason: itopsv1alpha1.ReasonChangeFailed, Source: itopsv1alpha1.SourceChangeGate,
			Message: fmt.Sprintf("ChangeRequest %s (%s) failed: %s", cr.Name, cr.Spec.Title, message), Affected: failed,
			Since: timeOf(st.CompletedAt)})
	}
	if cr.Spec.Type == itopsv1alpha1.ChangeEmergency && !a.Reviewed {
		due := cr.CreationTimestamp.Add(in.emergencyReviewWithin)
		if !now.Before(due) {
			d.problems = append(d.problems, health.Problem{Reason: itopsv1alpha1.ReasonEmergencyChangeUnreviewed, Source: itopsv1alpha1.SourceChangeGate,
				Message: fmt.Sprintf("Emergency change %s (%s) by %s has not been approved by reviewers within %s",
					cr.Name, cr.Spec.Title, cr.Spec.RequestedBy, in.emergencyReviewWithin), Since: due})
		} else {
			next.at(due)
		}
	}

	// Garbage collection after retention, except for changes a GitOps tool applied: Git owns
	// their lifetime, and the tool would re-create a deleted one as a new, unapproved change.
	if st.CompletedAt != nil && (st.Phase == itopsv1alpha1.ChangeRejected || isTerminal(st.Phase)) && change.ManagedByGitOps(cr) == "" {
		gcAt := st.CompletedAt.Add(in.retention)
		if !now.Before(gcAt) {
			d.delete = true
		} else {
			next.at(gcAt)
		}
	}
	d.status = st
	d.requeueAfter = next.after()
	return d
}

// Subject is what the change's incidents are about.
func Subject(cr *itopsv1alpha1.ChangeRequest) health.Subject {
	return health.Subject{APIVersion: itopsv1alpha1.GroupVersion.String(), Kind: "ChangeRequest", Namespace: cr.Namespace, Name: cr.Name}
}

func timeOf(t *metav1.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.Time
}

// observeApplied records the targets whose latest change was admitted under this change (the
// gate's annotation), with the generation they reached and when that was first seen.
func observeApplied(cr *itopsv1alpha1.ChangeRequest, applied []itopsv1alpha1.AppliedChange, targets map[string]client.Object, now time.Time) []itopsv1alpha1.AppliedChange {
	out := slices.Clone(applied)
	for _, t := range cr.Spec.Targets {
		obj, ok := targets[change.TargetKey(t.Kind, t.Name)]
		if !ok || obj.GetAnnotations()[itopsv1alpha1.AnnotationChangeRequest] != cr.Name {
			continue
		}
		warning := obj.GetAnnotations()[itopsv1alpha1.AnnotationBudgetWarning]
		i := slices.IndexFunc(out, func(a itopsv1alpha1.AppliedChange) bool { return a.Kind == t.Kind && a.Name == t.Name })
		switch {
		case i < 0 && len(out) < 64:
			out = append(out, itopsv1alpha1.AppliedChange{Kind: t.Kind, Name: t.Name, Generation: obj.GetGeneration(), At: &metav1.Time{Time: now},
				BudgetWarning: warning})
		case i >= 0 && obj.GetGeneration() > out[i].Generation:
			out[i].Generation, out[i].BudgetWarning = obj.GetGeneration(), warning
			out[i].Outcome = "" // a newer generation under the change: follow its rollout again
		}
	}
	return out
}

// observeDeleted records a change that deletes its targets. present lists the targets seen to
// exist while the change was open (authorised, before its end); a target in present that is
// gone while the change is active (authorised and within its window: the gate admits a
// person's delete only under a change) and not in applied yet is recorded in applied with
// outcome Deleted. A target gone outside the active window was not deleted under this change
// and leaves present. Returns the new present and applied lists.
func observeDeleted(cr *itopsv1alpha1.ChangeRequest, present []itopsv1alpha1.TargetReference, applied []itopsv1alpha1.AppliedChange,
	targets map[string]client.Object, open, active bool, now time.Time) ([]itopsv1alpha1.TargetReference, []itopsv1alpha1.AppliedChange) {
	outPresent, outApplied := slices.Clone(present), applied
	for _, t := range cr.Spec.Targets {
		_, exists := targets[change.TargetKey(t.Kind, t.Name)]
		i := slices.IndexFunc(outPresent, func(p itopsv1alpha1.TargetReference) bool { return p.Kind == t.Kind && p.Name == t.Name })
		switch {
		case exists && open && i < 0 && len(outPresent) < 64:
			outPresent = append(outPresent, itopsv1alpha1.TargetReference{Kind: t.Kind, Name: t.Name})
		case !exists && i >= 0 && active:
			if !slices.ContainsFunc(outApplied, func(a itopsv1alpha1.AppliedChange) bool { return a.Kind == t.Kind && a.Name == t.Name }) && len(outApplied) < 64 {
				outApplied = append(outApplied, itopsv1alpha1.AppliedChange{Kind: t.Kind, Name: t.Name, At: &metav1.Time{Time: now},
					Outcome: itopsv1alpha1.OutcomeDeleted})
			}
		case !exists && i >= 0:
			outPresent = slices.Delete(outPresent, i, i+1)
		}
	}
	if len(outPresent) == 0 {
		outPresent = nil
	}
	return outPresent, outApplied
}

// rolloutPhase follows the rollouts of the applied targets: Failed if any failed, Completed
// when all rolled out or were deleted, InProgress otherwise. It records each target's outcome
// in applied (applied[i].Outcome) when first seen, so that it holds after the target is gone
// (a Job removed by ttlSecondsAfterFinished or a Helm hook-succeeded policy); an applied
// target that disappears before an outcome was seen counts as Deleted, which is done.
func rolloutPhase(cr *itopsv1alpha1.ChangeRequest, applied []itopsv1alpha1.AppliedChange, in inputs, now time.Time, next *boundaries) (itopsv1alpha1.ChangePhase, string, []itopsv1alpha1.ObjectReference) {
	var progressing, failures []string
	var failed []itopsv1alpha1.ObjectReference
	deleted := 0
	for i := range applied {
		ap := &applied[i]
		obj, ok := in.targets[change.TargetKey(ap.Kind, ap.Name)]
		var r change.Rollout
		if ok {
			r = change.RolloutOf(obj, timeOf(ap.At), in.rolloutTimeout, now)
		}
		if ap.Outcome == "" {
			switch {
			case !ok:
				ap.Outcome = itopsv1alpha1.OutcomeDeleted
			case r.Phase == change.RolloutFailed:
				ap.Outcome = itopsv1alpha1.OutcomeFailed
			case r.Phase == change.RolloutProgressing:
				progressing = append(progressing, fmt.Sprintf("%s %s: %s", ap.Kind, ap.Name, r.Message))
				next.at(r.Deadline)
				continue
			default:
				ap.Outcome = itopsv1alpha1.OutcomeRolledOut
			}
		}
		switch ap.Outcome {
		case itopsv1alpha1.OutcomeFailed:
			msg := r.Message
			if !ok || r.Phase != change.RolloutFailed {
				msg = "failed (recorded before it changed or was deleted)"
			}
			failures = append(failures, fmt.Sprintf("%s %s: %s", ap.Kind, ap.Name, msg))
			failed = append(failed, itopsv1alpha1.ObjectReference{APIVersion: apiVersionOf(ap.Kind), Kind: string(ap.Kind), Namespace: cr.Namespace, Name: ap.Name})
		case itopsv1alpha1.OutcomeDeleted:
			deleted++
		}
	}
	switch {
	case len(failures) > 0:
		return itopsv1alpha1.ChangeFailed, strings.Join(failures, "; "), failed
	case len(progressing) > 0:
		return itopsv1alpha1.ChangeInProgress, strings.Join(progressing, "; "), nil
	case deleted > 0:
		return itopsv1alpha1.ChangeCompleted, fmt.Sprintf("%d target(s) rolled out, %d deleted", len(applied)-deleted, deleted), nil
	}
	return itopsv1alpha1.ChangeCompleted, fmt.Sprintf("%d target(s) rolled out", len(applied)), nil
}

// rollback is a rollback of the change observed on one of its targets.
type rollback struct {
	kind          itopsv1alpha1.TargetKind
	name, by, rev string
	at            time.Time
}

func (r rollback) String() string {
	return fmt.Sprintf("%s %s by %s to revision %s at %s", r.kind, r.name, r.by, r.rev, r.at.UTC().Format(time.RFC3339))
}

// rollbacksOf are the targets the gate recorded as rolled back from this change (annotation
// itops.dev/rolled-back-change) since the change was created.
func rollbacksOf(cr *itopsv1alpha1.ChangeRequest, targets map[string]client.Object) []rollback {
	var out []rollback
	for _, t := range cr.Spec.Targets {
		obj, ok := targets[change.TargetKey(t.Kind, t.Name)]
		if !ok {
			continue
		}
		ann := obj.GetAnnotations()
		if ann[itopsv1alpha1.AnnotationRolledBackChange] != cr.Name {
			continue
		}
		at, err := time.Parse(time.RFC3339, ann[itopsv1alpha1.AnnotationRolledBackAt])
		if err != nil || at.Before(cr.CreationTimestamp.Truncate(time.Second)) {
			continue // a rollback of an earlier change of the same name
		}
		out = append(out, rollback{kind: t.Kind, name: t.Name, by: ann[itopsv1alpha1.AnnotationRolledBackBy], rev: ann[itopsv1alpha1.AnnotationRolledBackRevision], at: at})
	}
	return out
}

// unapplied are the change's targets not in applied.
func unapplied(cr *itopsv1alpha1.ChangeRequest, applied []itopsv1alpha1.AppliedChange) []itopsv1alpha1.TargetReference {
	var out []itopsv1alpha1.TargetReference
	for _, t := range cr.Spec.Targets {
		if !slices.ContainsFunc(applied, func(ap itopsv1alpha1.AppliedChange) bool { return ap.Kind == t.Kind && ap.Name == t.Name }) {
			out = append(out, itopsv1alpha1.TargetReference{Kind: t.Kind, Name: t.Name})
		}
	}
	return out
}

func targetList(ts []itopsv1alpha1.TargetReference) string {
	parts := make([]string, 0, len(ts))
	for _, t := range ts {
		parts = append(parts, string(t.Kind)+" "+t.Name)
	}
	return strings.Join(parts, ", ")
}

func windowName(cr *itopsv1alpha1.ChangeRequest) string {
	if cr.Spec.Schedule != nil {
		return "the schedule"
	}
	return "the approval lifetime"
}

func apiVersionOf(kind itopsv1alpha1.TargetKind) string {
	if kind == itopsv1alpha1.TargetCronJob || kind == itopsv1alpha1.TargetJob {
		return "batch/v1"
	}
	return "apps/v1"
}

func pendingMessage(a change.Approvals, p change.Policy) string {
	msg := fmt.Sprintf("%d of %d approvals", a.Valid, a.Required)
	for _, set := range p.ApproverGroups {
		msg += " from group " + strings.Join(set, " or ")
	}
	if a.Void > 0 {
		msg += fmt.Sprintf("; %d approval(s) were given for earlier content and no longer count", a.Void)
	}
	return msg
}

func expiredMessage(cr *itopsv1alpha1.ChangeRequest, end time.Time, p change.Policy) string {
	if cr.Spec.Schedule != nil {
		return fmt.Sprintf("the schedule ended at %s before the change was applied", end.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("the approval lapsed at %s (approval lifetime %s) before the change was applied", end.UTC().Format(time.RFC3339), p.Lifetime)
}

// setConditions sets Approved, Reviewed (Emergency changes), and the kstatus conditions.
func setConditions(st *itopsv1alpha1.ChangeRequestStatus, cr *itopsv1alpha1.ChangeRequest, a change.Approvals, readyReason, message string, now time.Time) {
	gen := cr.Generation
	set := func(condType string, status metav1.ConditionStatus, reason, msg string) {
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: condType, Status: status, Reason: reason,
			Message: truncate(msg, 1024), ObservedGeneration: gen, LastTransitionTime: metav1.NewTime(now)})
	}
	approvedMsg := a.Summary() + " approvals"
	switch a.Reason {
	case itopsv1alpha1.ChangeReasonStandardChange:
		approvedMsg = "pre-approved by a Standard change pattern"
	case itopsv1alpha1.ChangeReasonEmergency:
		approvedMsg = "authorised at once as an Emergency change; approvers review it afterwards"
	case itopsv1alpha1.ChangeReasonRejected:
		approvedMsg = fmt.Sprintf("rejected by %s", a.Rejection.Approver)
	}
	if a.Authorised {
		set(itopsv1alpha1.ChangeConditionApproved, metav1.ConditionTrue, a.Reason, approvedMsg)
	} else {
		set(itopsv1alpha1.ChangeConditionApproved, metav1.ConditionFalse, a.Reason, approvedMsg)
	}
	if cr.Spec.Type == itopsv1alpha1.ChangeEmergency {
		if a.Reviewed {
			set(itopsv1alpha1.ChangeConditionReviewed, metav1.ConditionTrue, itopsv1alpha1.ChangeReasonApproved, "reviewed: "+a.Summary()+" approvals")
		} else {
			set(itopsv1alpha1.ChangeConditionReviewed, metav1.ConditionFalse, itopsv1alpha1.ChangeReasonAwaitingReview, a.Summary()+" approvals")
		}
	} else {
		meta.RemoveStatusCondition(&st.Conditions, itopsv1alpha1.ChangeConditionReviewed)
	}

	ready, reconciling, stalled := metav1.ConditionFalse, metav1.ConditionFalse, metav1.ConditionFalse
	var reason string
	switch st.Phase {
	case itopsv1alpha1.ChangePending:
		reason, reconciling = itopsv1alpha1.ChangeReasonAwaitingApproval, metav1.ConditionTrue
	case itopsv1alpha1.ChangeApproved:
		reason, ready = a.Reason, metav1.ConditionTrue
	case itopsv1alpha1.ChangeInProgress:
		reason, reconciling = itopsv1alpha1.ChangeReasonRollingOut, metav1.ConditionTrue
	case itopsv1alpha1.ChangeCompleted:
		reason, ready = itopsv1alpha1.ChangeReasonCompleted, metav1.ConditionTrue
	case itopsv1alpha1.ChangeRejected:
		reason, stalled = itopsv1alpha1.ChangeReasonRejected, metav1.ConditionTrue
	case itopsv1alpha1.ChangeExpired:
		reason, stalled = itopsv1alpha1.ChangeReasonExpired, metav1.ConditionTrue
	case itopsv1alpha1.ChangeFailed:
		reason, stalled = itopsv1alpha1.ChangeReasonRolloutFailed, metav1.ConditionTrue
	}
	if readyReason != "" {
		reason = readyReason
	}
	msg := fmt.Sprintf("%s: %s", st.Phase, message)
	set(itopsv1alpha1.ConditionReady, ready, reason, msg)
	if reconciling == metav1.ConditionTrue {
		set(itopsv1alpha1.ConditionReconciling, reconciling, reason, msg)
	} else {
		meta.RemoveStatusCondition(&st.Conditions, itopsv1alpha1.ConditionReconciling)
	}
	if stalled == metav1.ConditionTrue {
		set(itopsv1alpha1.ConditionStalled, stalled, reason, msg)
	} else {
		meta.RemoveStatusCondition(&st.Conditions, itopsv1alpha1.ConditionStalled)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

// boundaries collects the next time boundary after now.
type boundaries struct {
	now  time.Time
	next time.Time
}

func (b *boundaries) at(t time.Time) {
	if t.IsZero() || !t.After(b.now) {
		return
	}
	if b.next.IsZero() || t.Before(b.next) {
		b.next = t
	}
}

func (b *boundaries) after() time.Duration {
	if b.next.IsZero() {
		return 0
	}
	return b.next.Sub(b.now)
}

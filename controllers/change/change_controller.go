// Package change runs the ChangeRequest lifecycle: approvals counted against the current
// content, exact expiry at schedule and lifetime boundaries, the rollout of the targets the
// gate admitted under the change followed to completion or failure, incidents for failed and
// unreviewed emergency changes, an audit trail, and garbage collection after retention.
package change

import (
	"context"
	"fmt"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/controllers/incidentwriter"
	"github.com/itops-dev/itops-operator/internal/audit"
	"github.com/itops-dev/itops-operator/internal/change"
	"github.com/itops-dev/itops-operator/internal/config"
	"github.com/itops-dev/itops-operator/internal/health"
)

// incidentReasons are the incidents the controller keeps about a change.
var incidentReasons = []string{itopsv1alpha1.ReasonChangeFailed, itopsv1alpha1.ReasonEmergencyChangeUnreviewed}

// Reconciler keeps a ChangeRequest's status current and follows its rollout.
type Reconciler struct {
	client.Client
	Recorder recorder.EventRecorder
	Audit    audit.Logger
	Policy   *config.Config
	// Incidents opens and recovers the incidents about changes.
	Incidents *incidentwriter.Writer
	// Clock is injected for tests; the real clock when nil.
	Clock clock.PassiveClock
	// UngatedNamespaces are the namespaces the change gate never covers, whatever their labels
	// (the operator's and the cluster namespace; kube-system always): the gate's records on
	// workloads there are not trusted.
	UngatedNamespaces []string
}

// +kubebuilder:rbac:groups=itops.dev,resources=changerequests,verbs=get;list;watch;update;patch;delete
// +kubebuilder:rbac:groups=itops.dev,resources=changerequests/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=itops.dev,resources=changerequests/finalizers,verbs=update
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets;daemonsets,verbs=get;list;watch
// +kubebuilder:rbac:groups=batch,resources=cronjobs;jobs,verbs=get;list;watch

func (r *Reconciler) now() time.Time {
	if r.Clock == nil {
		return time.Now()
	}
	return r.Clock.Now()
}

// Reconcile computes the change's status, keeps its incidents, and patches the status once.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	cr := &itopsv1alpha1.ChangeRequest{}
	if err := r.Get(ctx, req.NamespacedName, cr); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !cr.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.finalize(ctx, cr)
	}
	if !controllerutil.ContainsFinalizer(cr, itopsv1alpha1.AuditFinalizer) {
		// Normally set by the webhook at creation; added here for changes created without it.
		patch := client.MergeFrom(cr.DeepCopy())
		controllerutil.AddFinalizer(cr, itopsv1alpha1.AuditFinalizer)
		return ctrl.Result{}, r.Patch(ctx, cr, patch)
	}

	in, err := r.gather(ctx, cr)
	if err != nil {
		return r.failed(ctx, cr, err)
	}
	now := r.now()
	d := computeStatus(cr, in, now)

	if err := r.syncIncidents(ctx, cr, &d); err != nil {
		return r.failed(ctx, cr, fmt.Errorf("keeping the change's incidents: %w", err))
	}
	if !apiequality.Semantic.DeepEqual(d.status, cr.Status) {
		base := cr.DeepCopy()
		cr.Status = d.status
		if err := r.Status().Patch(ctx, cr, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
			return r.failed(ctx, base, err)
		}
		// The transition is recorded once, after the status holding it was written: a
		// conflicting patch is retried from a fresh read and records it then.
		if d.transition != "" {
			r.Audit.Write(audit.Record{Kind: "ChangeRequest", Namespace: cr.Namespace, Name: cr.Name, Transition: d.transition,
				Phase: string(cr.Status.Phase), Message: readyMessage(cr), Fields: changeFields(cr)})
			eventType := corev1.EventTypeNormal
			if cr.Status.Phase == itopsv1alpha1.ChangeFailed || cr.Status.Phase == itopsv1alpha1.ChangeExpired || cr.Status.Phase == itopsv1alpha1.ChangeRejected {
				eventType = corev1.EventTypeWarning
			}
			r.Recorder.Eventf(cr, nil, eventType, d.transition, "Update", "%s", readyMessage(cr))
		}
	}
	if d.delete {
		ctrl.LoggerFrom(ctx).Info("deleting change after its retention", "phase", cr.Status.Phase, "completedAt", cr.Status.CompletedAt)
		return ctrl.Result{}, client.IgnoreNotFound(r.Delete(ctx, cr))
	}
	return ctrl.Result{RequeueAfter: d.requeueAfter}, nil
}

// conflictRetry is how soon a reconcile that lost an optimistic-locking race runs again.
const conflictRetry = 200 * time.Millisecond

// failed ends a reconcile that could not complete. A conflict (someone wrote the change
// meanwhile) is retried at once, quietly: it is no error. Any other error is shown on the
// change, Ready=False (reason ReconcileError, the error as message) so that kstatus, Flux and
// Argo CD see it, and returned for backoff.
func (r *Reconciler) failed(ctx context.Context, cr *itopsv1alpha1.ChangeRequest, err error) (ctrl.Result, error) {
	if apierrors.IsConflict(err) {
		// Quietly, but surely, again: the conflict may be on another object (an incident the
		// change links to, written by the incident controller meanwhile), whose update brings
		// no event for this change; returning nothing here left stalled changes InProgress.
		return ctrl.Result{RequeueAfter: conflictRetry}, nil
	}
	if ready := meta.FindStatusCondition(cr.Status.Conditions, itopsv1alpha1.ConditionReady); ready == nil ||
		ready.Reason != itopsv1alpha1.ChangeReasonReconcileError || ready.Message != truncate(err.Error(), 1024) {
		base := cr.DeepCopy()
		meta.SetStatusCondition(&cr.Status.Conditions, metav1.Condition{Type: itopsv1alpha1.ConditionReady, Status: metav1.ConditionFalse,
			Reason: itopsv1alpha1.ChangeReasonReconcileError, Message: truncate(err.Error(), 1024), ObservedGeneration: cr.Generation,
			LastTransitionTime: metav1.NewTime(r.now())})
		if perr := r.Status().Patch(ctx, cr, client.MergeFrom(base)); perr != nil && !apierrors.IsConflict(perr) && !apierrors.IsNotFound(perr) {
			ctrl.LoggerFrom(ctx).Error(perr, "recording the reconcile error on the change")
		}
	}
	return ctrl.Result{}, err
}

// changeFailedGrace is how long a failed change waits for an incident of one of its targets
// (their detectors may see the fault a moment after the rollout deadline) before it opens a
// ChangeFailed incident of its own.
const changeFailedGrace = 30 * time.Second

// syncIncidents writes the change's problems through the incident writer. A failure that
// the open incident of a target explains is linked to it (that incident's causedBy names the
// change, status.incidents names the incident) instead of opening a ChangeFailed incident of
// its own; one opens only when no target has an incident changeFailedGrace after the failure.
func (r *Reconciler) syncIncidents(ctx context.Context, cr *itopsv1alpha1.ChangeRequest, d *desired) error {
	problems := d.problems[:0:0]
	for _, p := range d.problems {
		if p.Reason == itopsv1alpha1.ReasonChangeFailed {
			targets := p.Affected
			if len(targets) == 0 {
				// Only the pass that fails the change names the failed targets: later ones
				// fall back to the change's applied targets.
				for _, a := range cr.Status.Applied {
					targets = append(targets, itopsv1alpha1.ObjectReference{APIVersion: apiVersionOf(a.Kind), Kind: string(a.Kind), Namespace: cr.Namespace, Name: a.Name})
				}
				p.Affected = targets
			}
			linked, err := r.Incidents.LinkChange(ctx, cr, targets)
			if err != nil {
				return err
			}
			for _, name := range linked {
				if !slices.Contains(d.status.Incidents, name) && len(d.status.Incidents) < 16 {
					d.status.Incidents = append(d.status.Incidents, name)
				}
			}
			if len(linked) > 0 {
				continue
			}
			if wait := p.Since.Add(changeFailedGrace).Sub(r.now()); !p.Since.IsZero() && wait > 0 {
				if d.requeueAfter == 0 || wait < d.requeueAfter {
					d.requeueAfter = wait
				}
				continue
			}
		}
		problems = append(problems, p)
	}
	return r.Incidents.Sync(ctx, incidentwriter.Observation{Subject: Subject(cr), Judged: incidentReasons, Problems: problems})
}

func readyMessage(cr *itopsv1alpha1.ChangeRequest) string {
	for _, c := range cr.Status.Conditions {
		if c.Type == itopsv1alpha1.ConditionReady {
			return c.Message
		}
	}
	return string(cr.Status.Phase)
}

func changeFields(cr *itopsv1alpha1.ChangeRequest) []any {
	return []any{"type", cr.Spec.Type, "risk", cr.Spec.Risk, "requestedBy", cr.Spec.RequestedBy,
		"approvals", cr.Status.ApprovalSummary, "contentHash", cr.Status.ContentHash}
}

// gather reads the change's policy, targets and incidents from the cache.
func (r *Reconciler) gather(ctx context.Context, cr *itopsv1alpha1.ChangeRequest) (inputs, error) {
	ns := &corev1.Namespace{}
	if err := r.Get(ctx, client.ObjectKey{Name: cr.Namespace}, ns); err != nil {
		return inputs{}, err
	}
	in := inputs{
		policy:                change.PolicyFor(cr, r.Policy.ChangePolicyFor(ns.Labels)),
		targets:               map[string]client.Object{},
		rolloutTimeout:        r.Policy.Changes.RolloutTimeout.Duration,
		emergencyReviewWithin: r.Policy.Changes.EmergencyReviewWithin.Duration,
		retention:             r.Policy.Changes.Retention.Duration,
		gated: ns.Labels[itopsv1alpha1.LabelChangeControl] == itopsv1alpha1.ChangeControlEnforced &&
			ns.Name != metav1.NamespaceSystem && !slices.Contains(r.UngatedNamespaces, ns.Name),
	}
	for _, t := range cr.Spec.Targets {
		obj := newTarget(t.Kind)
		if err := r.Get(ctx, client.ObjectKey{Namespace: cr.Namespace, Name: t.Name}, obj); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return inputs{}, err
		}
		in.targets[change.TargetKey(t.Kind, t.Name)] = obj
	}
	fps := []string{health.Fingerprint(Subject(cr))}
	sel, err := labels.NewRequirement(itopsv1alpha1.LabelFingerprint, selection.In, fps)
	if err != nil {
		return inputs{}, err
	}
	incidents := &itopsv1alpha1.IncidentList{}
	if err := r.List(ctx, incidents, client.InNamespace(cr.Namespace), client.MatchingLabelsSelector{Selector: labels.NewSelector().Add(*sel)}); err != nil {
		return inputs{}, err
	}
	for _, inc := range incidents.Items {
		if len(in.incidents) < 16 {
			in.incidents = append(in.incidents, inc.Name)
		}
	}
	return in, nil
}

func newTarget(kind itopsv1alpha1.TargetKind) client.Object {
	switch kind {
	case itopsv1alpha1.TargetStatefulSet:
		return &appsv1.StatefulSet{}
	case itopsv1alpha1.TargetDaemonSet:
		return &appsv1.DaemonSet{}
	case itopsv1alpha1.TargetCronJob:
		return &batchv1.CronJob{}
	case itopsv1alpha1.TargetJob:
		return &batchv1.Job{}
	}
	return &appsv1.Deployment{}
}

// finalize writes the change's final state to the audit trail, recovers its incidents, then
// lets it go.
func (r *Reconciler) finalize(ctx context.Context, cr *itopsv1alpha1.ChangeRequest) error {
	if !controllerutil.ContainsFinalizer(cr, itopsv1alpha1.AuditFinalizer) {
		return nil
	}
	r.Audit.Write(audit.Record{Kind: "ChangeRequest", Namespace: cr.Namespace, Name: cr.Name, Transition: "Deleted",
		Phase: string(cr.Status.Phase), Message: "change deleted; final state recorded",
		Fields: append(changeFields(cr), "approvers", approvers(cr), "applied", len(cr.Status.Applied))})
	if err := r.Incidents.Sync(ctx, incidentwriter.Observation{Subject: Subject(cr), Judged: incidentReasons}); err != nil {
		return err
	}
	patch := client.MergeFrom(cr.DeepCopy())
	controllerutil.RemoveFinalizer(cr, itopsv1alpha1.AuditFinalizer)
	return client.IgnoreNotFound(r.Patch(ctx, cr, patch))
}

func approvers(cr *itopsv1alpha1.ChangeRequest) []string {
	out := make([]string, 0, len(cr.Spec.Approvals))
	for _, a := range cr.Spec.Approvals {
		out = append(out, fmt.Sprintf("%s:%s@%d", a.Approver, a.Decision, a.Generation))
	}
	return out
}

// SetupWithManager registers the controller and the target index.
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(ctx, &itopsv1alpha1.ChangeRequest{}, change.TargetIndex, change.TargetKeys); err != nil {
		return err
	}
	b := ctrl.NewControllerManagedBy(mgr).For(&itopsv1alpha1.ChangeRequest{}).Named("changerequest")
	for kind, obj := range map[itopsv1alpha1.TargetKind]client.Object{
		itopsv1alpha1.TargetDeployment: &appsv1.Deployment{}, itopsv1alpha1.TargetStatefulSet: &appsv1.StatefulSet{},
		itopsv1alpha1.TargetDaemonSet: &appsv1.DaemonSet{}, itopsv1alpha1.TargetCronJob: &batchv1.CronJob{}, itopsv1alpha1.TargetJob: &batchv1.Job{},
	} {
		b = b.Watches(obj, handler.EnqueueRequestsFromMapFunc(r.changesTargeting(kind)))
	}
	b = b.Watches(&itopsv1alpha1.Incident{}, handler.EnqueueRequestsFromMapFunc(changeOfIncident))
	// A failed change links to its targets' incidents, which may open after it failed.
	b = b.Watches(&itopsv1alpha1.Incident{}, handler.EnqueueRequestsFromMapFunc(r.failedChangesOfIncident))
	return b.Complete(r)
}

// changesTargeting maps a workload event to the changes that target it.
func (r *Reconciler) changesTargeting(kind itopsv1alpha1.TargetKind) handler.MapFunc {
	return func(ctx context.Context, obj client.Object) []reconcile.Request {
		list := &itopsv1alpha1.ChangeRequestList{}
		if err := r.List(ctx, list, client.InNamespace(obj.GetNamespace()),
			client.MatchingFields{change.TargetIndex: change.TargetKey(kind, obj.GetName())}); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "listing changes of a workload", "kind", kind, "name", obj.GetName())
			return nil
		}
		var out []reconcile.Request
		for _, cr := range list.Items {
			if !isTerminal(cr.Status.Phase) {
				out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&cr)})
			}
		}
		return out
	}
}

// failedChangesOfIncident maps a workload's incident to the failed changes targeting the
// workload (and to the change its causedBy names), so that they link to it.
func (r *Reconciler) failedChangesOfIncident(ctx context.Context, obj client.Object) []reconcile.Request {
	inc, ok := obj.(*itopsv1alpha1.Incident)
	if !ok || len(inc.Spec.Affected) == 0 {
		return nil
	}
	var out []reconcile.Request
	if c := inc.Status.CausedBy; c != nil && c.Kind == "ChangeRequest" {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKey{Namespace: c.Namespace, Name: c.Name}})
	}
	ref := inc.Spec.Affected[0]
	if inc.Spec.Source != itopsv1alpha1.SourceHealthCheck || ref.Namespace == "" {
		return out
	}
	list := &itopsv1alpha1.ChangeRequestList{}
	if err := r.List(ctx, list, client.InNamespace(ref.Namespace),
		client.MatchingFields{change.TargetIndex: change.TargetKey(itopsv1alpha1.TargetKind(ref.Kind), ref.Name)}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing changes of a workload", "kind", ref.Kind, "name", ref.Name)
		return out
	}
	for _, cr := range list.Items {
		if cr.Status.Phase == itopsv1alpha1.ChangeFailed {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&cr)})
		}
	}
	return out
}

// changeOfIncident maps an incident about a change to the change.
func changeOfIncident(_ context.Context, obj client.Object) []reconcile.Request {
	inc, ok := obj.(*itopsv1alpha1.Incident)
	if !ok || inc.Spec.Source != itopsv1alpha1.SourceChangeGate {
		return nil
	}
	for _, a := range inc.Spec.Affected {
		if a.Kind == "ChangeRequest" {
			return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: inc.Namespace, Name: a.Name}}}
		}
	}
	return nil
}

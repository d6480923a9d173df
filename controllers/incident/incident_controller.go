// Package incident runs the incident lifecycle: priority, phase, timeline, auto-resolution,
// reopening, closing and garbage collection, with an audit trail.
package incident

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/audit"
	"github.com/itops-dev/itops-operator/internal/change"
	"github.com/itops-dev/itops-operator/internal/lifecycle"
	"github.com/itops-dev/itops-operator/internal/metrics"
)

// AuditFinalizer keeps an incident until its final state is in the audit trail.
const AuditFinalizer = itopsv1alpha1.AuditFinalizer

// Reconciler keeps an Incident's status (priority, phase, timeline, conditions) current.
type Reconciler struct {
	client.Client
	Recorder recorder.EventRecorder
	Audit    audit.Logger
	Policy   lifecycle.Policy
	// RelatedWithin: changes applied to an affected workload this long before detection are
	// listed in status.relatedChanges; 0 disables the lookup.
	RelatedWithin time.Duration
	// ClusterNamespace holds cluster-wide MaintenanceWindows.
	ClusterNamespace string
	// Clock is injected for tests; the real clock when nil.
	Clock clock.PassiveClock
}

// +kubebuilder:rbac:groups=itops.dev,resources=incidents,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=itops.dev,resources=incidents/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=itops.dev,resources=incidents/finalizers,verbs=update
// +kubebuilder:rbac:groups=itops.dev,resources=changerequests;maintenancewindows,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile computes the incident's status and patches it once, only when it changed.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	inc := &itopsv1alpha1.Incident{}
	if err := r.Get(ctx, req.NamespacedName, inc); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !inc.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.finalize(ctx, inc)
	}
	if !controllerutil.ContainsFinalizer(inc, AuditFinalizer) {
		// Normally set at creation (detector, webhook); added here for incidents created
		// without either. The update brings us back.
		patch := client.MergeFrom(inc.DeepCopy())
		controllerutil.AddFinalizer(inc, AuditFinalizer)
		return ctrl.Result{}, r.Patch(ctx, inc, patch)
	}

	now := r.now()
	ex, err := r.extras(ctx, inc, now)
	if err != nil {
		return ctrl.Result{}, err
	}
	d := compute(inc, now, r.Policy, ex)
	if r.RelatedWithin > 0 && d.Status.DetectedAt != nil && d.Status.Phase != itopsv1alpha1.IncidentClosed {
		changes := &itopsv1alpha1.ChangeRequestList{}
		if err := r.List(ctx, changes, client.InNamespace(inc.Namespace)); err != nil {
			return ctrl.Result{}, err
		}
		d.Status.RelatedChanges = change.Related(changes.Items, inc, d.Status.DetectedAt.Time, r.RelatedWithin, inc.Status.RelatedChanges)
	}
	if !apiequality.Semantic.DeepEqual(d.Status, inc.Status) {
		patch := client.MergeFromWithOptimisticLock{}
		base := inc.DeepCopy()
		inc.Status = d.Status
		// The audit record goes first: at least once, even if we crash right after the patch.
		for _, t := range d.Transitions {
			r.audit(inc, t)
		}
		if err := r.Status().Patch(ctx, inc, client.MergeFromWithOptions(base, patch)); err != nil {
			return ctrl.Result{}, err
		}
		for _, t := range d.Transitions {
			r.Recorder.Eventf(inc, nil, corev1.EventTypeNormal, t.Type, "Update", "%s", t.Message)
			observe(base, inc, t)
		}
	}
	if d.Delete {
		ctrl.LoggerFrom(ctx).Info("deleting closed incident after its retention", "closedAt", inc.Status.ClosedAt)
		return ctrl.Result{}, client.IgnoreNotFound(r.Delete(ctx, inc))
	}
	return ctrl.Result{RequeueAfter: d.RequeueAfter}, nil
}

// extras gathers what the incident's status depends on besides itself: the maintenance window
// suppressing it and its ServiceLevel's SLA targets.
func (r *Reconciler) extras(ctx context.Context, inc *itopsv1alpha1.Incident, now time.Time) (extras, error) {
	ex := extras{}
	detected := detectedAt(inc, now)
	s, err := r.suppression(ctx, inc, detected.Time, now)
	if err != nil {
		return ex, err
	}
	ex.suppression = s
	if inc.Spec.Service != "" {
		sl := &itopsv1alpha1.ServiceLevel{}
		if err := r.Get(ctx, client.ObjectKey{Namespace: inc.Namespace, Name: inc.Spec.Service}, sl); client.IgnoreNotFound(err) != nil {
			return ex, err
		} else if err == nil {
			ex.slaTargets = sl.Spec.SLA
		}
	}
	return ex, nil
}

// finalize writes the incident's final state to the audit trail, then lets it go.
func (r *Reconciler) finalize(ctx context.Context, inc *itopsv1alpha1.Incident) error {
	if !controllerutil.ContainsFinalizer(inc, AuditFinalizer) {
		return nil
	}
	r.Audit.Write(audit.Record{
		Kind: "Incident", Namespace: inc.Namespace, Name: inc.Name, Transition: "Deleted",
		Phase: string(inc.Status.Phase), Message: "incident deleted; final state recorded",
		Fields: incidentFields(inc, "resolvedBy", inc.Status.ResolvedBy, "occurrences", inc.Status.Occurrences,
			"detectedAt", timeString(inc.Status.DetectedAt), "resolvedAt", timeString(inc.Status.ResolvedAt),
			"closedAt", timeString(inc.Status.ClosedAt)),
	})
	patch := client.MergeFrom(inc.DeepCopy())
	controllerutil.RemoveFinalizer(inc, AuditFinalizer)
	return client.IgnoreNotFound(r.Patch(ctx, inc, patch))
}

// audit writes a transition to the audit trail.
func (r *Reconciler) audit(inc *itopsv1alpha1.Incident, t transition) {
	r.Audit.Write(audit.Record{
		Kind: "Incident", Namespace: inc.Namespace, Name: inc.Name, Transition: t.Type, By: t.By,
		Phase: string(inc.Status.Phase), Message: t.Message, Fields: incidentFields(inc),
	})
}

// observe feeds the time-to-acknowledge and time-to-resolve histograms, once per incident
// (a person resolving an incident the operator already resolved is not a second resolution).
func observe(before, inc *itopsv1alpha1.Incident, t transition) {
	if t.Type == TransitionResolved && before.Status.ResolvedAt != nil {
		return
	}
	st := inc.Status
	if st.DetectedAt == nil {
		return
	}
	priority := string(st.Priority)
	switch t.Type {
	case TransitionAcknowledged:
		if st.AcknowledgedAt != nil {
			metrics.TimeToAcknowledge.WithLabelValues(priority).Observe(st.AcknowledgedAt.Sub(st.DetectedAt.Time).Seconds())
		}
	case TransitionResolved, TransitionAutoResolved:
		if st.ResolvedAt != nil {
			resolver := "person"
			if st.ResolvedBy == itopsv1alpha1.ResolvedByOperator {
				resolver = "operator"
			}
			metrics.TimeToResolve.WithLabelValues(priority, resolver).Observe(st.ResolvedAt.Sub(st.DetectedAt.Time).Seconds())
		}
	}
}

func incidentFields(inc *itopsv1alpha1.Incident, extra ...any) []any {
	f := []any{"priority", inc.Status.Priority, "source", inc.Spec.Source}
	if inc.Spec.Reason != "" {
		f = append(f, "reason", inc.Spec.Reason)
	}
	if inc.Spec.Fingerprint != "" {
		f = append(f, "fingerprint", inc.Spec.Fingerprint)
	}
	return append(f, extra...)
}

func timeString(t *metav1.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func (r *Reconciler) now() time.Time {
	if r.Clock == nil {
		return time.Now()
	}
	return r.Clock.Now()
}

// SetupWithManager registers the controller.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&itopsv1alpha1.Incident{}).
		Named("incident").
		// A window that opens or closes changes what it suppresses.
		Watches(&itopsv1alpha1.MaintenanceWindow{}, handler.EnqueueRequestsFromMapFunc(r.incidentsInScope)).
		// A ServiceLevel's SLA targets set its incidents' deadlines (its status, rewritten as
		// it measures, does not matter here).
		Watches(&itopsv1alpha1.ServiceLevel{}, handler.EnqueueRequestsFromMapFunc(r.incidentsOfService),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Complete(r)
}

// incidentsOfService maps a ServiceLevel to the open incidents of its service.
func (r *Reconciler) incidentsOfService(ctx context.Context, obj client.Object) []reconcile.Request {
	list := &itopsv1alpha1.IncidentList{}
	if err := r.List(ctx, list, client.InNamespace(obj.GetNamespace())); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing the incidents of a service", "serviceLevel", client.ObjectKeyFromObject(obj))
		return nil
	}
	var out []reconcile.Request
	for i := range list.Items {
		if list.Items[i].Spec.Service == obj.GetName() && lifecycle.IsOpen(&list.Items[i]) {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
	return out
}

// incidentsInScope maps a Maintenance window to the open incidents it may cover: those in its
// namespace, or every namespace's for a cluster-wide window.
func (r *Reconciler) incidentsInScope(ctx context.Context, obj client.Object) []reconcile.Request {
	mw, ok := obj.(*itopsv1alpha1.MaintenanceWindow)
	if !ok || mw.Spec.Type != itopsv1alpha1.WindowMaintenance {
		return nil
	}
	var opts []client.ListOption
	if mw.Namespace != r.ClusterNamespace {
		opts = append(opts, client.InNamespace(mw.Namespace))
	}
	list := &itopsv1alpha1.IncidentList{}
	if err := r.List(ctx, list, opts...); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing incidents a maintenance window may cover", "window", client.ObjectKeyFromObject(mw))
		return nil
	}
	var out []reconcile.Request
	for i := range list.Items {
		if lifecycle.IsOpen(&list.Items[i]) {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
	return out
}

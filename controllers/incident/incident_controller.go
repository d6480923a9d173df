// Package incident runs the incident lifecycle: priority, phase, timeline, auto-resolution,
// reopening, closing and garbage collection, with an audit trail.
package incident

import (
	"context"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/audit"
	"github.com/itops-dev/itops-operator/internal/change"
	"github.com/itops-dev/itops-operator/internal/health"
	"github.com/itops-dev/itops-operator/internal/lifecycle"
	"github.com/itops-dev/itops-operator/internal/metrics"
	"github.com/itops-dev/itops-operator/internal/notify"
	"github.com/itops-dev/itops-operator/internal/readaccess"
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
	// Access says whether a subject's kind may be read from the cache; SetupWithManager
	// sets one when nil.
	Access *readaccess.Checker
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
	d, err := r.desired(ctx, inc, now)
	if err != nil {
		return r.failed(ctx, inc, now, err)
	}
	if !apiequality.Semantic.DeepEqual(d.Status, inc.Status) {
		base := inc.DeepCopy()
		inc.Status = d.Status
		if err := r.Status().Patch(ctx, inc, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
			if apierrors.IsConflict(err) {
				// Another writer (a detector) changed the incident: try again with its
				// version, quietly; nothing was written, so no transition happened yet.
				return ctrl.Result{RequeueAfter: conflictRetry}, nil
			}
			return r.failed(ctx, base, now, err)
		}
		// The transitions are persisted: record each exactly once (a conflict above wrote
		// nothing and will compute them again).
		for _, t := range d.Transitions {
			r.audit(inc, t)
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

// conflictRetry is how soon a status patch that lost an optimistic-lock race is retried.
const conflictRetry = 100 * time.Millisecond

// desired gathers the incident's inputs from the cache and computes its status.
func (r *Reconciler) desired(ctx context.Context, inc *itopsv1alpha1.Incident, now time.Time) (desired, error) {
	ex, err := r.extras(ctx, inc, now)
	if err != nil {
		return desired{}, err
	}
	d := compute(inc, now, r.Policy, ex)
	if r.RelatedWithin > 0 && d.Status.DetectedAt != nil && d.Status.Phase != itopsv1alpha1.IncidentClosed {
		changes := &itopsv1alpha1.ChangeRequestList{}
		if err := r.List(ctx, changes, client.InNamespace(inc.Namespace)); err != nil {
			return desired{}, err
		}
		d.Status.RelatedChanges = change.Related(changes.Items, inc, d.Status.DetectedAt.Time, r.RelatedWithin, inc.Status.RelatedChanges)
	}
	return d, nil
}

// failed makes Ready=False tell the error (best effort: the patch may fail for the same
// reason) and returns it for a retry with backoff.
func (r *Reconciler) failed(ctx context.Context, inc *itopsv1alpha1.Incident, now time.Time, cause error) (ctrl.Result, error) {
	msg := health.Truncate("reconcile failed, retrying: "+cause.Error(), 1024)
	if c := meta.FindStatusCondition(inc.Status.Conditions, itopsv1alpha1.ConditionReady); c == nil || c.Status != metav1.ConditionFalse || c.Message != msg {
		base := inc.DeepCopy()
		meta.SetStatusCondition(&inc.Status.Conditions, metav1.Condition{Type: itopsv1alpha1.ConditionReady, Status: metav1.ConditionFalse,
			Reason: itopsv1alpha1.ReasonReconcileError, Message: msg, ObservedGeneration: inc.Generation, LastTransitionTime: metav1.NewTime(now)})
		if err := r.Status().Patch(ctx, inc, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil && !apierrors.IsConflict(err) {
			ctrl.LoggerFrom(ctx).Error(err, "recording the reconcile error in Ready")
		}
	}
	return ctrl.Result{}, cause
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
	var slOwner *itopsv1alpha1.ServiceOwner
	if inc.Spec.Service != "" {
		sl := &itopsv1alpha1.ServiceLevel{}
		if err := r.Get(ctx, client.ObjectKey{Namespace: inc.Namespace, Name: inc.Spec.Service}, sl); client.IgnoreNotFound(err) != nil {
			return ex, err
		} else if err == nil {
			ex.slaTargets = sl.Spec.SLA
			slOwner = sl.Spec.Owner
		}
	}
	ns := &corev1.Namespace{}
	if err := r.Get(ctx, client.ObjectKey{Name: inc.Namespace}, ns); err != nil && !apierrors.IsNotFound(err) {
		return ex, err
	}
	ex.owner = notify.OwnerOf(slOwner, ns.Annotations)
	if c := inc.Status.CausedBy; c != nil && c.Kind == "Incident" {
		cause := &itopsv1alpha1.Incident{}
		if err := r.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: c.Name}, cause); client.IgnoreNotFound(err) != nil {
			return ex, err
		} else if err == nil {
			ex.cause = cause
		}
	}
	symptoms := &itopsv1alpha1.IncidentList{}
	if err := r.List(ctx, symptoms, client.MatchingFields{causedByIndex: inc.Namespace + "/" + inc.Name}); err != nil {
		return ex, err
	}
	for i := range symptoms.Items {
		if s := &symptoms.Items[i]; lifecycle.IsOpen(s) {
			ex.symptoms = append(ex.symptoms, itopsv1alpha1.IncidentReference{Kind: "Incident", Namespace: s.Namespace, Name: s.Name})
		}
	}
	sort.Slice(ex.symptoms, func(i, j int) bool {
		a, b := ex.symptoms[i], ex.symptoms[j]
		return a.Namespace < b.Namespace || (a.Namespace == b.Namespace && a.Name < b.Name)
	})
	return ex, nil
}

// causedByIndex indexes incidents by the incident their status.causedBy names
// ("namespace/name").
const causedByIndex = "status.causedBy.incident"

func causedByKey(o client.Object) []string {
	inc, ok := o.(*itopsv1alpha1.Incident)
	if !ok || inc.Status.CausedBy == nil || inc.Status.CausedBy.Kind != "Incident" {
		return nil
	}
	return []string{inc.Status.CausedBy.Namespace + "/" + inc.Status.CausedBy.Name}
}

// relatedIncidents maps an incident to its cause and its symptoms: a symptom's link or
// phase changes its cause's symptoms list; a cause's priority or phase changes its
// symptoms' priority cap.
func (r *Reconciler) relatedIncidents(ctx context.Context, o client.Object) []reconcile.Request {
	inc, ok := o.(*itopsv1alpha1.Incident)
	if !ok {
		return nil
	}
	var out []reconcile.Request
	if c := inc.Status.CausedBy; c != nil && c.Kind == "Incident" {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKey{Namespace: c.Namespace, Name: c.Name}})
	}
	symptoms := &itopsv1alpha1.IncidentList{}
	if err := r.List(ctx, symptoms, client.MatchingFields{causedByIndex: inc.Namespace + "/" + inc.Name}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing the symptoms of an incident", "incident", client.ObjectKeyFromObject(inc))
		return out
	}
	for i := range symptoms.Items {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&symptoms.Items[i])})
	}
	return out
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

// causeOrSymptomChanged passes incident events that can change a cause's symptoms list or a
// symptom's cap: creation, deletion, and updates of causedBy, phase or priority.
var causeOrSymptomChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*itopsv1alpha1.Incident)
		n, ok2 := e.ObjectNew.(*itopsv1alpha1.Incident)
		if !ok1 || !ok2 {
			return false
		}
		return !apiequality.Semantic.DeepEqual(o.Status.CausedBy, n.Status.CausedBy) || o.Status.Phase != n.Status.Phase ||
			o.Status.Priority != n.Status.Priority
	},
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
			if t.Type == TransitionAutoResolved {
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

// SetupWithManager registers the controller and its index of symptoms by cause.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Access == nil {
		r.Access = readaccess.New(mgr.GetClient(), mgr.GetLogger().WithName("subject-access"))
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &itopsv1alpha1.Incident{}, causedByIndex, causedByKey); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&itopsv1alpha1.Incident{}).
		Named("incident").
		// Causes and symptoms follow each other (symptoms list, priority cap).
		Watches(&itopsv1alpha1.Incident{}, handler.EnqueueRequestsFromMapFunc(r.relatedIncidents),
			builder.WithPredicates(causeOrSymptomChanged)).
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

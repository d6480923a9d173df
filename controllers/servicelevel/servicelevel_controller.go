package servicelevel

import (
	"context"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crevent "sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/controllers/incidentwriter"
	"github.com/itops-dev/itops-operator/internal/audit"
	"github.com/itops-dev/itops-operator/internal/health"
	"github.com/itops-dev/itops-operator/internal/maintenance"
	"github.com/itops-dev/itops-operator/internal/promsli"
	"github.com/itops-dev/itops-operator/internal/scaling"
	"github.com/itops-dev/itops-operator/internal/selector"
	"github.com/itops-dev/itops-operator/internal/slo"
)

// incidentReasons are the incidents the controller keeps about a ServiceLevel.
var incidentReasons = []string{itopsv1alpha1.ReasonErrorBudgetBurn}

// Reconciler keeps a ServiceLevel's books and conditions.
type Reconciler struct {
	client.Client
	Recorder recorder.EventRecorder
	// Incidents opens and recovers ErrorBudgetBurn incidents.
	Incidents *incidentwriter.Writer
	// ClusterNamespace holds cluster-wide MaintenanceWindows.
	ClusterNamespace string
	// Audit records the automatic scaling steps.
	Audit audit.Logger
	// Thresholds tell which pods have problems more replicas cannot help with; the defaults
	// when zero.
	Thresholds health.Thresholds
	// Clock is injected for tests; the real clock when nil.
	Clock clock.PassiveClock
	// Prometheus measures the SLIs of type PrometheusRatio and PrometheusLatency
	// (prometheus.go); nil: they report PrometheusUnavailable.
	Prometheus *PrometheusSource

	// watching holds the UIDs of the ServiceLevels this process has observed since it began
	// reconciling (as the leader). Books written before, by another process or before a
	// restart, were not watched in between: the first observation reconstructs them. It is
	// knowledge of this process only, never state that must survive it.
	watching sync.Map
	// measured holds each Prometheus ServiceLevel's last successful measurement (by UID),
	// reused until the next evaluation is due, so that workload events do not query
	// Prometheus more often than the policy's interval (prometheus.go).
	measured sync.Map
}

// +kubebuilder:rbac:groups=itops.dev,resources=servicelevels,verbs=get;list;watch
// +kubebuilder:rbac:groups=itops.dev,resources=servicelevels/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=itops.dev,resources=maintenancewindows,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets;daemonsets,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=deployments/scale;statefulsets/scale,verbs=get;update;patch
// +kubebuilder:rbac:groups=autoscaling,resources=horizontalpodautoscalers,verbs=get;list;watch
// +kubebuilder:rbac:groups=core,resources=pods,verbs=get;list;watch

func (r *Reconciler) now() time.Time {
	if r.Clock == nil {
		return time.Now()
	}
	return r.Clock.Now()
}

// reasonReconcileFailed: Ready=False, the last reconcile failed; the message is the error.
const reasonReconcileFailed = "ReconcileFailed"

// conflictRetryAfter is how soon a reconcile whose status patch conflicted runs again: the
// ServiceLevel watch ignores status-only updates, so no event would bring it back.
const conflictRetryAfter = time.Second

// Reconcile observes the service, updates its books and conditions, keeps its burn incident,
// and patches the status once. A failure shows as Ready=False with the error (so kstatus, Flux
// and Argo CD see it) and is retried with backoff; a conflict is retried quietly.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	sl := &itopsv1alpha1.ServiceLevel{}
	if err := r.Get(ctx, req.NamespacedName, sl); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, err
		}
		return ctrl.Result{}, r.forget(ctx, req)
	}
	res, err := r.reconcile(ctx, sl)
	switch {
	case apierrors.IsConflict(err):
		ctrl.LoggerFrom(ctx).V(1).Info("the ServiceLevel changed under this reconcile; retrying", "error", err.Error())
		return ctrl.Result{RequeueAfter: conflictRetryAfter}, nil
	case err != nil:
		r.reportFailure(ctx, sl, err)
		return ctrl.Result{}, err
	}
	return res, nil
}

// forget handles a ServiceLevel that is gone: nothing burns its budget any more, so the
// ErrorBudgetBurn signal of its incident is cleared, and the incident resolves through its
// normal lifecycle (auto-resolution after --resolve-after). It runs on the delete event, and,
// after a restart, for every ErrorBudgetBurn incident whose ServiceLevel no longer exists (the
// incident watch below enqueues their ServiceLevels when the cache starts).
func (r *Reconciler) forget(ctx context.Context, req ctrl.Request) error {
	r.forgetMeasurement(req)
	gone := &itopsv1alpha1.ServiceLevel{ObjectMeta: metav1.ObjectMeta{Namespace: req.Namespace, Name: req.Name}}
	if err := r.Incidents.Sync(ctx, incidentwriter.Observation{Subject: Subject(gone), Judged: incidentReasons}); err != nil {
		return fmt.Errorf("clearing the burn signal of deleted ServiceLevel %s: %w", req.Name, err)
	}
	return nil
}

// reportFailure records err as Ready=False on the ServiceLevel, best effort: when even that
// patch fails, the returned error and its backoff remain.
func (r *Reconciler) reportFailure(ctx context.Context, sl *itopsv1alpha1.ServiceLevel, err error) {
	base := sl.DeepCopy()
	meta.SetStatusCondition(&sl.Status.Conditions, metav1.Condition{Type: itopsv1alpha1.ConditionReady, Status: metav1.ConditionFalse,
		Reason: reasonReconcileFailed, Message: health.Truncate(err.Error(), 1024), ObservedGeneration: sl.Generation,
		LastTransitionTime: metav1.NewTime(r.now())})
	if apiequality.Semantic.DeepEqual(base.Status, sl.Status) {
		return
	}
	if perr := r.Status().Patch(ctx, sl, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); perr != nil {
		ctrl.LoggerFrom(ctx).V(1).Info("could not record the failure in status", "error", perr.Error())
	}
}

func (r *Reconciler) reconcile(ctx context.Context, sl *itopsv1alpha1.ServiceLevel) (ctrl.Result, error) {
	now := r.now()
	in, err := r.gather(ctx, sl, now)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("reading the service's workloads and windows: %w", err)
	}
	d := computeStatus(sl, in, now)
	if err := r.Incidents.Sync(ctx, incidentwriter.Observation{Subject: Subject(sl), Judged: incidentReasons, Problems: d.problems, Service: sl.Name}); err != nil {
		return ctrl.Result{}, fmt.Errorf("keeping the ServiceLevel's incidents: %w", err)
	}
	if !apiequality.Semantic.DeepEqual(d.status, sl.Status) {
		base := sl.DeepCopy()
		sl.Status = d.status
		if err := r.Status().Patch(ctx, sl, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
			return ctrl.Result{}, err
		}
		for _, e := range d.events {
			r.Recorder.Eventf(sl, nil, e.eventType, e.reason, "Measure", "%s", e.message)
		}
		for _, e := range d.workloadEvents {
			ref := &corev1.ObjectReference{APIVersion: "apps/v1", Kind: e.kind, Namespace: sl.Namespace, Name: e.name}
			r.Recorder.Eventf(ref, sl, e.eventType, e.reason, "Measure", "%s", e.message)
		}
	}
	// The steps are in the status: take them.
	for _, a := range d.scale {
		if err := r.scale(ctx, sl, a); err != nil {
			return ctrl.Result{}, err
		}
	}
	// From here on the books in status are this process's own observation.
	r.watching.Store(sl.UID, true)
	log := ctrl.LoggerFrom(ctx)
	log.V(1).Info("measured", "availability", sl.Status.Availability, "budgetRemaining", sl.Status.ErrorBudgetRemaining,
		"burnRate", sl.Status.BurnRate, "requeueAfter", d.requeueAfter)
	return ctrl.Result{RequeueAfter: d.requeueAfter}, nil
}

// Subject is what a ServiceLevel's incidents are about.
func Subject(sl *itopsv1alpha1.ServiceLevel) health.Subject {
	return health.Subject{APIVersion: itopsv1alpha1.GroupVersion.String(), Kind: "ServiceLevel", Namespace: sl.Namespace, Name: sl.Name}
}

// gather reads the service's workloads and its planned downtime from the cache.
func (r *Reconciler) gather(ctx context.Context, sl *itopsv1alpha1.ServiceLevel, now time.Time) (inputs, error) {
	_, watched := r.watching.Load(sl.UID)
	in := inputs{continuous: watched && sl.Status.LastObservedAt != nil}
	if errs := selector.ServiceLevel(&sl.Spec); len(errs) > 0 {
		// Admitted while the webhook was down: it selects nothing; the status says Stalled.
		in.invalidSelector = errs.ToAggregate()
		return in, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(&sl.Spec.Selector)
	if err != nil {
		return in, err
	}
	workloads, err := r.workloads(ctx, sl.Namespace, sel)
	if err != nil {
		return in, err
	}
	for _, w := range workloads {
		in.states = append(in.states, slo.StateOf(w))
	}
	if sl.Spec.Scaling != nil {
		if in.scaling, err = r.scalingInputs(ctx, sl, workloads, now); err != nil {
			return in, err
		}
	}
	if sl.Spec.Objectives != nil && promsli.IsPrometheus(sl.Spec.Objectives.SLI) {
		// The books come from Prometheus, not from the workloads' health.
		in.prom, in.promInterval = r.measurement(ctx, sl, now)
		return in, nil
	}
	if sl.Spec.Objectives == nil || len(workloads) == 0 {
		return in, nil
	}
	window := 720 * time.Hour
	if w := sl.Spec.Objectives.Window; w != nil && w.Rolling != nil {
		window = w.Rolling.Duration
	}
	from := now.Add(-window - 24*time.Hour)
	if f := sl.Status.FoldedUntil; f != nil && f.After(from) {
		from = f.Time
	}
	ns := &corev1.Namespace{}
	if err := r.Get(ctx, client.ObjectKey{Name: sl.Namespace}, ns); err != nil {
		return in, client.IgnoreNotFound(err)
	}
	var windows []itopsv1alpha1.MaintenanceWindow
	for _, wns := range []string{sl.Namespace, r.ClusterNamespace} {
		list := &itopsv1alpha1.MaintenanceWindowList{}
		if err := r.List(ctx, list, client.InNamespace(wns)); err != nil {
			return in, err
		}
		windows = append(windows, list.Items...)
		if wns == r.ClusterNamespace {
			break
		}
	}
	// The service's planned downtime is the time maintenance covers all of its workloads: a
	// window over part of the service does not excuse an outage of the rest.
	// Each window's calendar is evaluated once per reconcile, whatever the number of workloads.
	plans := maintenance.Plan(windows, from, now)
	for i, w := range workloads {
		p := maintenance.PlannedFor(plans, maintenance.Object{Namespace: sl.Namespace, Labels: w.GetLabels(), NamespaceLabels: ns.Labels},
			r.ClusterNamespace)
		if i == 0 {
			in.planned = p
		} else {
			in.planned = slo.Intersect(in.planned, p)
		}
	}
	return in, nil
}

// scalingInputs gathers, for each selected Deployment and StatefulSet, its effective bounds,
// the HorizontalPodAutoscaler scaling it, whether its pods run without being ready, and whether
// this ServiceLevel is the one that acts on it.
func (r *Reconciler) scalingInputs(ctx context.Context, sl *itopsv1alpha1.ServiceLevel, workloads []client.Object, now time.Time) ([]workloadScaling, error) {
	sls := &itopsv1alpha1.ServiceLevelList{}
	if err := r.List(ctx, sls, client.InNamespace(sl.Namespace)); err != nil {
		return nil, err
	}
	hpas := &autoscalingv2.HorizontalPodAutoscalerList{}
	if err := r.List(ctx, hpas, client.InNamespace(sl.Namespace)); err != nil {
		return nil, err
	}
	var out []workloadScaling
	for _, w := range workloads {
		var replicas *int32
		var selector *metav1.LabelSelector
		switch o := w.(type) {
		case *appsv1.Deployment:
			replicas, selector = o.Spec.Replicas, o.Spec.Selector
		case *appsv1.StatefulSet:
			replicas, selector = o.Spec.Replicas, o.Spec.Selector
		default:
			continue // DaemonSets have no replicas
		}
		set := labels.Set(w.GetLabels())
		scaleOut, correct := scaling.Actors(sls.Items, set)
		ws := workloadScaling{kind: slo.StateOf(w).Kind, name: w.GetName(), replicas: 1, bounds: scaling.Effective(scaling.BoundsOf(sls.Items, set)),
			scaleOut: scaleOut == sl.Name, correct: correct == sl.Name}
		if replicas != nil {
			ws.replicas = *replicas
		}
		for _, h := range hpas.Items {
			if h.Spec.ScaleTargetRef.Kind == ws.kind && h.Spec.ScaleTargetRef.Name == ws.name {
				ws.hpa = h.Name
			}
		}
		if ws.scaleOut && selector != nil {
			sel, err := metav1.LabelSelectorAsSelector(selector)
			if err != nil {
				continue
			}
			pods := &corev1.PodList{}
			if err := r.List(ctx, pods, client.InNamespace(sl.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
				return nil, err
			}
			ws.notReadyOnly = scaling.NotReadyOnly(pods.Items, now, r.thresholds())
		}
		out = append(out, ws)
	}
	return out, nil
}

func (r *Reconciler) thresholds() health.Thresholds {
	if r.Thresholds.CrashLoopWindow == 0 {
		return health.DefaultThresholds
	}
	return r.Thresholds
}

// scale takes a scaling step through the workload's scale subresource, and records it.
func (r *Reconciler) scale(ctx context.Context, sl *itopsv1alpha1.ServiceLevel, a scaleAction) error {
	var obj client.Object = &appsv1.Deployment{}
	if a.kind == "StatefulSet" {
		obj = &appsv1.StatefulSet{}
	}
	obj.SetNamespace(sl.Namespace)
	obj.SetName(a.name)
	body := &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: a.name, Namespace: sl.Namespace}, Spec: autoscalingv1.ScaleSpec{Replicas: a.to}}
	if err := r.SubResource("scale").Update(ctx, obj, client.WithSubResourceBody(body)); err != nil {
		return fmt.Errorf("scaling %s %s to %d: %w", a.kind, a.name, a.to, err)
	}
	msg := fmt.Sprintf("ServiceLevel %s %s", sl.Name, a.message)
	r.Audit.Write(audit.Record{Kind: "ServiceLevel", Namespace: sl.Namespace, Name: sl.Name, Transition: a.reason, By: "itops-operator",
		Message: msg, Fields: []any{"workloadKind", a.kind, "workload", a.name, "from", a.from, "to", a.to}})
	r.Recorder.Eventf(obj, sl, corev1.EventTypeNormal, a.reason, "Scale", "%s", msg)
	r.Recorder.Eventf(sl, obj, corev1.EventTypeNormal, a.reason, "Scale", "%s %s: %s", a.kind, a.name, a.message)
	ctrl.LoggerFrom(ctx).Info("scaled", "kind", a.kind, "workload", a.name, "from", a.from, "to", a.to, "reason", a.reason)
	return nil
}

// workloads lists the Deployments, StatefulSets and DaemonSets in ns that sel selects, sorted
// by kind then name (lists from the cache are sorted by name).
func (r *Reconciler) workloads(ctx context.Context, ns string, sel labels.Selector) ([]client.Object, error) {
	var out []client.Object
	opts := []client.ListOption{client.InNamespace(ns), client.MatchingLabelsSelector{Selector: sel}}
	deps := &appsv1.DeploymentList{}
	if err := r.List(ctx, deps, opts...); err != nil {
		return nil, err
	}
	for i := range deps.Items {
		out = append(out, &deps.Items[i])
	}
	sts := &appsv1.StatefulSetList{}
	if err := r.List(ctx, sts, opts...); err != nil {
		return nil, err
	}
	for i := range sts.Items {
		out = append(out, &sts.Items[i])
	}
	dss := &appsv1.DaemonSetList{}
	if err := r.List(ctx, dss, opts...); err != nil {
		return nil, err
	}
	for i := range dss.Items {
		out = append(out, &dss.Items[i])
	}
	return out, nil
}

// SetupWithManager registers the controller: ServiceLevels (spec changes only: the controller
// writes their status), the workloads they select, and MaintenanceWindows.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	b := ctrl.NewControllerManagedBy(mgr).
		For(&itopsv1alpha1.ServiceLevel{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Named("servicelevel")
	for _, obj := range []client.Object{&appsv1.Deployment{}, &appsv1.StatefulSet{}, &appsv1.DaemonSet{}} {
		b = b.Watches(obj, handler.EnqueueRequestsFromMapFunc(r.serviceLevelsSelecting))
	}
	b = b.Watches(&itopsv1alpha1.MaintenanceWindow{}, handler.EnqueueRequestsFromMapFunc(r.serviceLevelsOfWindow))
	b = b.Watches(&autoscalingv2.HorizontalPodAutoscaler{}, handler.EnqueueRequestsFromMapFunc(r.serviceLevelsOfHPA))
	// The ServiceLevel an ErrorBudgetBurn incident is about, when the incident appears in the
	// cache (at start-up for every existing one) or its burn signal turns active: one deleted
	// while the operator was down, or while its incident was being written, is then found
	// gone, and its incident's signal cleared. Other updates (lastSeenAt) are this
	// controller's own writes and would only loop.
	b = b.Watches(&itopsv1alpha1.Incident{}, handler.EnqueueRequestsFromMapFunc(serviceLevelOfIncident),
		builder.WithPredicates(predicate.Funcs{
			CreateFunc: func(crevent.CreateEvent) bool { return true },
			UpdateFunc: func(e crevent.UpdateEvent) bool {
				return !burnActive(e.ObjectOld) && burnActive(e.ObjectNew)
			},
			DeleteFunc:  func(crevent.DeleteEvent) bool { return false },
			GenericFunc: func(crevent.GenericEvent) bool { return false },
		}))
	return b.Complete(r)
}

// burnActive reports whether obj is an incident whose ErrorBudgetBurn signal is active.
func burnActive(obj client.Object) bool {
	inc, ok := obj.(*itopsv1alpha1.Incident)
	if !ok {
		return false
	}
	for _, s := range inc.Status.Signals {
		if s.Reason == itopsv1alpha1.ReasonErrorBudgetBurn && s.Active {
			return true
		}
	}
	return false
}

// serviceLevelOfIncident maps an incident the ServiceLevel controller opened (its subject a
// ServiceLevel) to that ServiceLevel.
func serviceLevelOfIncident(_ context.Context, obj client.Object) []reconcile.Request {
	inc, ok := obj.(*itopsv1alpha1.Incident)
	if !ok || inc.Spec.Source != itopsv1alpha1.SourceServiceLevel || len(inc.Spec.Affected) == 0 {
		return nil
	}
	ref := inc.Spec.Affected[0]
	if ref.Kind != "ServiceLevel" || ref.APIVersion != itopsv1alpha1.GroupVersion.String() {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}}}
}

// serviceLevelsOfHPA maps an HorizontalPodAutoscaler to the ServiceLevels selecting its target.
func (r *Reconciler) serviceLevelsOfHPA(ctx context.Context, obj client.Object) []reconcile.Request {
	hpa, ok := obj.(*autoscalingv2.HorizontalPodAutoscaler)
	if !ok {
		return nil
	}
	var target client.Object
	switch hpa.Spec.ScaleTargetRef.Kind {
	case "Deployment":
		target = &appsv1.Deployment{}
	case "StatefulSet":
		target = &appsv1.StatefulSet{}
	default:
		return nil
	}
	if err := r.Get(ctx, client.ObjectKey{Namespace: hpa.Namespace, Name: hpa.Spec.ScaleTargetRef.Name}, target); err != nil {
		return nil
	}
	return r.serviceLevelsSelecting(ctx, target)
}

// serviceLevelsSelecting maps a workload event to the ServiceLevels that select the workload.
func (r *Reconciler) serviceLevelsSelecting(ctx context.Context, obj client.Object) []reconcile.Request {
	list := &itopsv1alpha1.ServiceLevelList{}
	if err := r.List(ctx, list, client.InNamespace(obj.GetNamespace())); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing ServiceLevels", "namespace", obj.GetNamespace())
		return nil
	}
	var out []reconcile.Request
	for i := range list.Items {
		sel, err := metav1.LabelSelectorAsSelector(&list.Items[i].Spec.Selector)
		if err == nil && sel.Matches(labels.Set(obj.GetLabels())) {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
	return out
}

// serviceLevelsOfWindow maps a window event to the ServiceLevels it may cover: those of its
// namespace, or all of them for a cluster-wide window.
func (r *Reconciler) serviceLevelsOfWindow(ctx context.Context, obj client.Object) []reconcile.Request {
	list := &itopsv1alpha1.ServiceLevelList{}
	var opts []client.ListOption
	if obj.GetNamespace() != r.ClusterNamespace {
		opts = append(opts, client.InNamespace(obj.GetNamespace()))
	}
	if err := r.List(ctx, list, opts...); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing ServiceLevels of a window", "namespace", obj.GetNamespace())
		return nil
	}
	out := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return out
}

package capacity

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/go-logr/logr"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/controllers/incidentwriter"
	"github.com/itops-dev/itops-operator/internal/capacity"
	"github.com/itops-dev/itops-operator/internal/health"
)

// AutoscalerReconciler runs AutoscalerLimited. The subject is the HPA's scale target (the
// Deployment, StatefulSet, Argo Rollout... of scaleTargetRef), not the HPA: the affected
// thing is that workload's capacity, and its incident already gathers the workload's other
// signals (a crash loop, WorkloadUnavailable), so an SRE sees "cannot scale" next to "pods
// unavailable" on one incident. The HPA is listed in a new incident's spec.affected. Several
// HPAs on one target (a misconfiguration the HPA controller itself reports as
// AmbiguousSelector) are judged together: the worst finding wins.
type AutoscalerReconciler struct {
	Client client.Client
	Writer *incidentwriter.Writer
	Policy capacity.AutoscalerPolicy
	Clock  clock.PassiveClock
	Log    logr.Logger

	mu sync.Mutex
	// saturatedSince is when each HPA was first seen saturated (capacity.Saturated: wanting
	// more than maxReplicas). In memory; after a restart it is taken back from the target's
	// incident (an active AutoscalerLimited signal fired SaturatedFor after the saturation
	// began), else it counts from the first reconcile.
	saturatedSince map[types.NamespacedName]time.Time
	// targets is the signal subject (fingerprint) each HPA last targeted: a change, or the HPA
	// gone, is what makes a sweep of stale signals necessary.
	targets map[types.NamespacedName]string
	// swept: the first sweep, over every namespace (HPAs deleted while the operator was
	// down), has run.
	swept bool
}

// SetupWithManager watches HorizontalPodAutoscalers (autoscaling/v2); updates that cannot
// change the verdict (capacity.AutoscalerChanged: the HPA controller's ~15 s status writes of
// current metrics) are dropped before the queue.
func (r *AutoscalerReconciler) SetupWithManager(mgr ctrl.Manager) error {
	changed := predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		old, _ := e.ObjectOld.(*autoscalingv2.HorizontalPodAutoscaler)
		updated, _ := e.ObjectNew.(*autoscalingv2.HorizontalPodAutoscaler)
		return capacity.AutoscalerChanged(old, updated)
	}}
	return ctrl.NewControllerManagedBy(mgr).Named("capacity-autoscaler").
		For(&autoscalingv2.HorizontalPodAutoscaler{}, builder.WithPredicates(changed)).Complete(r)
}

func (r *AutoscalerReconciler) now() time.Time {
	if r.Clock == nil {
		return time.Now()
	}
	return r.Clock.Now()
}

// ScaleTarget is the subject of an HPA's signal: its scaleTargetRef in its namespace (an
// empty apiVersion, which the API allows, means apps/v1 for the apps kinds, v1 otherwise).
func ScaleTarget(h *autoscalingv2.HorizontalPodAutoscaler) health.Subject {
	ref := h.Spec.ScaleTargetRef
	av := ref.APIVersion
	if av == "" {
		av = "v1"
		switch ref.Kind {
		case "Deployment", "StatefulSet", "ReplicaSet", "DaemonSet":
			av = "apps/v1"
		}
	}
	return health.Subject{APIVersion: av, Kind: ref.Kind, Namespace: h.Namespace, Name: ref.Name}
}

// Reconcile judges the HPA's target over every HPA of the namespace that targets it, and
// clears the signal of targets no HPA points at any more (a deleted or retargeted HPA). That
// sweep lists incidents, so it runs only when it can find something: the requested HPA gone or
// retargeted, and once at start over every namespace.
func (r *AutoscalerReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	list := &autoscalingv2.HorizontalPodAutoscalerList{}
	if err := r.Client.List(ctx, list, client.InNamespace(req.Namespace)); err != nil {
		return reconcile.Result{}, err
	}
	now := r.now()
	byTarget := map[string][]*autoscalingv2.HorizontalPodAutoscaler{}
	var mine *health.Subject
	for i := range list.Items {
		h := &list.Items[i]
		if h.DeletionTimestamp != nil {
			continue
		}
		subj := ScaleTarget(h)
		fp := health.Fingerprint(subj)
		byTarget[fp] = append(byTarget[fp], h)
		if h.Name == req.Name {
			mine = &subj
		}
	}
	sweepNS, sweepAll := r.needsSweep(req.NamespacedName, mine)
	res := reconcile.Result{}
	if mine != nil {
		hpas := byTarget[health.Fingerprint(*mine)]
		sort.Slice(hpas, func(i, j int) bool { return hpas[i].Name < hpas[j].Name })
		fs := make([]capacity.Finding, 0, len(hpas))
		affected := make([]itopsv1alpha1.ObjectReference, 0, len(hpas))
		for _, h := range hpas {
			first, err := r.firstSaturated(ctx, h, now)
			if err != nil {
				return reconcile.Result{}, err
			}
			fs = append(fs, capacity.JudgeAutoscaler(h, first, now, r.Policy))
			affected = append(affected, itopsv1alpha1.ObjectReference{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler",
				Namespace: h.Namespace, Name: h.Name})
		}
		var err error
		if res, err = record(ctx, r.Writer, *mine, itopsv1alpha1.ReasonAutoscalerLimited, capacity.Worst(fs), affected, now); err != nil {
			return res, err
		}
	}
	if !sweepNS && !sweepAll {
		r.remember(req.NamespacedName, mine)
		return res, nil
	}
	targeted := map[string]bool{}
	ns := req.Namespace
	if sweepAll {
		ns = ""
		list = &autoscalingv2.HorizontalPodAutoscalerList{}
		if err := r.Client.List(ctx, list); err != nil {
			return reconcile.Result{}, err
		}
	}
	for i := range list.Items {
		if list.Items[i].DeletionTimestamp == nil {
			targeted[health.Fingerprint(ScaleTarget(&list.Items[i]))] = true
		}
	}
	// Targets with an active signal that no HPA targets any more.
	active, err := activeSubjects(ctx, r.Client, ns, itopsv1alpha1.ReasonAutoscalerLimited)
	if err != nil {
		return reconcile.Result{}, err
	}
	for _, subj := range active {
		if targeted[health.Fingerprint(subj)] {
			continue
		}
		cleared, err := record(ctx, r.Writer, subj, itopsv1alpha1.ReasonAutoscalerLimited, capacity.Finding{}, nil, now)
		if err != nil {
			return cleared, err
		}
		res = earliest(res, cleared) // a lost race is retried soon
	}
	r.mu.Lock()
	if sweepAll {
		r.swept = true
	}
	r.mu.Unlock()
	r.remember(req.NamespacedName, mine)
	return res, nil
}

// needsSweep says whether stale signals may exist: in the namespace when the requested HPA is
// gone or its target changed since the last reconcile; everywhere before the first sweep.
func (r *AutoscalerReconciler) needsSweep(key types.NamespacedName, mine *health.Subject) (namespace, all bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	prev, known := r.targets[key]
	if mine == nil {
		return known, !r.swept
	}
	return known && prev != health.Fingerprint(*mine), !r.swept
}

// remember keeps the HPA's current target once its stale signals are swept, and forgets a
// gone HPA (its target and first-seen time).
func (r *AutoscalerReconciler) remember(key types.NamespacedName, mine *health.Subject) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.targets == nil {
		r.targets = map[types.NamespacedName]string{}
	}
	if mine == nil {
		delete(r.targets, key)
		delete(r.saturatedSince, key)
		return
	}
	r.targets[key] = health.Fingerprint(*mine)
}

// firstSaturated returns when the HPA was first seen saturated, or zero while it is not. The
// first time this process sees it saturated, an active AutoscalerLimited signal on the
// target's incident (it fired SaturatedFor after the saturation began) gives the time back
// across a restart; else it is now.
func (r *AutoscalerReconciler) firstSaturated(ctx context.Context, h *autoscalingv2.HorizontalPodAutoscaler, now time.Time) (time.Time, error) {
	key := types.NamespacedName{Namespace: h.Namespace, Name: h.Name}
	r.mu.Lock()
	if r.saturatedSince == nil {
		r.saturatedSince = map[types.NamespacedName]time.Time{}
	}
	if !capacity.Saturated(h) {
		delete(r.saturatedSince, key)
		r.mu.Unlock()
		return time.Time{}, nil
	}
	t, ok := r.saturatedSince[key]
	r.mu.Unlock()
	if ok {
		return t, nil
	}
	t = now
	inc, err := r.Writer.Latest(ctx, ScaleTarget(h))
	if err != nil {
		return time.Time{}, err
	}
	if inc != nil {
		for _, s := range inc.Status.Signals {
			// Only this HPA's saturation finding dates saturation: the same reason also
			// says that an HPA cannot scale, or comes from another HPA of the target.
			if s.Reason == itopsv1alpha1.ReasonAutoscalerLimited && s.Active && capacity.IsSaturationMessage(s.Message, h.Name) {
				if began := s.Since.Add(-r.Policy.SaturatedFor); began.Before(t) {
					t = began
				}
			}
		}
	}
	r.mu.Lock()
	r.saturatedSince[key] = t
	r.mu.Unlock()
	return t, nil
}

// earliest is the result that requeues first (no requeue counts as never).
func earliest(a, b reconcile.Result) reconcile.Result {
	if a.RequeueAfter == 0 || (b.RequeueAfter > 0 && b.RequeueAfter < a.RequeueAfter) {
		return b
	}
	return a
}

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
	"sigs.k8s.io/controller-runtime/pkg/client"
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
	// saturatedSince is when each HPA was first seen at maxReplicas without a ScalingLimited
	// condition saying since when (in memory: after a restart it counts again, while an open
	// incident's active signal is sustained, not cleared).
	saturatedSince map[types.NamespacedName]time.Time
}

// SetupWithManager watches HorizontalPodAutoscalers (autoscaling/v2).
func (r *AutoscalerReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).Named("capacity-autoscaler").For(&autoscalingv2.HorizontalPodAutoscaler{}).Complete(r)
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
// clears the signal of targets no HPA points at any more (a deleted or retargeted HPA).
func (r *AutoscalerReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	list := &autoscalingv2.HorizontalPodAutoscalerList{}
	if err := r.Client.List(ctx, list, client.InNamespace(req.Namespace)); err != nil {
		return reconcile.Result{}, err
	}
	now := r.now()
	byTarget := map[string][]*autoscalingv2.HorizontalPodAutoscaler{}
	targets := map[string]health.Subject{}
	var mine *health.Subject
	for i := range list.Items {
		h := &list.Items[i]
		if h.DeletionTimestamp != nil {
			continue
		}
		subj := ScaleTarget(h)
		fp := health.Fingerprint(subj)
		byTarget[fp] = append(byTarget[fp], h)
		targets[fp] = subj
		if h.Name == req.Name {
			mine = &subj
		}
	}
	r.forget(req, list)
	res := reconcile.Result{}
	if mine != nil {
		hpas := byTarget[health.Fingerprint(*mine)]
		sort.Slice(hpas, func(i, j int) bool { return hpas[i].Name < hpas[j].Name })
		fs := make([]capacity.Finding, 0, len(hpas))
		affected := make([]itopsv1alpha1.ObjectReference, 0, len(hpas))
		for _, h := range hpas {
			fs = append(fs, capacity.JudgeAutoscaler(h, r.firstSaturated(h, now), now, r.Policy))
			affected = append(affected, itopsv1alpha1.ObjectReference{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler",
				Namespace: h.Namespace, Name: h.Name})
		}
		var err error
		if res, err = record(ctx, r.Writer, *mine, itopsv1alpha1.ReasonAutoscalerLimited, capacity.Worst(fs), affected, now); err != nil {
			return res, err
		}
	}
	// Targets with an active signal that no HPA targets any more.
	active, err := activeSubjects(ctx, r.Client, req.Namespace, itopsv1alpha1.ReasonAutoscalerLimited)
	if err != nil {
		return reconcile.Result{}, err
	}
	for _, subj := range active {
		if _, ok := targets[health.Fingerprint(subj)]; ok {
			continue
		}
		cleared, err := record(ctx, r.Writer, subj, itopsv1alpha1.ReasonAutoscalerLimited, capacity.Finding{}, nil, now)
		if err != nil {
			return cleared, err
		}
		res = earliest(res, cleared) // a lost race is retried soon
	}
	return res, nil
}

// firstSaturated returns when the HPA was first seen saturated (now the first time), or zero
// while it is not; the judge prefers the ScalingLimited condition's own time.
func (r *AutoscalerReconciler) firstSaturated(h *autoscalingv2.HorizontalPodAutoscaler, now time.Time) time.Time {
	key := types.NamespacedName{Namespace: h.Namespace, Name: h.Name}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.saturatedSince == nil {
		r.saturatedSince = map[types.NamespacedName]time.Time{}
	}
	if ok, _ := capacity.Saturated(h); !ok {
		delete(r.saturatedSince, key)
		return time.Time{}
	}
	if t, ok := r.saturatedSince[key]; ok {
		return t
	}
	r.saturatedSince[key] = now
	return now
}

// forget drops the first-seen time of the requested HPA when it is gone.
func (r *AutoscalerReconciler) forget(req reconcile.Request, list *autoscalingv2.HorizontalPodAutoscalerList) {
	for i := range list.Items {
		if list.Items[i].Name == req.Name {
			return
		}
	}
	r.mu.Lock()
	delete(r.saturatedSince, req.NamespacedName)
	r.mu.Unlock()
}

// earliest is the result that requeues first (no requeue counts as never).
func earliest(a, b reconcile.Result) reconcile.Result {
	if a.RequeueAfter == 0 || (b.RequeueAfter > 0 && b.RequeueAfter < a.RequeueAfter) {
		return b
	}
	return a
}

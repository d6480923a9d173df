package capacity

import (
	"context"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/controllers/incidentwriter"
	"github.com/itops-dev/itops-operator/internal/capacity"
	"github.com/itops-dev/itops-operator/internal/health"
)

// DisruptionReconciler runs DisruptionBlocked. The subject is the PodDisruptionBudget: its
// configuration is what blocks a drain, and editing it is the fix. A budget blocked only
// because its pods are unhealthy is left to the workload's own incident
// (capacity.JudgeDisruptionBudget). Budgets whose selectors share evictable pods (which the
// eviction API refuses to evict at all: capacity.JudgeBudgetOverlap) are blocked too, each of
// them; the worst finding of the two judges is recorded.
type DisruptionReconciler struct {
	Client client.Client
	Writer *incidentwriter.Writer
	// Grace is detection.disruptionBlocked.gracePeriod.
	Grace time.Duration
	Clock clock.PassiveClock
	Log   logr.Logger
}

// SetupWithManager watches PodDisruptionBudgets (policy/v1); a budget created, deleted or
// with a new spec (generation) also judges its namespace's other budgets again (an overlap
// begins or ends with it).
func (r *DisruptionReconciler) SetupWithManager(mgr ctrl.Manager) error {
	siblings := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcile.Request {
		list := &policyv1.PodDisruptionBudgetList{}
		if err := r.Client.List(ctx, list, client.InNamespace(obj.GetNamespace())); err != nil {
			r.Log.Error(err, "listing the namespace's budgets", "namespace", obj.GetNamespace())
			return nil
		}
		out := make([]reconcile.Request, 0, len(list.Items))
		for _, p := range list.Items {
			if p.Name != obj.GetName() {
				out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: p.Namespace, Name: p.Name}})
			}
		}
		return out
	})
	return ctrl.NewControllerManagedBy(mgr).Named("capacity-disruption").For(&policyv1.PodDisruptionBudget{}).
		Watches(&policyv1.PodDisruptionBudget{}, siblings, builder.WithPredicates(predicate.GenerationChangedPredicate{})).Complete(r)
}

// Reconcile judges the budget and requeues at the end of its grace period.
func (r *DisruptionReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	now := time.Now()
	if r.Clock != nil {
		now = r.Clock.Now()
	}
	subj := health.Subject{APIVersion: "policy/v1", Kind: "PodDisruptionBudget", Namespace: req.Namespace, Name: req.Name}
	p := &policyv1.PodDisruptionBudget{}
	err := r.Client.Get(ctx, req.NamespacedName, p)
	switch {
	case apierrors.IsNotFound(err) || (err == nil && p.DeletionTimestamp != nil):
		return record(ctx, r.Writer, subj, itopsv1alpha1.ReasonDisruptionBlocked, capacity.Finding{}, nil, now)
	case err != nil:
		return reconcile.Result{}, err
	}
	overlap, err := r.overlap(ctx, p, now)
	if err != nil {
		return reconcile.Result{}, err
	}
	f := capacity.Worst([]capacity.Finding{capacity.JudgeDisruptionBudget(p, now, r.Grace), overlap})
	return record(ctx, r.Writer, subj, itopsv1alpha1.ReasonDisruptionBlocked, f, nil, now)
}

// overlap judges whether another budget of the namespace selects the pods p selects: the
// pods come from the cache, filtered by p's selector before they are copied.
func (r *DisruptionReconciler) overlap(ctx context.Context, p *policyv1.PodDisruptionBudget, now time.Time) (capacity.Finding, error) {
	if p.Spec.Selector == nil {
		return capacity.Finding{}, nil // selects nothing (policy/v1)
	}
	sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
	if err != nil {
		return capacity.Finding{}, nil // the API server refuses invalid selectors
	}
	budgets := &policyv1.PodDisruptionBudgetList{}
	if err := r.Client.List(ctx, budgets, client.InNamespace(p.Namespace)); err != nil {
		return capacity.Finding{}, err
	}
	if len(budgets.Items) < 2 {
		return capacity.Finding{}, nil
	}
	pods := &corev1.PodList{}
	if err := r.Client.List(ctx, pods, client.InNamespace(p.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return capacity.Finding{}, err
	}
	return capacity.JudgeBudgetOverlap(p, budgets.Items, pods.Items, now, r.Grace), nil
}

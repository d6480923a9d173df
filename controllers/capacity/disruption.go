package capacity

import (
	"context"
	"time"

	"github.com/go-logr/logr"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/controllers/incidentwriter"
	"github.com/itops-dev/itops-operator/internal/capacity"
	"github.com/itops-dev/itops-operator/internal/health"
)

// DisruptionReconciler runs DisruptionBlocked. The subject is the PodDisruptionBudget: its
// configuration is what blocks a drain, and editing it is the fix. A budget blocked only
// because its pods are unhealthy is left to the workload's own incident
// (capacity.JudgeDisruptionBudget).
type DisruptionReconciler struct {
	Client client.Client
	Writer *incidentwriter.Writer
	// Grace is detection.disruptionBlocked.gracePeriod.
	Grace time.Duration
	Clock clock.PassiveClock
	Log   logr.Logger
}

// SetupWithManager watches PodDisruptionBudgets (policy/v1).
func (r *DisruptionReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).Named("capacity-disruption").For(&policyv1.PodDisruptionBudget{}).Complete(r)
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
	return record(ctx, r.Writer, subj, itopsv1alpha1.ReasonDisruptionBlocked, capacity.JudgeDisruptionBudget(p, now, r.Grace), nil, now)
}

package health

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/health"
)

// NodeReconciler detects NotReady Nodes and Nodes under pressure. Their incidents live in the
// cluster namespace.
type NodeReconciler struct {
	client.Client
	Syncer     *Syncer
	Thresholds health.Thresholds
}

var nodeReasons = []string{itopsv1alpha1.ReasonNodeNotReady, itopsv1alpha1.ReasonNodePressure}

// Reconcile judges the node and syncs its incidents.
func (r *NodeReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	subj := health.Subject{APIVersion: "v1", Kind: "Node", Name: req.Name}
	now := r.Syncer.now()
	node := &corev1.Node{}
	var problems []health.Problem
	var recheck time.Time
	switch err := r.Get(ctx, req.NamespacedName, node); {
	case apierrors.IsNotFound(err):
	case err != nil:
		return ctrl.Result{}, err
	default:
		problems, recheck = health.NodeProblems(node, now, r.Thresholds)
	}
	if err := r.Syncer.Sync(ctx, subj, nodeReasons, problems, ""); err != nil {
		return ctrl.Result{}, err
	}
	if recheck.IsZero() {
		return ctrl.Result{}, nil
	}
	return ctrl.Result{RequeueAfter: recheck.Sub(now)}, nil
}

// VolumeClaimReconciler detects PersistentVolumeClaims Pending too long or Lost.
type VolumeClaimReconciler struct {
	client.Client
	Syncer     *Syncer
	Thresholds health.Thresholds
}

var volumeClaimReasons = []string{itopsv1alpha1.ReasonVolumeClaimPending, itopsv1alpha1.ReasonVolumeClaimLost}

// Reconcile judges the claim and syncs its incidents.
func (r *VolumeClaimReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	subj := health.Subject{APIVersion: "v1", Kind: "PersistentVolumeClaim", Namespace: req.Namespace, Name: req.Name}
	now := r.Syncer.now()
	pvc := &corev1.PersistentVolumeClaim{}
	var problems []health.Problem
	var recheck time.Time
	switch err := r.Get(ctx, req.NamespacedName, pvc); {
	case apierrors.IsNotFound(err):
	case err != nil:
		return ctrl.Result{}, err
	default:
		problems, recheck = health.VolumeClaimProblems(pvc, now, r.Thresholds)
	}
	if err := r.Syncer.Sync(ctx, subj, volumeClaimReasons, problems, ""); err != nil {
		return ctrl.Result{}, err
	}
	if recheck.IsZero() {
		return ctrl.Result{}, nil
	}
	return ctrl.Result{RequeueAfter: recheck.Sub(now)}, nil
}

// Setup registers every health detector with the manager.
func Setup(mgr ctrl.Manager, syncer *Syncer, t health.Thresholds) error {
	for _, k := range workloadKinds {
		r := &WorkloadReconciler{Client: mgr.GetClient(), Syncer: syncer, Thresholds: t, kind: k}
		if err := r.setup(mgr); err != nil {
			return err
		}
	}
	if err := ctrl.NewControllerManagedBy(mgr).Named("health-node").For(&corev1.Node{}).
		Watches(&itopsv1alpha1.Incident{}, incidentSubject("Node"), builder.WithPredicates(incidentAppeared)).
		Complete(&NodeReconciler{Client: mgr.GetClient(), Syncer: syncer, Thresholds: t}); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).Named("health-persistentvolumeclaim").For(&corev1.PersistentVolumeClaim{}).
		Watches(&itopsv1alpha1.Incident{}, incidentSubject("PersistentVolumeClaim"), builder.WithPredicates(incidentAppeared)).
		Complete(&VolumeClaimReconciler{Client: mgr.GetClient(), Syncer: syncer, Thresholds: t})
}

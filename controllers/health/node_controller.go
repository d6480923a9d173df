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
	"github.com/itops-dev/itops-operator/controllers/incidentwriter"
	"github.com/itops-dev/itops-operator/internal/health"
	"github.com/itops-dev/itops-operator/internal/readaccess"
)

// NodeReconciler detects NotReady Nodes and Nodes under pressure. Their incidents live in the
// cluster namespace.
type NodeReconciler struct {
	client.Client
	Writer     *incidentwriter.Writer
	Thresholds health.Thresholds
}

var nodeReasons = []string{itopsv1alpha1.ReasonNodeNotReady, itopsv1alpha1.ReasonNodePressure}

// Reconcile judges the node and syncs its incidents.
func (r *NodeReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	subj := health.Subject{APIVersion: "v1", Kind: "Node", Name: req.Name}
	now := r.Writer.Now()
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
	if err := r.Writer.Sync(ctx, incidentwriter.Observation{Subject: subj, Judged: nodeReasons, Problems: problems}); err != nil {
		return retryQuietly(err)
	}
	return requeueAt(recheck, now), nil
}

// VolumeClaimReconciler detects PersistentVolumeClaims Pending too long or Lost.
type VolumeClaimReconciler struct {
	client.Client
	Writer     *incidentwriter.Writer
	Thresholds health.Thresholds
}

var volumeClaimReasons = []string{itopsv1alpha1.ReasonVolumeClaimPending, itopsv1alpha1.ReasonVolumeClaimLost}

// Reconcile judges the claim and syncs its incidents.
func (r *VolumeClaimReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	subj := health.Subject{APIVersion: "v1", Kind: "PersistentVolumeClaim", Namespace: req.Namespace, Name: req.Name}
	now := r.Writer.Now()
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
	if err := r.Writer.Sync(ctx, incidentwriter.Observation{Subject: subj, Judged: volumeClaimReasons, Problems: problems}); err != nil {
		return retryQuietly(err)
	}
	return requeueAt(recheck, now), nil
}

// Setup registers every health detector with the manager, and the pod index by node they
// share.
func Setup(ctx context.Context, mgr ctrl.Manager, writer *incidentwriter.Writer, t health.Thresholds) error {
	if err := mgr.GetFieldIndexer().IndexField(ctx, &corev1.Pod{}, nodeNameIndex, func(o client.Object) []string {
		if pod, ok := o.(*corev1.Pod); ok && pod.Spec.NodeName != "" {
			return []string{pod.Spec.NodeName}
		}
		return nil
	}); err != nil {
		return err
	}
	d := detector{Client: mgr.GetClient(), Writer: writer, Thresholds: t,
		Access: readaccess.New(mgr.GetClient(), mgr.GetLogger().WithName("owner-access"))}
	for _, k := range workloadKinds {
		r := &WorkloadReconciler{detector: d, kind: k}
		if err := r.setup(mgr); err != nil {
			return err
		}
	}
	if err := (&OwnerReconciler{detector: d}).setup(mgr); err != nil {
		return err
	}
	kindIs := func(kind string) func(health.Subject) bool {
		return func(s health.Subject) bool { return s.Kind == kind && s.Group() == "" }
	}
	if err := ctrl.NewControllerManagedBy(mgr).Named("health-node").For(&corev1.Node{}).
		Watches(&itopsv1alpha1.Incident{}, incidentSubject(kindIs("Node")), builder.WithPredicates(incidentAppeared)).
		Complete(&NodeReconciler{Client: mgr.GetClient(), Writer: writer, Thresholds: t}); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).Named("health-persistentvolumeclaim").For(&corev1.PersistentVolumeClaim{}).
		Watches(&itopsv1alpha1.Incident{}, incidentSubject(kindIs("PersistentVolumeClaim")), builder.WithPredicates(incidentAppeared)).
		Complete(&VolumeClaimReconciler{Client: mgr.GetClient(), Writer: writer, Thresholds: t})
}

package health

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/controllers/incidentwriter"
	"github.com/itops-dev/itops-operator/internal/health"
	"github.com/itops-dev/itops-operator/internal/readaccess"
)

// NodeReconciler detects NotReady Nodes, Nodes under pressure and Nodes with other faulty
// conditions (NetworkUnavailable, Node Problem Detector's). Their incidents live in the
// cluster namespace.
type NodeReconciler struct {
	detector
}

var nodeReasons = []string{itopsv1alpha1.ReasonNodeNotReady, itopsv1alpha1.ReasonNodePressure, itopsv1alpha1.ReasonNodeCondition}

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
		if removed, _ := health.NodeRemovedOnPurpose(node); removed {
			problems = withoutReason(problems, itopsv1alpha1.ReasonNodeNotReady)
		}
		p, at := health.NodeConditionProblem(node, now, r.Thresholds)
		if p != nil {
			problems = append(problems, *p)
		}
		recheck = earliest(recheck, at)
	}
	obs := incidentwriter.Observation{Subject: subj, Judged: nodeReasons, Problems: problems}
	if len(problems) > 0 {
		events, err := r.eventsOf(ctx, "", "Node", req.Name)
		if err != nil {
			return ctrl.Result{}, err
		}
		if obs.Evidence = health.Evidence(nil, events, now); obs.Evidence == nil {
			at := metav1.NewTime(now.Truncate(time.Second))
			obs.Evidence = &itopsv1alpha1.IncidentEvidence{CapturedAt: &at}
		}
		obs.Evidence.Node = req.Name
	}
	if err := r.judgeZone(ctx, node, &obs); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.Writer.Sync(ctx, obs); err != nil {
		return retryQuietly(err)
	}
	return requeueAt(recheck, now), nil
}

// judgeZone links a NotReady node to the incident of the first NotReady node of its topology
// zone (health.ZoneCause): several nodes of one zone failing are one fault, one page.
func (r *NodeReconciler) judgeZone(ctx context.Context, node *corev1.Node, obs *incidentwriter.Observation) error {
	notReady := false
	for _, p := range obs.Problems {
		notReady = notReady || p.Reason == itopsv1alpha1.ReasonNodeNotReady
	}
	if !notReady {
		return nil // a recovered node keeps the cause it had
	}
	obs.CauseJudged = true
	zone := node.Labels[corev1.LabelTopologyZone]
	if zone == "" {
		return nil
	}
	list := &corev1.NodeList{}
	if err := r.List(ctx, list, client.MatchingLabels{corev1.LabelTopologyZone: zone}); err != nil {
		return err
	}
	others := make([]health.ZoneNode, 0, len(list.Items))
	for i := range list.Items {
		name := list.Items[i].Name
		if name >= node.Name {
			continue // only a node that sorts first can be the cause: no lookups for the rest
		}
		ref, err := r.Writer.OpenIncidentWith(ctx, health.Subject{APIVersion: "v1", Kind: "Node", Name: name}, itopsv1alpha1.ReasonNodeNotReady)
		if err != nil {
			return err
		}
		others = append(others, health.ZoneNode{Name: name, Incident: ref})
	}
	obs.Cause = health.ZoneCause(node.Name, true, zone, others)
	return nil
}

// zonePeers maps a node's incident to the nodes of its topology zone that sort after it:
// their judgement (ZoneCause) may now link to it.
func zonePeers(c client.Reader) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		inc, ok := o.(*itopsv1alpha1.Incident)
		if !ok || inc.Spec.Source != itopsv1alpha1.SourceHealthCheck || len(inc.Spec.Affected) == 0 || inc.Spec.Affected[0].Kind != "Node" {
			return nil
		}
		node := &corev1.Node{}
		if err := c.Get(ctx, client.ObjectKey{Name: inc.Spec.Affected[0].Name}, node); err != nil || node.Labels[corev1.LabelTopologyZone] == "" {
			return nil
		}
		list := &corev1.NodeList{}
		if err := c.List(ctx, list, client.MatchingLabels{corev1.LabelTopologyZone: node.Labels[corev1.LabelTopologyZone]}); err != nil {
			return nil
		}
		var out []reconcile.Request
		for i := range list.Items {
			if list.Items[i].Name > node.Name {
				out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Name: list.Items[i].Name}})
			}
		}
		return out
	})
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
		class, consumers, err := claimContext(ctx, r.Client, pvc)
		if err != nil {
			return ctrl.Result{}, err
		}
		problems, recheck = health.VolumeClaimProblemsOf(pvc, class, consumers, now, r.Thresholds)
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
	if err := indexPodClaims(ctx, mgr); err != nil {
		return err
	}
	if err := indexEvents(ctx, mgr); err != nil {
		return err
	}
	restarts, err := restartHistory(ctx, mgr, t.RestartWindow)
	if err != nil {
		return err
	}
	d := detector{Client: mgr.GetClient(), Writer: writer, Thresholds: t,
		Access: readaccess.New(mgr.GetClient(), mgr.GetLogger().WithName("owner-access")), Restarts: restarts}
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
		Watches(&itopsv1alpha1.Incident{}, zonePeers(mgr.GetClient()), builder.WithPredicates(incidentAppeared)).
		Complete(&NodeReconciler{detector: d}); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).Named("health-persistentvolumeclaim").For(&corev1.PersistentVolumeClaim{}).
		Watches(&corev1.Pod{}, claimsOfPod).
		Watches(&itopsv1alpha1.Incident{}, incidentSubject(kindIs("PersistentVolumeClaim")), builder.WithPredicates(incidentAppeared)).
		Complete(&VolumeClaimReconciler{Client: mgr.GetClient(), Writer: writer, Thresholds: t})
}

// restartHistory returns the history of restart counts ContainerRestarting is judged on, and
// forgets a pod's when the pod informer sees it deleted (a tombstone included), so the
// history holds only pods that exist.
func restartHistory(ctx context.Context, mgr ctrl.Manager, window time.Duration) (*health.RestartHistory, error) {
	h := health.NewRestartHistory(window)
	inf, err := mgr.GetCache().GetInformer(ctx, &corev1.Pod{})
	if err != nil {
		return nil, fmt.Errorf("the pod informer: %w", err)
	}
	_, err = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{DeleteFunc: func(obj any) {
		if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		if o, ok := obj.(client.Object); ok {
			h.Forget(o.GetUID())
		}
	}})
	return h, err
}

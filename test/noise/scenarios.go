package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/test/cluster"
)

// chaosLabel on a pod template makes kwok simulate a fault (test/cluster/stages).
const chaosLabel = "itops.dev/chaos"

// scenarioLabel and its taint keep a node scenario's pods on its own nodes, so that a node
// fault in one scenario touches no other.
const scenarioLabel = "itops.dev/noise-scenario"

// scenario is one fault, run in its own namespace (and on its own nodes).
type scenario struct {
	name, title string
	// goal is what issue 12 expects: one incident per fault at the cause's priority, none for
	// a normal state.
	goal string
	run  func(ctx context.Context, e *env, s *scope) error
}

var scenarios = []scenario{
	{"crash-loop", "Crash loop (Deployment, 3 replicas)", "1", func(ctx context.Context, e *env, s *scope) error {
		return e.c.Create(ctx, deployment(s, "api", 3, chaos("crashloop")))
	}},
	{"oom-crash-loop", "OOM crash loop (Deployment, 3 replicas)", "1", func(ctx context.Context, e *env, s *scope) error {
		return e.c.Create(ctx, deployment(s, "worker", 3, chaos("oomkill")))
	}},
	{"image-pull", "Image pull failure (Deployment, 2 replicas)", "1", func(ctx context.Context, e *env, s *scope) error {
		return e.c.Create(ctx, deployment(s, "web", 2, chaos("imagepull")))
	}},
	{"bad-release", "Bad release under change control (crash-looping, stalls)", "1", badRelease},
	{"node-down", "One node down (3 DaemonSets, 4 Deployment replicas on 2 nodes)", "1", func(ctx context.Context, e *env, s *scope) error {
		return nodesDown(ctx, e, s, 2, 1, 3, 4)
	}},
	{"zone-down", "Three nodes of a zone down (2 DaemonSets, 3 replicas; 4 nodes)", "1", func(ctx context.Context, e *env, s *scope) error {
		return nodesDown(ctx, e, s, 4, 3, 2, 3)
	}},
	{"cronjob", "CronJob failing every run (2 runs), then recovering", "1, resolved", cronJobFailing},
	{"wffc-claim", "WaitForFirstConsumer claim, no consumer yet", "0", wffcClaim},
	{"autoscaler-node", "Node drained and deleted by the cluster autoscaler", "0", autoscalerRemovesNode},
}

func chaos(value string) map[string]string { return map[string]string{chaosLabel: value} }

// deployment returns a Deployment of replicas pods with extra pod labels, created in the
// scenario's namespace (and, when s has nodes, on them).
func deployment(s *scope, name string, replicas int32, podLabels map[string]string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	tmpl := map[string]string{"app": name}
	for k, v := range podLabels {
		tmpl[k] = v
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.namespace, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: tmpl}, Spec: podSpec(s, name+":1.0")},
		},
	}
}

// podSpec: one container; for node scenarios, pinned to the scenario's nodes, and evicted
// 10s (not 300s) after its node turns NotReady or unreachable, to keep the run short.
func podSpec(s *scope, image string) corev1.PodSpec {
	spec := corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}}
	if len(s.nodes) > 0 {
		spec.NodeSelector = map[string]string{scenarioLabel: s.name}
		spec.Tolerations = []corev1.Toleration{
			{Key: scenarioLabel, Operator: corev1.TolerationOpEqual, Value: s.name, Effect: corev1.TaintEffectNoSchedule},
			{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](10)},
			{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](10)},
		}
	}
	return spec
}

func daemonSet(s *scope, name string) *appsv1.DaemonSet {
	labels := map[string]string{"app": name}
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.namespace, Labels: labels},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: podSpec(s, name+":1.0")},
		},
	}
}

// addNodes registers n fake nodes of the scenario (tainted so that only its pods land there),
// the first inZone of them in zone <scenario>-z1, the others in <scenario>-z2, and waits for
// them to be Ready.
func addNodes(ctx context.Context, e *env, s *scope, n, inZone int) ([]*corev1.Node, error) {
	var nodes []*corev1.Node
	for i := range n {
		node := cluster.FakeNode(fmt.Sprintf("%s-%d", s.name, i), i)
		node.Labels[scenarioLabel] = s.name
		zone := s.name + "-z1"
		if i >= inZone {
			zone = s.name + "-z2"
		}
		node.Labels[corev1.LabelTopologyZone] = zone
		node.Spec.Taints = []corev1.Taint{{Key: scenarioLabel, Value: s.name, Effect: corev1.TaintEffectNoSchedule}}
		if err := e.c.Create(ctx, node); err != nil {
			return nil, err
		}
		s.addNode(node.Name)
		nodes = append(nodes, node)
	}
	for _, node := range nodes {
		if err := poll(ctx, time.Minute, func(ctx context.Context) (bool, error) {
			return nodeReady(ctx, e.c, node) == corev1.ConditionTrue, nil
		}); err != nil {
			return nil, fmt.Errorf("node %s not Ready: %w", node.Name, err)
		}
	}
	return nodes, nil
}

func nodeReady(ctx context.Context, c client.Client, node *corev1.Node) corev1.ConditionStatus {
	if err := c.Get(ctx, client.ObjectKeyFromObject(node), node); err != nil {
		return ""
	}
	for _, cond := range node.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status
		}
	}
	return ""
}

func poll(ctx context.Context, timeout time.Duration, cond wait.ConditionWithContextFunc) error {
	return wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, cond)
}

// workloadsReady waits until the DaemonSets have a ready pod on every node and the Deployment
// all its replicas available.
func workloadsReady(ctx context.Context, e *env, d *appsv1.Deployment, dss []*appsv1.DaemonSet) error {
	return poll(ctx, 2*time.Minute, func(ctx context.Context) (bool, error) {
		if err := e.c.Get(ctx, client.ObjectKeyFromObject(d), d); err != nil || d.Status.AvailableReplicas < *d.Spec.Replicas {
			return false, nil //nolint:nilerr // keep waiting
		}
		for _, ds := range dss {
			if err := e.c.Get(ctx, client.ObjectKeyFromObject(ds), ds); err != nil || ds.Status.DesiredNumberScheduled == 0 ||
				ds.Status.NumberReady < ds.Status.DesiredNumberScheduled {
				return false, nil //nolint:nilerr // keep waiting
			}
		}
		return true, nil
	})
}

// nodesDown: n nodes, daemonSets DaemonSets and a Deployment of replicas on them; then the
// first down of them fail (their kubelets stop: Ready=Unknown, see kubeletGone).
func nodesDown(ctx context.Context, e *env, s *scope, n, down, daemonSets int, replicas int32) error {
	nodes, err := addNodes(ctx, e, s, n, down)
	if err != nil {
		return err
	}
	var dss []*appsv1.DaemonSet
	for i := range daemonSets {
		ds := daemonSet(s, fmt.Sprintf("agent-%d", i))
		if err := e.c.Create(ctx, ds); err != nil {
			return err
		}
		dss = append(dss, ds)
	}
	d := deployment(s, "api", replicas, nil)
	// Spread the replicas over the nodes, as a production Deployment would.
	d.Spec.Template.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: corev1.LabelHostname,
		WhenUnsatisfiable: corev1.ScheduleAnyway, LabelSelector: d.Spec.Selector}}
	if err := e.c.Create(ctx, d); err != nil {
		return err
	}
	if err := workloadsReady(ctx, e, d, dss); err != nil {
		return fmt.Errorf("workloads not ready before the fault: %w", err)
	}
	for _, node := range nodes[:down] {
		if err := kubeletGone(ctx, e, node); err != nil {
			return err
		}
	}
	e.say("%s: %d of %d nodes failed", s.name, down, n)
	// Long enough for the pods to be evicted (10s after the taint) and the workloads to be
	// short beyond the workload grace period.
	return sleep(ctx, 45*time.Second)
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// badRelease: a namespace under change control; an approved change rolls out a release whose
// pods crash-loop, and the rollout stalls (ProgressDeadlineExceeded after 6s), so the change
// fails.
func badRelease(ctx context.Context, e *env, s *scope) error {
	d := deployment(s, "shop", 2, nil)
	d.Spec.MinReadySeconds = 3
	d.Spec.ProgressDeadlineSeconds = ptr.To[int32](6)
	if err := e.c.Create(ctx, d); err != nil {
		return err
	}
	if err := workloadsReady(ctx, e, d, nil); err != nil {
		return err
	}
	ns := &corev1.Namespace{}
	if err := e.c.Get(ctx, client.ObjectKey{Name: s.namespace}, ns); err != nil {
		return err
	}
	patch := client.MergeFrom(ns.DeepCopy())
	if ns.Labels == nil {
		ns.Labels = map[string]string{}
	}
	ns.Labels[itopsv1alpha1.LabelChangeControl] = itopsv1alpha1.ChangeControlEnforced
	if err := e.c.Patch(ctx, ns, patch); err != nil {
		return err
	}
	alice, err := e.local.UserClient("alice@example.com", "system:masters")
	if err != nil {
		return err
	}
	bob, err := e.local.UserClient("bob@example.com", "system:masters")
	if err != nil {
		return err
	}
	pipeline, err := e.local.UserClient("system:serviceaccount:flux-system:kustomize-controller", "system:masters")
	if err != nil {
		return err
	}
	cr := &itopsv1alpha1.ChangeRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "shop-2-0", Namespace: s.namespace},
		Spec:       itopsv1alpha1.ChangeRequestSpec{Title: "Shop 2.0", Targets: []itopsv1alpha1.ChangeTarget{{Kind: itopsv1alpha1.TargetDeployment, Name: "shop"}}},
	}
	if err := alice.Create(ctx, cr); err != nil {
		return err
	}
	patch = client.MergeFrom(cr.DeepCopy())
	cr.Spec.Approvals = []itopsv1alpha1.Approval{{Approver: "bob@example.com", Decision: itopsv1alpha1.DecisionApprove}}
	if err := bob.Patch(ctx, cr, patch); err != nil {
		return err
	}
	if err := changePhase(ctx, e, cr, itopsv1alpha1.ChangeApproved, 30*time.Second); err != nil {
		return err
	}
	if err := poll(ctx, 30*time.Second, func(ctx context.Context) (bool, error) {
		if err := pipeline.Get(ctx, client.ObjectKeyFromObject(d), d); err != nil {
			return false, nil //nolint:nilerr // keep trying
		}
		patch := client.MergeFrom(d.DeepCopy())
		d.Spec.Template.Spec.Containers[0].Image = "shop:2.0"
		d.Spec.Template.Labels[chaosLabel] = "crashloop"
		return pipeline.Patch(ctx, d, patch) == nil, nil
	}); err != nil {
		return fmt.Errorf("rolling out the release: %w", err)
	}
	if err := changePhase(ctx, e, cr, itopsv1alpha1.ChangeFailed, 2*time.Minute); err != nil {
		return err
	}
	return sleep(ctx, 10*time.Second)
}

func changePhase(ctx context.Context, e *env, cr *itopsv1alpha1.ChangeRequest, want itopsv1alpha1.ChangePhase, timeout time.Duration) error {
	err := poll(ctx, timeout, func(ctx context.Context) (bool, error) {
		return e.c.Get(ctx, client.ObjectKeyFromObject(cr), cr) == nil && cr.Status.Phase == want, nil
	})
	if err != nil {
		return fmt.Errorf("ChangeRequest %s not %s (is %s): %w", cr.Name, want, cr.Status.Phase, err)
	}
	return nil
}

// cronJobFailing: a CronJob running every minute whose runs fail (their pods cannot be
// scheduled and each Job's activeDeadlineSeconds runs out: JobFailed, DeadlineExceeded); after
// two failed runs it is fixed and the next run succeeds.
func cronJobFailing(ctx context.Context, e *env, s *scope) error {
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "report", Namespace: s.namespace},
		Spec: batchv1.CronJobSpec{
			Schedule:          "* * * * *",
			ConcurrencyPolicy: batchv1.ForbidConcurrent,
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{
				BackoffLimit: ptr.To[int32](0), ActiveDeadlineSeconds: ptr.To[int64](5),
				Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					NodeSelector:  map[string]string{"itops.dev/noise-no-such-node": "true"},
					Containers:    []corev1.Container{{Name: "report", Image: "report:1.0"}},
				}},
			}},
		},
	}
	if err := e.c.Create(ctx, cj); err != nil {
		return err
	}
	if err := jobs(ctx, e, s, batchv1.JobFailed, 2, 3*time.Minute); err != nil {
		return err
	}
	e.say("%s: two runs failed; fixing the CronJob", s.name)
	if err := e.c.Get(ctx, client.ObjectKeyFromObject(cj), cj); err != nil {
		return err
	}
	patch := client.MergeFrom(cj.DeepCopy())
	cj.Spec.JobTemplate.Spec.Template.Spec.NodeSelector = nil
	if err := e.c.Patch(ctx, cj, patch); err != nil {
		return err
	}
	return jobs(ctx, e, s, batchv1.JobComplete, 1, 2*time.Minute)
}

// jobs waits until n Jobs of the namespace have had the condition (the CronJob controller
// deletes all but the last failed Job: failedJobsHistoryLimit 1).
func jobs(ctx context.Context, e *env, s *scope, cond batchv1.JobConditionType, n int, timeout time.Duration) error {
	seen := map[string]bool{}
	err := poll(ctx, timeout, func(ctx context.Context) (bool, error) {
		list := &batchv1.JobList{}
		if err := e.c.List(ctx, list, client.InNamespace(s.namespace)); err != nil {
			return false, nil //nolint:nilerr // keep waiting
		}
		for _, j := range list.Items {
			for _, c := range j.Status.Conditions {
				if c.Type == cond && c.Status == corev1.ConditionTrue {
					seen[j.Name] = true
				}
			}
		}
		return len(seen) >= n, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for %d Jobs %s: %w", n, cond, err)
	}
	return nil
}

// wffcClaim: a claim of a WaitForFirstConsumer StorageClass that no pod uses yet stays Pending
// by design; counted past the claim grace period.
func wffcClaim(ctx context.Context, e *env, s *scope) error {
	class := &storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: "noise-local-" + s.namespace},
		Provisioner:       "example.com/local",
		VolumeBindingMode: ptr.To(storagev1.VolumeBindingWaitForFirstConsumer),
	}
	if err := e.c.Create(ctx, class); err != nil {
		return err
	}
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: s.namespace},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: ptr.To(class.Name),
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	if err := e.c.Create(ctx, pvc); err != nil {
		return err
	}
	return sleep(ctx, 45*time.Second)
}

// autoscalerRemovesNode: Cluster Autoscaler scales a node down: it taints it
// ToBeDeletedByClusterAutoscaler, evicts its pods (DaemonSet pods stay), terminates the
// instance (the kubelet stops reporting: Ready=Unknown) and, later, the cloud node controller
// deletes the Node.
func autoscalerRemovesNode(ctx context.Context, e *env, s *scope) error {
	nodes, err := addNodes(ctx, e, s, 2, 2)
	if err != nil {
		return err
	}
	ds := daemonSet(s, "agent")
	if err := e.c.Create(ctx, ds); err != nil {
		return err
	}
	d := deployment(s, "api", 2, nil)
	if err := e.c.Create(ctx, d); err != nil {
		return err
	}
	if err := workloadsReady(ctx, e, d, []*appsv1.DaemonSet{ds}); err != nil {
		return fmt.Errorf("workloads not ready before the scale-down: %w", err)
	}
	node := nodes[0]
	if err := e.c.Get(ctx, client.ObjectKeyFromObject(node), node); err != nil {
		return err
	}
	patch := client.MergeFrom(node.DeepCopy())
	node.Spec.Taints = append(node.Spec.Taints, corev1.Taint{Key: "ToBeDeletedByClusterAutoscaler",
		Value: strconv.FormatInt(time.Now().Unix(), 10), Effect: corev1.TaintEffectNoSchedule})
	if err := e.c.Patch(ctx, node, patch); err != nil {
		return err
	}
	pods := &corev1.PodList{}
	if err := e.c.List(ctx, pods, client.InNamespace(s.namespace)); err != nil {
		return err
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.Spec.NodeName != node.Name || ownedBy(p, "DaemonSet") {
			continue
		}
		eviction := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace}}
		if err := e.c.SubResource("eviction").Create(ctx, p, eviction); err != nil {
			return fmt.Errorf("evicting pod %s: %w", p.Name, err)
		}
	}
	e.say("%s: node drained; terminating its instance", s.name)
	if err := kubeletGone(ctx, e, node); err != nil {
		return err
	}
	e.say("%s: node Ready=Unknown; deleting it in 20s", s.name)
	if err := sleep(ctx, 20*time.Second); err != nil {
		return err
	}
	return e.c.Delete(ctx, node)
}

// kubeletGone simulates a node whose instance is gone: kwok stops managing it, and it turns
// Ready=Unknown as the node lifecycle controller marks a node whose kubelet stopped posting
// status (set here at once rather than after node-monitor-grace-period), with its pods marked
// not ready; the controller then taints it unreachable and evicts what does not tolerate it.
func kubeletGone(ctx context.Context, e *env, node *corev1.Node) error {
	if err := e.c.Get(ctx, client.ObjectKeyFromObject(node), node); err != nil {
		return err
	}
	patch := client.MergeFrom(node.DeepCopy())
	delete(node.Annotations, cluster.FakeNodeAnnotation)
	if err := e.c.Patch(ctx, node, patch); err != nil {
		return err
	}
	if err := poll(ctx, 2*time.Minute, func(ctx context.Context) (bool, error) {
		if nodeReady(ctx, e.c, node) == corev1.ConditionUnknown {
			return true, nil
		}
		now := metav1.Now()
		for i, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady {
				node.Status.Conditions[i] = corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionUnknown, Reason: "NodeStatusUnknown",
					Message: "Kubelet stopped posting node status.", LastHeartbeatTime: c.LastHeartbeatTime, LastTransitionTime: now}
			}
		}
		_ = e.c.Status().Update(ctx, node)
		return false, nil
	}); err != nil {
		return fmt.Errorf("node %s never turned Ready=Unknown: %w", node.Name, err)
	}
	// What the node lifecycle controller does when it sees a node's Ready turn Unknown
	// (MarkPodsNotReady); it does not when the transition was written by someone else.
	pods := &corev1.PodList{}
	if err := e.c.List(ctx, pods, client.MatchingFields{"spec.nodeName": node.Name}); err != nil {
		return err
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		for j, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				p.Status.Conditions[j].Status, p.Status.Conditions[j].LastTransitionTime = corev1.ConditionFalse, metav1.Now()
				if err := e.c.Status().Update(ctx, p); err != nil {
					return fmt.Errorf("marking pod %s not ready: %w", p.Name, err)
				}
			}
		}
	}
	return nil
}

func ownedBy(p *corev1.Pod, kind string) bool {
	owner := metav1.GetControllerOf(p)
	return owner != nil && owner.Kind == kind
}

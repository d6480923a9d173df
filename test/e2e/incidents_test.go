package e2e

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/test/cluster"
)

// chaosLabel makes kwok put a pod into CrashLoopBackOff (test/cluster/stages/pod-crashloop.yaml).
const chaosLabel = "itops.dev/chaos"

func incidentsWithReason(ns, reason string) func(g Gomega) []itopsv1alpha1.Incident {
	return func(g Gomega) []itopsv1alpha1.Incident {
		list := &itopsv1alpha1.IncidentList{}
		g.Expect(k8s.List(ctx, list, client.InNamespace(ns), client.MatchingLabels{itopsv1alpha1.LabelReason: reason})).To(Succeed())
		return list.Items
	}
}

// healthIncidents lists the incidents health detection opened in ns.
func healthIncidents(ns string) func(g Gomega) []itopsv1alpha1.Incident {
	return func(g Gomega) []itopsv1alpha1.Incident {
		list := &itopsv1alpha1.IncidentList{}
		g.Expect(k8s.List(ctx, list, client.InNamespace(ns), client.MatchingLabels{itopsv1alpha1.LabelSource: string(itopsv1alpha1.SourceHealthCheck)})).To(Succeed())
		return list.Items
	}
}

// onlyIncident asserts that ns holds exactly one health incident and returns it.
func onlyIncident(ns string) func(g Gomega) *itopsv1alpha1.Incident {
	return func(g Gomega) *itopsv1alpha1.Incident {
		incs := healthIncidents(ns)(g)
		g.Expect(incs).To(HaveLen(1), "one incident per affected thing")
		return &incs[0]
	}
}

func crashingDeployment(ns, name, chaos string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name, chaosLabel: chaos}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: name + ":1"}}},
			},
		},
	}
}

// rolloutCRD is a tiny stand-in for Argo Rollouts' CRD: enough for Rollout objects to own
// ReplicaSets.
func rolloutCRD() *unstructured.Unstructured {
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": "rollouts.argoproj.io"},
		"spec": map[string]any{
			"group": "argoproj.io", "scope": "Namespaced",
			"names": map[string]any{"kind": "Rollout", "listKind": "RolloutList", "plural": "rollouts", "singular": "rollout"},
			"versions": []any{map[string]any{"name": "v1alpha1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}},
		},
	}}
	return crd
}

var _ = Describe("One incident per problem", func() {
	It("opens ONE incident for an OOM crash loop, named by its most specific cause, with both signals", func() {
		ns := newNamespace()
		Expect(k8s.Create(ctx, crashingDeployment(ns, "cache", "oomloop", 2))).To(Succeed())
		Eventually(func(g Gomega) {
			inc := onlyIncident(ns)(g)
			g.Expect(inc.Name).To(Equal("deployment-cache"))
			g.Expect(inc.Spec.Reason).To(Equal(itopsv1alpha1.ReasonOOMKilled))
			g.Expect(inc.Labels).To(HaveKeyWithValue(itopsv1alpha1.LabelReason, itopsv1alpha1.ReasonOOMKilled))
			g.Expect(inc.Spec.Title).To(ContainSubstring("OOMKilled"))
			g.Expect(inc.Status.Signals).To(ContainElements(
				And(HaveField("Reason", itopsv1alpha1.ReasonOOMKilled), HaveField("Active", true)),
				And(HaveField("Reason", itopsv1alpha1.ReasonCrashLoopBackOff), HaveField("Active", true))))
		}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())
		Consistently(healthIncidents(ns)).WithTimeout(3 * time.Second).Should(HaveLen(1))
	})

	It("opens one incident naming the Argo Rollout for a crash-looping pod of its ReplicaSet", func() {
		crd := rolloutCRD()
		if err := k8s.Create(ctx, crd); err != nil {
			Expect(apierrors.IsAlreadyExists(err)).To(BeTrue(), "%v", err)
		}
		ns := newNamespace()
		rollout := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
			"metadata": map[string]any{"name": "canary", "namespace": ns},
			"spec":     map[string]any{"replicas": int64(1)},
		}}
		Eventually(func() error { return k8s.Create(ctx, rollout) }).WithTimeout(30 * time.Second).Should(Succeed())
		labels := map[string]string{"app": "canary", "rollouts-pod-template-hash": "7d9f8c"}
		rs := &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{Name: "canary-7d9f8c", Namespace: ns, Labels: labels,
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "argoproj.io/v1alpha1", Kind: "Rollout", Name: "canary",
					UID: rollout.GetUID(), Controller: ptr.To(true)}}},
			Spec: appsv1.ReplicaSetSpec{
				Replicas: ptr.To[int32](1),
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "canary", "rollouts-pod-template-hash": "7d9f8c", chaosLabel: "crashloop"}},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "canary:2"}}},
				},
			},
		}
		Expect(k8s.Create(ctx, rs)).To(Succeed())
		Eventually(func(g Gomega) {
			inc := onlyIncident(ns)(g)
			g.Expect(inc.Name).To(Equal("rollout-canary"))
			g.Expect(inc.Spec.Affected[0]).To(Equal(itopsv1alpha1.ObjectReference{APIVersion: "argoproj.io/v1alpha1", Kind: "Rollout", Namespace: ns, Name: "canary"}))
			g.Expect(inc.Spec.Reason).To(Equal(itopsv1alpha1.ReasonCrashLoopBackOff))
		}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())
	})

	It("judges a CronJob by its latest runs: one incident naming the CronJob, cleared by a success, recurring on a failure", func() {
		ns := newNamespace()
		cj := &batchv1.CronJob{
			ObjectMeta: metav1.ObjectMeta{Name: "backup", Namespace: ns},
			Spec: batchv1.CronJobSpec{Schedule: "0 0 1 1 *", Suspend: ptr.To(true), JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{
				Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
					Containers: []corev1.Container{{Name: "backup", Image: "backup:1"}}}}}}},
		}
		Expect(k8s.Create(ctx, cj)).To(Succeed())
		run := func(name string, fail bool) {
			GinkgoHelper()
			podLabels := map[string]string{}
			if fail {
				podLabels["pod-container-running-failed.stage.kwok.x-k8s.io"] = "true"
			}
			job := &batchv1.Job{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, OwnerReferences: []metav1.OwnerReference{{
					APIVersion: "batch/v1", Kind: "CronJob", Name: cj.Name, UID: cj.UID, Controller: ptr.To(true)}}},
				Spec: batchv1.JobSpec{BackoffLimit: ptr.To[int32](0), Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
					Spec:       corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "backup", Image: "backup:1"}}}}},
			}
			Expect(k8s.Create(ctx, job)).To(Succeed())
			want := batchv1.JobComplete
			if fail {
				want = batchv1.JobFailed
			}
			Eventually(func(g Gomega) {
				g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(job), job)).To(Succeed())
				g.Expect(job.Status.Conditions).To(ContainElement(And(HaveField("Type", want), HaveField("Status", corev1.ConditionTrue))))
			}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())
		}
		jobFailed := func(active bool, count int32) func(g Gomega) {
			return func(g Gomega) {
				inc := onlyIncident(ns)(g)
				g.Expect(inc.Name).To(Equal("cronjob-backup"))
				g.Expect(inc.Spec.Affected[0].Kind).To(Equal("CronJob"))
				g.Expect(inc.Status.Signals).To(ContainElement(And(HaveField("Reason", itopsv1alpha1.ReasonJobFailed),
					HaveField("Active", active), HaveField("Count", count))))
			}
		}

		By("a failed run")
		run("backup-1", true)
		Eventually(jobFailed(true, 1)).WithTimeout(30 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())

		By("a later successful run clears the signal")
		run("backup-2", false)
		Eventually(jobFailed(false, 1)).WithTimeout(30 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())

		By("a later failure recurs on the same incident")
		run("backup-3", true)
		Eventually(jobFailed(true, 2)).WithTimeout(30 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())
	})

	It("links DaemonSets short of pods on two NotReady nodes to the node incidents as symptoms, never above them", func() {
		ns := newNamespace()
		group := "ds-" + ns
		nodes := make([]*corev1.Node, 0, 2)
		for i := range 2 {
			node := cluster.FakeNode(fmt.Sprintf("%s-%d", group, i), i)
			node.Labels["itops.dev/e2e-group"] = group
			Expect(k8s.Create(ctx, node)).To(Succeed())
			DeferCleanup(func() { Expect(client.IgnoreNotFound(k8s.Delete(ctx, node))).To(Succeed()) })
			nodes = append(nodes, node)
		}
		for _, name := range []string{"log-agent", "node-exporter"} {
			labels := map[string]string{"app": name}
			ds := &appsv1.DaemonSet{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
				Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					// Node agents tolerate every taint (as log collectors and exporters do), so they
					// stay desired on NotReady nodes and fall short there.
					Spec: corev1.PodSpec{NodeSelector: map[string]string{"itops.dev/e2e-group": group},
						Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
						Containers:  []corev1.Container{{Name: "agent", Image: name + ":1"}}}}},
			}
			Expect(k8s.Create(ctx, ds)).To(Succeed())
			Eventually(func(g Gomega) {
				g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(ds), ds)).To(Succeed())
				g.Expect(ds.Status.NumberReady).To(BeEquivalentTo(2))
			}).WithTimeout(time.Minute).Should(Succeed())
		}

		By("failing both nodes")
		for _, node := range nodes {
			Expect(k8s.Get(ctx, client.ObjectKeyFromObject(node), node)).To(Succeed())
			patch := client.MergeFrom(node.DeepCopy())
			node.Labels["node-not-ready.stage.kwok.x-k8s.io"] = "true"
			Expect(k8s.Patch(ctx, node, patch)).To(Succeed())
		}
		for _, node := range nodes {
			Eventually(func(g Gomega) {
				inc := &itopsv1alpha1.Incident{}
				g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: clusterNamespace, Name: "node-" + node.Name}, inc)).To(Succeed())
				g.Expect(inc.Status.Priority).To(Equal(itopsv1alpha1.PriorityP2))
			}).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed())
		}

		By("their pods turning not ready, as the node lifecycle controller marks them")
		// kwok's node-not-ready stage writes Ready=False itself, so the node lifecycle
		// controller (which marks pods NotReady when it sees the heartbeats stop) stays quiet:
		// the spec does its part, as on a real cluster.
		pods := &corev1.PodList{}
		Expect(k8s.List(ctx, pods, client.InNamespace(ns))).To(Succeed())
		Expect(pods.Items).To(HaveLen(4))
		for i := range pods.Items {
			pod := &pods.Items[i]
			Eventually(func() error {
				if err := k8s.Get(ctx, client.ObjectKeyFromObject(pod), pod); err != nil {
					return err
				}
				for j := range pod.Status.Conditions {
					if pod.Status.Conditions[j].Type == corev1.PodReady {
						pod.Status.Conditions[j].Status, pod.Status.Conditions[j].Reason = corev1.ConditionFalse, "NodeNotReady"
						pod.Status.Conditions[j].LastTransitionTime = metav1.Now()
					}
				}
				return k8s.Status().Update(ctx, pod)
			}).WithTimeout(30 * time.Second).Should(Succeed())
		}

		By("the DaemonSet incidents being symptoms of the first node's incident, at its priority")
		cause := "node-" + nodes[0].Name
		Eventually(func(g Gomega) {
			incs := healthIncidents(ns)(g)
			g.Expect(incs).To(HaveLen(2))
			for _, inc := range incs {
				g.Expect(inc.Status.Signals).To(ContainElement(HaveField("Reason", itopsv1alpha1.ReasonWorkloadUnavailable)))
				g.Expect(inc.Status.CausedBy).To(Equal(&itopsv1alpha1.IncidentReference{Kind: "Incident", Namespace: clusterNamespace, Name: cause}))
				g.Expect(meta.IsStatusConditionTrue(inc.Status.Conditions, itopsv1alpha1.IncidentConditionSymptom)).To(BeTrue())
				g.Expect(inc.Status.Priority).To(Equal(itopsv1alpha1.PriorityP2), "a symptom never outranks its cause")
			}
			nodeInc := &itopsv1alpha1.Incident{}
			g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: clusterNamespace, Name: cause}, nodeInc)).To(Succeed())
			g.Expect(nodeInc.Status.Symptoms).To(ConsistOf(
				HaveField("Name", "daemonset-log-agent"), HaveField("Name", "daemonset-node-exporter")))
		}).WithTimeout(2 * time.Minute).WithPolling(time.Second).Should(Succeed())
	})
})

var _ = Describe("Incidents from cluster health", func() {
	It("opens one incident for a crash-looping Deployment and resolves it after the fix rolls out", func() {
		ns := newNamespace()
		labels := map[string]string{"app": "checkout"}
		deploy := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "checkout", Namespace: ns},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](3),
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "checkout", chaosLabel: "crashloop"}},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "api", Image: "checkout:1.8.0"}}},
				},
			},
		}
		Expect(k8s.Create(ctx, deploy)).To(Succeed())

		By("opening exactly one incident, about the Deployment, for the three crashing pods")
		Eventually(func(g Gomega) {
			incs := incidentsWithReason(ns, itopsv1alpha1.ReasonCrashLoopBackOff)(g)
			g.Expect(incs).To(HaveLen(1))
			inc := incs[0]
			g.Expect(inc.Name).To(Equal("deployment-checkout"))
			g.Expect(inc.Status.Phase).To(Equal(itopsv1alpha1.IncidentOpen))
			g.Expect(inc.Spec.Affected).To(ConsistOf(HaveField("Name", "checkout")))
		}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())

		By("staying one incident once the crash loop outlasts the workload grace period: unavailability is a second signal")
		Eventually(func(g Gomega) {
			inc := onlyIncident(ns)(g)
			g.Expect(inc.Name).To(Equal("deployment-checkout"))
			g.Expect(inc.Spec.Reason).To(Equal(itopsv1alpha1.ReasonCrashLoopBackOff), "the most specific cause names it")
			g.Expect(inc.Status.Signals).To(ContainElements(
				And(HaveField("Reason", itopsv1alpha1.ReasonCrashLoopBackOff), HaveField("Active", true)),
				And(HaveField("Reason", itopsv1alpha1.ReasonWorkloadUnavailable), HaveField("Active", true))))
			g.Expect(inc.Status.Priority).To(Equal(itopsv1alpha1.PriorityP1), "the highest signal's priority")
		}).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed())
		Consistently(healthIncidents(ns)).WithTimeout(3 * time.Second).Should(HaveLen(1))

		By("rolling out a fixed version")
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(deploy), deploy)).To(Succeed())
		patch := client.MergeFrom(deploy.DeepCopy())
		delete(deploy.Spec.Template.Labels, chaosLabel)
		deploy.Spec.Template.Spec.Containers[0].Image = "checkout:1.8.1"
		Expect(k8s.Patch(ctx, deploy, patch)).To(Succeed())

		By("auto-resolving once every signal has been gone for --resolve-after")
		Eventually(func(g Gomega) {
			inc := onlyIncident(ns)(g)
			g.Expect(inc.Status.Phase).To(Equal(itopsv1alpha1.IncidentResolved))
			g.Expect(inc.Status.ResolvedBy).To(Equal(itopsv1alpha1.ResolvedByOperator))
			g.Expect(meta.IsStatusConditionTrue(inc.Status.Conditions, itopsv1alpha1.IncidentConditionAutoResolved)).To(BeTrue())
			g.Expect(inc.Status.Signals).To(HaveEach(HaveField("Active", false)))
			g.Expect(inc.Status.Timeline).To(ContainElement(HaveField("Type", "AutoResolved")))
		}).WithTimeout(2 * time.Minute).WithPolling(time.Second).Should(Succeed())
	})

	It("opens a NodeNotReady incident in the cluster namespace and resolves it when the node recovers", func() {
		node := cluster.FakeNode("kwok-node-chaos", 9)
		Expect(k8s.Create(ctx, node)).To(Succeed())
		DeferCleanup(func() { Expect(client.IgnoreNotFound(k8s.Delete(ctx, node))).To(Succeed()) })
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(node), node)).To(Succeed())
			g.Expect(node.Status.Conditions).To(ContainElement(And(HaveField("Type", corev1.NodeReady), HaveField("Status", corev1.ConditionTrue))))
		}).WithTimeout(time.Minute).Should(Succeed())

		By("failing the node (kwok's node-not-ready chaos stage)")
		patch := client.MergeFrom(node.DeepCopy())
		node.Labels["node-not-ready.stage.kwok.x-k8s.io"] = "true"
		node.Annotations["node-not-ready.stage.kwok.x-k8s.io/message"] = "kubelet stopped posting node status"
		Expect(k8s.Patch(ctx, node, patch)).To(Succeed())
		Eventually(func(g Gomega) {
			inc := &itopsv1alpha1.Incident{}
			g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: clusterNamespace, Name: "node-kwok-node-chaos"}, inc)).To(Succeed())
			g.Expect(inc.Status.Phase).To(Equal(itopsv1alpha1.IncidentOpen))
			g.Expect(inc.Spec.Description).To(ContainSubstring("kubelet stopped posting node status"))
		}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())

		By("recovering the node")
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(node), node)).To(Succeed())
		patch = client.MergeFrom(node.DeepCopy())
		delete(node.Labels, "node-not-ready.stage.kwok.x-k8s.io")
		Expect(k8s.Patch(ctx, node, patch)).To(Succeed())
		Eventually(func(g Gomega) {
			inc := &itopsv1alpha1.Incident{}
			g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: clusterNamespace, Name: "node-kwok-node-chaos"}, inc)).To(Succeed())
			g.Expect(inc.Status.Phase).To(Equal(itopsv1alpha1.IncidentResolved))
		}).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed())
	})
})

package e2e

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

		By("opening exactly one CrashLoopBackOff incident for the three crashing pods")
		Eventually(func(g Gomega) {
			incs := incidentsWithReason(ns, itopsv1alpha1.ReasonCrashLoopBackOff)(g)
			g.Expect(incs).To(HaveLen(1))
			inc := incs[0]
			g.Expect(inc.Name).To(Equal("deployment-checkout-crashloopbackoff"))
			g.Expect(inc.Status.Priority).To(Equal(itopsv1alpha1.PriorityP2))
			g.Expect(inc.Status.Phase).To(Equal(itopsv1alpha1.IncidentOpen))
			g.Expect(inc.Spec.Affected).To(ConsistOf(HaveField("Name", "checkout")))
		}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())
		Consistently(incidentsWithReason(ns, itopsv1alpha1.ReasonCrashLoopBackOff)).WithTimeout(3 * time.Second).Should(HaveLen(1))

		By("rolling out a fixed version")
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(deploy), deploy)).To(Succeed())
		patch := client.MergeFrom(deploy.DeepCopy())
		delete(deploy.Spec.Template.Labels, chaosLabel)
		deploy.Spec.Template.Spec.Containers[0].Image = "checkout:1.8.1"
		Expect(k8s.Patch(ctx, deploy, patch)).To(Succeed())

		By("auto-resolving once healthy for --resolve-after")
		Eventually(func(g Gomega) {
			incs := incidentsWithReason(ns, itopsv1alpha1.ReasonCrashLoopBackOff)(g)
			g.Expect(incs).To(HaveLen(1))
			g.Expect(incs[0].Status.Phase).To(Equal(itopsv1alpha1.IncidentResolved))
			g.Expect(incs[0].Status.ResolvedBy).To(Equal(itopsv1alpha1.ResolvedByOperator))
			g.Expect(incs[0].Status.Timeline).To(ContainElement(HaveField("Type", "AutoResolved")))
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
			g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: clusterNamespace, Name: "node-kwok-node-chaos-nodenotready"}, inc)).To(Succeed())
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
			g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: clusterNamespace, Name: "node-kwok-node-chaos-nodenotready"}, inc)).To(Succeed())
			g.Expect(inc.Status.Phase).To(Equal(itopsv1alpha1.IncidentResolved))
		}).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed())
	})
})

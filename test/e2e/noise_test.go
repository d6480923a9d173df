package e2e

import (
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/test/cluster"
)

// The noise budget's assertion (issue 12): a normal state opens nothing. The full measure, every
// fault scenario with its incidents and pages, is the opt-in `make noise-budget`
// (test/noise), too long for this suite.
var _ = Describe("Noise budget", func() {
	It("does not page NodeNotReady for a node the cluster autoscaler drains and removes", func() {
		node := cluster.FakeNode("kwok-node-scaled-down", 10)
		Expect(k8s.Create(ctx, node)).To(Succeed())
		DeferCleanup(func() { Expect(client.IgnoreNotFound(k8s.Delete(ctx, node))).To(Succeed()) })
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(node), node)).To(Succeed())
			g.Expect(node.Status.Conditions).To(ContainElement(And(HaveField("Type", corev1.NodeReady), HaveField("Status", corev1.ConditionTrue))))
		}).WithTimeout(time.Minute).Should(Succeed())

		By("the autoscaler tainting it for deletion, then its instance terminated (kwok stops, Ready=Unknown)")
		patch := client.MergeFrom(node.DeepCopy())
		node.Spec.Taints = append(node.Spec.Taints, corev1.Taint{Key: "ToBeDeletedByClusterAutoscaler",
			Value: strconv.FormatInt(time.Now().Unix(), 10), Effect: corev1.TaintEffectNoSchedule})
		delete(node.Annotations, cluster.FakeNodeAnnotation)
		Expect(k8s.Patch(ctx, node, patch)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(node), node)).To(Succeed())
			for i, c := range node.Status.Conditions {
				if c.Type == corev1.NodeReady {
					node.Status.Conditions[i] = corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionUnknown, Reason: "NodeStatusUnknown",
						Message: "Kubelet stopped posting node status.", LastHeartbeatTime: c.LastHeartbeatTime, LastTransitionTime: metav1.Now()}
				}
			}
			g.Expect(k8s.Status().Update(ctx, node)).To(Succeed())
		}).WithTimeout(30 * time.Second).Should(Succeed())

		By("no NodeNotReady incident past the grace period (1s); then the node is deleted")
		key := client.ObjectKey{Namespace: clusterNamespace, Name: "node-kwok-node-scaled-down-nodenotready"}
		Consistently(func() bool { return apierrors.IsNotFound(k8s.Get(ctx, key, &itopsv1alpha1.Incident{})) }).
			WithTimeout(5 * time.Second).WithPolling(500 * time.Millisecond).Should(BeTrue())
		Expect(k8s.Delete(ctx, node)).To(Succeed())
	})
})

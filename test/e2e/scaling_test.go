package e2e

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/test/cluster"
)

// replicasOf is the Deployment's spec.replicas and its pods that exist on the (kwok) nodes.
func replicasOf(d *appsv1.Deployment) func(g Gomega) []int {
	return func(g Gomega) []int {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(d), d)).To(Succeed())
		pods := &corev1.PodList{}
		g.Expect(k8s.List(ctx, pods, client.InNamespace(d.Namespace), client.MatchingLabels{"app": d.Name})).To(Succeed())
		running := 0
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
				running++
			}
		}
		return []int{int(*d.Spec.Replicas), running}
	}
}

var _ = Describe("Scaling policies", func() {
	It("hold replicas within bounds, scale out while pods run but are not ready, and scale back after the burn", func() {
		ns := newNamespace() // no namespace label: the bounds follow the ServiceLevel (issue 15)
		api := createServiceDeployment(ns)
		sl := &itopsv1alpha1.ServiceLevel{
			ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: ns},
			Spec: itopsv1alpha1.ServiceLevelSpec{
				Selector:   metav1.LabelSelector{MatchLabels: map[string]string{"app": "api"}},
				Objectives: &itopsv1alpha1.Objectives{Availability: "99.9", Window: itopsv1alpha1.RollingWindow(time.Hour)},
				BurnRateAlerts: []itopsv1alpha1.BurnRateAlert{{LongWindow: metav1.Duration{Duration: time.Minute},
					ShortWindow: metav1.Duration{Duration: 10 * time.Second}, Factor: "2"}},
				Scaling: &itopsv1alpha1.ScalingPolicy{MinReplicas: ptr.To[int32](2), MaxReplicas: ptr.To[int32](3),
					ScaleOutOnBurn: &itopsv1alpha1.ScaleOutOnBurn{Step: 1, Cooldown: &metav1.Duration{Duration: 30 * time.Second}}},
			},
		}
		Expect(k8s.Create(ctx, sl)).To(Succeed())
		Eventually(replicasOf(api)).WithTimeout(time.Minute).Should(Equal([]int{2, 2}))

		By("the operator scopes its webhooks to the namespace of the ServiceLevel, with no namespace label: a dry run says the real request would be denied")
		seen := &warnings{}
		cfg, err := local.UserConfig("alice@example.com", "system:masters")
		Expect(err).NotTo(HaveOccurred())
		cfg.WarningHandler = seen
		alice, err := client.New(cfg, client.Options{Scheme: cluster.Scheme()})
		Expect(err).NotTo(HaveOccurred())
		scaleTo := func(replicas int32, opts ...client.SubResourceUpdateOption) error {
			scale := &autoscalingv1.Scale{}
			if err := alice.SubResource("scale").Get(ctx, api, scale); err != nil {
				return err
			}
			scale.Spec.Replicas = replicas
			return alice.SubResource("scale").Update(ctx, api, append(opts, client.WithSubResourceBody(scale))...)
		}
		Eventually(func() []string {
			Expect(scaleTo(10, client.DryRunAll)).To(Succeed())
			return seen.all()
		}).WithTimeout(20 * time.Second).Should(ContainElement(ContainSubstring("dry run: the real request would be denied")))

		By("kubectl scale outside the bounds, denied naming the ServiceLevel")
		Expect(scaleTo(10)).To(MatchError(ContainSubstring("10 replicas is above maxReplicas 3 of ServiceLevel api")))

		By("pods that run but fail readiness: the burn scales the Deployment out, never above the bounds")
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(api), api)).To(Succeed())
		patch := client.MergeFrom(api.DeepCopy())
		api.Spec.Template.Labels[chaosLabel] = "notready"
		Expect(k8s.Patch(ctx, api, patch)).To(Succeed())
		Eventually(replicasOf(api)).WithTimeout(time.Minute).WithPolling(time.Second).Should(Equal([]int{3, 3}))
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(sl), sl)).To(Succeed())
		Expect(sl.Status.ScalingHistory).To(ConsistOf(And(HaveField("Reason", "ScaleOutOnBurn"), HaveField("From", int32(2)), HaveField("To", int32(3)))))
		Consistently(func(g Gomega) int32 {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(api), api)).To(Succeed())
			return *api.Spec.Replicas
		}).WithTimeout(3 * time.Second).Should(Equal(int32(3)))

		By("the pods ready again: back to the replicas the burn started from, a cooldown after it stopped")
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(api), api)).To(Succeed())
		patch = client.MergeFrom(api.DeepCopy())
		delete(api.Spec.Template.Labels, chaosLabel)
		Expect(k8s.Patch(ctx, api, patch)).To(Succeed())
		Eventually(replicasOf(api)).WithTimeout(2 * time.Minute).WithPolling(time.Second).Should(Equal([]int{2, 2}))
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(sl), sl)).To(Succeed())
		Expect(sl.Status.ScalingHistory).To(HaveLen(2))
		Expect(sl.Status.ScalingHistory[1]).To(And(HaveField("Reason", "ScaleBack"), HaveField("From", int32(3)), HaveField("To", int32(2))))
	})
})

package webhook

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/test/testenv"
)

// scaledNamespace is a namespace of the spec's own that the scaling bounds webhooks already
// reach: it holds a ServiceLevel with scaling (selecting only a probe), the operator's scope
// controller has listed it in the webhooks' namespaceSelector, and the API server applies that
// selector: a server dry run of an out-of-bounds probe comes back with the webhook's warning.
// No namespace label is involved (issue 15).
func scaledNamespace() string {
	GinkgoHelper()
	ns := testenv.NewNamespace(ctx, env.Client, "scale")
	probeLabels := map[string]string{"itops.dev/test-probe": "scope"}
	Expect(env.Client.Create(ctx, &itopsv1alpha1.ServiceLevel{ObjectMeta: metav1.ObjectMeta{Name: "scope-probe", Namespace: ns},
		Spec: itopsv1alpha1.ServiceLevelSpec{Selector: metav1.LabelSelector{MatchLabels: probeLabels},
			Scaling: &itopsv1alpha1.ScalingPolicy{MaxReplicas: ptr.To[int32](1)}}})).To(Succeed())
	probe := webDeployment(ns)
	probe.Name, probe.Labels = "scope-probe", probeLabels
	prober, seen := clientWithWarnings("scope-prober")
	Eventually(func() []string {
		_ = prober.Create(ctx, probe.DeepCopy(), client.DryRunAll)
		return seen.all()
	}).WithTimeout(20 * time.Second).Should(ContainElement(ContainSubstring("dry run: the real request would be denied")))
	return ns
}

var _ = Describe("The scaling bounds", func() {
	It("deny replicas and autoscalers outside the bounds of the ServiceLevels, naming them", func() {
		ns := scaledNamespace()
		for _, sl := range []*itopsv1alpha1.ServiceLevel{
			{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: ns}, Spec: itopsv1alpha1.ServiceLevelSpec{
				Selector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				Scaling:  &itopsv1alpha1.ScalingPolicy{MinReplicas: ptr.To[int32](2), MaxReplicas: ptr.To[int32](6)}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "platform", Namespace: ns}, Spec: itopsv1alpha1.ServiceLevelSpec{
				Selector: metav1.LabelSelector{MatchLabels: map[string]string{"tier": "frontend"}},
				Scaling:  &itopsv1alpha1.ScalingPolicy{MaxReplicas: ptr.To[int32](5)}}},
		} {
			Expect(env.Client.Create(ctx, sl)).To(Succeed())
		}
		web := webDeployment(ns)
		web.Labels["tier"] = "frontend"
		web.Spec.Replicas = ptr.To[int32](8)
		Eventually(func() error { return env.Client.Create(ctx, web.DeepCopy()) }).WithTimeout(10 * time.Second).Should(MatchError(ContainSubstring(
			"itops scaling policy: Deployment " + ns + "/web: 8 replicas is above maxReplicas 5 of ServiceLevel platform")))
		web.Spec.Replicas = ptr.To[int32](3)
		Expect(env.Client.Create(ctx, web)).To(Succeed())

		By("kubectl scale, through the scale subresource")
		scale := &autoscalingv1.Scale{}
		Expect(env.Client.SubResource("scale").Get(ctx, web, scale)).To(Succeed())
		scale.Spec.Replicas = 1
		Expect(env.Client.SubResource("scale").Update(ctx, web, client.WithSubResourceBody(scale))).To(MatchError(ContainSubstring(
			"1 replicas is below minReplicas 2 of ServiceLevel shop")))
		scale.Spec.Replicas = 4
		Expect(env.Client.SubResource("scale").Update(ctx, web, client.WithSubResourceBody(scale))).To(Succeed())

		By("updates that do not scale pass, even for a workload that drifted")
		Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(web), web)).To(Succeed())
		patch := client.MergeFrom(web.DeepCopy())
		web.Spec.Template.Spec.Containers[0].Image = "shop/web:1.1"
		Expect(env.Client.Patch(ctx, web, patch)).To(Succeed())

		By("HorizontalPodAutoscalers that would leave the bounds")
		hpa := &autoscalingv2.HorizontalPodAutoscaler{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
				MaxReplicas:    10,
			},
		}
		Expect(env.Client.Create(ctx, hpa.DeepCopy())).To(MatchError(ContainSubstring(
			"HorizontalPodAutoscaler " + ns + "/web: minReplicas 1 is below minReplicas 2 of ServiceLevel shop; maxReplicas 10 is above maxReplicas 5 of ServiceLevel platform")))
		hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas = ptr.To[int32](2), 5
		Expect(env.Client.Create(ctx, hpa)).To(Succeed())
	})

	It("name both ServiceLevels when their bounds do not intersect", func() {
		ns := scaledNamespace()
		for _, sl := range []*itopsv1alpha1.ServiceLevel{
			{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: ns}, Spec: itopsv1alpha1.ServiceLevelSpec{
				Selector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, Scaling: &itopsv1alpha1.ScalingPolicy{MinReplicas: ptr.To[int32](5)}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: ns}, Spec: itopsv1alpha1.ServiceLevelSpec{
				Selector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, Scaling: &itopsv1alpha1.ScalingPolicy{MaxReplicas: ptr.To[int32](3)}}},
		} {
			Expect(env.Client.Create(ctx, sl)).To(Succeed())
		}
		Eventually(func() error { return env.Client.Create(ctx, webDeployment(ns)) }).WithTimeout(10 * time.Second).Should(MatchError(ContainSubstring(
			"the scaling bounds do not intersect: ServiceLevel a sets minReplicas 5, ServiceLevel b sets maxReplicas 3")))
	})
})

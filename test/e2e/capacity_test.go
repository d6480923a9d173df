package e2e

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

var _ = Describe("Capacity and schedule detection", func() {
	It("opens AutoscalerLimited on an HPA's workload, DisruptionBlocked on a PDB that blocks drains, CronJobMissedSchedule on a CronJob far behind", func() {
		ns := newNamespace()
		By("a Deployment of one replica, an HPA on CPU without metrics-server, a PDB with minAvailable 1")
		Expect(k8s.Create(ctx, crashingDeployment(ns, "web", "none", 1))).To(Succeed())
		Expect(k8s.Create(ctx, &autoscalingv2.HorizontalPodAutoscaler{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: ptr.To[int32](1), MaxReplicas: 3,
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
				Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
					Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](80)}}}}},
		})).To(Succeed())
		one := intstr.FromInt32(1)
		Expect(k8s.Create(ctx, &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
			Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}})).To(Succeed())

		By("a yearly CronJob whose last run is years behind, with a starting deadline the controller will not start it past")
		cj := &batchv1.CronJob{
			ObjectMeta: metav1.ObjectMeta{Name: "report", Namespace: ns},
			Spec: batchv1.CronJobSpec{Schedule: "0 0 1 1 *", TimeZone: ptr.To("Europe/Berlin"), StartingDeadlineSeconds: ptr.To[int64](10),
				JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "report", Image: "report:1"}}}}}}},
		}
		Expect(k8s.Create(ctx, cj)).To(Succeed())
		cj.Status.LastScheduleTime = ptr.To(metav1.NewTime(time.Date(2020, 12, 31, 23, 0, 0, 0, time.UTC)))
		Expect(k8s.Status().Update(ctx, cj)).To(Succeed())

		incident := func(g Gomega, name string) *itopsv1alpha1.Incident {
			inc := &itopsv1alpha1.Incident{}
			g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, inc)).To(Succeed())
			return inc
		}
		Eventually(func(g Gomega) {
			inc := incident(g, "deployment-web")
			g.Expect(inc.Status.Signals).To(activeSignal(itopsv1alpha1.ReasonAutoscalerLimited, "HorizontalPodAutoscaler web cannot scale Deployment web: ScalingActive=False ("))
			g.Expect(inc.Spec.Affected).To(ContainElement(HaveField("Kind", "HorizontalPodAutoscaler")))
		}).WithTimeout(2 * time.Minute).WithPolling(time.Second).Should(Succeed())
		Eventually(func(g Gomega) {
			inc := incident(g, "poddisruptionbudget-web")
			g.Expect(inc.Status.Signals).To(activeSignal(itopsv1alpha1.ReasonDisruptionBlocked, "PodDisruptionBudget web allows no disruption since "))
			g.Expect(inc.Status.Signals).To(activeSignal(itopsv1alpha1.ReasonDisruptionBlocked, "minAvailable 1 with 1 expected pods (1 healthy); a node drain"))
			g.Expect(inc.Status.Priority).To(Equal(itopsv1alpha1.PriorityP4))
		}).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed())
		Eventually(func(g Gomega) {
			inc := incident(g, "cronjob-report")
			g.Expect(inc.Status.Signals).To(activeSignal(itopsv1alpha1.ReasonCronJobMissedSchedule,
				"did not start the run due at 2021-12-31T23:00:00Z within its startingDeadlineSeconds (10)"))
			g.Expect(inc.Spec.Reason).To(Equal(itopsv1alpha1.ReasonCronJobMissedSchedule))
		}).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed())

		By("a second replica lets the PDB allow a disruption: its signal clears")
		d := crashingDeployment(ns, "web", "none", 2)
		Expect(k8s.Patch(ctx, d, client.MergeFrom(crashingDeployment(ns, "web", "none", 1)))).To(Succeed())
		Eventually(func(g Gomega) {
			inc := incident(g, "poddisruptionbudget-web")
			g.Expect(inc.Status.Signals).To(ContainElement(And(HaveField("Reason", itopsv1alpha1.ReasonDisruptionBlocked), HaveField("Active", false))))
		}).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed())
	})

	It("opens MemoryNearLimit on a Deployment whose container's working set nears its limit, once metrics.k8s.io is served", func() {
		By("serving PodMetrics: a CRD stands in for metrics-server's aggregated API (same group, version, resource and shape)")
		crd := podMetricsCRD()
		if err := k8s.Create(ctx, crd); err != nil {
			Expect(apierrors.IsAlreadyExists(err)).To(BeTrue(), "%v", err)
		}
		ns := newNamespace()
		d := crashingDeployment(ns, "hungry", "none", 1)
		d.Spec.Template.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("100Mi")}
		Expect(k8s.Create(ctx, d)).To(Succeed())
		var pod corev1.Pod
		Eventually(func(g Gomega) {
			pods := &corev1.PodList{}
			g.Expect(k8s.List(ctx, pods, client.InNamespace(ns))).To(Succeed())
			g.Expect(pods.Items).To(HaveLen(1))
			pod = pods.Items[0]
		}).WithTimeout(time.Minute).Should(Succeed())
		usage := func(memory string) *unstructured.Unstructured {
			return &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "metrics.k8s.io/v1beta1", "kind": "PodMetrics",
				"metadata":  map[string]any{"name": pod.Name, "namespace": ns},
				"timestamp": time.Now().UTC().Format(time.RFC3339), "window": "15s",
				"containers": []any{map[string]any{"name": "app", "usage": map[string]any{"cpu": "5m", "memory": memory}}},
			}}
		}
		m := usage("95Mi")
		Eventually(func() error { return k8s.Create(ctx, m) }).WithTimeout(30 * time.Second).Should(Succeed())
		Eventually(func(g Gomega) {
			inc := onlyIncident(ns)(g)
			g.Expect(inc.Name).To(Equal("deployment-hungry"))
			g.Expect(inc.Status.Signals).To(activeSignal(itopsv1alpha1.ReasonMemoryNearLimit,
				"container app of pod "+pod.Name+" is near its 100Mi memory limit since "))
		}).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed())

		By("the working set falling back clears the signal")
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(m), m)).To(Succeed())
		Expect(unstructured.SetNestedSlice(m.Object, []any{map[string]any{"name": "app", "usage": map[string]any{"cpu": "5m", "memory": "10Mi"}}}, "containers")).To(Succeed())
		Expect(k8s.Update(ctx, m)).To(Succeed())
		Eventually(func(g Gomega) {
			inc := onlyIncident(ns)(g)
			g.Expect(inc.Status.Signals).To(ContainElement(And(HaveField("Reason", itopsv1alpha1.ReasonMemoryNearLimit), HaveField("Active", false))))
		}).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed())
	})
})

// podMetricsCRD defines pods.metrics.k8s.io/v1beta1 (PodMetrics) as a CRD: discovery and LIST
// answer as with metrics-server, without an aggregated API server in the simulated cluster.
func podMetricsCRD() *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": "pods.metrics.k8s.io",
			// *.k8s.io groups need this annotation on a CRD.
			"annotations": map[string]any{"api-approved.kubernetes.io": "unapproved, test stand-in for metrics-server"}},
		"spec": map[string]any{
			"group": "metrics.k8s.io", "scope": "Namespaced",
			"names": map[string]any{"kind": "PodMetrics", "listKind": "PodMetricsList", "plural": "pods", "singular": "podmetrics"},
			"versions": []any{map[string]any{"name": "v1beta1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}},
		},
	}}
}

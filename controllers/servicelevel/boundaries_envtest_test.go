package servicelevel

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/test/testenv"
)

// healthyService creates an available Deployment labelled app=<name> and a ServiceLevel over it.
func healthyService(ns, name string, window time.Duration) *itopsv1alpha1.ServiceLevel {
	GinkgoHelper()
	labels := map[string]string{"app": name}
	web := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "shop:1"}}}}},
	}
	Expect(env.Client.Create(ctx, web)).To(Succeed())
	setAvailable(web, true)
	sl := &itopsv1alpha1.ServiceLevel{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: itopsv1alpha1.ServiceLevelSpec{
			Selector:     metav1.LabelSelector{MatchLabels: labels},
			Objectives:   &itopsv1alpha1.Objectives{Availability: "99.9", Window: itopsv1alpha1.RollingWindow(window)},
			BudgetPolicy: itopsv1alpha1.BudgetPolicyFreezeChanges,
			BurnRateAlerts: []itopsv1alpha1.BurnRateAlert{{LongWindow: metav1.Duration{Duration: time.Minute},
				ShortWindow: metav1.Duration{Duration: 10 * time.Second}, Factor: "2"}},
		},
	}
	Expect(env.Client.Create(ctx, sl)).To(Succeed())
	return sl
}

var _ = Describe("ServiceLevel boundaries (issue 13)", func() {
	It("measures a new ServiceLevel over a healthy, unchanging Deployment within seconds, without any event", func() {
		ns := testenv.NewNamespace(ctx, env.Client, "measured")
		sl := healthyService(ns, "calm", 720*time.Hour)
		Eventually(func(g Gomega) {
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(sl), sl)).To(Succeed())
			g.Expect(sl.Status.Availability).To(Equal("100"))
			c := meta.FindStatusCondition(sl.Status.Conditions, itopsv1alpha1.SLConditionObjectiveMet)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Status).To(Equal(metav1.ConditionTrue), "not %q %q", c.Reason, c.Message)
		}).WithTimeout(10 * time.Second).WithPolling(250 * time.Millisecond).Should(Succeed())
	})

	It("ends BudgetExhausted at the exact second the rolling window drops enough bad time", func() {
		ns := testenv.NewNamespace(ctx, env.Client, "recovers")
		sl := healthyService(ns, "shop", time.Hour) // 99.9% over 1h: a budget of 3.6s
		Eventually(func(g Gomega) {
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(sl), sl)).To(Succeed())
			g.Expect(sl.Status.LastObservedAt).NotTo(BeNil())
			g.Expect(sl.Status.Availability).NotTo(BeEmpty())
		}).WithTimeout(10 * time.Second).Should(Succeed())

		By("books holding a 10s outage at the old end of the window: exhausted for about 17 more seconds")
		now := time.Now().Truncate(time.Second)
		start := now.Add(-time.Hour + 10*time.Second)
		recovery := now.Add(17 * time.Second) // 3s of the outage left in the window
		Eventually(func() error {
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(sl), sl); err != nil {
				return err
			}
			base := sl.DeepCopy()
			sl.Status.TrackingSince = &metav1.Time{Time: now.Add(-2 * time.Hour)}
			sl.Status.Outages = []itopsv1alpha1.Outage{{Start: metav1.Time{Time: start}, End: &metav1.Time{Time: start.Add(10 * time.Second)}}}
			return env.Client.Status().Patch(ctx, sl, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
		}).WithTimeout(10 * time.Second).Should(Succeed())
		patch := client.MergeFrom(sl.DeepCopy())
		sl.Spec.Description = "look again"
		Expect(env.Client.Patch(ctx, sl, patch)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(sl), sl)).To(Succeed())
			g.Expect(meta.IsStatusConditionTrue(sl.Status.Conditions, itopsv1alpha1.SLConditionBudgetExhausted)).To(BeTrue())
		}).WithTimeout(10 * time.Second).WithPolling(250 * time.Millisecond).Should(Succeed())

		By("the condition turning False by itself, at the recovery second, not at the next 10-minute refresh")
		Eventually(func(g Gomega) {
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(sl), sl)).To(Succeed())
			c := meta.FindStatusCondition(sl.Status.Conditions, itopsv1alpha1.SLConditionBudgetExhausted)
			g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(c.LastTransitionTime.Time).To(BeTemporally(">=", recovery))
			g.Expect(c.LastTransitionTime.Time).To(BeTemporally("<=", recovery.Add(2*time.Second)))
		}).WithTimeout(40 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())
	})
})

// deploymentOf reads a Deployment.
func deploymentOf(ns, name string) *appsv1.Deployment {
	GinkgoHelper()
	d := &appsv1.Deployment{}
	Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, d)).To(Succeed())
	return d
}

var _ = Describe("A stored invalid selector (issue 13)", func() {
	It("makes the ServiceLevel Stalled, never Ready with 100 %", func() {
		ns := testenv.NewNamespace(ctx, env.Client, "badsel")
		// Stored as if the webhook had been down (this suite runs none).
		sl := &itopsv1alpha1.ServiceLevel{
			ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: ns},
			Spec: itopsv1alpha1.ServiceLevelSpec{
				Selector:   metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "in", Values: []string{"web"}}}},
				Objectives: &itopsv1alpha1.Objectives{Availability: "99.9"},
			},
		}
		Expect(env.Client.Create(ctx, sl)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(sl), sl)).To(Succeed())
			stalled := meta.FindStatusCondition(sl.Status.Conditions, itopsv1alpha1.ConditionStalled)
			g.Expect(stalled).NotTo(BeNil())
			g.Expect(stalled.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(stalled.Reason).To(Equal(itopsv1alpha1.ReasonInvalidSelector))
			g.Expect(stalled.Message).To(ContainSubstring(`spec.selector.matchExpressions[0].operator: Invalid value: "in"`))
			ready := meta.FindStatusCondition(sl.Status.Conditions, itopsv1alpha1.ConditionReady)
			g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(sl.Status.Availability).To(BeEmpty())
			g.Expect(sl.Status.ErrorBudgetRemaining).To(BeEmpty())
		}).WithTimeout(10 * time.Second).Should(Succeed())
	})
})

package e2e

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
)

// apiDeployment is the Deployment "api" in ns, one replica; with chaos set (crashloop,
// notready), kwok puts its pods into that state.
func apiDeployment(ns, chaos string) *appsv1.Deployment {
	labels := map[string]string{"app": "api"}
	template := map[string]string{"app": "api"}
	if chaos != "" {
		template[chaosLabel] = chaos
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: ns, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: template},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "api:1.0"}}},
			},
		},
	}
}

// oneOffWindow is a window of the given type in ns from start for d, covering app (all when "").
func oneOffWindow(ns, name string, typ itopsv1alpha1.WindowType, start time.Time, d time.Duration, app string) *itopsv1alpha1.MaintenanceWindow {
	mw := &itopsv1alpha1.MaintenanceWindow{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: itopsv1alpha1.MaintenanceWindowSpec{Type: typ, Schedules: []itopsv1alpha1.WindowSchedule{{
			Start: &metav1.Time{Time: start.Truncate(time.Second)}, End: &metav1.Time{Time: start.Truncate(time.Second).Add(d)}}}},
	}
	if app != "" {
		mw.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}
	}
	return mw
}

func windowPhase(mw *itopsv1alpha1.MaintenanceWindow) func() itopsv1alpha1.WindowPhase {
	return func() itopsv1alpha1.WindowPhase {
		got := &itopsv1alpha1.MaintenanceWindow{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(mw), got); err != nil {
			return ""
		}
		return got.Status.Phase
	}
}

// crashIncident is the CrashLoopBackOff incident of the Deployment api in ns.
func crashIncident(ns string) func(g Gomega) *itopsv1alpha1.Incident {
	return func(g Gomega) *itopsv1alpha1.Incident {
		inc := &itopsv1alpha1.Incident{}
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "deployment-api"}, inc)).To(Succeed())
		return inc
	}
}

var _ = Describe("Maintenance windows", func() {
	It("suppress incidents detected during them, in their own scope only, until they end; never retroactively", func() {
		planned, other := newNamespace(), newNamespace()

		By("a Maintenance window in one namespace, active now for 30 seconds")
		mw := oneOffWindow(planned, "db-migration", itopsv1alpha1.WindowMaintenance, time.Now(), 30*time.Second, "api")
		Expect(k8s.Create(ctx, mw)).To(Succeed())
		Eventually(windowPhase(mw)).WithTimeout(20 * time.Second).Should(Equal(itopsv1alpha1.WindowActive))
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(mw), mw)).To(Succeed())
			g.Expect(mw.Status.CoverageFrom).NotTo(BeNil())
			g.Expect(time.Now().After(mw.Status.CoverageFrom.Time)).To(BeTrue(), "the window is in effect (it covers from the second after its creation)")
		}).WithTimeout(5 * time.Second).WithPolling(100 * time.Millisecond).Should(Succeed())

		By("the same crash in the window's namespace and in another one")
		Expect(k8s.Create(ctx, apiDeployment(planned, "crashloop"))).To(Succeed())
		Expect(k8s.Create(ctx, apiDeployment(other, "crashloop"))).To(Succeed())
		Eventually(func(g Gomega) {
			inc := crashIncident(planned)(g)
			g.Expect(meta.IsStatusConditionTrue(inc.Status.Conditions, itopsv1alpha1.IncidentConditionSuppressed)).To(BeTrue())
			g.Expect(inc.Status.SuppressedBy).To(Equal("db-migration"))
			g.Expect(inc.Status.ResponseDueAt).To(BeNil(), "a suppressed incident starts no SLA clock")
		}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())
		Eventually(func(g Gomega) {
			inc := crashIncident(other)(g)
			g.Expect(meta.IsStatusConditionTrue(inc.Status.Conditions, itopsv1alpha1.IncidentConditionSuppressed)).To(BeFalse())
			g.Expect(inc.Status.SuppressedBy).To(BeEmpty())
		}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())

		By("a window created after the problem was detected hiding nothing")
		late := oneOffWindow(other, "cover-up", itopsv1alpha1.WindowMaintenance, time.Now().Add(-time.Hour), 2*time.Hour, "")
		Expect(k8s.Create(ctx, late)).To(Succeed())
		Eventually(windowPhase(late)).WithTimeout(20 * time.Second).Should(Equal(itopsv1alpha1.WindowActive))
		Consistently(func(g Gomega) {
			inc := crashIncident(other)(g)
			g.Expect(meta.IsStatusConditionTrue(inc.Status.Conditions, itopsv1alpha1.IncidentConditionSuppressed)).To(BeFalse())
		}).WithTimeout(3 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())

		By("the window ending with the crash still there: a normal open incident")
		Eventually(windowPhase(mw)).WithTimeout(45 * time.Second).Should(Equal(itopsv1alpha1.WindowExpired))
		Eventually(func(g Gomega) {
			inc := crashIncident(planned)(g)
			c := meta.FindStatusCondition(inc.Status.Conditions, itopsv1alpha1.IncidentConditionSuppressed)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(inc.Status.Phase).To(Equal(itopsv1alpha1.IncidentOpen))
		}).WithTimeout(15 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())
	})

	It("freeze approved changes while active, naming the window, and let them through after", func() {
		ns := enforcedNamespace()
		alice, err := local.UserClient("alice@example.com", "system:masters")
		Expect(err).NotTo(HaveOccurred())
		bob, err := local.UserClient("bob@example.com", "system:masters")
		Expect(err).NotTo(HaveOccurred())

		By("an approved change")
		cr := &itopsv1alpha1.ChangeRequest{
			ObjectMeta: metav1.ObjectMeta{Name: "shop-launch", Namespace: ns},
			Spec:       itopsv1alpha1.ChangeRequestSpec{Title: "Launch the shop", Targets: []itopsv1alpha1.ChangeTarget{{Kind: itopsv1alpha1.TargetDeployment, Name: "shop"}}},
		}
		Expect(alice.Create(ctx, cr)).To(Succeed())
		patch := client.MergeFrom(cr.DeepCopy())
		cr.Spec.Approvals = []itopsv1alpha1.Approval{{Approver: "bob@example.com", Decision: itopsv1alpha1.DecisionApprove}}
		Expect(bob.Patch(ctx, cr, patch)).To(Succeed())
		Eventually(changePhase(cr)).WithTimeout(30 * time.Second).Should(Equal(itopsv1alpha1.ChangeApproved))

		By("a Freeze window active for 20 seconds holding it, by name")
		freeze := oneOffWindow(ns, "launch-freeze", itopsv1alpha1.WindowFreeze, time.Now(), 20*time.Second, "")
		Expect(k8s.Create(ctx, freeze)).To(Succeed())
		Eventually(windowPhase(freeze)).WithTimeout(20 * time.Second).Should(Equal(itopsv1alpha1.WindowActive))
		Eventually(func() error { return alice.Create(ctx, shopDeployment(ns)) }).WithTimeout(10 * time.Second).Should(
			MatchError(ContainSubstring("freeze window " + ns + "/launch-freeze is active until")))

		By("the freeze ending: the same rollout goes through")
		Eventually(windowPhase(freeze)).WithTimeout(45 * time.Second).Should(Equal(itopsv1alpha1.WindowExpired))
		Eventually(func() error { return alice.Create(ctx, shopDeployment(ns)) }).WithTimeout(10 * time.Second).Should(Succeed())
	})
})

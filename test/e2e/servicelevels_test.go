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

// createServiceDeployment creates the healthy Deployment "api" in ns with 2 replicas and the
// Recreate strategy, so that a bad template takes every pod (the whole service) down at once.
func createServiceDeployment(ns string) *appsv1.Deployment {
	GinkgoHelper()
	api := apiDeployment(ns, "")
	api.Spec.Replicas = ptr.To[int32](2)
	api.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	Expect(k8s.Create(ctx, api)).To(Succeed())
	// Available before a ServiceLevel measures it: a new Deployment is Available=False until its
	// pods are ready, which the books count as downtime (a second or so under load), and the
	// specs measure outages of their own.
	Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(api), api)).To(Succeed())
		g.Expect(api.Status.Conditions).To(ContainElement(And(
			HaveField("Type", appsv1.DeploymentAvailable), HaveField("Status", corev1.ConditionTrue))))
		g.Expect(api.Status.AvailableReplicas).To(Equal(int32(2)))
	}).WithTimeout(time.Minute).WithPolling(200 * time.Millisecond).Should(Succeed())
	return api
}

// setCrashing makes every pod of the (Recreate) Deployment crash-loop, or heals it.
func setCrashing(d *appsv1.Deployment, crashing bool) {
	GinkgoHelper()
	Eventually(func() error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(d), d); err != nil {
			return err
		}
		patch := client.MergeFrom(d.DeepCopy())
		if crashing {
			d.Spec.Template.Labels[chaosLabel] = "crashloop"
		} else {
			delete(d.Spec.Template.Labels, chaosLabel)
		}
		return k8s.Patch(ctx, d, patch)
	}).WithTimeout(10 * time.Second).Should(Succeed())
}

func lastOutage(sl *itopsv1alpha1.ServiceLevel) func(g Gomega) *itopsv1alpha1.Outage {
	return func(g Gomega) *itopsv1alpha1.Outage {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(sl), sl)).To(Succeed())
		g.Expect(sl.Status.Outages).NotTo(BeEmpty())
		return &sl.Status.Outages[len(sl.Status.Outages)-1]
	}
}

var _ = Describe("Service levels", func() {
	It("book planned downtime free, burn the budget on an outage, open a burn incident and freeze changes", func() {
		ns := newNamespace()
		api := createServiceDeployment(ns)
		sl := &itopsv1alpha1.ServiceLevel{
			ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: ns},
			Spec: itopsv1alpha1.ServiceLevelSpec{
				Selector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "api"}},
				// 0.1% of an hour: a 3.6-second budget.
				Objectives: &itopsv1alpha1.Objectives{Availability: "99.9", Window: itopsv1alpha1.RollingWindow(time.Hour)},
				BurnRateAlerts: []itopsv1alpha1.BurnRateAlert{{LongWindow: metav1.Duration{Duration: 2 * time.Minute},
					ShortWindow: metav1.Duration{Duration: 30 * time.Second}, Factor: "2"}},
				BudgetPolicy: itopsv1alpha1.BudgetPolicyFreezeChanges,
				SLA: []itopsv1alpha1.SLATarget{
					{Priority: itopsv1alpha1.PriorityP1, RespondWithin: &metav1.Duration{Duration: 5 * time.Minute}},
					{Priority: itopsv1alpha1.PriorityP2, RespondWithin: &metav1.Duration{Duration: 15 * time.Minute}},
				},
			},
		}
		Expect(k8s.Create(ctx, sl)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(sl), sl)).To(Succeed())
			g.Expect(sl.Status.Workloads).To(ConsistOf(And(HaveField("Name", "api"), HaveField("ReadyReplicas", int32(2)))))
		}).WithTimeout(time.Minute).Should(Succeed())

		By("an outage inside a Maintenance window: planned, no budget spent")
		mw := oneOffWindow(ns, "migration", itopsv1alpha1.WindowMaintenance, time.Now(), 40*time.Second, "api")
		Expect(k8s.Create(ctx, mw)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(mw), mw)).To(Succeed())
			g.Expect(mw.Status.Phase).To(Equal(itopsv1alpha1.WindowActive))
			g.Expect(time.Now().After(mw.Status.CoverageFrom.Time)).To(BeTrue())
		}).WithTimeout(20 * time.Second).WithPolling(200 * time.Millisecond).Should(Succeed())
		setCrashing(api, true)
		Eventually(func(g Gomega) {
			o := lastOutage(sl)(g)
			g.Expect(o.End).To(BeNil())
			// Books have second precision: let the outage last a few seconds.
			g.Expect(time.Since(o.Start.Time)).To(BeNumerically(">", 3*time.Second))
		}).WithTimeout(30 * time.Second).WithPolling(200 * time.Millisecond).Should(Succeed())
		setCrashing(api, false)
		Eventually(lastOutage(sl)).WithTimeout(30 * time.Second).Should(HaveField("End", Not(BeNil())))
		Expect(windowPhase(mw)()).To(Equal(itopsv1alpha1.WindowActive), "the outage ended inside the window")
		Expect(sl.Status.Downtime.Duration).To(BeZero())
		Expect(sl.Status.PlannedDowntime.Duration).To(BeNumerically(">", 0))
		Expect(sl.Status.ErrorBudgetRemaining).To(Equal("100"))
		Expect(sl.Status.Outages[len(sl.Status.Outages)-1].Planned).To(BeTrue())

		By("an unplanned outage once the window is over: a burn incident with an SLA deadline, then the budget spent")
		Eventually(windowPhase(mw)).WithTimeout(45 * time.Second).Should(Equal(itopsv1alpha1.WindowExpired))
		setCrashing(api, true)
		Eventually(func(g Gomega) {
			incs := incidentsWithReason(ns, itopsv1alpha1.ReasonErrorBudgetBurn)(g)
			g.Expect(incs).To(HaveLen(1))
			g.Expect(incs[0].Spec.Service).To(Equal("api"))
			g.Expect(incs[0].Spec.Source).To(Equal(itopsv1alpha1.SourceServiceLevel))
			// Medium impact raised to High for a service, Medium urgency: P2, due in 15 minutes.
			g.Expect(incs[0].Status.Priority).To(Equal(itopsv1alpha1.PriorityP2))
			g.Expect(incs[0].Status.ResponseDueAt).NotTo(BeNil())
			g.Expect(incs[0].Status.ResponseDueAt.Sub(incs[0].Status.DetectedAt.Time)).To(Equal(15 * time.Minute))
		}).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(sl), sl)).To(Succeed())
			g.Expect(meta.IsStatusConditionTrue(sl.Status.Conditions, itopsv1alpha1.SLConditionBudgetExhausted)).To(BeTrue())
			g.Expect(sl.Status.ErrorBudgetRemaining).To(HavePrefix("-"))
		}).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed())
		Eventually(func(g Gomega) {
			// The crash loop's own incident: P1 for a service, due 5 minutes after its clock
			// started (its detection, or the end of its suppression by the migration window if
			// it is the same incident reopened).
			inc := crashIncident(ns)(g)
			g.Expect(inc.Spec.Service).To(Equal("api"))
			g.Expect(inc.Status.Priority).To(Equal(itopsv1alpha1.PriorityP1))
			g.Expect(inc.Status.ResponseDueAt).NotTo(BeNil())
			g.Expect(inc.Status.ResponseDueAt.Time).To(BeTemporally(">=", inc.Status.DetectedAt.Add(5*time.Minute)))
			g.Expect(inc.Status.ResponseDueAt.Time).To(BeTemporally("<=", time.Now().Add(5*time.Minute)))
		}).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed())

		By("the budget freezing an approved change to the service")
		nsObj := &corev1.Namespace{}
		Expect(k8s.Get(ctx, client.ObjectKey{Name: ns}, nsObj)).To(Succeed())
		patch := client.MergeFrom(nsObj.DeepCopy())
		nsObj.Labels[itopsv1alpha1.LabelChangeControl] = itopsv1alpha1.ChangeControlEnforced
		Expect(k8s.Patch(ctx, nsObj, patch)).To(Succeed())
		alice, err := local.UserClient("alice@example.com", "system:masters")
		Expect(err).NotTo(HaveOccurred())
		bob, err := local.UserClient("bob@example.com", "system:masters")
		Expect(err).NotTo(HaveOccurred())
		cr := &itopsv1alpha1.ChangeRequest{
			ObjectMeta: metav1.ObjectMeta{Name: "api-fix", Namespace: ns},
			Spec:       itopsv1alpha1.ChangeRequestSpec{Title: "Fix the API", Targets: []itopsv1alpha1.ChangeTarget{{Kind: itopsv1alpha1.TargetDeployment, Name: "api"}}},
		}
		Expect(alice.Create(ctx, cr)).To(Succeed())
		crPatch := client.MergeFrom(cr.DeepCopy())
		cr.Spec.Approvals = []itopsv1alpha1.Approval{{Approver: "bob@example.com", Decision: itopsv1alpha1.DecisionApprove}}
		Expect(bob.Patch(ctx, cr, crPatch)).To(Succeed())
		Eventually(changePhase(cr)).WithTimeout(30 * time.Second).Should(Equal(itopsv1alpha1.ChangeApproved))
		Eventually(func() error {
			Expect(alice.Get(ctx, client.ObjectKeyFromObject(api), api)).To(Succeed())
			p := client.MergeFrom(api.DeepCopy())
			api.Spec.Template.Spec.Containers[0].Image = "api:1.1"
			delete(api.Spec.Template.Labels, chaosLabel)
			return alice.Patch(ctx, api, p)
		}).WithTimeout(10 * time.Second).Should(MatchError(ContainSubstring("the error budget of service api is exhausted")))
	})

	It("reconstruct the books after an operator restart: an outage that ended while it was down ends when the Deployment says", func() {
		ns := newNamespace()
		api := createServiceDeployment(ns)
		sl := &itopsv1alpha1.ServiceLevel{
			ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: ns},
			Spec: itopsv1alpha1.ServiceLevelSpec{Selector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "api"}},
				Objectives: &itopsv1alpha1.Objectives{Availability: "99", Window: itopsv1alpha1.RollingWindow(time.Hour)}},
		}
		Expect(k8s.Create(ctx, sl)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(sl), sl)).To(Succeed())
			g.Expect(sl.Status.Workloads).To(ConsistOf(HaveField("ReadyReplicas", int32(2))))
		}).WithTimeout(time.Minute).Should(Succeed())

		By("an outage the operator books")
		setCrashing(api, true)
		Eventually(func(g Gomega) {
			o := lastOutage(sl)(g)
			g.Expect(o.End).To(BeNil())
			// Books have second precision: let the outage last a few seconds.
			g.Expect(time.Since(o.Start.Time)).To(BeNumerically(">", 3*time.Second))
		}).WithTimeout(30 * time.Second).WithPolling(200 * time.Millisecond).Should(Succeed())
		start := sl.Status.Outages[len(sl.Status.Outages)-1].Start

		By("the operator stopped; the service recovers meanwhile; the operator starts again")
		operator.Stop()
		stopped := time.Now()
		setCrashing(api, false)
		available := func(g Gomega) *appsv1.DeploymentCondition {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(api), api)).To(Succeed())
			for i, c := range api.Status.Conditions {
				if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue {
					return &api.Status.Conditions[i]
				}
			}
			return nil
		}
		Eventually(available).WithTimeout(30 * time.Second).ShouldNot(BeNil())
		recovered := available(Default).LastTransitionTime
		// Let the gap be visible: the restart comes well after the recovery.
		Eventually(func() time.Duration { return time.Since(stopped) }).WithTimeout(10 * time.Second).Should(BeNumerically(">", 3*time.Second))
		var err error
		operator, err = local.StartOperator(ctx, operatorBinary(), operatorArgs...)
		Expect(err).NotTo(HaveOccurred())

		By("the outage closed at the Deployment's transition, nothing booked as unobserved")
		Eventually(lastOutage(sl)).WithTimeout(30 * time.Second).Should(HaveField("End", Not(BeNil())))
		o := sl.Status.Outages[len(sl.Status.Outages)-1]
		Expect(o.Start).To(Equal(start))
		Expect(o.End.Time).To(Equal(recovered.Time))
		Expect(sl.Status.UnobservedPeriods).To(BeEmpty())
		Expect(sl.Status.Unobserved.Duration).To(BeZero())
	})
})

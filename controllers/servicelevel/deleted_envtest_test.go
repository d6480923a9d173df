package servicelevel

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/controllers/incidentwriter"
	"github.com/itops-dev/itops-operator/internal/health"
	"github.com/itops-dev/itops-operator/test/testenv"
)

// burnIncident is the namespace's ErrorBudgetBurn incident, once there is one.
func burnIncident(g Gomega, ns string) *itopsv1alpha1.Incident {
	list := &itopsv1alpha1.IncidentList{}
	g.Expect(env.Client.List(ctx, list, client.InNamespace(ns), client.MatchingLabels{itopsv1alpha1.LabelReason: itopsv1alpha1.ReasonErrorBudgetBurn})).To(Succeed())
	g.Expect(list.Items).To(HaveLen(1))
	return &list.Items[0]
}

// expectSignalCleared waits for the incident's ErrorBudgetBurn signal to be inactive and its
// problem recorded as gone (from there the incident controller auto-resolves it).
func expectSignalCleared(inc *itopsv1alpha1.Incident) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(inc), inc)).To(Succeed())
		g.Expect(inc.Status.Signals).To(ContainElement(And(HaveField("Reason", itopsv1alpha1.ReasonErrorBudgetBurn), HaveField("Active", false))))
		g.Expect(meta.IsStatusConditionFalse(inc.Status.Conditions, itopsv1alpha1.IncidentConditionProblemPresent)).To(BeTrue())
	}).WithTimeout(20 * time.Second).WithPolling(250 * time.Millisecond).Should(Succeed())
}

var _ = Describe("Deleted ServiceLevels (issue 13)", func() {
	It("clear the ErrorBudgetBurn signal of their open incident when deleted", func() {
		ns := testenv.NewNamespace(ctx, env.Client, "deleted")
		sl := healthyService(ns, "shop", time.Hour)
		web := deploymentOf(ns, "shop")
		setAvailable(web, false)
		var inc *itopsv1alpha1.Incident
		Eventually(func(g Gomega) {
			inc = burnIncident(g, ns)
			g.Expect(meta.IsStatusConditionTrue(inc.Status.Conditions, itopsv1alpha1.IncidentConditionProblemPresent)).To(BeTrue())
		}).WithTimeout(45 * time.Second).WithPolling(time.Second).Should(Succeed())

		Expect(env.Client.Delete(ctx, sl)).To(Succeed())
		expectSignalCleared(inc)
	})

	It("clear the signal of an incident whose ServiceLevel was deleted while the operator was down", func() {
		ns := testenv.NewNamespace(ctx, env.Client, "gone")
		// The incident as the controller left it: its ServiceLevel no longer exists.
		ghost := &itopsv1alpha1.ServiceLevel{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ghost"}}
		w := &incidentwriter.Writer{Client: env.Client}
		// Sync as a controller does: a write that loses a race with the incident controller
		// (its first status patch) is retried.
		Eventually(func() error {
			return w.Sync(ctx, incidentwriter.Observation{Subject: Subject(ghost), Judged: incidentReasons, Service: "ghost",
				Problems: []health.Problem{{Reason: itopsv1alpha1.ReasonErrorBudgetBurn, Source: itopsv1alpha1.SourceServiceLevel,
					Message: "ServiceLevel ghost burns its error budget too fast"}}})
		}).WithTimeout(10 * time.Second).Should(Succeed())
		var inc *itopsv1alpha1.Incident
		Eventually(func(g Gomega) { inc = burnIncident(g, ns) }).WithTimeout(10 * time.Second).Should(Succeed())
		expectSignalCleared(inc)
	})
})

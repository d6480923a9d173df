package servicelevel

import (
	"errors"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/test/testenv"
)

// envtestProm is the suite's fake Prometheus; it answers the queries of promSLI.
var envtestProm = &fakeProm{}

var _ = Describe("SLIs from Prometheus", func() {
	It("books the SLI from Prometheus, opens the burn incident, and says Unknown, never met, while Prometheus is away", func() {
		ns := testenv.NewNamespace(ctx, env.Client, "promsli")
		sl := &itopsv1alpha1.ServiceLevel{
			ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: ns},
			Spec: itopsv1alpha1.ServiceLevelSpec{
				Selector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "shop"}},
				Objectives: &itopsv1alpha1.Objectives{Availability: "99", Window: itopsv1alpha1.RollingWindow(time.Hour),
					SLI: &itopsv1alpha1.SLI{Type: itopsv1alpha1.SLIPrometheusRatio,
						Good: `sum(rate(req{code="ok"}[{{.window}}]))`, Total: `sum(rate(req[{{.window}}]))`}},
				BurnRateAlerts: []itopsv1alpha1.BurnRateAlert{{LongWindow: metav1.Duration{Duration: time.Hour},
					ShortWindow: metav1.Duration{Duration: 5 * time.Minute}, Factor: "2"}},
				BudgetPolicy: itopsv1alpha1.BudgetPolicyFreezeChanges,
			},
		}
		envtestProm.set(map[string]counts{"1h": {good: 900, total: 1000}, "5m": {good: 90, total: 100}}, nil)
		Expect(env.Client.Create(ctx, sl)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(sl), sl)).To(Succeed())
			g.Expect(sl.Status.Availability).To(Equal("90"))
			g.Expect(sl.Status.SLI).NotTo(BeNil())
			g.Expect(sl.Status.SLI.Good).To(Equal("900"))
			g.Expect(sl.Status.SLI.Total).To(Equal("1000"))
			g.Expect(meta.IsStatusConditionTrue(sl.Status.Conditions, itopsv1alpha1.SLConditionBudgetExhausted)).To(BeTrue())
			g.Expect(sl.Status.BurnRateAlerts).To(ConsistOf(HaveField("State", itopsv1alpha1.AlertFiring)))
			list := &itopsv1alpha1.IncidentList{}
			g.Expect(env.Client.List(ctx, list, client.InNamespace(ns), client.MatchingLabels{itopsv1alpha1.LabelReason: itopsv1alpha1.ReasonErrorBudgetBurn})).To(Succeed())
			g.Expect(list.Items).To(HaveLen(1))
		}).WithTimeout(20 * time.Second).WithPolling(200 * time.Millisecond).Should(Succeed())

		By("Prometheus unreachable: the next evaluation, within the interval, says so")
		envtestProm.set(nil, errors.New("dial tcp 127.0.0.1:9090: connect: connection refused"))
		Eventually(func(g Gomega) {
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(sl), sl)).To(Succeed())
			c := meta.FindStatusCondition(sl.Status.Conditions, itopsv1alpha1.SLConditionObjectiveMet)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Status).To(Equal(metav1.ConditionUnknown))
			g.Expect(c.Reason).To(Equal(itopsv1alpha1.SLReasonPrometheusUnavailable))
			g.Expect(meta.IsStatusConditionFalse(sl.Status.Conditions, itopsv1alpha1.ConditionReady)).To(BeTrue())
			g.Expect(sl.Status.SLI.LastError).To(ContainSubstring("connection refused"))
		}).WithTimeout(20 * time.Second).WithPolling(200 * time.Millisecond).Should(Succeed())
		Expect(sl.Status.Availability).To(Equal("90"), "the last books stay, marked stale")
	})
})

package e2e

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/slo"
)

var _ = Describe("Calendar service levels (issue 13)", func() {
	It("report the current month in its time zone, and an unknown time zone is refused with its field path", func() {
		ns := newNamespace()
		createServiceDeployment(ns)
		calendar := &itopsv1alpha1.CalendarWindow{Period: itopsv1alpha1.CalendarMonth, TimeZone: "Europe/Berlin"}
		sl := &itopsv1alpha1.ServiceLevel{
			ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: ns},
			Spec: itopsv1alpha1.ServiceLevelSpec{
				Selector:   metav1.LabelSelector{MatchLabels: map[string]string{"app": "api"}},
				Objectives: &itopsv1alpha1.Objectives{Availability: "99.9", Window: &itopsv1alpha1.SLOWindow{Calendar: calendar}},
			},
		}
		Expect(k8s.Create(ctx, sl)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(sl), sl)).To(Succeed())
			start, end, err := slo.CurrentPeriod(calendar, time.Now())
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(sl.Status.Periods).To(HaveLen(1))
			current := sl.Status.Periods[0]
			g.Expect(current.Start.Time).To(BeTemporally("==", start))
			g.Expect(current.End.Time).To(BeTemporally("==", end))
			g.Expect(current.Complete).To(BeFalse())
			g.Expect(current.Availability).To(Equal("100"))
			g.Expect(current.BudgetSpent).To(Equal("0"))
			g.Expect(current.Met).To(BeTrue())
			g.Expect(sl.Status.ErrorBudgetRemaining).To(Equal("100"))
			c := meta.FindStatusCondition(sl.Status.Conditions, itopsv1alpha1.SLConditionObjectiveMet)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(c.Message).To(ContainSubstring("this month (since " + start.In(mustZone("Europe/Berlin")).Format("2006-01-02 15:04 MST")))
		}).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed())

		bad := &itopsv1alpha1.ServiceLevel{
			ObjectMeta: metav1.ObjectMeta{Name: "mars", Namespace: ns},
			Spec: itopsv1alpha1.ServiceLevelSpec{
				Selector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "api"}},
				Objectives: &itopsv1alpha1.Objectives{Availability: "99.9", Window: &itopsv1alpha1.SLOWindow{
					Calendar: &itopsv1alpha1.CalendarWindow{Period: itopsv1alpha1.CalendarMonth, TimeZone: "Mars/Olympus"}}},
			},
		}
		err := k8s.Create(ctx, bad)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring(`spec.objectives.window.calendar.timeZone: Invalid value: "Mars/Olympus"`))
	})
})

func mustZone(name string) *time.Location {
	GinkgoHelper()
	loc, err := time.LoadLocation(name)
	Expect(err).NotTo(HaveOccurred())
	return loc
}

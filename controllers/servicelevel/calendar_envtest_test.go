package servicelevel

import (
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/test/testenv"
)

// shiftedClock is the real clock moved by an offset a spec sets: time passes as it does, so
// requeues fire when they are due, at an instant the spec chooses (a period's end).
type shiftedClock struct{ offset atomic.Int64 }

func (c *shiftedClock) Now() time.Time                  { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *shiftedClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// testClock is the reconciler's clock: the real one unless a spec shifts it.
var testClock = &shiftedClock{}

var _ = Describe("Calendar windows (issue 13)", func() {
	It("closes the week's report exactly at its end and starts the next week with its whole budget", func() {
		// The next Monday 00:00 UTC, reached 15 seconds from now on the reconciler's clock.
		now := time.Now().UTC()
		boundary := time.Date(now.Year(), now.Month(), now.Day()+7-(int(now.Weekday())+6)%7, 0, 0, 0, 0, time.UTC)
		weekStart := boundary.Add(-7 * 24 * time.Hour)
		testClock.offset.Store(int64(boundary.Add(-15 * time.Second).Sub(now)))
		DeferCleanup(func() { testClock.offset.Store(0) })

		ns := testenv.NewNamespace(ctx, env.Client, "calendar")
		labels := map[string]string{"app": "shop"}
		web := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns, Labels: labels},
			Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "shop:1"}}}}},
		}
		Expect(env.Client.Create(ctx, web)).To(Succeed())
		setAvailable(web, true)
		sl := &itopsv1alpha1.ServiceLevel{
			ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: ns},
			Spec: itopsv1alpha1.ServiceLevelSpec{
				Selector: metav1.LabelSelector{MatchLabels: labels},
				Objectives: &itopsv1alpha1.Objectives{Availability: "99.9",
					Window: &itopsv1alpha1.SLOWindow{Calendar: &itopsv1alpha1.CalendarWindow{Period: itopsv1alpha1.CalendarWeek}}},
				BudgetPolicy: itopsv1alpha1.BudgetPolicyFreezeChanges,
			},
		}
		Expect(env.Client.Create(ctx, sl)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(sl), sl)).To(Succeed())
			g.Expect(sl.Status.Periods).To(HaveLen(1))
			g.Expect(sl.Status.Periods[0].Start.Time).To(BeTemporally("==", weekStart))
			g.Expect(sl.Status.Periods[0].Complete).To(BeFalse())
		}).WithTimeout(10 * time.Second).WithPolling(250 * time.Millisecond).Should(Succeed())

		By("books since Monday holding 20 minutes down on Monday: a week's budget at 99.9% is 10m4.8s")
		Eventually(func() error {
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(sl), sl); err != nil {
				return err
			}
			base := sl.DeepCopy()
			sl.Status.TrackingSince = &metav1.Time{Time: weekStart}
			sl.Status.DowntimeByDay = []itopsv1alpha1.DailyDowntime{{Date: weekStart.Format(time.DateOnly), Downtime: metav1.Duration{Duration: 20 * time.Minute}}}
			return env.Client.Status().Patch(ctx, sl, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
		}).WithTimeout(10 * time.Second).Should(Succeed())
		patch := client.MergeFrom(sl.DeepCopy())
		sl.Spec.Description = "look again"
		Expect(env.Client.Patch(ctx, sl, patch)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(sl), sl)).To(Succeed())
			g.Expect(meta.IsStatusConditionTrue(sl.Status.Conditions, itopsv1alpha1.SLConditionBudgetExhausted)).To(BeTrue())
			g.Expect(sl.Status.ErrorBudgetRemaining).To(Equal("-98.4127"))
		}).WithTimeout(10 * time.Second).WithPolling(250 * time.Millisecond).Should(Succeed())

		registry := prometheus.NewRegistry()
		registry.MustRegister(collector{r: reconciler})
		Expect(gauge(registry, "itops_servicelevel_period_budget_spent_ratio", ns)).To(BeNumerically("~", 1200/604.8, 1e-9))

		By("the week ending: its report completed at the boundary, the new week with its whole budget, by itself")
		Eventually(func(g Gomega) {
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(sl), sl)).To(Succeed())
			g.Expect(sl.Status.Periods).To(HaveLen(2))
			done, current := sl.Status.Periods[0], sl.Status.Periods[1]
			g.Expect(done.Complete).To(BeTrue())
			g.Expect(done.Met).To(BeFalse())
			g.Expect(done.BudgetSpent).To(Equal("198.4127"))
			g.Expect(done.End.Time).To(BeTemporally("==", boundary))
			g.Expect(current.Complete).To(BeFalse())
			g.Expect(current.Start.Time).To(BeTemporally("==", boundary))
			g.Expect(current.BudgetSpent).To(Equal("0"))
			g.Expect(sl.Status.ErrorBudgetRemaining).To(Equal("100"))
			c := meta.FindStatusCondition(sl.Status.Conditions, itopsv1alpha1.SLConditionBudgetExhausted)
			g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(c.LastTransitionTime.Time).To(BeTemporally(">=", boundary))
			g.Expect(c.LastTransitionTime.Time).To(BeTemporally("<=", boundary.Add(2*time.Second)))
			// The reported week's days stay for slo.SwitchRetention (a window change reads them).
			g.Expect(sl.Status.DowntimeByDay).To(ConsistOf(HaveField("Date", weekStart.Format(time.DateOnly))))
		}).WithTimeout(40 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())
		Expect(gauge(registry, "itops_servicelevel_period_budget_spent_ratio", ns)).To(Equal(0.0))
	})
})

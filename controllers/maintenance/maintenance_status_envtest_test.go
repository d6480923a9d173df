package maintenance

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/maintenance"
	"github.com/itops-dev/itops-operator/test/testenv"
)

// The race `make demo` hit (issue 12): a window created in the second its period began said
// Active before it suppressed anything. Its status must say Active only once coverage began.
var _ = Describe("MaintenanceWindow coverage", func() {
	It("says Active only from status.coverageFrom on, for a window whose period began before it was created", func() {
		ns := testenv.NewNamespace(ctx, env.Client, "mw")
		start := time.Now().Truncate(time.Second)
		mw := &itopsv1alpha1.MaintenanceWindow{
			ObjectMeta: metav1.ObjectMeta{Name: "db-migration", Namespace: ns},
			Spec: itopsv1alpha1.MaintenanceWindowSpec{Type: itopsv1alpha1.WindowMaintenance, Schedules: []itopsv1alpha1.WindowSchedule{
				{Start: &metav1.Time{Time: start}, End: &metav1.Time{Time: start.Add(time.Minute)}}}},
		}
		Expect(env.Client.Create(ctx, mw)).To(Succeed())
		Eventually(func(g Gomega) {
			got := &itopsv1alpha1.MaintenanceWindow{}
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(mw), got)).To(Succeed())
			seen := time.Now()
			st := got.Status
			if st.Phase == itopsv1alpha1.WindowScheduled {
				// Coverage pending: it says when coverage starts.
				Expect(st.CoverageFrom).NotTo(BeNil())
				Expect(st.NextStart).NotTo(BeNil())
				Expect(st.NextStart.Time).To(BeTemporally("==", st.CoverageFrom.Time))
				Expect(meta.FindStatusCondition(st.Conditions, itopsv1alpha1.ConditionReady)).To(HaveField("Reason", maintenance.ReasonCoveragePending))
			}
			g.Expect(st.Phase).To(Equal(itopsv1alpha1.WindowActive))
			// Active: coverage has begun, and the status says since when.
			Expect(seen).To(BeTemporally(">=", st.CoverageFrom.Time))
			Expect(st.CurrentStart.Time).To(BeTemporally("==", st.CoverageFrom.Time))
			Expect(st.CoverageFrom.Time).To(BeTemporally("==", got.CreationTimestamp.Add(time.Second)))
		}).WithTimeout(10 * time.Second).WithPolling(50 * time.Millisecond).Should(Succeed())
	})
})

package maintenance

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/audit"
	"github.com/itops-dev/itops-operator/test/cluster"
	"github.com/itops-dev/itops-operator/test/testenv"
)

var (
	env *testenv.Env
	ctx context.Context
)

func TestMaintenanceController(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "MaintenanceWindow controller suite")
}

var _ = BeforeSuite(func() {
	ctrl.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	var err error
	env, err = testenv.Start()
	Expect(err).NotTo(HaveOccurred())
	var cancel context.CancelFunc
	ctx, cancel = context.WithCancel(context.Background())
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{Scheme: cluster.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"}})
	Expect(err).NotTo(HaveOccurred())
	Expect((&Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("itops-operator"), Audit: audit.New(logr.Discard())}).
		SetupWithManager(mgr)).To(Succeed())
	go func() {
		defer GinkgoRecover()
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
	DeferCleanup(func() {
		cancel()
		Expect(env.Stop()).To(Succeed())
	})
})

var _ = Describe("MaintenanceWindow controller", func() {
	It("moves a window from Scheduled to Active to Expired at its exact boundaries", func() {
		ns := testenv.NewNamespace(ctx, env.Client, "mw")
		start := time.Now().Add(3 * time.Second).Truncate(time.Second)
		mw := &itopsv1alpha1.MaintenanceWindow{
			ObjectMeta: metav1.ObjectMeta{Name: "db-upgrade", Namespace: ns},
			Spec: itopsv1alpha1.MaintenanceWindowSpec{Type: itopsv1alpha1.WindowMaintenance, Schedules: []itopsv1alpha1.WindowSchedule{
				{Start: &metav1.Time{Time: start}, End: &metav1.Time{Time: start.Add(2 * time.Second)}}}},
		}
		Expect(env.Client.Create(ctx, mw)).To(Succeed())
		phase := func() itopsv1alpha1.WindowPhase {
			Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(mw), mw)).To(Succeed())
			return mw.Status.Phase
		}
		Eventually(phase).WithTimeout(10 * time.Second).Should(Equal(itopsv1alpha1.WindowScheduled))
		Expect(mw.Status.NextStart.Time).To(BeTemporally("==", start))
		Eventually(phase).WithTimeout(10 * time.Second).Should(Equal(itopsv1alpha1.WindowActive))
		Expect(time.Now()).To(BeTemporally(">=", start))
		Expect(mw.Status.CurrentEnd.Time).To(BeTemporally("==", start.Add(2*time.Second)))
		Eventually(phase).WithTimeout(10 * time.Second).Should(Equal(itopsv1alpha1.WindowExpired))
		Expect(mw.Status.CurrentStart).To(BeNil())
	})
})

package health

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/itops-dev/itops-operator/controllers/incident"
	"github.com/itops-dev/itops-operator/controllers/incidentwriter"
	"github.com/itops-dev/itops-operator/internal/audit"
	"github.com/itops-dev/itops-operator/internal/cachetransform"
	"github.com/itops-dev/itops-operator/internal/health"
	"github.com/itops-dev/itops-operator/internal/lifecycle"
	"github.com/itops-dev/itops-operator/test/cluster"
	"github.com/itops-dev/itops-operator/test/testenv"
)

const clusterNamespace = "itops-cluster-test"

var (
	env    *testenv.Env
	ctx    context.Context
	cancel context.CancelFunc
	// Short lifecycle timings so that specs see auto-resolution within seconds.
	policy = lifecycle.Policy{ResolveAfter: 2 * time.Second, ReopenWindow: time.Hour, CloseAfter: time.Hour, DeleteClosedAfter: time.Hour}
)

func TestHealthDetectors(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Health detector suite")
}

var _ = BeforeSuite(func() {
	ctrl.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	var err error
	env, err = testenv.Start()
	Expect(err).NotTo(HaveOccurred())
	ctx, cancel = context.WithCancel(context.Background())
	Expect(testenv.EnsureNamespace(context.Background(), env.Client, clusterNamespace)).To(Succeed())
	// The detectors run as the operator's ServiceAccount with the install's RBAC
	// (config/rbac): what they read, an installation must grant.
	operatorConfig, err := env.OperatorConfig(context.Background())
	Expect(err).NotTo(HaveOccurred())
	mgr, err := ctrl.NewManager(operatorConfig, ctrl.Options{
		Scheme:  cluster.Scheme(),
		Metrics: metricsserver.Options{BindAddress: "0"},
		Cache: cache.Options{
			DefaultTransform: cache.TransformStripManagedFields(),
			ByObject:         cachetransform.ByObject(),
		},
	})
	Expect(err).NotTo(HaveOccurred())
	Expect((&incident.Reconciler{
		Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("itops-operator"),
		Audit: audit.New(ctrl.Log), Policy: policy,
	}).SetupWithManager(mgr)).To(Succeed())
	thresholds := health.DefaultThresholds
	thresholds.NodeNotReadyGracePeriod = time.Second
	thresholds.VolumeClaimPendingGracePeriod = 3 * time.Second
	Expect(Setup(ctx, mgr, &incidentwriter.Writer{Client: mgr.GetClient(), Policy: policy, ClusterNamespace: clusterNamespace}, thresholds)).To(Succeed())
	go func() {
		defer GinkgoRecover()
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
	DeferCleanup(func() {
		cancel()
		Expect(env.Stop()).To(Succeed())
	})
})

func newNamespace() string { return testenv.NewNamespace(ctx, env.Client, "health") }

package webhook

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/controllers/webhookscope"
	"github.com/itops-dev/itops-operator/internal/audit"
	"github.com/itops-dev/itops-operator/internal/change"
	"github.com/itops-dev/itops-operator/test/cluster"
	"github.com/itops-dev/itops-operator/test/testenv"
)

// suiteWebhookConfiguration is the name envtest installs config/webhook/manifests.yaml's
// ValidatingWebhookConfiguration under (controller-gen's; the install renames it).
const suiteWebhookConfiguration = "validating-webhook-configuration"

var (
	env       *testenv.Env
	ctx       context.Context
	cancel    context.CancelFunc
	fakeClock = clocktesting.NewFakePassiveClock(time.Date(2026, 11, 24, 9, 30, 0, 0, time.UTC))
	// operatorUser is env.Client's identity: the suite's stand-in for the operator.
	operatorUser string
)

func TestWebhooks(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Admission webhook suite")
}

var _ = BeforeSuite(func() {
	ctrl.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	var err error
	env, err = testenv.StartWithWebhooks()
	Expect(err).NotTo(HaveOccurred())
	ctx, cancel = context.WithCancel(context.Background())
	wh := env.WebhookInstallOptions
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:  cluster.Scheme(),
		Metrics: metricsserver.Options{BindAddress: "0"},
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&admissionregistrationv1.ValidatingWebhookConfiguration{}: webhookscope.ConfigurationCache(suiteWebhookConfiguration)}},
		WebhookServer: webhook.NewServer(webhook.Options{Host: wh.LocalServingHost, Port: wh.LocalServingPort, CertDir: wh.LocalServingCertDir}),
	})
	Expect(err).NotTo(HaveOccurred())
	operatorUser, err = WhoAmI(env.Config)
	Expect(err).NotTo(HaveOccurred())
	Expect((&IncidentWebhook{Clock: fakeClock, OperatorUser: operatorUser}).SetupWithManager(mgr)).To(Succeed())
	mgr.GetWebhookServer().Register(StatusGuardPath, &webhook.Admission{Handler: (&StatusGuard{OperatorUser: operatorUser}).Handler()})
	Expect((&MaintenanceWindowWebhook{}).SetupWithManager(mgr)).To(Succeed())
	Expect((&ServiceLevelWebhook{}).SetupWithManager(mgr)).To(Succeed())
	Expect(mgr.GetFieldIndexer().IndexField(ctx, &itopsv1alpha1.ChangeRequest{}, change.TargetIndex, change.TargetKeys)).To(Succeed())
	Expect((&ChangeRequestWebhook{Reader: mgr.GetClient(), Policy: testPolicy, Clock: fakeClock, OperatorUser: operatorUser, Authorizer: mgr.GetClient()}).SetupWithManager(mgr)).To(Succeed())
	gate := &Gate{Reader: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Policy: testPolicy, ClusterNamespace: clusterNamespace,
		Audit: audit.New(ctrl.Log), Clock: fakeClock}
	mgr.GetWebhookServer().Register(GateValidatePath, &webhook.Admission{Handler: gate.ValidatingHandler()})
	mgr.GetWebhookServer().Register(GateMutatePath, &webhook.Admission{Handler: gate.MutatingHandler()})
	bounds := &ScalingBounds{Reader: mgr.GetClient()}
	mgr.GetWebhookServer().Register(ScalingBoundsPath, &webhook.Admission{Handler: bounds.Handler()})
	Expect((&webhookscope.Reconciler{Client: mgr.GetClient(), WebhookConfiguration: suiteWebhookConfiguration}).SetupWithManager(mgr)).To(Succeed())
	go func() {
		defer GinkgoRecover()
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
	Eventually(func() error { return mgr.GetWebhookServer().StartedChecker()(nil) }).WithTimeout(10 * time.Second).Should(Succeed())
	DeferCleanup(func() {
		cancel()
		Expect(env.Stop()).To(Succeed())
	})
})

// userClient authenticates as a person, a member of system:masters and of groups.
func userClient(name string, groups ...string) client.Client {
	u, err := env.AddUser(envtest.User{Name: name, Groups: append([]string{"system:masters"}, groups...)}, nil)
	Expect(err).NotTo(HaveOccurred())
	c, err := client.New(u.Config(), client.Options{Scheme: cluster.Scheme()})
	Expect(err).NotTo(HaveOccurred())
	return c
}

func newNamespace() string { return testenv.NewNamespace(ctx, env.Client, "webhook") }

var _ = Describe("Incident webhooks", func() {
	It("stamp by and at from the authenticated user and the clock", func() {
		carol := userClient("carol")
		inc := &itopsv1alpha1.Incident{
			ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: newNamespace()},
			Spec: itopsv1alpha1.IncidentSpec{Title: "x",
				Acknowledgement: &itopsv1alpha1.Acknowledgement{By: "dave", At: &metav1.Time{Time: time.Unix(0, 0)}, Note: "mine"}},
		}
		Expect(carol.Create(ctx, inc)).To(Succeed())
		Expect(inc.Spec.Acknowledgement.By).To(Equal("carol"))
		Expect(inc.Spec.Acknowledgement.At.Time).To(BeTemporally("==", fakeClock.Now()))
	})

	It("deny changing another person's resolution, naming who may", func() {
		carol, dave := userClient("carol"), userClient("dave")
		inc := &itopsv1alpha1.Incident{
			ObjectMeta: metav1.ObjectMeta{Name: "y", Namespace: newNamespace()},
			Spec:       itopsv1alpha1.IncidentSpec{Title: "y", Resolution: &itopsv1alpha1.Resolution{Code: itopsv1alpha1.ResolutionFixed}},
		}
		Expect(carol.Create(ctx, inc)).To(Succeed())
		patch := client.MergeFrom(inc.DeepCopy())
		inc.Spec.Resolution.Code = itopsv1alpha1.ResolutionFalsePositive
		err := dave.Patch(ctx, inc, patch)
		Expect(err).To(MatchError(ContainSubstring(`Incident.itops.dev "y" is invalid: spec.resolution: Forbidden: resolved by carol; only carol can change or withdraw this resolution`)))
	})
})

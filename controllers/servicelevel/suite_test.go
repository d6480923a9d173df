package servicelevel

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/controllers/incidentwriter"
	"github.com/itops-dev/itops-operator/internal/config"
	"github.com/itops-dev/itops-operator/internal/lifecycle"
	"github.com/itops-dev/itops-operator/test/cluster"
	"github.com/itops-dev/itops-operator/test/testenv"
)

const clusterNamespace = "itops-cluster"

var (
	env        *testenv.Env
	ctx        context.Context
	reconciler *Reconciler
)

func TestServiceLevelController(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "ServiceLevel controller suite")
}

var _ = BeforeSuite(func() {
	ctrl.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	var err error
	env, err = testenv.Start()
	Expect(err).NotTo(HaveOccurred())
	var cancel context.CancelFunc
	ctx, cancel = context.WithCancel(context.Background())
	Expect(testenv.EnsureNamespace(context.Background(), env.Client, clusterNamespace)).To(Succeed())
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{Scheme: cluster.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"}})
	Expect(err).NotTo(HaveOccurred())
	reconciler = &Reconciler{
		Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("itops-operator"), ClusterNamespace: clusterNamespace, Clock: testClock,
		Incidents: &incidentwriter.Writer{Client: mgr.GetClient(), Policy: lifecycle.DefaultPolicy, ClusterNamespace: clusterNamespace},
		// SLIs from Prometheus (prometheus_envtest_test.go): a fake Prometheus, evaluated every second.
		Prometheus: &PrometheusSource{Querier: envtestProm, Policy: config.PrometheusPolicy{Interval: metav1.Duration{Duration: time.Second}}},
	}
	Expect(reconciler.SetupWithManager(mgr)).To(Succeed())
	go func() {
		defer GinkgoRecover()
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
	DeferCleanup(func() {
		cancel()
		Expect(env.Stop()).To(Succeed())
	})
})

// setAvailable sets a Deployment's status as the deployment controller (not running here) would.
func setAvailable(d *appsv1.Deployment, available bool) {
	GinkgoHelper()
	Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(d), d)).To(Succeed())
	status, reason, n := corev1.ConditionTrue, "MinimumReplicasAvailable", *d.Spec.Replicas
	if !available {
		status, reason, n = corev1.ConditionFalse, "MinimumReplicasUnavailable", 0
	}
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: *d.Spec.Replicas, ReadyReplicas: n, AvailableReplicas: n,
		UpdatedReplicas: *d.Spec.Replicas, Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: status,
			Reason: reason, LastTransitionTime: metav1.Now(), LastUpdateTime: metav1.Now()}}}
	Expect(env.Client.Status().Update(ctx, d)).To(Succeed())
}

// gauge is the value of the first series of a metric for the namespace.
func gauge(g prometheus.Gatherer, name, ns string) float64 {
	GinkgoHelper()
	families, err := g.Gather()
	Expect(err).NotTo(HaveOccurred())
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "namespace" && l.GetValue() == ns {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	Fail("no " + name + " for namespace " + ns)
	return 0
}

var _ = Describe("ServiceLevel controller", func() {
	It("books an outage, opens an ErrorBudgetBurn incident while the budget burns fast, and recovers it", func() {
		ns := testenv.NewNamespace(ctx, env.Client, "sl")
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
				Selector:   metav1.LabelSelector{MatchLabels: labels},
				Objectives: &itopsv1alpha1.Objectives{Availability: "99.9", Window: itopsv1alpha1.RollingWindow(time.Hour)},
				BurnRateAlerts: []itopsv1alpha1.BurnRateAlert{{LongWindow: metav1.Duration{Duration: time.Minute},
					ShortWindow: metav1.Duration{Duration: 10 * time.Second}, Factor: "2"}},
			},
		}
		Expect(env.Client.Create(ctx, sl)).To(Succeed())

		By("starting the books with the service up")
		Eventually(func(g Gomega) {
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(sl), sl)).To(Succeed())
			g.Expect(sl.Status.TrackingSince).NotTo(BeNil())
			g.Expect(sl.Status.ErrorBudgetRemaining).To(Equal("100"))
			g.Expect(sl.Status.Workloads).To(ConsistOf(HaveField("Name", "web")))
			g.Expect(meta.IsStatusConditionFalse(sl.Status.Conditions, itopsv1alpha1.SLConditionBudgetExhausted)).To(BeTrue())
		}).WithTimeout(20 * time.Second).Should(Succeed())

		By("the Deployment becoming unavailable: an open outage and a burn-rate incident")
		setAvailable(web, false)
		inc := &itopsv1alpha1.Incident{}
		Eventually(func(g Gomega) {
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(sl), sl)).To(Succeed())
			g.Expect(sl.Status.Outages).To(HaveLen(1))
			g.Expect(sl.Status.Outages[0].End).To(BeNil())
			g.Expect(sl.Status.Workloads[0].Unavailable).To(ContainSubstring("Available=False"))
			list := &itopsv1alpha1.IncidentList{}
			g.Expect(env.Client.List(ctx, list, client.InNamespace(ns), client.MatchingLabels{itopsv1alpha1.LabelReason: itopsv1alpha1.ReasonErrorBudgetBurn})).To(Succeed())
			g.Expect(list.Items).To(HaveLen(1))
			inc = &list.Items[0]
		}).WithTimeout(45 * time.Second).WithPolling(time.Second).Should(Succeed())
		Expect(inc.Spec.Source).To(Equal(itopsv1alpha1.SourceServiceLevel))
		Expect(inc.Spec.Description).To(ContainSubstring("ServiceLevel shop burns its error budget too fast"))
		Expect(inc.Spec.Affected).To(ContainElement(HaveField("Name", "web")))
		Expect(sl.Status.BurnRateAlerts).To(ConsistOf(HaveField("State", itopsv1alpha1.AlertFiring)))

		By("the metrics, computed at scrape time, saying the service is down and burning")
		registry := prometheus.NewRegistry()
		registry.MustRegister(collector{r: reconciler})
		Expect(gauge(registry, "itops_servicelevel_down", ns)).To(Equal(1.0))
		Expect(gauge(registry, "itops_servicelevel_error_budget_remaining_ratio", ns)).To(BeNumerically("<", 1))
		Expect(gauge(registry, "itops_servicelevel_objective_ratio", ns)).To(BeNumerically("~", 0.999, 1e-9))
		Expect(gauge(registry, "itops_servicelevel_burn_rate", ns)).To(BeNumerically(">", 2))

		By("recovery closing the outage; the burn stops once the short window is clean")
		setAvailable(web, true)
		Eventually(func(g Gomega) {
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(sl), sl)).To(Succeed())
			g.Expect(sl.Status.Outages).To(HaveLen(1))
			g.Expect(sl.Status.Outages[0].End).NotTo(BeNil())
			g.Expect(sl.Status.Downtime.Duration).To(BeNumerically(">", 0))
		}).WithTimeout(20 * time.Second).Should(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(inc), inc)).To(Succeed())
			g.Expect(meta.IsStatusConditionFalse(inc.Status.Conditions, itopsv1alpha1.IncidentConditionProblemPresent)).To(BeTrue())
		}).WithTimeout(75 * time.Second).WithPolling(time.Second).Should(Succeed())
	})
})

var _ = Describe("Scaling drift", func() {
	It("reports a workload that predates the policy, and corrects it once asked to", func() {
		ns := testenv.NewNamespace(ctx, env.Client, "drift")
		labels := map[string]string{"app": "batch"}
		batch := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "batch", Namespace: ns, Labels: labels},
			Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](6), Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "batch", Image: "batch:1"}}}}},
		}
		Expect(env.Client.Create(ctx, batch)).To(Succeed())
		sl := &itopsv1alpha1.ServiceLevel{
			ObjectMeta: metav1.ObjectMeta{Name: "batch", Namespace: ns},
			Spec: itopsv1alpha1.ServiceLevelSpec{Selector: metav1.LabelSelector{MatchLabels: labels},
				Scaling: &itopsv1alpha1.ScalingPolicy{MaxReplicas: ptr.To[int32](3), Drift: itopsv1alpha1.DriftReport}},
		}
		Expect(env.Client.Create(ctx, sl)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(sl), sl)).To(Succeed())
			c := meta.FindStatusCondition(sl.Status.Conditions, itopsv1alpha1.SLConditionScalingDrift)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(c.Message).To(ContainSubstring("Deployment batch: 6 replicas, above maxReplicas 3 of ServiceLevel batch"))
		}).WithTimeout(20 * time.Second).Should(Succeed())
		Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(batch), batch)).To(Succeed())
		Expect(*batch.Spec.Replicas).To(Equal(int32(6)), "reported, not fought")
		registry := prometheus.NewRegistry()
		registry.MustRegister(collector{r: reconciler})
		Expect(gauge(registry, "itops_servicelevel_workloads_out_of_bounds", ns)).To(Equal(1.0))

		By("drift: Correct scales it into bounds through the scale subresource")
		patch := client.MergeFrom(sl.DeepCopy())
		sl.Spec.Scaling.Drift = itopsv1alpha1.DriftCorrect
		Expect(env.Client.Patch(ctx, sl, patch)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(batch), batch)).To(Succeed())
			g.Expect(*batch.Spec.Replicas).To(Equal(int32(3)))
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(sl), sl)).To(Succeed())
			g.Expect(sl.Status.ScalingHistory).To(ConsistOf(And(HaveField("Reason", "DriftCorrected"), HaveField("From", int32(6)), HaveField("To", int32(3)))))
			g.Expect(meta.IsStatusConditionFalse(sl.Status.Conditions, itopsv1alpha1.SLConditionScalingDrift)).To(BeTrue())
		}).WithTimeout(20 * time.Second).Should(Succeed())
	})
})

package promrule

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/controllers/incidentwriter"
	"github.com/itops-dev/itops-operator/controllers/servicelevel"
	"github.com/itops-dev/itops-operator/internal/lifecycle"
	"github.com/itops-dev/itops-operator/internal/promrule"
	"github.com/itops-dev/itops-operator/test/cluster"
	"github.com/itops-dev/itops-operator/test/testenv"
)

var (
	env    *testenv.Env
	ctx    context.Context
	k8s    client.Client
	scheme *runtime.Scheme
)

func TestPrometheusRuleController(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "PrometheusRule controller suite")
}

// The suite starts without the PrometheusRule CRD: the first spec sees the kind not served,
// then installs it (as an administrator installing prometheus-operator later would).
var _ = BeforeSuite(func() {
	ctrl.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	RetryInterval = 200 * time.Millisecond
	var err error
	env, err = testenv.Start()
	Expect(err).NotTo(HaveOccurred())
	scheme = cluster.Scheme()
	Expect(monitoringv1.AddToScheme(scheme)).To(Succeed())
	k8s, err = client.New(env.Config, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	var cancel context.CancelFunc
	ctx, cancel = context.WithCancel(context.Background())
	Expect(testenv.EnsureNamespace(ctx, k8s, "itops-cluster")).To(Succeed())
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}})
	Expect(err).NotTo(HaveOccurred())
	Expect((&Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("itops-operator")}).SetupWithManager(mgr)).To(Succeed())
	// The ServiceLevel controller writes the other conditions of the same status: neither
	// writer may drop the other's.
	Expect((&servicelevel.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("itops-operator"), ClusterNamespace: "itops-cluster",
		Incidents: &incidentwriter.Writer{Client: mgr.GetClient(), Policy: lifecycle.DefaultPolicy, ClusterNamespace: "itops-cluster"},
	}).SetupWithManager(mgr)).To(Succeed())
	go func() {
		defer GinkgoRecover()
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
	DeferCleanup(func() {
		cancel()
		Expect(env.Stop()).To(Succeed())
	})
})

func prometheusRuleCRD() string {
	return filepath.Join(testenv.RepoRoot(), "test", "e2e", "testdata", "crds", "monitoring.coreos.com_prometheusrules.yaml")
}

func newServiceLevel(ns, name string) *itopsv1alpha1.ServiceLevel {
	return &itopsv1alpha1.ServiceLevel{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"release": "kube-prometheus-stack"}},
		Spec: itopsv1alpha1.ServiceLevelSpec{
			Selector: metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Objectives: &itopsv1alpha1.Objectives{Availability: "99.9", SLI: &itopsv1alpha1.SLI{
				Type:           itopsv1alpha1.SLIPrometheusRatio,
				Good:           `sum(rate(http_requests_total{job="api",code!~"5.."}[{{.window}}]))`,
				Total:          `sum(rate(http_requests_total{job="api"}[{{.window}}]))`,
				PrometheusRule: &itopsv1alpha1.PrometheusRuleGeneration{Labels: []itopsv1alpha1.RuleLabel{{Name: "team", Value: "checkout"}}},
			}},
		},
	}
}

// condition is the ServiceLevel's condition of type t, nil when absent.
func condition(sl client.ObjectKey, t string) func(g Gomega) *metav1.Condition {
	return func(g Gomega) *metav1.Condition {
		obj := &itopsv1alpha1.ServiceLevel{}
		g.Expect(k8s.Get(ctx, sl, obj)).To(Succeed())
		return meta.FindStatusCondition(obj.Status.Conditions, t)
	}
}

func rulesGenerated(sl client.ObjectKey) func(g Gomega) *metav1.Condition {
	return condition(sl, itopsv1alpha1.SLConditionRulesGenerated)
}

func haveReason(status metav1.ConditionStatus, reason string) OmegaMatcher {
	return And(Not(BeNil()), WithTransform(func(c *metav1.Condition) metav1.ConditionStatus { return c.Status }, Equal(status)),
		WithTransform(func(c *metav1.Condition) string { return c.Reason }, Equal(reason)))
}

func prometheusRule(key client.ObjectKey) func(g Gomega) *monitoringv1.PrometheusRule {
	return func(g Gomega) *monitoringv1.PrometheusRule {
		pr := &monitoringv1.PrometheusRule{}
		err := k8s.Get(ctx, key, pr)
		if apierrors.IsNotFound(err) {
			return nil
		}
		g.Expect(err).NotTo(HaveOccurred())
		return pr
	}
}

var _ = Describe("PrometheusRule controller", Ordered, func() {
	var ns string
	var sl *itopsv1alpha1.ServiceLevel
	var key client.ObjectKey
	BeforeAll(func() { ns = testenv.NewNamespace(ctx, k8s, "promrule") })

	It("reports PrometheusRuleNotServed while the kind is not served, next to the ServiceLevel controller's conditions", func() {
		sl = newServiceLevel(ns, "checkout")
		key = client.ObjectKeyFromObject(sl)
		Expect(k8s.Create(ctx, sl)).To(Succeed())
		Eventually(rulesGenerated(key)).WithTimeout(20 * time.Second).Should(haveReason(metav1.ConditionFalse, itopsv1alpha1.SLReasonPrometheusRuleNotServed))
		Eventually(condition(key, itopsv1alpha1.ConditionReady)).WithTimeout(20 * time.Second).ShouldNot(BeNil())
	})

	It("writes the rules once the kind is served: owned by the ServiceLevel, its labels, the generated groups; RulesGenerated=True", func() {
		_, err := envtest.InstallCRDs(env.Config, envtest.CRDInstallOptions{Paths: []string{prometheusRuleCRD()}, ErrorIfPathMissing: true})
		Expect(err).NotTo(HaveOccurred())
		Eventually(rulesGenerated(key)).WithTimeout(30 * time.Second).Should(haveReason(metav1.ConditionTrue, itopsv1alpha1.SLReasonRulesApplied))
		pr := prometheusRule(key)(Default)
		Expect(pr).NotTo(BeNil())
		Expect(pr.Labels).To(HaveKeyWithValue("release", "kube-prometheus-stack"))
		Expect(pr.Labels).To(HaveKeyWithValue(ManagedByLabel, "itops-operator"))
		current := &itopsv1alpha1.ServiceLevel{}
		Expect(k8s.Get(ctx, key, current)).To(Succeed())
		Expect(metav1.IsControlledBy(pr, current)).To(BeTrue())
		want, err := promrule.Generate(current)
		Expect(err).NotTo(HaveOccurred())
		Expect(pr.Spec.Groups).To(Equal(want))
		Expect(pr.ManagedFields).To(ContainElement(HaveField("Manager", FieldManager)))
		// The ServiceLevel controller's conditions are still there.
		Expect(meta.FindStatusCondition(current.Status.Conditions, itopsv1alpha1.ConditionReady)).NotTo(BeNil())
		Expect(rulesGenerated(key)(Default).Message).To(ContainSubstring("10 recording rules and 2 alerts"))
		// The two writers keep each other's conditions while the ServiceLevel controller keeps
		// refreshing its own.
		Consistently(func(g Gomega) {
			g.Expect(rulesGenerated(key)(g)).To(haveReason(metav1.ConditionTrue, itopsv1alpha1.SLReasonRulesApplied))
			g.Expect(condition(key, itopsv1alpha1.ConditionReady)(g)).NotTo(BeNil())
			g.Expect(condition(key, itopsv1alpha1.SLConditionObjectiveMet)(g)).NotTo(BeNil())
		}).WithTimeout(3 * time.Second).WithPolling(200 * time.Millisecond).Should(Succeed())
		// One Event per transition: NotServed (Warning), then Applied.
		Eventually(func(g Gomega) []string {
			events := &corev1.EventList{}
			g.Expect(k8s.List(ctx, events, client.InNamespace(ns))).To(Succeed())
			var reasons []string
			for _, e := range events.Items {
				if e.InvolvedObject.Name == "checkout" && e.InvolvedObject.Kind == "ServiceLevel" &&
					(e.Reason == itopsv1alpha1.SLReasonPrometheusRuleNotServed || e.Reason == itopsv1alpha1.SLReasonRulesApplied) {
					reasons = append(reasons, e.Type+"/"+e.Reason)
				}
			}
			return reasons
		}).WithTimeout(20 * time.Second).Should(ConsistOf("Warning/PrometheusRuleNotServed", "Normal/Applied"))
	})

	It("follows spec changes and restores the rules when they are edited or deleted", func() {
		Eventually(func(g Gomega) {
			cur := &itopsv1alpha1.ServiceLevel{}
			g.Expect(k8s.Get(ctx, key, cur)).To(Succeed())
			cur.Spec.BurnRateAlerts = append(cur.Spec.BurnRateAlerts, itopsv1alpha1.BurnRateAlert{
				LongWindow: metav1.Duration{Duration: 72 * time.Hour}, ShortWindow: metav1.Duration{Duration: 6 * time.Hour}, Factor: "1"})
			g.Expect(k8s.Update(ctx, cur)).To(Succeed())
		}).WithTimeout(10 * time.Second).Should(Succeed())
		Eventually(func(g Gomega) []string {
			pr := prometheusRule(key)(g)
			g.Expect(pr).NotTo(BeNil())
			names := make([]string, 0, len(pr.Spec.Groups[0].Rules))
			for _, r := range pr.Spec.Groups[0].Rules {
				names = append(names, r.Record)
			}
			return names
		}).WithTimeout(20 * time.Second).Should(ContainElement("itops:sli_error:ratio_rate3d"))

		pr := prometheusRule(key)(Default)
		pr.Spec.Groups = pr.Spec.Groups[:1]
		Expect(k8s.Update(ctx, pr)).To(Succeed())
		Eventually(func(g Gomega) int { return len(prometheusRule(key)(g).Spec.Groups) }).WithTimeout(20 * time.Second).Should(Equal(3))

		Expect(k8s.Delete(ctx, pr)).To(Succeed())
		Eventually(func(g Gomega) bool {
			got := prometheusRule(key)(g)
			return got != nil && got.UID != pr.UID
		}).WithTimeout(20 * time.Second).Should(BeTrue())

		By("a label removed from the ServiceLevel leaves the rule (Prometheus selects rules by it)")
		Eventually(func(g Gomega) {
			cur := &itopsv1alpha1.ServiceLevel{}
			g.Expect(k8s.Get(ctx, key, cur)).To(Succeed())
			delete(cur.Labels, "release")
			g.Expect(k8s.Update(ctx, cur)).To(Succeed())
		}).WithTimeout(10 * time.Second).Should(Succeed())
		Eventually(func(g Gomega) map[string]string { return prometheusRule(key)(g).Labels }).WithTimeout(20 * time.Second).
			ShouldNot(HaveKey("release"))
	})

	It("deletes the rules and the condition when prometheusRule is unset, keeping the other conditions", func() {
		Eventually(func(g Gomega) {
			cur := &itopsv1alpha1.ServiceLevel{}
			g.Expect(k8s.Get(ctx, key, cur)).To(Succeed())
			cur.Spec.Objectives.SLI.PrometheusRule = nil
			g.Expect(k8s.Update(ctx, cur)).To(Succeed())
		}).WithTimeout(10 * time.Second).Should(Succeed())
		Eventually(prometheusRule(key)).WithTimeout(20 * time.Second).Should(BeNil())
		Eventually(rulesGenerated(key)).WithTimeout(20 * time.Second).Should(BeNil())
		Expect(condition(key, itopsv1alpha1.ConditionReady)(Default)).NotTo(BeNil())
	})

	It("deletes the rules when the SLI is no longer a Prometheus one", func() {
		other := newServiceLevel(ns, "search")
		otherKey := client.ObjectKeyFromObject(other)
		Expect(k8s.Create(ctx, other)).To(Succeed())
		Eventually(prometheusRule(otherKey)).WithTimeout(20 * time.Second).ShouldNot(BeNil())
		Eventually(func(g Gomega) {
			cur := &itopsv1alpha1.ServiceLevel{}
			g.Expect(k8s.Get(ctx, otherKey, cur)).To(Succeed())
			cur.Spec.Objectives.SLI = &itopsv1alpha1.SLI{Type: itopsv1alpha1.SLIAvailability}
			g.Expect(k8s.Update(ctx, cur)).To(Succeed())
		}).WithTimeout(10 * time.Second).Should(Succeed())
		Eventually(prometheusRule(otherKey)).WithTimeout(20 * time.Second).Should(BeNil())
		Eventually(rulesGenerated(otherKey)).WithTimeout(20 * time.Second).Should(BeNil())
	})

	It("leaves a PrometheusRule of the same name it does not control alone and says so", func() {
		foreign := &monitoringv1.PrometheusRule{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "payments"},
			Spec: monitoringv1.PrometheusRuleSpec{Groups: []monitoringv1.RuleGroup{{Name: "theirs",
				Rules: []monitoringv1.Rule{{Record: "x:y", Expr: exprOf("vector(1)")}}}}},
		}
		Expect(k8s.Create(ctx, foreign)).To(Succeed())
		sl := newServiceLevel(ns, "payments")
		Expect(k8s.Create(ctx, sl)).To(Succeed())
		Eventually(rulesGenerated(client.ObjectKeyFromObject(sl))).WithTimeout(20 * time.Second).
			Should(haveReason(metav1.ConditionFalse, itopsv1alpha1.SLReasonPrometheusRuleNotOwned))
		got := prometheusRule(client.ObjectKeyFromObject(foreign))(Default)
		Expect(got.Spec.Groups).To(HaveLen(1))
		Expect(got.Spec.Groups[0].Name).To(Equal("theirs"))
		Expect(got.OwnerReferences).To(BeEmpty())
		// Unsetting prometheusRule does not delete it either.
		Eventually(func(g Gomega) {
			cur := &itopsv1alpha1.ServiceLevel{}
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(sl), cur)).To(Succeed())
			cur.Spec.Objectives.SLI.PrometheusRule = nil
			g.Expect(k8s.Update(ctx, cur)).To(Succeed())
		}).WithTimeout(10 * time.Second).Should(Succeed())
		Eventually(rulesGenerated(client.ObjectKeyFromObject(sl))).WithTimeout(20 * time.Second).Should(BeNil())
		Consistently(prometheusRule(client.ObjectKeyFromObject(foreign))).WithTimeout(2 * time.Second).ShouldNot(BeNil())
	})

	It("judges a transition from the copy it writes to: a stale copy conflicts instead of writing (and announcing) it twice", func() {
		sl := newServiceLevel(ns, "stale")
		Expect(k8s.Create(ctx, sl)).To(Succeed())
		Eventually(rulesGenerated(client.ObjectKeyFromObject(sl))).WithTimeout(20 * time.Second).
			Should(haveReason(metav1.ConditionTrue, itopsv1alpha1.SLReasonRulesApplied))
		stale := &itopsv1alpha1.ServiceLevel{}
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(sl), stale)).To(Succeed())
		fresh := stale.DeepCopy()
		fresh.Annotations = map[string]string{"touched": "yes"}
		Expect(k8s.Update(ctx, fresh)).To(Succeed())
		r := &Reconciler{Client: k8s}
		err := r.setCondition(ctx, stale, &metav1.Condition{Type: itopsv1alpha1.SLConditionRulesGenerated, Status: metav1.ConditionFalse,
			Reason: itopsv1alpha1.SLReasonApplyFailed, Message: "from a stale copy"})
		Expect(apierrors.IsConflict(err)).To(BeTrue(), "%v", err)
		Expect(rulesGenerated(client.ObjectKeyFromObject(sl))(Default).Status).To(Equal(metav1.ConditionTrue))
	})

	It("refuses alert labels the generated alerts own, with the field path", func() {
		sl := newServiceLevel(ns, "labels")
		sl.Spec.Objectives.SLI.PrometheusRule.Labels = []itopsv1alpha1.RuleLabel{{Name: "namespace", Value: "kube-system"}}
		err := k8s.Create(ctx, sl)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("spec.objectives.sli.prometheusRule.labels[0].name"))
		Expect(err.Error()).To(ContainSubstring("the generated alerts own them"))
	})
})

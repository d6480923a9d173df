package incident

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/audit"
	"github.com/itops-dev/itops-operator/internal/lifecycle"
	"github.com/itops-dev/itops-operator/test/cluster"
	"github.com/itops-dev/itops-operator/test/testenv"
)

var (
	env    *testenv.Env
	ctx    context.Context
	cancel context.CancelFunc
	// An hour ahead of the API server's clock, so that incidents created by the specs were
	// detected in the controller's past (their creation time), whenever the suite runs.
	fakeClock = clocktesting.NewFakePassiveClock(time.Now().Add(time.Hour).Truncate(time.Second))
)

// trail collects the audit records the controller writes.
type trail struct {
	mu    sync.Mutex
	lines []string
}

func (t *trail) write(line string) { t.mu.Lock(); defer t.mu.Unlock(); t.lines = append(t.lines, line) }

func (t *trail) records() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.lines...)
}

var auditTrail = &trail{}

func TestIncidentController(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Incident controller suite")
}

var _ = BeforeSuite(func() {
	ctrl.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	var err error
	env, err = testenv.Start()
	Expect(err).NotTo(HaveOccurred())
	ctx, cancel = context.WithCancel(context.Background())
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:  cluster.Scheme(),
		Metrics: metricsserver.Options{BindAddress: "0"},
	})
	Expect(err).NotTo(HaveOccurred())
	Expect((&Reconciler{
		Client:   mgr.GetClient(),
		Recorder: mgr.GetEventRecorder("itops-operator"),
		Clock:    fakeClock,
		Audit:    audit.New(funcr.NewJSON(auditTrail.write, funcr.Options{})),
		Policy:   lifecycle.DefaultPolicy,

		ClusterNamespace: "itops-cluster",
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

func newNamespace() string { return testenv.NewNamespace(ctx, env.Client, "inc") }

var _ = Describe("Incident deletion", func() {
	It("records the final state, then lets the incident go", func() {
		inc := &itopsv1alpha1.Incident{
			ObjectMeta: metav1.ObjectMeta{Name: "short-lived", Namespace: newNamespace()},
			Spec:       itopsv1alpha1.IncidentSpec{Title: "short-lived"},
		}
		Expect(env.Client.Create(ctx, inc)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(inc), inc)).To(Succeed())
			g.Expect(inc.Finalizers).To(ContainElement(AuditFinalizer))
			// The final state recorded below is the one the controller computed: wait for it.
			g.Expect(inc.Status.Phase).To(Equal(itopsv1alpha1.IncidentOpen))
		}).WithTimeout(20 * time.Second).Should(Succeed())
		Expect(env.Client.Delete(ctx, inc)).To(Succeed())
		Eventually(func() error {
			return env.Client.Get(ctx, client.ObjectKeyFromObject(inc), inc)
		}).WithTimeout(20 * time.Second).Should(MatchError(ContainSubstring("not found")))
		Expect(auditTrail.records()).To(ContainElement(And(
			ContainSubstring(`"transition":"Deleted"`), ContainSubstring(`"name":"short-lived"`), ContainSubstring(`"phase":"Open"`))))
	})
})

var _ = Describe("Incident controller", func() {
	It("prioritises a new incident, records its opening, and follows people's decisions", func() {
		inc := &itopsv1alpha1.Incident{
			ObjectMeta: metav1.ObjectMeta{Name: "api-down", Namespace: newNamespace()},
			Spec:       itopsv1alpha1.IncidentSpec{Title: "API down", Impact: "High", Urgency: "High"},
		}
		Expect(env.Client.Create(ctx, inc)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(inc), inc)).To(Succeed())
			g.Expect(inc.Status.Priority).To(Equal(itopsv1alpha1.PriorityP1))
			g.Expect(inc.Status.Phase).To(Equal(itopsv1alpha1.IncidentOpen))
			g.Expect(inc.Status.DetectedAt.Time).To(BeTemporally("==", inc.CreationTimestamp.Time))
			g.Expect(inc.Finalizers).To(ContainElement(AuditFinalizer))
			g.Expect(inc.Status.Occurrences).To(Equal(int32(1)))
			g.Expect(inc.Status.Timeline).To(HaveLen(1))
			g.Expect(inc.Status.Timeline[0].Type).To(Equal("Opened"))
			g.Expect(inc.Status.ObservedGeneration).To(Equal(inc.Generation))
		}).WithTimeout(20 * time.Second).Should(Succeed())

		By("lowering the urgency, the priority follows")
		patch := client.MergeFrom(inc.DeepCopy())
		inc.Spec.Urgency = itopsv1alpha1.LevelLow
		Expect(env.Client.Patch(ctx, inc, patch)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(inc), inc)).To(Succeed())
			g.Expect(inc.Status.Priority).To(Equal(itopsv1alpha1.PriorityP3))
			g.Expect(inc.Status.Timeline).To(HaveLen(2))
		}).WithTimeout(20 * time.Second).Should(Succeed())

		By("resolving it")
		patch = client.MergeFrom(inc.DeepCopy())
		inc.Spec.Resolution = &itopsv1alpha1.Resolution{Code: itopsv1alpha1.ResolutionFixed, By: "alice"}
		Expect(env.Client.Patch(ctx, inc, patch)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(inc), inc)).To(Succeed())
			g.Expect(inc.Status.Phase).To(Equal(itopsv1alpha1.IncidentResolved))
			g.Expect(inc.Status.ResolvedBy).To(Equal("alice"))
			g.Expect(inc.Status.ResolvedAt).NotTo(BeNil())
		}).WithTimeout(20 * time.Second).Should(Succeed())
	})
})

var _ = Describe("Suppression by maintenance windows", func() {
	It("suppresses an incident detected during an active Maintenance window, until the window ends", func() {
		ns := newNamespace()
		now := fakeClock.Now()
		mw := &itopsv1alpha1.MaintenanceWindow{
			ObjectMeta: metav1.ObjectMeta{Name: "db-upgrade", Namespace: ns},
			Spec: itopsv1alpha1.MaintenanceWindowSpec{Type: itopsv1alpha1.WindowMaintenance,
				Selector:  &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
				Schedules: []itopsv1alpha1.WindowSchedule{{Start: &metav1.Time{Time: now.Add(-time.Hour)}, End: &metav1.Time{Time: now.Add(time.Hour)}}}},
		}
		Expect(env.Client.Create(ctx, mw)).To(Succeed())
		// What the maintenance controller (not running in this suite) records: active now, in
		// effect since an hour ago.
		mw.Status.CurrentStart, mw.Status.CurrentEnd = mw.Spec.Schedules[0].Start, mw.Spec.Schedules[0].End
		mw.Status.CoverageFrom, mw.Status.ObservedGeneration = mw.Spec.Schedules[0].Start, mw.Generation
		Expect(env.Client.Status().Update(ctx, mw)).To(Succeed())
		db := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns, Labels: map[string]string{"app": "db"}},
			Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "db"}},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "db", Image: "postgres:17"}}}}},
		}
		Expect(env.Client.Create(ctx, db)).To(Succeed())
		inc := &itopsv1alpha1.Incident{
			ObjectMeta: metav1.ObjectMeta{Name: "db-down", Namespace: ns},
			Spec: itopsv1alpha1.IncidentSpec{Title: "db down", Affected: []itopsv1alpha1.ObjectReference{
				{APIVersion: "apps/v1", Kind: "Deployment", Namespace: ns, Name: "db"}}},
		}
		Expect(env.Client.Create(ctx, inc)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(inc), inc)).To(Succeed())
			g.Expect(meta.IsStatusConditionTrue(inc.Status.Conditions, itopsv1alpha1.IncidentConditionSuppressed)).To(BeTrue())
			g.Expect(inc.Status.SuppressedBy).To(Equal("db-upgrade"))
		}).WithTimeout(20 * time.Second).Should(Succeed())

		By("the window ending with the problem still present: a normal open incident")
		mw.Status.CurrentEnd = &metav1.Time{Time: now.Add(-time.Minute)}
		Expect(env.Client.Status().Update(ctx, mw)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(inc), inc)).To(Succeed())
			c := meta.FindStatusCondition(inc.Status.Conditions, itopsv1alpha1.IncidentConditionSuppressed)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(c.Message).To(ContainSubstring("this is a normal open incident now"))
			g.Expect(inc.Status.Phase).To(Equal(itopsv1alpha1.IncidentOpen))
		}).WithTimeout(20 * time.Second).Should(Succeed())
	})
})

var _ = Describe("The operator's own marks", func() {
	It("record a person whose user name is operator resolving an incident once, not on every pass", func() {
		inc := &itopsv1alpha1.Incident{
			ObjectMeta: metav1.ObjectMeta{Name: "resolved-by-operator", Namespace: newNamespace()},
			Spec:       itopsv1alpha1.IncidentSpec{Title: "disk full", Impact: "Medium", Urgency: "Medium"},
		}
		Expect(env.Client.Create(ctx, inc)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(inc), inc)).To(Succeed())
			g.Expect(inc.Status.Phase).To(Equal(itopsv1alpha1.IncidentOpen))
		}).WithTimeout(20 * time.Second).Should(Succeed())
		patch := client.MergeFrom(inc.DeepCopy())
		inc.Spec.Resolution = &itopsv1alpha1.Resolution{Code: itopsv1alpha1.ResolutionFixed, By: itopsv1alpha1.ResolvedByOperator}
		Expect(env.Client.Patch(ctx, inc, patch)).To(Succeed())
		resolvedEntries := func(g Gomega) int {
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(inc), inc)).To(Succeed())
			n := 0
			for _, e := range inc.Status.Timeline {
				if e.Type == TransitionResolved {
					n++
				}
			}
			return n
		}
		Eventually(resolvedEntries).WithTimeout(20 * time.Second).Should(Equal(1))
		Expect(meta.FindStatusCondition(inc.Status.Conditions, itopsv1alpha1.IncidentConditionAutoResolved)).To(BeNil())
		Consistently(resolvedEntries).WithTimeout(3 * time.Second).Should(Equal(1))
	})

	It("write each audit transition exactly once while another writer keeps changing the incident", func() {
		ns := newNamespace()
		inc := &itopsv1alpha1.Incident{
			ObjectMeta: metav1.ObjectMeta{Name: "contended", Namespace: ns},
			Spec:       itopsv1alpha1.IncidentSpec{Title: "contended", Impact: "High", Urgency: "Medium"},
		}
		Expect(env.Client.Create(ctx, inc)).To(Succeed())
		// A detector refreshing lastSeenAt as fast as it can: the controller's optimistic-lock
		// patches conflict and are retried.
		for i := range 30 {
			Eventually(func() error {
				cur := &itopsv1alpha1.Incident{}
				if err := env.Client.Get(ctx, client.ObjectKeyFromObject(inc), cur); err != nil {
					return err
				}
				base := cur.DeepCopy()
				t := metav1.NewTime(time.Now().Add(time.Duration(i) * time.Second))
				cur.Status.LastSeenAt = &t
				return env.Client.Status().Patch(ctx, cur, client.MergeFrom(base))
			}).WithTimeout(10 * time.Second).Should(Succeed())
		}
		Eventually(func(g Gomega) {
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(inc), inc)).To(Succeed())
			g.Expect(inc.Status.Timeline).To(ContainElement(HaveField("Type", TransitionOpened)))
		}).WithTimeout(20 * time.Second).Should(Succeed())
		opened := func() int {
			n := 0
			for _, line := range auditTrail.records() {
				if strings.Contains(line, `"name":"contended"`) && strings.Contains(line, `"namespace":"`+ns+`"`) && strings.Contains(line, `"transition":"Opened"`) {
					n++
				}
			}
			return n
		}
		Eventually(opened).WithTimeout(10 * time.Second).Should(Equal(1))
		Consistently(opened).WithTimeout(2 * time.Second).Should(Equal(1))
	})
})

var _ = Describe("Causes and symptoms", func() {
	It("cap a symptom's priority at its cause's, mark it, and list it on the cause", func() {
		causeNS, symptomNS := newNamespace(), newNamespace()
		cause := &itopsv1alpha1.Incident{
			ObjectMeta: metav1.ObjectMeta{Name: "node-n1", Namespace: causeNS},
			Spec:       itopsv1alpha1.IncidentSpec{Title: "Node n1: NodeNotReady", Impact: "High", Urgency: "Medium"},
		}
		Expect(env.Client.Create(ctx, cause)).To(Succeed())
		symptom := &itopsv1alpha1.Incident{
			ObjectMeta: metav1.ObjectMeta{Name: "daemonset-agent", Namespace: symptomNS},
			Spec:       itopsv1alpha1.IncidentSpec{Title: "DaemonSet agent: WorkloadUnavailable", Impact: "High", Urgency: "High"},
		}
		Expect(env.Client.Create(ctx, symptom)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(symptom), symptom)).To(Succeed())
			g.Expect(symptom.Status.Priority).To(Equal(itopsv1alpha1.PriorityP1))
		}).WithTimeout(20 * time.Second).Should(Succeed())

		By("a detector linking the symptom to its cause")
		Eventually(func() error {
			g := &itopsv1alpha1.Incident{}
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(symptom), g); err != nil {
				return err
			}
			base := g.DeepCopy()
			g.Status.CausedBy = &itopsv1alpha1.IncidentReference{Kind: "Incident", Namespace: causeNS, Name: "node-n1"}
			return env.Client.Status().Patch(ctx, g, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
		}).WithTimeout(10 * time.Second).Should(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(symptom), symptom)).To(Succeed())
			g.Expect(symptom.Status.Priority).To(Equal(itopsv1alpha1.PriorityP2))
			g.Expect(meta.IsStatusConditionTrue(symptom.Status.Conditions, itopsv1alpha1.IncidentConditionSymptom)).To(BeTrue())
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(cause), cause)).To(Succeed())
			g.Expect(cause.Status.Symptoms).To(ConsistOf(itopsv1alpha1.IncidentReference{Kind: "Incident", Namespace: symptomNS, Name: "daemonset-agent"}))
		}).WithTimeout(20 * time.Second).Should(Succeed())

		By("the cause resolved: the symptom stands on its own again")
		patch := client.MergeFrom(cause.DeepCopy())
		cause.Spec.Resolution = &itopsv1alpha1.Resolution{Code: itopsv1alpha1.ResolutionFixed, By: "alice"}
		Expect(env.Client.Patch(ctx, cause, patch)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(symptom), symptom)).To(Succeed())
			g.Expect(symptom.Status.Priority).To(Equal(itopsv1alpha1.PriorityP1))
			g.Expect(meta.IsStatusConditionFalse(symptom.Status.Conditions, itopsv1alpha1.IncidentConditionSymptom)).To(BeTrue())
		}).WithTimeout(20 * time.Second).Should(Succeed())
	})
})

package change

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
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/controllers/incidentwriter"
	"github.com/itops-dev/itops-operator/internal/audit"
	"github.com/itops-dev/itops-operator/internal/config"
	"github.com/itops-dev/itops-operator/internal/lifecycle"
	"github.com/itops-dev/itops-operator/test/cluster"
	"github.com/itops-dev/itops-operator/test/testenv"
)

const (
	operatorNamespace = "itops-system"
	clusterNamespace  = "itops-cluster"
)

var (
	env    *testenv.Env
	ctx    context.Context
	cancel context.CancelFunc
)

// trail collects the audit records the controller writes.
type trail struct {
	mu    sync.Mutex
	lines []string
}

func (t *trail) write(line string) { t.mu.Lock(); defer t.mu.Unlock(); t.lines = append(t.lines, line) }

func (t *trail) contains(parts ...string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, l := range t.lines {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(l, p)
		}
		if all {
			return true
		}
	}
	return false
}

var auditTrail = &trail{}

func TestChangeController(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "ChangeRequest controller suite")
}

var _ = BeforeSuite(func() {
	ctrl.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	var err error
	env, err = testenv.Start()
	Expect(err).NotTo(HaveOccurred())
	ctx, cancel = context.WithCancel(context.Background())
	Expect(testenv.EnsureNamespace(context.Background(), env.Client, clusterNamespace)).To(Succeed())
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{Scheme: cluster.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"}})
	Expect(err).NotTo(HaveOccurred())
	policy, err := config.Parse([]byte("changes:\n  emergencyReviewWithin: 2s\n"))
	Expect(err).NotTo(HaveOccurred())
	Expect((&Reconciler{
		Client:    mgr.GetClient(),
		Recorder:  mgr.GetEventRecorder("itops-operator"),
		Audit:     audit.New(funcr.NewJSON(auditTrail.write, funcr.Options{})),
		Policy:    policy,
		Incidents: &incidentwriter.Writer{Client: mgr.GetClient(), Policy: lifecycle.DefaultPolicy, ClusterNamespace: clusterNamespace},
	}).SetupWithManager(ctx, mgr)).To(Succeed())
	Expect(env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}})).To(Succeed())
	Expect((&NamespaceReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), OperatorNamespace: operatorNamespace,
		Incidents: &incidentwriter.Writer{Client: mgr.GetClient(), Policy: lifecycle.DefaultPolicy, ClusterNamespace: clusterNamespace},
		Audit:     audit.New(funcr.NewJSON(auditTrail.write, funcr.Options{})),
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

// changeRequest builds a change as the webhooks would have left it: requested by alice,
// content recorded at generation 1.
func changeRequest(ns, name string, targets ...string) *itopsv1alpha1.ChangeRequest {
	cr := &itopsv1alpha1.ChangeRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns,
			Annotations: map[string]string{itopsv1alpha1.AnnotationContentGeneration: "1"}},
		Spec: itopsv1alpha1.ChangeRequestSpec{Title: "roll out " + name, RequestedBy: "alice"},
	}
	for _, t := range targets {
		cr.Spec.Targets = append(cr.Spec.Targets, itopsv1alpha1.ChangeTarget{Kind: itopsv1alpha1.TargetDeployment, Name: t})
	}
	return cr
}

// enforcedNamespace is a new namespace under change control: the change controller follows
// the gate's records on workloads only there.
func enforcedNamespace(prefix string) string {
	ns := testenv.NewNamespace(ctx, env.Client, prefix)
	nsObj := &corev1.Namespace{}
	Expect(env.Client.Get(ctx, client.ObjectKey{Name: ns}, nsObj)).To(Succeed())
	patch := client.MergeFrom(nsObj.DeepCopy())
	if nsObj.Labels == nil {
		nsObj.Labels = map[string]string{}
	}
	nsObj.Labels[itopsv1alpha1.LabelChangeControl] = itopsv1alpha1.ChangeControlEnforced
	Expect(env.Client.Patch(ctx, nsObj, patch)).To(Succeed())
	return ns
}

// approveAsBob adds bob's approval of the content he saw, as the webhook would stamp it.
func approveAsBob(cr *itopsv1alpha1.ChangeRequest) {
	Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(cr), cr)).To(Succeed())
	patch := client.MergeFrom(cr.DeepCopy())
	cr.Spec.Approvals = append(cr.Spec.Approvals, itopsv1alpha1.Approval{Approver: "bob", Decision: itopsv1alpha1.DecisionApprove,
		Generation: cr.Generation, At: &metav1.Time{Time: time.Now().Truncate(time.Second)}})
	Expect(env.Client.Patch(ctx, cr, patch)).To(Succeed())
}

func phaseOf(cr *itopsv1alpha1.ChangeRequest) func() itopsv1alpha1.ChangePhase {
	return func() itopsv1alpha1.ChangePhase {
		got := &itopsv1alpha1.ChangeRequest{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(cr), got); err != nil {
			return ""
		}
		return got.Status.Phase
	}
}

// deployment is a Deployment the gate admitted under change, with a status the test controls.
func deployment(ns, name, change string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels,
			Annotations: map[string]string{itopsv1alpha1.AnnotationChangeRequest: change}},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "shop/web:2.0"}}}},
		},
	}
	Expect(env.Client.Create(ctx, d)).To(Succeed())
	return d
}

func setRollout(d *appsv1.Deployment, updated, available int32, conds ...appsv1.DeploymentCondition) {
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 2, UpdatedReplicas: updated,
		AvailableReplicas: available, ReadyReplicas: available, Conditions: conds}
	Expect(env.Client.Status().Update(ctx, d)).To(Succeed())
}

var _ = Describe("ChangeRequest controller", func() {
	var ns string
	BeforeEach(func() { ns = enforcedNamespace("change") })

	It("moves a change from Pending to Approved to Completed as its target rolls out", func() {
		cr := changeRequest(ns, "web-v2", "web")
		Expect(env.Client.Create(ctx, cr)).To(Succeed())
		Eventually(phaseOf(cr)).WithTimeout(10 * time.Second).Should(Equal(itopsv1alpha1.ChangePending))
		Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(cr), cr)).To(Succeed())
		Expect(cr.Status.ApprovalSummary).To(Equal("0/1"))
		Expect(meta.IsStatusConditionTrue(cr.Status.Conditions, itopsv1alpha1.ConditionReconciling)).To(BeTrue())
		Expect(cr.Finalizers).To(ContainElement(itopsv1alpha1.AuditFinalizer))

		approveAsBob(cr)
		Eventually(phaseOf(cr)).WithTimeout(10 * time.Second).Should(Equal(itopsv1alpha1.ChangeApproved))
		Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(cr), cr)).To(Succeed())
		Expect(meta.IsStatusConditionTrue(cr.Status.Conditions, itopsv1alpha1.ChangeConditionApproved)).To(BeTrue())
		Expect(meta.IsStatusConditionTrue(cr.Status.Conditions, itopsv1alpha1.ConditionReady)).To(BeTrue())
		Expect(cr.Status.ApprovedAt).NotTo(BeNil())

		d := deployment(ns, "web", "web-v2")
		setRollout(d, 1, 2)
		Eventually(phaseOf(cr)).WithTimeout(10 * time.Second).Should(Equal(itopsv1alpha1.ChangeInProgress))
		setRollout(d, 2, 2)
		Eventually(phaseOf(cr)).WithTimeout(10 * time.Second).Should(Equal(itopsv1alpha1.ChangeCompleted))
		Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(cr), cr)).To(Succeed())
		Expect(cr.Status.Applied).To(ConsistOf(HaveField("Name", "web")))
		Expect(cr.Status.StartedAt).NotTo(BeNil())
		Expect(cr.Status.CompletedAt).NotTo(BeNil())
		Expect(auditTrail.contains(`"name":"web-v2"`, `"transition":"Completed"`)).To(BeTrue())
	})

	It("completes a change that deletes its target, and ignores forged records outside change control (review of issue 11)", func() {
		d := deployment(ns, "legacy", "")
		cr := changeRequest(ns, "retire-legacy", "legacy")
		Expect(env.Client.Create(ctx, cr)).To(Succeed())
		approveAsBob(cr)
		Eventually(func(g Gomega) {
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(cr), cr)).To(Succeed())
			g.Expect(cr.Status.Present).To(ConsistOf(itopsv1alpha1.TargetReference{Kind: itopsv1alpha1.TargetDeployment, Name: "legacy"}))
		}).WithTimeout(10 * time.Second).Should(Succeed())
		Expect(env.Client.Delete(ctx, d)).To(Succeed()) // admitted by the gate under retire-legacy
		Eventually(phaseOf(cr)).WithTimeout(10 * time.Second).Should(Equal(itopsv1alpha1.ChangeCompleted))
		Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(cr), cr)).To(Succeed())
		Expect(cr.Status.Applied).To(ConsistOf(And(HaveField("Name", "legacy"), HaveField("Outcome", itopsv1alpha1.OutcomeDeleted))))
		Expect(cr.Status.Unapplied).To(BeEmpty())

		By("a record forged on a workload in a namespace without change control")
		plain := testenv.NewNamespace(ctx, env.Client, "plain")
		other := changeRequest(plain, "web-v2", "web")
		Expect(env.Client.Create(ctx, other)).To(Succeed())
		approveAsBob(other)
		forged := deployment(plain, "web", "web-v2")
		setRollout(forged, 2, 2)
		Eventually(func(g Gomega) {
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(other), other)).To(Succeed())
			ready := meta.FindStatusCondition(other.Status.Conditions, itopsv1alpha1.ConditionReady)
			g.Expect(ready).NotTo(BeNil())
			g.Expect(ready.Message).To(ContainSubstring("is not under change control"))
		}).WithTimeout(10 * time.Second).Should(Succeed())
		Consistently(phaseOf(other)).WithTimeout(2 * time.Second).Should(Equal(itopsv1alpha1.ChangeApproved))
	})

	It("voids approvals when the content changes", func() {
		cr := changeRequest(ns, "api-v2", "api")
		Expect(env.Client.Create(ctx, cr)).To(Succeed())
		approveAsBob(cr)
		Eventually(phaseOf(cr)).WithTimeout(10 * time.Second).Should(Equal(itopsv1alpha1.ChangeApproved))
		Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(cr), cr)).To(Succeed())
		patch := client.MergeFrom(cr.DeepCopy())
		cr.Spec.Description = "also bump the worker"
		cr.Annotations[itopsv1alpha1.AnnotationContentGeneration] = "3" // as the webhook records it
		Expect(env.Client.Patch(ctx, cr, patch)).To(Succeed())
		Eventually(phaseOf(cr)).WithTimeout(10 * time.Second).Should(Equal(itopsv1alpha1.ChangePending))
		Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(cr), cr)).To(Succeed())
		Expect(meta.FindStatusCondition(cr.Status.Conditions, itopsv1alpha1.ConditionReady).Message).To(
			ContainSubstring("1 approval(s) were given for earlier content and no longer count"))
	})

	It("fails a change whose rollout stalls and opens a ChangeFailed incident linked both ways", func() {
		cr := changeRequest(ns, "db-v2", "db")
		Expect(env.Client.Create(ctx, cr)).To(Succeed())
		approveAsBob(cr)
		Eventually(phaseOf(cr)).WithTimeout(10 * time.Second).Should(Equal(itopsv1alpha1.ChangeApproved))
		d := deployment(ns, "db", "db-v2")
		setRollout(d, 1, 2, appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse,
			Reason: "ProgressDeadlineExceeded", Message: `ReplicaSet "db-7c9" has timed out progressing.`})
		Eventually(phaseOf(cr)).WithTimeout(10 * time.Second).Should(Equal(itopsv1alpha1.ChangeFailed))

		inc := &itopsv1alpha1.Incident{}
		Eventually(func() error {
			return env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "changerequest-db-v2"}, inc)
			// No target has an incident: the change's own opens after its 30s grace.
		}).WithTimeout(45 * time.Second).Should(Succeed())
		Expect(inc.Spec.Source).To(Equal(itopsv1alpha1.SourceChangeGate))
		Expect(inc.Labels).To(HaveKeyWithValue(itopsv1alpha1.LabelReason, itopsv1alpha1.ReasonChangeFailed))
		Expect(inc.Spec.Affected).To(ContainElements(
			HaveField("Kind", "ChangeRequest"), HaveField("Kind", "Deployment")))
		Expect(inc.Spec.Description).To(ContainSubstring("ProgressDeadlineExceeded"))
		Eventually(func() []string {
			Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(cr), cr)).To(Succeed())
			return cr.Status.Incidents
		}).WithTimeout(10 * time.Second).Should(ConsistOf(inc.Name))
		Expect(meta.IsStatusConditionTrue(cr.Status.Conditions, itopsv1alpha1.ConditionStalled)).To(BeTrue())
	})

	It("opens an EmergencyChangeUnreviewed incident exactly when the review is overdue, and resolves it once reviewed", func() {
		cr := changeRequest(ns, "hotfix", "web")
		cr.Spec.Type = itopsv1alpha1.ChangeEmergency
		Expect(env.Client.Create(ctx, cr)).To(Succeed())
		Eventually(phaseOf(cr)).WithTimeout(10 * time.Second).Should(Equal(itopsv1alpha1.ChangeApproved))
		Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(cr), cr)).To(Succeed())
		Expect(meta.FindStatusCondition(cr.Status.Conditions, itopsv1alpha1.ChangeConditionReviewed).Reason).To(Equal(itopsv1alpha1.ChangeReasonAwaitingReview))

		inc := &itopsv1alpha1.Incident{}
		key := client.ObjectKey{Namespace: ns, Name: "changerequest-hotfix"}
		Eventually(func() error { return env.Client.Get(ctx, key, inc) }).WithTimeout(10 * time.Second).Should(Succeed())
		Expect(inc.Spec.Description).To(ContainSubstring("has not been approved by reviewers within 2s"))

		approveAsBob(cr)
		Eventually(func() metav1.ConditionStatus {
			Expect(env.Client.Get(ctx, key, inc)).To(Succeed())
			if c := meta.FindStatusCondition(inc.Status.Conditions, itopsv1alpha1.IncidentConditionProblemPresent); c != nil {
				return c.Status
			}
			return ""
		}).WithTimeout(10 * time.Second).Should(Equal(metav1.ConditionFalse))
	})

	It("records the final state in the audit trail before a change goes", func() {
		cr := changeRequest(ns, "gone", "web")
		Expect(env.Client.Create(ctx, cr)).To(Succeed())
		Eventually(func() []string {
			Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(cr), cr)).To(Succeed())
			return cr.Finalizers
		}).WithTimeout(10 * time.Second).Should(ContainElement(itopsv1alpha1.AuditFinalizer))
		Expect(env.Client.Delete(ctx, cr)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(env.Client.Get(ctx, client.ObjectKeyFromObject(cr), cr))
		}).WithTimeout(10 * time.Second).Should(BeTrue())
		Expect(auditTrail.contains(`"name":"gone"`, `"transition":"Deleted"`)).To(BeTrue())
	})
})

var _ = Describe("Change control of namespaces", func() {
	It("opens a ChangeControlDisabled incident when an enforced namespace loses its label, and recovers when it returns", func() {
		ns := testenv.NewNamespace(ctx, env.Client, "enforced")
		nsObj := &corev1.Namespace{}
		Expect(env.Client.Get(ctx, client.ObjectKey{Name: ns}, nsObj)).To(Succeed())
		patch := client.MergeFrom(nsObj.DeepCopy())
		nsObj.Labels[itopsv1alpha1.LabelChangeControl] = itopsv1alpha1.ChangeControlEnforced
		Expect(env.Client.Patch(ctx, nsObj, patch)).To(Succeed())
		Eventually(func() map[string]string {
			cm := &corev1.ConfigMap{}
			_ = env.Client.Get(ctx, client.ObjectKey{Namespace: operatorNamespace, Name: EnrollmentConfigMap}, cm)
			return cm.Data
		}).WithTimeout(10 * time.Second).Should(HaveKey(ns))

		By("removing the label: the break-glass")
		patch = client.MergeFrom(nsObj.DeepCopy())
		delete(nsObj.Labels, itopsv1alpha1.LabelChangeControl)
		Expect(env.Client.Patch(ctx, nsObj, patch)).To(Succeed())
		inc := &itopsv1alpha1.Incident{}
		key := client.ObjectKey{Namespace: clusterNamespace, Name: "namespace-" + ns}
		Eventually(func() error { return env.Client.Get(ctx, key, inc) }).WithTimeout(10 * time.Second).Should(Succeed())
		Expect(inc.Spec.Source).To(Equal(itopsv1alpha1.SourceChangeGate))
		Expect(inc.Spec.Description).To(ContainSubstring("the change gate no longer applies there"))

		By("restoring it")
		patch = client.MergeFrom(nsObj.DeepCopy())
		nsObj.Labels[itopsv1alpha1.LabelChangeControl] = itopsv1alpha1.ChangeControlEnforced
		Expect(env.Client.Patch(ctx, nsObj, patch)).To(Succeed())
		Eventually(func() bool {
			Expect(env.Client.Get(ctx, key, inc)).To(Succeed())
			return meta.IsStatusConditionFalse(inc.Status.Conditions, itopsv1alpha1.IncidentConditionProblemPresent)
		}).WithTimeout(10 * time.Second).Should(BeTrue())
	})
})

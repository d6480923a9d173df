package webhook

import (
	"fmt"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/config"
	"github.com/itops-dev/itops-operator/test/cluster"
)

const clusterNamespace = "itops-cluster"

var testPolicy = func() *config.Config {
	c, err := config.Parse([]byte(`
changePolicies:
- approverGroups: [sre-leads]
  emergencyGroups: [oncall]
  minApprovals: {Low: 1, Medium: 1, High: 2}
  standardChanges:
  - name: image-bump
    allow: ImageWithinRepository
    targets: [{kind: Deployment, name: web-std}]
`))
	if err != nil {
		panic(err)
	}
	return c
}()

func newChangeRequest(ns, name string, targets ...string) *itopsv1alpha1.ChangeRequest {
	cr := &itopsv1alpha1.ChangeRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       itopsv1alpha1.ChangeRequestSpec{Title: "roll out " + name},
	}
	for _, t := range targets {
		cr.Spec.Targets = append(cr.Spec.Targets, itopsv1alpha1.ChangeTarget{Kind: itopsv1alpha1.TargetDeployment, Name: t})
	}
	return cr
}

// approve adds user's decision with a JSON merge patch of the whole list, as kubectl patch does.
func approve(c client.Client, cr *itopsv1alpha1.ChangeRequest, approver string) error {
	Expect(c.Get(ctx, client.ObjectKeyFromObject(cr), cr)).To(Succeed())
	patch := client.MergeFrom(cr.DeepCopy())
	cr.Spec.Approvals = append(cr.Spec.Approvals, itopsv1alpha1.Approval{Approver: approver, Decision: itopsv1alpha1.DecisionApprove})
	return c.Patch(ctx, cr, patch)
}

var _ = Describe("ChangeRequest webhooks", func() {
	var ns string
	var alice, bob, carol, oncall client.Client
	BeforeEach(func() {
		ns = newNamespace()
		alice, bob = userClient("alice"), userClient("bob", "sre-leads")
		carol, oncall = userClient("carol"), userClient("olga", "oncall")
	})

	It("stamp requestedBy from the authenticated user, whatever the request claims", func() {
		cr := newChangeRequest(ns, "web-v2", "web")
		cr.Spec.RequestedBy = "mallory"
		Expect(alice.Create(ctx, cr)).To(Succeed())
		Expect(cr.Spec.RequestedBy).To(Equal("alice"))
		Expect(cr.Annotations).To(HaveKeyWithValue(itopsv1alpha1.AnnotationContentGeneration, "1"))
		Expect(cr.Finalizers).To(ContainElement(itopsv1alpha1.AuditFinalizer))

		By("keeping it on updates that leave it out (server-side apply from Git)")
		patch := client.MergeFrom(cr.DeepCopy())
		cr.Spec.Description = "now with a rollback plan"
		cr.Spec.RequestedBy = ""
		Expect(alice.Patch(ctx, cr, patch)).To(Succeed())
		Expect(cr.Spec.RequestedBy).To(Equal("alice"))
	})

	It("refuse approvals given with the change itself", func() {
		cr := newChangeRequest(ns, "preapproved", "web")
		cr.Spec.Approvals = []itopsv1alpha1.Approval{{Approver: "bob", Decision: itopsv1alpha1.DecisionApprove}}
		Expect(alice.Create(ctx, cr)).To(MatchError(ContainSubstring(
			"spec.approvals: Forbidden: approvals are added by approvers to an existing ChangeRequest, never with the change itself (nor from Git)")))
	})

	It("refuse self-approval, the declared requester, approvers outside the groups, and approvals in someone else's name", func() {
		cr := newChangeRequest(ns, "web-v3", "web")
		cr.Spec.Requester = "carol"
		Expect(alice.Create(ctx, cr)).To(Succeed())
		Expect(approve(alice, cr, "alice")).To(MatchError(ContainSubstring(
			"spec.approvals[0]: Forbidden: alice requested this change and cannot approve it (separation of duties)")))
		Expect(approve(carol, cr, "carol")).To(MatchError(ContainSubstring(
			"carol is the declared requester of this change and cannot approve it (separation of duties)")))
		dave := userClient("dave")
		Expect(approve(dave, cr, "dave")).To(MatchError(ContainSubstring(
			"spec.approvals[0]: Forbidden: dave is not in any of the approver groups sre-leads")))
		Expect(approve(alice, cr, "bob")).To(MatchError(ContainSubstring(
			`spec.approvals[0].approver: Invalid value: "bob": must be the authenticated user "alice": nobody approves in someone else's name`)))
	})

	It("stamp approvals, keep them append-only, and void them when the content changes", func() {
		cr := newChangeRequest(ns, "web-v4", "web")
		Expect(alice.Create(ctx, cr)).To(Succeed())
		Expect(approve(bob, cr, "bob")).To(Succeed())
		Expect(cr.Spec.Approvals).To(HaveLen(1))
		Expect(cr.Spec.Approvals[0].At.Time).To(BeTemporally("==", fakeClock.Now()))
		Expect(cr.Spec.Approvals[0].Generation).To(Equal(int64(1)))
		Expect(cr.Annotations).To(HaveKeyWithValue(itopsv1alpha1.AnnotationContentGeneration, "1"))

		By("refusing a changed decision on the same content")
		patch := client.MergeFrom(cr.DeepCopy())
		cr.Spec.Approvals[0].Decision = itopsv1alpha1.DecisionReject
		Expect(bob.Patch(ctx, cr, patch)).To(MatchError(ContainSubstring(
			"approvals are append-only: bob already decided Approve on this content")))

		By("refusing a removal")
		Expect(bob.Get(ctx, client.ObjectKeyFromObject(cr), cr)).To(Succeed())
		patch = client.MergeFrom(cr.DeepCopy())
		cr.Spec.Approvals = nil
		Expect(bob.Patch(ctx, cr, patch)).To(MatchError(ContainSubstring("spec.approvals is append-only: an approval cannot be removed")))

		By("recording the generation of a content change, after which bob may decide again")
		Expect(alice.Get(ctx, client.ObjectKeyFromObject(cr), cr)).To(Succeed())
		patch = client.MergeFrom(cr.DeepCopy())
		cr.Spec.Targets = append(cr.Spec.Targets, itopsv1alpha1.ChangeTarget{Kind: itopsv1alpha1.TargetDeployment, Name: "worker"})
		Expect(alice.Patch(ctx, cr, patch)).To(Succeed())
		Expect(cr.Annotations).To(HaveKeyWithValue(itopsv1alpha1.AnnotationContentGeneration, fmt.Sprint(cr.Generation)))
		patch = client.MergeFrom(cr.DeepCopy())
		cr.Spec.Approvals[0].Decision = itopsv1alpha1.DecisionReject
		cr.Spec.Approvals[0].Comment = "worker is not ready"
		Expect(bob.Patch(ctx, cr, patch)).To(Succeed())
		Expect(cr.Spec.Approvals[0].Generation).To(Equal(cr.Generation - 1))
	})

	It("take a decision in every documented form, stamping the approver, and keep earlier entries", func() {
		cr := newChangeRequest(ns, "web-forms", "web")
		Expect(alice.Create(ctx, cr)).To(Succeed())
		frank, gina := userClient("frank", "sre-leads"), userClient("gina", "sre-leads")

		By("bob adding the first decision with a JSON patch, without typing his name")
		Expect(bob.Patch(ctx, cr, client.RawPatch(types.JSONPatchType,
			[]byte(`[{"op":"add","path":"/spec/approvals","value":[{"decision":"Approve","comment":"LGTM"}]}]`)))).To(Succeed())
		Expect(cr.Spec.Approvals).To(HaveLen(1))
		Expect(cr.Spec.Approvals[0].Approver).To(Equal("bob"))

		By("frank, the second approver, using the documented merge form with only his own entry")
		Expect(frank.Patch(ctx, cr, client.RawPatch(types.MergePatchType,
			[]byte(`{"spec":{"approvals":[{"decision":"Approve","comment":"ok"}]}}`)))).To(Succeed())
		Expect(cr.Spec.Approvals).To(HaveLen(2))
		Expect(cr.Spec.Approvals[0].Approver).To(Equal("bob"), "the earlier decision is kept")
		Expect(cr.Spec.Approvals[1].Approver).To(Equal("frank"))

		By("gina appending with a JSON patch to /spec/approvals/-")
		Expect(gina.Patch(ctx, cr, client.RawPatch(types.JSONPatchType,
			[]byte(`[{"op":"add","path":"/spec/approvals/-","value":{"decision":"Reject","comment":"not now"}}]`)))).To(Succeed())
		Expect(cr.Spec.Approvals).To(HaveLen(3))
		Expect(cr.Spec.Approvals[2].Approver).To(Equal("gina"))

		By("a pure removal is still refused, saying how to add a decision")
		err := bob.Patch(ctx, cr, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"approvals":null}}`)))
		Expect(err).To(MatchError(ContainSubstring("add your decision with kubectl itops approve|reject")))

		By("bob sending a second, unnamed entry: it is his own, and his decision on this content stands")
		err = bob.Patch(ctx, cr, client.RawPatch(types.JSONPatchType,
			[]byte(`[{"op":"add","path":"/spec/approvals/-","value":{"decision":"Reject"}}]`)))
		Expect(err).To(MatchError(ContainSubstring("approvals are append-only: bob already decided Approve on this content")))
		err = bob.Patch(ctx, cr, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"approvals":[{"decision":"Reject"}]}}`)))
		Expect(err).To(MatchError(ContainSubstring("approvals are append-only: bob already decided Approve on this content")),
			"the same re-decision in the merge form is judged as one, not as a removal of the others")
	})

	It("require the approve verb on changerequests, checked with a SubjectAccessReview", func() {
		cr := newChangeRequest(ns, "web-rbac", "web")
		Expect(alice.Create(ctx, cr)).To(Succeed())
		edit := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "changes-edit", Namespace: ns},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{"itops.dev"}, Resources: []string{"changerequests"},
				Verbs: []string{"get", "list", "watch", "patch", "update"}}}}
		Expect(env.Client.Create(ctx, edit)).To(Succeed())
		Expect(env.Client.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "erin-edit", Namespace: ns},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "changes-edit"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "erin"}}})).To(Succeed())
		u, err := env.AddUser(envtest.User{Name: "erin", Groups: []string{"sre-leads"}}, nil)
		Expect(err).NotTo(HaveOccurred())
		erin, err := client.New(u.Config(), client.Options{Scheme: cluster.Scheme()})
		Expect(err).NotTo(HaveOccurred())

		By("erin, who may edit changes but not approve them")
		addDecision := client.RawPatch(types.JSONPatchType, []byte(`[{"op":"add","path":"/spec/approvals","value":[{"decision":"Approve"}]}]`))
		Expect(erin.Patch(ctx, cr, addDecision)).To(MatchError(ContainSubstring(
			"spec.approvals[0]: Forbidden: user erin may not approve changerequests in namespace " + ns + ": grant the itops-approver ClusterRole")))

		By("erin editing the description of another change: no review is needed, and none refuses it")
		other := newChangeRequest(ns, "web-rbac-other", "web")
		Expect(alice.Create(ctx, other)).To(Succeed())
		Expect(erin.Patch(ctx, other, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"description":"with a rollback plan"}}`)))).To(Succeed())
		Expect(other.Spec.EditedBy).To(ConsistOf(HaveField("User", "erin")), "an editor of that change, who never approves it")

		By("granted the approve verb, erin approves")
		Expect(env.Client.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "changes-approve", Namespace: ns},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{"itops.dev"}, Resources: []string{"changerequests"}, Verbs: []string{"approve"}}}})).To(Succeed())
		Expect(env.Client.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "erin-approve", Namespace: ns},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "changes-approve"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "erin"}}})).To(Succeed())
		Eventually(func() error { return erin.Patch(ctx, cr, addDecision) }).WithTimeout(10 * time.Second).Should(Succeed())
		Expect(cr.Spec.Approvals[0].Approver).To(Equal("erin"))
	})

	It("let only the emergency groups raise Emergency changes", func() {
		cr := newChangeRequest(ns, "hotfix", "web")
		cr.Spec.Type = itopsv1alpha1.ChangeEmergency
		Expect(alice.Create(ctx, cr.DeepCopy())).To(MatchError(ContainSubstring(
			"spec.type: Forbidden: only members of group oncall may raise Emergency changes in namespace " + ns + "; alice is not")))
		Expect(oncall.Create(ctx, cr)).To(Succeed())
	})

	It("accept Standard changes only where a pattern of the policy covers every target", func() {
		cr := newChangeRequest(ns, "bump", "web-std", "web")
		cr.Spec.Type = itopsv1alpha1.ChangeStandard
		Expect(alice.Create(ctx, cr.DeepCopy())).To(MatchError(ContainSubstring(
			"no Standard change pattern of the policy for namespace " + ns + " covers every target (pattern image-bump covers Deployment/web-std)")))
		cr.Spec.Targets = cr.Spec.Targets[:1]
		Expect(alice.Create(ctx, cr)).To(Succeed())
	})
})

// warnings collects the admission warnings the API server returns.
type warnings struct {
	sync.Mutex
	texts []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.Lock()
	defer w.Unlock()
	w.texts = append(w.texts, text)
}

func (w *warnings) all() []string {
	w.Lock()
	defer w.Unlock()
	return append([]string(nil), w.texts...)
}

func enforcedNamespace() string {
	ns := newNamespace()
	nsObj := &corev1.Namespace{}
	Expect(env.Client.Get(ctx, client.ObjectKey{Name: ns}, nsObj)).To(Succeed())
	patch := client.MergeFrom(nsObj.DeepCopy())
	nsObj.Labels[itopsv1alpha1.LabelChangeControl] = itopsv1alpha1.ChangeControlEnforced
	Expect(env.Client.Patch(ctx, nsObj, patch)).To(Succeed())
	return ns
}

func webDeployment(ns string) *appsv1.Deployment {
	labels := map[string]string{"app": "web"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "shop/web:1.0"}}},
			},
		},
	}
}

var _ = Describe("The change gate", func() {
	var ns string
	var alice, bob, pipeline client.Client
	var seen *warnings
	BeforeEach(func() {
		ns = enforcedNamespace()
		alice, bob = userClient("alice"), userClient("bob", "sre-leads")
		seen = &warnings{}
		u, err := env.AddUser(envtest.User{Name: "flux", Groups: []string{"system:masters"}}, nil)
		Expect(err).NotTo(HaveOccurred())
		cfg := rest.CopyConfig(u.Config())
		cfg.WarningHandler = seen
		pipeline, err = client.New(cfg, client.Options{Scheme: cluster.Scheme()})
		Expect(err).NotTo(HaveOccurred())
	})

	It("denies a rollout no change authorises, saying what is missing, and lets a dry run through with a warning", func() {
		web := webDeployment(ns)
		Eventually(func() error { return pipeline.Create(ctx, web.DeepCopy()) }).WithTimeout(10 * time.Second).Should(MatchError(ContainSubstring(
			`admission webhook "vgate.itops.dev" denied the request: itops change control: create of Deployment ` + ns + "/web denied: no ChangeRequest in namespace " + ns + " targets Deployment web")))
		Expect(pipeline.Create(ctx, web.DeepCopy(), client.DryRunAll)).To(Succeed())
		Expect(seen.all()).To(ContainElement(ContainSubstring(
			"dry run: the real request would be denied: itops change control: create of Deployment " + ns + "/web denied: no ChangeRequest")))

		By("naming the approvals still missing")
		cr := newChangeRequest(ns, "web-v1", "web")
		cr.Spec.Risk = itopsv1alpha1.LevelHigh
		Expect(alice.Create(ctx, cr)).To(Succeed())
		Expect(approve(bob, cr, "bob")).To(Succeed())
		Eventually(func() error { return pipeline.Create(ctx, web.DeepCopy()) }).WithTimeout(10 * time.Second).Should(MatchError(ContainSubstring(
			"ChangeRequest web-v1 is Pending with 1 of 2 approvals from group sre-leads (approved by bob)")))
	})

	It("admits exactly the approved change, records it on the workload, and always allows scaling and restarts", func() {
		cr := newChangeRequest(ns, "web-v1", "web")
		Expect(alice.Create(ctx, cr)).To(Succeed())
		Expect(approve(bob, cr, "bob")).To(Succeed())
		web := webDeployment(ns)
		Eventually(func() error { return pipeline.Create(ctx, web) }).WithTimeout(10 * time.Second).Should(Succeed())
		Expect(web.Annotations).To(HaveKeyWithValue(itopsv1alpha1.AnnotationChangeRequest, "web-v1"))

		By("scaling without a change")
		patch := client.MergeFrom(web.DeepCopy())
		web.Spec.Replicas = ptr.To[int32](5)
		Expect(alice.Patch(ctx, web, patch)).To(Succeed())

		By("restarting without a change")
		patch = client.MergeFrom(web.DeepCopy())
		web.Spec.Template.Annotations = map[string]string{itopsv1alpha1.AnnotationRestartedAt: "2026-11-24T10:00:00Z"}
		Expect(alice.Patch(ctx, web, patch)).To(Succeed())

		By("keeping the record from being forged")
		patch = client.MergeFrom(web.DeepCopy())
		web.Annotations[itopsv1alpha1.AnnotationChangeRequest] = "something-else"
		Expect(alice.Patch(ctx, web, patch)).To(Succeed())
		Expect(web.Annotations).To(HaveKeyWithValue(itopsv1alpha1.AnnotationChangeRequest, "web-v1"))

		By("denying content the change pins to something else")
		Expect(alice.Get(ctx, client.ObjectKeyFromObject(cr), cr)).To(Succeed())
		patch = client.MergeFrom(cr.DeepCopy())
		cr.Spec.Targets[0].Containers = []itopsv1alpha1.ContainerPin{{Name: "app", Image: "shop/web:2.0"}}
		Expect(alice.Patch(ctx, cr, patch)).To(Succeed())
		Expect(bob.Get(ctx, client.ObjectKeyFromObject(cr), cr)).To(Succeed())
		patch = client.MergeFrom(cr.DeepCopy())
		cr.Spec.Approvals[0].Comment = "pinned to 2.0"
		Expect(bob.Patch(ctx, cr, patch)).To(Succeed())
		Expect(pipeline.Get(ctx, client.ObjectKeyFromObject(web), web)).To(Succeed())
		patch = client.MergeFrom(web.DeepCopy())
		web.Spec.Template.Spec.Containers[0].Image = "shop/web:2.1"
		Eventually(func() error { return pipeline.Patch(ctx, web.DeepCopy(), patch) }).WithTimeout(10 * time.Second).Should(MatchError(ContainSubstring(
			"ChangeRequest web-v1 pins container app to image shop/web:2.0, but the request sets shop/web:2.1")))
		web.Spec.Template.Spec.Containers[0].Image = "shop/web:2.0"
		Eventually(func() error { return pipeline.Patch(ctx, web.DeepCopy(), patch) }).WithTimeout(10 * time.Second).Should(Succeed())
	})

	It("blocks approved changes during an active freeze, naming the window", func() {
		cr := newChangeRequest(ns, "web-v1", "web")
		Expect(alice.Create(ctx, cr)).To(Succeed())
		Expect(approve(bob, cr, "bob")).To(Succeed())
		mw := &itopsv1alpha1.MaintenanceWindow{
			ObjectMeta: metav1.ObjectMeta{Name: "launch-freeze", Namespace: ns},
			Spec: itopsv1alpha1.MaintenanceWindowSpec{Type: itopsv1alpha1.WindowFreeze, Schedules: []itopsv1alpha1.WindowSchedule{{
				Start: &metav1.Time{Time: fakeClock.Now().Add(-time.Hour)}, End: &metav1.Time{Time: fakeClock.Now().Add(time.Hour)},
			}}},
		}
		Expect(env.Client.Create(ctx, mw)).To(Succeed())
		mw.Status.CurrentStart, mw.Status.CurrentEnd = mw.Spec.Schedules[0].Start, mw.Spec.Schedules[0].End
		Expect(env.Client.Status().Update(ctx, mw)).To(Succeed())
		Eventually(func() error {
			return pipeline.Create(ctx, webDeployment(ns))
		}).WithTimeout(10 * time.Second).Should(MatchError(ContainSubstring(
			"ChangeRequest web-v1 is approved, but freeze window " + ns + "/launch-freeze is active until 2026-11-24T10:30:00Z: only Emergency changes pass")))
	})

	It("freezes changes to a service whose error budget is spent under FreezeChanges, and only warns under Warn", func() {
		cr := newChangeRequest(ns, "web-v1", "web")
		Expect(alice.Create(ctx, cr)).To(Succeed())
		Expect(approve(bob, cr, "bob")).To(Succeed())
		sl := &itopsv1alpha1.ServiceLevel{
			ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: ns},
			Spec: itopsv1alpha1.ServiceLevelSpec{Selector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				Objectives: &itopsv1alpha1.Objectives{Availability: "99.9"}, BudgetPolicy: itopsv1alpha1.BudgetPolicyFreezeChanges},
		}
		Expect(env.Client.Create(ctx, sl)).To(Succeed())
		// What the ServiceLevel controller (not running in this suite) records.
		sl.Status.ErrorBudgetRemaining = "-12.5"
		sl.Status.Conditions = []metav1.Condition{{Type: itopsv1alpha1.SLConditionBudgetExhausted, Status: metav1.ConditionTrue,
			Reason: itopsv1alpha1.SLReasonBudgetExhausted, Message: "exhausted", LastTransitionTime: metav1.Now()}}
		Expect(env.Client.Status().Update(ctx, sl)).To(Succeed())
		Eventually(func() error { return pipeline.Create(ctx, webDeployment(ns)) }).WithTimeout(10 * time.Second).Should(MatchError(
			ContainSubstring("the error budget of service shop is exhausted (-12.5% remaining, budgetPolicy FreezeChanges)")))

		By("the service owner choosing Warn: the change goes through, with a warning naming the budget")
		Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(sl), sl)).To(Succeed())
		patch := client.MergeFrom(sl.DeepCopy())
		sl.Spec.BudgetPolicy = itopsv1alpha1.BudgetPolicyWarn
		Expect(env.Client.Patch(ctx, sl, patch)).To(Succeed())
		// Both webhooks judge from their own cache: wait (with dry runs, which pass both) until
		// the mutating one has seen Warn too, so the admitted object carries the record.
		Eventually(func(g Gomega) {
			dry := webDeployment(ns)
			g.Expect(pipeline.Create(ctx, dry, client.DryRunAll)).To(Succeed())
			g.Expect(dry.Annotations).To(HaveKey(itopsv1alpha1.AnnotationBudgetWarning))
		}).WithTimeout(10 * time.Second).Should(Succeed())
		web := webDeployment(ns)
		Expect(pipeline.Create(ctx, web)).To(Succeed())
		warning := "error budget of ServiceLevel shop is exhausted (-12.5% left): its budgetPolicy Warn lets this change through"
		Expect(seen.all()).To(ContainElement(warning))
		Expect(web.Annotations).To(HaveKeyWithValue(itopsv1alpha1.AnnotationBudgetWarning, warning))
		Expect(web.Annotations).To(HaveKeyWithValue(itopsv1alpha1.AnnotationChangeRequest, "web-v1"))
	})

	It("allows a rollback to one of the workload's own revisions without a change", func() {
		// Revisions are ReplicaSets the deployment controller makes; envtest runs none, so the
		// test creates them as it would.
		cr := newChangeRequest(ns, "web-v1", "web")
		Expect(alice.Create(ctx, cr)).To(Succeed())
		Expect(approve(bob, cr, "bob")).To(Succeed())
		web := webDeployment(ns)
		Eventually(func() error { return pipeline.Create(ctx, web) }).WithTimeout(10 * time.Second).Should(Succeed())
		for i, image := range []string{"shop/web:0.9", "shop/web:1.0"} {
			rs := &appsv1.ReplicaSet{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("web-%d", i+1), Namespace: ns, Labels: map[string]string{"app": "web"},
					Annotations:     map[string]string{"deployment.kubernetes.io/revision": fmt.Sprint(i + 1)},
					OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(web, appsv1.SchemeGroupVersion.WithKind("Deployment"))}},
				Spec: appsv1.ReplicaSetSpec{Selector: web.Spec.Selector, Template: *web.Spec.Template.DeepCopy()},
			}
			rs.Spec.Template.Labels = map[string]string{"app": "web", "pod-template-hash": fmt.Sprintf("h%d", i)}
			rs.Spec.Template.Spec.Containers[0].Image = image
			Expect(userClient("system:kube-controller-manager").Create(ctx, rs)).To(Succeed())
		}
		Expect(alice.Get(ctx, client.ObjectKeyFromObject(cr), cr)).To(Succeed())
		patch := client.MergeFrom(cr.DeepCopy())
		cr.Status.Phase = itopsv1alpha1.ChangeCompleted
		Expect(env.Client.Status().Patch(ctx, cr, patch)).To(Succeed()) // as the operator: status is the operator's

		patch = client.MergeFrom(web.DeepCopy())
		web.Spec.Template.Spec.Containers[0].Image = "shop/web:1.1"
		Eventually(func() error { return pipeline.Patch(ctx, web.DeepCopy(), patch) }).WithTimeout(10 * time.Second).Should(MatchError(ContainSubstring(
			"ChangeRequest web-v1 is Completed and authorises nothing more")))
		web.Spec.Template.Spec.Containers[0].Image = "shop/web:0.9"
		Expect(pipeline.Patch(ctx, web, patch)).To(Succeed())
		Expect(web.Annotations).NotTo(HaveKey(itopsv1alpha1.AnnotationChangeRequest), "the workload no longer runs web-v1's change")
		Expect(web.Annotations).To(HaveKeyWithValue(itopsv1alpha1.AnnotationRolledBackChange, "web-v1"))
		Expect(web.Annotations).To(HaveKeyWithValue(itopsv1alpha1.AnnotationRolledBackRevision, "1"))
	})

	It("gates nothing in namespaces not under change control", func() {
		Expect(pipeline.Create(ctx, webDeployment(newNamespace()))).To(Succeed())
	})
})

var _ = Describe("MaintenanceWindow webhook", func() {
	It("refuses a calendar that cannot be evaluated, naming the field", func() {
		mw := &itopsv1alpha1.MaintenanceWindow{
			ObjectMeta: metav1.ObjectMeta{Name: "sundays", Namespace: newNamespace()},
			Spec: itopsv1alpha1.MaintenanceWindowSpec{Type: itopsv1alpha1.WindowMaintenance, TimeZone: "Mars/Olympus",
				Schedules: []itopsv1alpha1.WindowSchedule{{Cron: "0 2 * * 8", Duration: &metav1.Duration{Duration: 4 * time.Hour}}}},
		}
		err := env.Client.Create(ctx, mw)
		Expect(err).To(MatchError(ContainSubstring(`spec.timeZone: Invalid value: "Mars/Olympus": unknown IANA time zone`)))
		Expect(err).To(MatchError(ContainSubstring(`spec.schedules[0].cron: Invalid value: "0 2 * * 8": invalid cron expression`)))
		mw.Spec.TimeZone, mw.Spec.Schedules[0].Cron = "Europe/Berlin", "0 2 * * 0"
		Expect(env.Client.Create(ctx, mw)).To(Succeed())
	})
})

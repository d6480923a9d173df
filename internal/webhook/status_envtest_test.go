package webhook

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// statusPatch is `kubectl patch <kind> <name> --subresource=status --type=merge -p <body>`.
func statusPatch(c client.Client, obj client.Object, body string, opts ...client.SubResourcePatchOption) error {
	return c.Status().Patch(ctx, obj, client.RawPatch(types.MergePatchType, []byte(body)), opts...)
}

// automatedIncident is an incident as health detection opens it (created by the operator).
func automatedIncident(ns string) *itopsv1alpha1.Incident {
	inc := &itopsv1alpha1.Incident{
		ObjectMeta: metav1.ObjectMeta{Name: "deployment-web-crashloopbackoff", Namespace: ns,
			Labels: map[string]string{
				itopsv1alpha1.LabelReason: "CrashLoopBackOff", itopsv1alpha1.LabelSource: "HealthCheck",
				itopsv1alpha1.LabelFingerprint: "hc-web", itopsv1alpha1.LabelSequence: "1",
			}},
		Spec: itopsv1alpha1.IncidentSpec{Title: "Deployment web: CrashLoopBackOff", Source: itopsv1alpha1.SourceHealthCheck,
			Reason: "CrashLoopBackOff", Fingerprint: "hc-web",
			Affected: []itopsv1alpha1.ObjectReference{{APIVersion: "apps/v1", Kind: "Deployment", Namespace: ns, Name: "web"}}},
	}
	Expect(env.Client.Create(ctx, inc)).To(Succeed())
	return inc
}

var _ = Describe("Status and the operator's marks", func() {
	var ns string
	var alice client.Client
	BeforeEach(func() {
		ns = newNamespace()
		alice = userClient("alice", "sre-leads") // a cluster admin (system:masters) too: RBAC lets her
	})

	It("refuse a person's status write to any of the four kinds, dry run included, and let the operator's through", func() {
		inc := &itopsv1alpha1.Incident{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: ns}, Spec: itopsv1alpha1.IncidentSpec{Title: "x"}}
		Expect(alice.Create(ctx, inc)).To(Succeed())

		By("kubectl patch incident x --subresource=status: Closed, in the operator's name")
		closeIt := `{"status":{"phase":"Closed","closedAt":"2020-01-01T00:00:00Z"}}`
		err := statusPatch(alice, inc, closeIt)
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "got %v", err)
		Expect(err).To(MatchError(ContainSubstring(`incidents/status of "x" is written only by the itops operator (` + operatorUser + `); alice may not write it`)))
		Expect(statusPatch(alice, inc, closeIt, client.DryRunAll)).To(MatchError(ContainSubstring("is written only by the itops operator")))
		Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(inc), inc)).To(Succeed())
		Expect(inc.Status.Phase).NotTo(Equal(itopsv1alpha1.IncidentClosed))

		By("a status write to a ServiceLevel: erasing its outages, lifting its freeze")
		sl := &itopsv1alpha1.ServiceLevel{
			ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: ns},
			Spec: itopsv1alpha1.ServiceLevelSpec{Selector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				Objectives: &itopsv1alpha1.Objectives{Availability: "99.9"}, BudgetPolicy: itopsv1alpha1.BudgetPolicyFreezeChanges},
		}
		Expect(alice.Create(ctx, sl)).To(Succeed())
		Expect(statusPatch(alice, sl, `{"status":{"errorBudgetRemaining":"100","outages":[],"conditions":[]}}`)).To(
			MatchError(ContainSubstring(`servicelevels/status of "shop" is written only by the itops operator`)))

		By("a terminal phase written to a ChangeRequest")
		cr := newChangeRequest(ns, "web-v1", "web")
		Expect(alice.Create(ctx, cr)).To(Succeed())
		Expect(statusPatch(alice, cr, `{"status":{"phase":"Completed"}}`)).To(
			MatchError(ContainSubstring(`changerequests/status of "web-v1" is written only by the itops operator`)))
		Expect(statusPatch(alice, cr, `{"status":{"phase":"Approved"}}`)).To(MatchError(ContainSubstring("is written only by the itops operator")))

		By("a MaintenanceWindow made to look active")
		mw := &itopsv1alpha1.MaintenanceWindow{
			ObjectMeta: metav1.ObjectMeta{Name: "night", Namespace: ns},
			Spec: itopsv1alpha1.MaintenanceWindowSpec{Type: itopsv1alpha1.WindowMaintenance, Schedules: []itopsv1alpha1.WindowSchedule{{
				Start: &metav1.Time{Time: fakeClock.Now().Add(time.Hour)}, End: &metav1.Time{Time: fakeClock.Now().Add(2 * time.Hour)},
			}}},
		}
		Expect(alice.Create(ctx, mw)).To(Succeed())
		Expect(statusPatch(alice, mw, `{"status":{"phase":"Active"}}`)).To(
			MatchError(ContainSubstring(`maintenancewindows/status of "night" is written only by the itops operator`)))

		By("a ServiceAccount other than the operator's, with every RBAC permission")
		pipeline := userClient("system:serviceaccount:flux-system:kustomize-controller")
		Expect(statusPatch(pipeline, cr, `{"status":{"phase":"Completed"}}`)).To(MatchError(ContainSubstring("is written only by the itops operator")))

		By("the operator writing status")
		Expect(statusPatch(env.Client, inc, `{"status":{"phase":"Acknowledged"}}`)).To(Succeed())
		Expect(statusPatch(env.Client, cr, `{"status":{"phase":"Pending"}}`)).To(Succeed())
	})

	It("never see the operator's ServiceAccount: its status writes do not wait for, or fail on, its own webhook", func() {
		// The install's matchConditions exclude system:serviceaccount:itops-system:itops-operator
		// before the webhook is called. This suite's guard knows another operator identity, so a
		// write that reached it would be denied: admitted means it never did.
		installed := userClient("system:serviceaccount:itops-system:itops-operator")
		inc := &itopsv1alpha1.Incident{ObjectMeta: metav1.ObjectMeta{Name: "y", Namespace: ns}, Spec: itopsv1alpha1.IncidentSpec{Title: "y"}}
		Expect(alice.Create(ctx, inc)).To(Succeed())
		Expect(statusPatch(installed, inc, `{"status":{"phase":"Acknowledged"}}`)).To(Succeed())
		Expect(statusPatch(userClient("system:serviceaccount:other:itops-operator"), inc, `{"status":{"phase":"Open"}}`)).To(
			MatchError(ContainSubstring("is written only by the itops operator")))
	})

	It("keep the cause, labels and audit finalizer of an automated incident the operator's", func() {
		inc := automatedIncident(ns)
		Expect(inc.Finalizers).To(ContainElement(itopsv1alpha1.AuditFinalizer))
		edit := func(c client.Client, mutate func(*itopsv1alpha1.Incident)) error {
			got := &itopsv1alpha1.Incident{}
			Expect(c.Get(ctx, client.ObjectKeyFromObject(inc), got)).To(Succeed())
			patch := client.MergeFrom(got.DeepCopy())
			mutate(got)
			return c.Patch(ctx, got, patch)
		}

		Expect(edit(alice, func(i *itopsv1alpha1.Incident) {
			i.Spec.Reason = "OOMKilled"
			i.Spec.Affected = nil
		})).To(MatchError(SatisfyAll(
			ContainSubstring("spec.reason: Forbidden: the cause of an automated incident is the operator's record"),
			ContainSubstring("spec.affected: Forbidden"))))
		Expect(edit(alice, func(i *itopsv1alpha1.Incident) {
			i.Labels[itopsv1alpha1.LabelReason] = "Nothing"
			delete(i.Labels, itopsv1alpha1.LabelSource)
		})).To(MatchError(SatisfyAll(
			ContainSubstring("metadata.labels[itops.dev/reason]: Forbidden: set only by the operator ("+operatorUser+")"),
			ContainSubstring("metadata.labels[itops.dev/source]: Forbidden"))))
		Expect(edit(alice, func(i *itopsv1alpha1.Incident) { i.Finalizers = nil })).To(MatchError(ContainSubstring(
			"metadata.finalizers: Forbidden: the itops.dev/audit finalizer is removed only by the operator")))

		By("people keep what is theirs: title, assignee, their resolution")
		Expect(edit(alice, func(i *itopsv1alpha1.Incident) {
			i.Spec.Title, i.Spec.Assignee = "web crash-loops after the 2.0 rollout", "alice"
			i.Spec.Resolution = &itopsv1alpha1.Resolution{Code: itopsv1alpha1.ResolutionFixed}
		})).To(Succeed())

		By("deleting is RBAC's business; the finalizer stays until the operator has recorded the final state")
		Expect(alice.Delete(ctx, inc)).To(Succeed())
		Expect(edit(alice, func(i *itopsv1alpha1.Incident) { i.Finalizers = nil })).To(MatchError(ContainSubstring(
			"metadata.finalizers: Forbidden")))
		Expect(edit(env.Client, func(i *itopsv1alpha1.Incident) { i.Finalizers = nil })).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(env.Client.Get(ctx, client.ObjectKeyFromObject(inc), &itopsv1alpha1.Incident{}))
		}).WithTimeout(10 * time.Second).Should(BeTrue())
	})

	It("refuse a person labelling a manual incident as the operator's, or removing a change request's audit finalizer", func() {
		inc := &itopsv1alpha1.Incident{ObjectMeta: metav1.ObjectMeta{Name: "looks-automated", Namespace: ns,
			Labels: map[string]string{itopsv1alpha1.LabelSource: "HealthCheck", itopsv1alpha1.LabelReason: "NodeNotReady"}},
			Spec: itopsv1alpha1.IncidentSpec{Title: "x"}}
		Expect(alice.Create(ctx, inc)).To(MatchError(ContainSubstring("metadata.labels[itops.dev/reason]: Forbidden: set only by the operator")))

		cr := newChangeRequest(ns, "web-v2", "web")
		Expect(alice.Create(ctx, cr)).To(Succeed())
		Expect(cr.Finalizers).To(ContainElement(itopsv1alpha1.AuditFinalizer))
		patch := client.MergeFrom(cr.DeepCopy())
		cr.Finalizers = nil
		Expect(alice.Patch(ctx, cr, patch)).To(MatchError(ContainSubstring(
			"metadata.finalizers: Forbidden: the itops.dev/audit finalizer is removed only by the operator (" + operatorUser + "), once the change request's final state is in the audit trail")))
	})
})

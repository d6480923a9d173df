package e2e

import (
	"time"

	"k8s.io/apimachinery/pkg/types"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

var _ = Describe("People acting on incidents", func() {
	It("are recorded under their own name, and cannot act in someone else's", func() {
		ns := newNamespace()
		alice, err := local.UserClient("alice@example.com", "system:masters")
		Expect(err).NotTo(HaveOccurred())
		bob, err := local.UserClient("bob@example.com", "system:masters")
		Expect(err).NotTo(HaveOccurred())

		inc := &itopsv1alpha1.Incident{
			ObjectMeta: metav1.ObjectMeta{Name: "payments-slow", Namespace: ns},
			Spec:       itopsv1alpha1.IncidentSpec{Title: "Payments are slow"},
		}
		Expect(alice.Create(ctx, inc)).To(Succeed())

		By("alice acknowledging, claiming to be bob: the webhook records alice")
		patch := client.MergeFrom(inc.DeepCopy())
		inc.Spec.Acknowledgement = &itopsv1alpha1.Acknowledgement{By: "bob@example.com", Note: "looking"}
		Expect(alice.Patch(ctx, inc, patch)).To(Succeed())
		Expect(inc.Spec.Acknowledgement.By).To(Equal("alice@example.com"))
		Expect(inc.Spec.Acknowledgement.At).NotTo(BeNil())

		By("bob trying to rewrite alice's acknowledgement")
		patch = client.MergeFrom(inc.DeepCopy())
		inc.Spec.Acknowledgement.Note = "bob takes over"
		err = bob.Patch(ctx, inc, patch)
		Expect(err).To(MatchError(ContainSubstring("spec.acknowledgement: Forbidden: acknowledged by alice@example.com; only alice@example.com can change or withdraw this acknowledgement")))

		By("bob resolving it: recorded as bob, and the status follows")
		Expect(bob.Get(ctx, client.ObjectKeyFromObject(inc), inc)).To(Succeed())
		patch = client.MergeFrom(inc.DeepCopy())
		inc.Spec.Resolution = &itopsv1alpha1.Resolution{Code: itopsv1alpha1.ResolutionFixed, Note: "provider fixed their API"}
		Expect(bob.Patch(ctx, inc, patch)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(inc), inc)).To(Succeed())
			g.Expect(inc.Status.Phase).To(Equal(itopsv1alpha1.IncidentResolved))
			g.Expect(inc.Status.ResolvedBy).To(Equal("bob@example.com"))
		}).WithTimeout(30 * time.Second).Should(Succeed())

		By("alice trying to pass an incident off as the operator's")
		forged := &itopsv1alpha1.Incident{
			ObjectMeta: metav1.ObjectMeta{Name: "deployment-web-crashloopbackoff", Namespace: ns},
			Spec:       itopsv1alpha1.IncidentSpec{Title: "fake", Source: itopsv1alpha1.SourceHealthCheck, Fingerprint: "hc-0123"},
		}
		Expect(alice.Create(ctx, forged)).To(MatchError(ContainSubstring("spec.source: Forbidden: set only by the operator")))

		By("a dry run is answered like the real request, without side effects")
		patch = client.MergeFrom(inc.DeepCopy())
		inc.Spec.Resolution.Note = "rewritten"
		err = alice.Patch(ctx, inc, patch, client.DryRunAll)
		Expect(err).To(MatchError(ContainSubstring("only bob@example.com can change or withdraw this resolution")))
	})
})

var _ = Describe("Nobody acts in someone else's name", func() {
	It("leaves status to the operator alone, and keeps Git authors from approving their own changes", func() {
		ns := newNamespace()
		alice, err := local.UserClient("alice@example.com", "system:masters")
		Expect(err).NotTo(HaveOccurred())
		bob, err := local.UserClient("bob@example.com", "system:masters")
		Expect(err).NotTo(HaveOccurred())

		By("alice closing an incident through its status, in the operator's name")
		inc := &itopsv1alpha1.Incident{
			ObjectMeta: metav1.ObjectMeta{Name: "checkout-errors", Namespace: ns},
			Spec:       itopsv1alpha1.IncidentSpec{Title: "Checkout errors"},
		}
		Expect(alice.Create(ctx, inc)).To(Succeed())
		closeIt := client.RawPatch(types.MergePatchType, []byte(`{"status":{"phase":"Closed","closedAt":"2020-01-01T00:00:00Z"}}`))
		Expect(alice.Status().Patch(ctx, inc, closeIt)).To(MatchError(ContainSubstring(
			`incidents/status of "checkout-errors" is written only by the itops operator`)))
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(inc), inc)).To(Succeed())
			g.Expect(inc.Status.Phase).To(Equal(itopsv1alpha1.IncidentOpen), "the operator keeps writing the status")
		}).WithTimeout(30 * time.Second).Should(Succeed())

		By("the GitOps controller applying a change whose Git author is dev@example.com")
		pipeline, err := local.UserClient("system:serviceaccount:flux-system:kustomize-controller", "system:masters")
		Expect(err).NotTo(HaveOccurred())
		dev, err := local.UserClient("dev@example.com", "system:masters")
		Expect(err).NotTo(HaveOccurred())
		cr := &itopsv1alpha1.ChangeRequest{
			ObjectMeta: metav1.ObjectMeta{Name: "shop-1-1", Namespace: ns},
			Spec: itopsv1alpha1.ChangeRequestSpec{Title: "Ship shop 1.1", Requester: "dev@example.com",
				Targets: []itopsv1alpha1.ChangeTarget{{Kind: itopsv1alpha1.TargetDeployment, Name: "shop"}}},
		}
		Expect(pipeline.Create(ctx, cr)).To(Succeed())
		Expect(cr.Spec.RequestedBy).To(Equal("system:serviceaccount:flux-system:kustomize-controller"))
		approveAs := func(c client.Client, who string) error {
			got := &itopsv1alpha1.ChangeRequest{}
			Expect(c.Get(ctx, client.ObjectKeyFromObject(cr), got)).To(Succeed())
			patch := client.MergeFrom(got.DeepCopy())
			got.Spec.Approvals = append(got.Spec.Approvals, itopsv1alpha1.Approval{Approver: who, Decision: itopsv1alpha1.DecisionApprove})
			return c.Patch(ctx, got, patch)
		}
		Expect(approveAs(dev, "dev@example.com")).To(MatchError(ContainSubstring("dev@example.com is the declared requester of this change and cannot approve it")))
		Expect(approveAs(pipeline, "system:serviceaccount:flux-system:kustomize-controller")).To(MatchError(ContainSubstring(
			"applied this change and cannot approve it")))
		argo, err := local.UserClient("system:serviceaccount:argocd:argocd-server", "system:masters")
		Expect(err).NotTo(HaveOccurred())
		Expect(approveAs(argo, "system:serviceaccount:argocd:argocd-server")).To(MatchError(ContainSubstring(
			"is a ServiceAccount; approvals are given by people")))

		By("nor writing a terminal phase into the change's status")
		Expect(dev.Status().Patch(ctx, cr, client.RawPatch(types.MergePatchType, []byte(`{"status":{"phase":"Approved"}}`)))).To(
			MatchError(ContainSubstring("is written only by the itops operator")))

		By("bob, another person, approving it")
		Expect(approveAs(bob, "bob@example.com")).To(Succeed())
		Eventually(changePhase(cr)).WithTimeout(30 * time.Second).Should(Equal(itopsv1alpha1.ChangeApproved))
	})
})

package e2e

import (
	"time"

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

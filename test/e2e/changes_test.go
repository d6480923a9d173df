package e2e

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

func enforcedNamespace() string {
	ns := newNamespace()
	nsObj := &corev1.Namespace{}
	Expect(k8s.Get(ctx, client.ObjectKey{Name: ns}, nsObj)).To(Succeed())
	patch := client.MergeFrom(nsObj.DeepCopy())
	nsObj.Labels[itopsv1alpha1.LabelChangeControl] = itopsv1alpha1.ChangeControlEnforced
	Expect(k8s.Patch(ctx, nsObj, patch)).To(Succeed())
	return ns
}

// shopDeployment is the shop Deployment at image shop/web:1.0.
func shopDeployment(ns string) *appsv1.Deployment {
	labels := map[string]string{"app": "shop"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: ns, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			// A pod counts as available after 3s of readiness, and a rollout that makes no
			// progress for 6s stalls (ProgressDeadlineExceeded): a crash-looping release, which
			// kwok makes ready for half a second, stalls.
			MinReadySeconds:         3,
			ProgressDeadlineSeconds: ptr.To[int32](6),
			Selector:                &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "shop/web:1.0"}}},
			},
		},
	}
}

func changePhase(cr *itopsv1alpha1.ChangeRequest) func() itopsv1alpha1.ChangePhase {
	return func() itopsv1alpha1.ChangePhase {
		got := &itopsv1alpha1.ChangeRequest{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(cr), got); err != nil {
			return ""
		}
		return got.Status.Phase
	}
}

var _ = Describe("Change management", func() {
	It("gates a rollout until a second person approves it, follows it to completion, and fails a stalled one with an incident", func() {
		ns := enforcedNamespace()
		alice, err := local.UserClient("alice@example.com", "system:masters")
		Expect(err).NotTo(HaveOccurred())
		bob, err := local.UserClient("bob@example.com", "system:masters")
		Expect(err).NotTo(HaveOccurred())
		pipeline, err := local.UserClient("system:serviceaccount:flux-system:kustomize-controller", "system:masters")
		Expect(err).NotTo(HaveOccurred())

		By("denying a rollout no change authorises")
		Eventually(func() error { return pipeline.Create(ctx, shopDeployment(ns)) }).WithTimeout(30 * time.Second).Should(
			MatchError(ContainSubstring("no ChangeRequest in namespace " + ns + " targets Deployment shop")))

		By("alice raising a change, and refusing her own approval")
		cr := &itopsv1alpha1.ChangeRequest{
			ObjectMeta: metav1.ObjectMeta{Name: "shop-v1", Namespace: ns},
			Spec: itopsv1alpha1.ChangeRequestSpec{Title: "Launch the shop", Targets: []itopsv1alpha1.ChangeTarget{{
				Kind: itopsv1alpha1.TargetDeployment, Name: "shop", Containers: []itopsv1alpha1.ContainerPin{{Name: "app", Image: "shop/web:1.0"}}}}},
		}
		Expect(alice.Create(ctx, cr)).To(Succeed())
		patch := client.MergeFrom(cr.DeepCopy())
		cr.Spec.Approvals = []itopsv1alpha1.Approval{{Approver: "alice@example.com", Decision: itopsv1alpha1.DecisionApprove}}
		Expect(alice.Patch(ctx, cr, patch)).To(MatchError(ContainSubstring("alice@example.com requested this change and cannot approve it")))

		By("bob approving it: the rollout goes through and completes")
		Expect(bob.Get(ctx, client.ObjectKeyFromObject(cr), cr)).To(Succeed())
		patch = client.MergeFrom(cr.DeepCopy())
		cr.Spec.Approvals = []itopsv1alpha1.Approval{{Approver: "bob@example.com", Decision: itopsv1alpha1.DecisionApprove, Comment: "go"}}
		Expect(bob.Patch(ctx, cr, patch)).To(Succeed())
		Eventually(changePhase(cr)).WithTimeout(30 * time.Second).Should(Equal(itopsv1alpha1.ChangeApproved))
		web := shopDeployment(ns)
		Eventually(func() error { return pipeline.Create(ctx, web) }).WithTimeout(30 * time.Second).Should(Succeed())
		Eventually(changePhase(cr)).WithTimeout(60 * time.Second).Should(Equal(itopsv1alpha1.ChangeCompleted))

		By("a completed change authorising nothing more")
		Expect(pipeline.Get(ctx, client.ObjectKeyFromObject(web), web)).To(Succeed())
		patch = client.MergeFrom(web.DeepCopy())
		web.Spec.Template.Spec.Containers[0].Image = "shop/web:2.0"
		Expect(pipeline.Patch(ctx, web.DeepCopy(), patch)).To(MatchError(ContainSubstring("ChangeRequest shop-v1 is Completed and authorises nothing more")))

		By("a second, approved change whose rollout crash-loops and stalls")
		cr2 := &itopsv1alpha1.ChangeRequest{
			ObjectMeta: metav1.ObjectMeta{Name: "shop-v2", Namespace: ns},
			Spec:       itopsv1alpha1.ChangeRequestSpec{Title: "Shop 2.0", Targets: []itopsv1alpha1.ChangeTarget{{Kind: itopsv1alpha1.TargetDeployment, Name: "shop"}}},
		}
		Expect(alice.Create(ctx, cr2)).To(Succeed())
		patch = client.MergeFrom(cr2.DeepCopy())
		cr2.Spec.Approvals = []itopsv1alpha1.Approval{{Approver: "bob@example.com", Decision: itopsv1alpha1.DecisionApprove}}
		Expect(bob.Patch(ctx, cr2, patch)).To(Succeed())
		Eventually(changePhase(cr2)).WithTimeout(30 * time.Second).Should(Equal(itopsv1alpha1.ChangeApproved))
		Eventually(func() error {
			Expect(pipeline.Get(ctx, client.ObjectKeyFromObject(web), web)).To(Succeed())
			patch := client.MergeFrom(web.DeepCopy())
			web.Spec.Template.Spec.Containers[0].Image = "shop/web:2.0"
			web.Spec.Template.Labels["itops.dev/chaos"] = "crashloop"
			return pipeline.Patch(ctx, web, patch)
		}).WithTimeout(30 * time.Second).Should(Succeed())
		Expect(web.Annotations).To(HaveKeyWithValue(itopsv1alpha1.AnnotationChangeRequest, "shop-v2"))
		Eventually(changePhase(cr2)).WithTimeout(90 * time.Second).Should(Equal(itopsv1alpha1.ChangeFailed))

		By("the failure linked to the workload's own incident, both ways, instead of a ChangeFailed incident of its own")
		crash := &itopsv1alpha1.Incident{}
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "deployment-shop"}, crash)).To(Succeed())
			g.Expect(crash.Status.CausedBy).To(Equal(&itopsv1alpha1.IncidentReference{Kind: "ChangeRequest", Namespace: ns, Name: "shop-v2"}))
			g.Expect(crash.Status.RelatedChanges).To(ContainElement("shop-v2"))
			g.Expect(crash.Spec.Reason).To(Equal(itopsv1alpha1.ReasonCrashLoopBackOff))
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cr2), cr2)).To(Succeed())
			g.Expect(cr2.Status.Incidents).To(ContainElement("deployment-shop"))
		}).WithTimeout(60 * time.Second).Should(Succeed())
		Consistently(func() error {
			return k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "changerequest-shop-v2"}, &itopsv1alpha1.Incident{})
		}).WithTimeout(3 * time.Second).Should(Satisfy(apierrors.IsNotFound))

		By("a rollback to the earlier revision, which needs no change")
		Eventually(func() error {
			Expect(pipeline.Get(ctx, client.ObjectKeyFromObject(web), web)).To(Succeed())
			patch := client.MergeFrom(web.DeepCopy())
			web.Spec.Template.Spec.Containers[0].Image = "shop/web:1.0"
			delete(web.Spec.Template.Labels, "itops.dev/chaos")
			return pipeline.Patch(ctx, web, patch)
		}).WithTimeout(30 * time.Second).Should(Succeed())
	})
})

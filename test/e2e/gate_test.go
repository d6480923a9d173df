package e2e

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// Issue 11: the gate never wedges the cluster's own machinery, and change records tell the truth.
var _ = Describe("The change gate in a real cluster", func() {
	It("lets an enforced namespace holding a Deployment, a StatefulSet, a DaemonSet and a CronJob be deleted within 60 s", func() {
		// Not newNamespace: the spec deletes the namespace itself.
		nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-legacy-"}}
		Expect(k8s.Create(ctx, nsObj)).To(Succeed())
		ns := nsObj.Name
		DeferCleanup(func() { Expect(client.IgnoreNotFound(k8s.Delete(ctx, nsObj))).To(Succeed()) })
		labels := map[string]string{"app": "legacy"}
		template := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "legacy/app:1.0"}}}}
		selector := &metav1.LabelSelector{MatchLabels: labels}
		for _, obj := range []client.Object{
			&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
				Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2), Selector: selector, Template: template}},
			&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns},
				Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](1), Selector: selector, Template: template}},
			&appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: ns},
				Spec: appsv1.DaemonSetSpec{Selector: selector, Template: template}},
			&batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "invoice-sync", Namespace: ns},
				Spec: batchv1.CronJobSpec{Schedule: "* * * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{
					Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "sync", Image: "legacy/sync:1.0"}}}}}}}},
		} {
			Expect(k8s.Create(ctx, obj)).To(Succeed())
		}
		Expect(k8s.Get(ctx, client.ObjectKey{Name: ns}, nsObj)).To(Succeed())
		patch := client.MergeFrom(nsObj.DeepCopy())
		nsObj.Labels[itopsv1alpha1.LabelChangeControl] = itopsv1alpha1.ChangeControlEnforced
		Expect(k8s.Patch(ctx, nsObj, patch)).To(Succeed())
		alice, err := local.UserClient("alice@example.com", "system:masters")
		Expect(err).NotTo(HaveOccurred())

		By("the gate guarding the namespace")
		Eventually(func() error {
			return alice.Delete(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns}})
		}).WithTimeout(30 * time.Second).Should(MatchError(ContainSubstring("no ChangeRequest in namespace " + ns + " targets Deployment web")))
		// Let the workloads' controllers make pods, so that the namespace has something to drain.
		Eventually(func(g Gomega) {
			pods := &corev1.PodList{}
			g.Expect(k8s.List(ctx, pods, client.InNamespace(ns))).To(Succeed())
			g.Expect(pods.Items).NotTo(BeEmpty())
		}).WithTimeout(30 * time.Second).Should(Succeed())

		By("kubectl delete namespace")
		Expect(alice.Delete(ctx, nsObj)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Name: ns}, &corev1.Namespace{}))
		}).WithTimeout(60*time.Second).WithPolling(time.Second).Should(BeTrue(), "the namespace is still there: something wedges its deletion")
	})

	It("ends a change Failed (RolledBack) when kubectl rollout undo reverts it during its rollout", func() {
		ns := enforcedNamespace()
		alice, err := local.UserClient("alice@example.com", "system:masters")
		Expect(err).NotTo(HaveOccurred())
		bob, err := local.UserClient("bob@example.com", "system:masters")
		Expect(err).NotTo(HaveOccurred())
		oncall, err := local.UserClient("carol@example.com", "system:masters")
		Expect(err).NotTo(HaveOccurred())
		approved := func(name string) *itopsv1alpha1.ChangeRequest {
			cr := &itopsv1alpha1.ChangeRequest{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
				Spec: itopsv1alpha1.ChangeRequestSpec{Title: name, Targets: []itopsv1alpha1.ChangeTarget{{Kind: itopsv1alpha1.TargetDeployment, Name: "shop"}}}}
			Expect(alice.Create(ctx, cr)).To(Succeed())
			patch := client.MergeFrom(cr.DeepCopy())
			cr.Spec.Approvals = []itopsv1alpha1.Approval{{Approver: "bob@example.com", Decision: itopsv1alpha1.DecisionApprove}}
			Expect(bob.Patch(ctx, cr, patch)).To(Succeed())
			Eventually(changePhase(cr)).WithTimeout(30 * time.Second).Should(Equal(itopsv1alpha1.ChangeApproved))
			return cr
		}
		v1 := approved("shop-v1")
		web := shopDeployment(ns)
		web.Spec.ProgressDeadlineSeconds = ptr.To[int32](600) // the bad release stays in progress
		Eventually(func() error { return alice.Create(ctx, web) }).WithTimeout(30 * time.Second).Should(Succeed())
		Eventually(changePhase(v1)).WithTimeout(60 * time.Second).Should(Equal(itopsv1alpha1.ChangeCompleted))

		By("a bad release under shop-v2")
		v2 := approved("shop-v2")
		Eventually(func() error {
			Expect(alice.Get(ctx, client.ObjectKeyFromObject(web), web)).To(Succeed())
			patch := client.MergeFrom(web.DeepCopy())
			web.Spec.Template.Spec.Containers[0].Image = "shop/web:2.0"
			web.Spec.Template.Labels["itops.dev/chaos"] = "crashloop"
			return alice.Patch(ctx, web, patch)
		}).WithTimeout(30 * time.Second).Should(Succeed())
		Eventually(changePhase(v2)).WithTimeout(30 * time.Second).Should(Equal(itopsv1alpha1.ChangeInProgress))

		By("on-call rolling it back (kubectl rollout undo)")
		Eventually(func() error {
			Expect(oncall.Get(ctx, client.ObjectKeyFromObject(web), web)).To(Succeed())
			patch := client.MergeFrom(web.DeepCopy())
			web.Spec.Template.Spec.Containers[0].Image = "shop/web:1.0"
			delete(web.Spec.Template.Labels, "itops.dev/chaos")
			return oncall.Patch(ctx, web, patch)
		}).WithTimeout(30 * time.Second).Should(Succeed())
		Expect(web.Annotations).To(HaveKeyWithValue(itopsv1alpha1.AnnotationRolledBackChange, "shop-v2"))
		Expect(web.Annotations).NotTo(HaveKey(itopsv1alpha1.AnnotationChangeRequest))

		By("the change ending Failed, saying by whom and to which revision, not Completed")
		Eventually(changePhase(v2)).WithTimeout(60 * time.Second).Should(Equal(itopsv1alpha1.ChangeFailed))
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(v2), v2)).To(Succeed())
		ready := meta.FindStatusCondition(v2.Status.Conditions, itopsv1alpha1.ConditionReady)
		Expect(ready.Reason).To(Equal(itopsv1alpha1.ChangeReasonRolledBack))
		Expect(ready.Message).To(ContainSubstring("rolled back: Deployment shop by carol@example.com to revision 1"))

		By("a second kubectl rollout undo, which would restore shop-v2's revision, needing a change (the ReplicaSet carries the change it was made under)")
		Eventually(func() error {
			Expect(oncall.Get(ctx, client.ObjectKeyFromObject(web), web)).To(Succeed())
			patch := client.MergeFrom(web.DeepCopy())
			web.Spec.Template.Spec.Containers[0].Image = "shop/web:2.0"
			web.Spec.Template.Labels["itops.dev/chaos"] = "crashloop"
			return oncall.Patch(ctx, web, patch)
		}).WithTimeout(30 * time.Second).Should(MatchError(ContainSubstring(
			"revision 2 was made under ChangeRequest shop-v2, which failed or was rolled back")))
	})

	It("completes a change listing a CronJob and a Deployment only when both are applied and rolled out", func() {
		ns := enforcedNamespace()
		alice, err := local.UserClient("alice@example.com", "system:masters")
		Expect(err).NotTo(HaveOccurred())
		bob, err := local.UserClient("bob@example.com", "system:masters")
		Expect(err).NotTo(HaveOccurred())
		cr := &itopsv1alpha1.ChangeRequest{ObjectMeta: metav1.ObjectMeta{Name: "billing-v2", Namespace: ns},
			Spec: itopsv1alpha1.ChangeRequestSpec{Title: "Billing 2", Targets: []itopsv1alpha1.ChangeTarget{
				{Kind: itopsv1alpha1.TargetCronJob, Name: "invoice-sync"}, {Kind: itopsv1alpha1.TargetDeployment, Name: "shop"}}}}
		Expect(alice.Create(ctx, cr)).To(Succeed())
		patch := client.MergeFrom(cr.DeepCopy())
		cr.Spec.Approvals = []itopsv1alpha1.Approval{{Approver: "bob@example.com", Decision: itopsv1alpha1.DecisionApprove}}
		Expect(bob.Patch(ctx, cr, patch)).To(Succeed())
		Eventually(changePhase(cr)).WithTimeout(30 * time.Second).Should(Equal(itopsv1alpha1.ChangeApproved))

		By("the CronJob applied first: the change is in progress, not Completed")
		Eventually(func() error {
			return alice.Create(ctx, &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "invoice-sync", Namespace: ns},
				Spec: batchv1.CronJobSpec{Schedule: "0 3 * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{
					Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "sync", Image: "billing/sync:2.0"}}}}}}}})
		}).WithTimeout(30 * time.Second).Should(Succeed())
		Eventually(func(g Gomega) string {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cr), cr)).To(Succeed())
			g.Expect(cr.Status.Phase).To(Equal(itopsv1alpha1.ChangeInProgress))
			return meta.FindStatusCondition(cr.Status.Conditions, itopsv1alpha1.ConditionReady).Message
		}).WithTimeout(30 * time.Second).Should(ContainSubstring("waiting for Deployment shop to be applied"))

		By("the Deployment admitted under the same change, and rolled out")
		Eventually(func() error { return alice.Create(ctx, shopDeployment(ns)) }).WithTimeout(30 * time.Second).Should(Succeed())
		Eventually(changePhase(cr)).WithTimeout(60 * time.Second).Should(Equal(itopsv1alpha1.ChangeCompleted))
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cr), cr)).To(Succeed())
		Expect(cr.Status.Applied).To(HaveLen(2))
	})
})

package change

import (
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

func (t *trail) count(parts ...string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, l := range t.lines {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(l, p)
		}
		if all {
			n++
		}
	}
	return n
}

func readyOf(cr *itopsv1alpha1.ChangeRequest) func(g Gomega) *metav1.Condition {
	return func(g Gomega) *metav1.Condition {
		got := &itopsv1alpha1.ChangeRequest{}
		g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(cr), got)).To(Succeed())
		c := meta.FindStatusCondition(got.Status.Conditions, itopsv1alpha1.ConditionReady)
		g.Expect(c).NotTo(BeNil())
		return c
	}
}

// Issue 11, section 3: change records tell the truth.
var _ = Describe("ChangeRequest records", func() {
	var ns string
	BeforeEach(func() { ns = enforcedNamespace("records") })

	It("keep a change listing a CronJob and a Deployment in progress once the CronJob is applied, until the Deployment rolls out", func() {
		cr := changeRequest(ns, "billing-v2", "web")
		cr.Spec.Targets = append([]itopsv1alpha1.ChangeTarget{{Kind: itopsv1alpha1.TargetCronJob, Name: "invoice-sync"}}, cr.Spec.Targets...)
		Expect(env.Client.Create(ctx, cr)).To(Succeed())
		approveAsBob(cr)
		Eventually(phaseOf(cr)).WithTimeout(10 * time.Second).Should(Equal(itopsv1alpha1.ChangeApproved))

		Expect(env.Client.Create(ctx, &batchv1.CronJob{
			ObjectMeta: metav1.ObjectMeta{Name: "invoice-sync", Namespace: ns, Annotations: map[string]string{itopsv1alpha1.AnnotationChangeRequest: "billing-v2"}},
			Spec: batchv1.CronJobSpec{Schedule: "*/5 * * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{
				Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "sync", Image: "billing/sync:2.0"}}}}}}},
		})).To(Succeed())
		Eventually(readyOf(cr)).WithTimeout(10 * time.Second).Should(HaveField("Message",
			ContainSubstring("1 of 2 targets applied and rolled out; waiting for Deployment web to be applied")))
		Expect(phaseOf(cr)()).To(Equal(itopsv1alpha1.ChangeInProgress))

		d := deployment(ns, "web", "billing-v2")
		setRollout(d, 2, 2)
		Eventually(phaseOf(cr)).WithTimeout(10 * time.Second).Should(Equal(itopsv1alpha1.ChangeCompleted))
		Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(cr), cr)).To(Succeed())
		Expect(cr.Status.Applied).To(HaveLen(2))
		Expect(cr.Status.Unapplied).To(BeEmpty())
	})

	It("end a change Failed (RolledBack) when the gate records a rollback of it, with one audit record", func() {
		cr := changeRequest(ns, "web-v3", "web")
		Expect(env.Client.Create(ctx, cr)).To(Succeed())
		approveAsBob(cr)
		Eventually(phaseOf(cr)).WithTimeout(10 * time.Second).Should(Equal(itopsv1alpha1.ChangeApproved))
		d := deployment(ns, "web", "web-v3")
		setRollout(d, 1, 1)
		Eventually(phaseOf(cr)).WithTimeout(10 * time.Second).Should(Equal(itopsv1alpha1.ChangeInProgress))

		By("kubectl rollout undo, as the gate's mutating webhook records it")
		Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(d), d)).To(Succeed())
		patch := client.MergeFrom(d.DeepCopy())
		d.Annotations = map[string]string{itopsv1alpha1.AnnotationRolledBackChange: "web-v3", itopsv1alpha1.AnnotationRolledBackBy: "carol",
			itopsv1alpha1.AnnotationRolledBackRevision: "4", itopsv1alpha1.AnnotationRolledBackAt: time.Now().UTC().Format(time.RFC3339)}
		Expect(env.Client.Patch(ctx, d, patch)).To(Succeed())
		setRollout(d, 2, 2) // the rollback itself rolls out: the change must not complete

		Eventually(phaseOf(cr)).WithTimeout(10 * time.Second).Should(Equal(itopsv1alpha1.ChangeFailed))
		Expect(readyOf(cr)(Default)).To(And(HaveField("Reason", itopsv1alpha1.ChangeReasonRolledBack),
			HaveField("Message", ContainSubstring("rolled back: Deployment web by carol to revision 4"))))
		inc := &itopsv1alpha1.Incident{}
		Eventually(func() error {
			// No incident of the Deployment explains the failure, so the change opens its own
			// after the grace it gives the workload's detectors (changeFailedGrace).
			return env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "changerequest-web-v3"}, inc)
		}).WithTimeout(45 * time.Second).Should(Succeed())
		Expect(inc.Spec.Description).To(ContainSubstring("rolled back: Deployment web by carol to revision 4"))
		Expect(auditTrail.count(`"name":"web-v3"`, `"transition":"Failed"`)).To(Equal(1))
		Expect(auditTrail.count(`"name":"web-v3"`, `"transition":"Completed"`)).To(Equal(0))
	})
})

var _ = Describe("Deleting a namespace under change control", func() {
	It("is recorded once in the audit trail, without a ChangeControlDisabled incident", func() {
		nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "legacy-",
			Labels: map[string]string{itopsv1alpha1.LabelChangeControl: itopsv1alpha1.ChangeControlEnforced}}}
		Expect(env.Client.Create(ctx, nsObj)).To(Succeed())
		Eventually(func() map[string]string {
			cm := &corev1.ConfigMap{}
			_ = env.Client.Get(ctx, client.ObjectKey{Namespace: operatorNamespace, Name: EnrollmentConfigMap}, cm)
			return cm.Data
		}).WithTimeout(10 * time.Second).Should(HaveKey(nsObj.Name))

		Expect(env.Client.Delete(ctx, nsObj)).To(Succeed()) // envtest has no namespace controller: it stays Terminating
		Eventually(func() int {
			return auditTrail.count(`"name":"`+nsObj.Name+`"`, `"transition":"NamespaceDeleted"`)
		}).WithTimeout(10 * time.Second).Should(Equal(1))
		Expect(auditTrail.count(`"name":"`+nsObj.Name+`"`, `"transition":"ChangeControlLeft"`)).To(Equal(0))
		Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: clusterNamespace, Name: "namespace-" + nsObj.Name + "-changecontroldisabled"},
			&itopsv1alpha1.Incident{})).To(MatchError(ContainSubstring("not found")))
	})
})

package webhook

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/test/cluster"
)

// enforce labels an existing namespace itops.dev/change-control=enforced.
func enforce(ns string) {
	nsObj := &corev1.Namespace{}
	Expect(env.Client.Get(ctx, client.ObjectKey{Name: ns}, nsObj)).To(Succeed())
	patch := client.MergeFrom(nsObj.DeepCopy())
	nsObj.Labels[itopsv1alpha1.LabelChangeControl] = itopsv1alpha1.ChangeControlEnforced
	Expect(env.Client.Patch(ctx, nsObj, patch)).To(Succeed())
}

func invoiceSync(ns string) *batchv1.CronJob {
	return &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "invoice-sync", Namespace: ns},
		Spec: batchv1.CronJobSpec{Schedule: "*/5 * * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{
			Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "sync", Image: "shop/sync:1.0"}}},
		}}}},
	}
}

func barePod(ns, name string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox:1.36"}}}}
}

// clientWithWarnings authenticates as name (system:masters) and collects admission warnings.
func clientWithWarnings(name string) (client.Client, *warnings) {
	seen := &warnings{}
	u, err := env.AddUser(envtest.User{Name: name, Groups: []string{"system:masters"}}, nil)
	Expect(err).NotTo(HaveOccurred())
	cfg := rest.CopyConfig(u.Config())
	cfg.WarningHandler = seen
	c, err := client.New(cfg, client.Options{Scheme: cluster.Scheme()})
	Expect(err).NotTo(HaveOccurred())
	return c, seen
}

var _ = Describe("The change gate in a real cluster (issue 11)", func() {
	It("takes the name from the object on collection deletes, and lets the control plane and terminating namespaces through", func() {
		ns := newNamespace()
		Expect(env.Client.Create(ctx, webDeployment(ns))).To(Succeed())
		enforce(ns)
		alice := userClient("alice")

		By("a person's collection delete is judged per item, by the item's name")
		Eventually(func() error { return alice.DeleteAllOf(ctx, &appsv1.Deployment{}, client.InNamespace(ns)) }).WithTimeout(10 * time.Second).Should(MatchError(ContainSubstring(
			"delete of Deployment " + ns + "/web denied: no ChangeRequest in namespace " + ns + " targets Deployment web:")))

		By("the controller manager's collection delete passes (the namespace controller, the garbage collector)")
		kcm := userClient("system:kube-controller-manager")
		Expect(kcm.DeleteAllOf(ctx, &appsv1.Deployment{}, client.InNamespace(ns))).To(Succeed())
		Eventually(func() error {
			return alice.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, &appsv1.Deployment{})
		}).
			WithTimeout(10 * time.Second).Should(MatchError(ContainSubstring("not found")))

		By("a delete in a terminating namespace passes, whoever makes it")
		dying := newNamespace()
		keep := webDeployment(dying)
		keep.Finalizers = []string{"example.com/hold"}
		Expect(env.Client.Create(ctx, keep)).To(Succeed())
		enforce(dying)
		Eventually(func() error { return alice.Delete(ctx, keep.DeepCopy()) }).WithTimeout(10 * time.Second).Should(MatchError(ContainSubstring(
			"no ChangeRequest in namespace " + dying + " targets Deployment web")))
		Expect(env.Client.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: dying}})).To(Succeed())
		Eventually(func() error { return alice.Delete(ctx, keep.DeepCopy()) }).WithTimeout(10 * time.Second).Should(Succeed())
		patch := client.MergeFrom(keep.DeepCopy())
		keep.Finalizers = nil
		Expect(env.Client.Patch(ctx, keep, patch)).To(Succeed())
	})

	It("judges the object: freezes against old and new labels, and leaving a freeze's selection is a change", func() {
		ns := enforcedNamespace()
		alice, bob := userClient("alice"), userClient("bob", "sre-leads")
		cr := newChangeRequest(ns, "web-v2", "web")
		Expect(alice.Create(ctx, cr)).To(Succeed())
		Expect(approve(bob, cr, "bob")).To(Succeed())
		web := webDeployment(ns)
		web.Labels = map[string]string{"app": "web", "tier": "frontend"}
		Eventually(func() error { return alice.Create(ctx, web) }).WithTimeout(10 * time.Second).Should(Succeed())
		mw := &itopsv1alpha1.MaintenanceWindow{
			ObjectMeta: metav1.ObjectMeta{Name: "frontend-freeze", Namespace: ns},
			Spec: itopsv1alpha1.MaintenanceWindowSpec{Type: itopsv1alpha1.WindowFreeze,
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "frontend"}},
				Schedules: []itopsv1alpha1.WindowSchedule{{
					Start: &metav1.Time{Time: fakeClock.Now().Add(-time.Hour)}, End: &metav1.Time{Time: fakeClock.Now().Add(time.Hour)},
				}}},
		}
		Expect(env.Client.Create(ctx, mw)).To(Succeed())
		mw.Status.CurrentStart, mw.Status.CurrentEnd = mw.Spec.Schedules[0].Start, mw.Spec.Schedules[0].End
		Expect(env.Client.Status().Update(ctx, mw)).To(Succeed())
		// A freeze not active yet (no current occurrence in its status): leaving its selection is
		// a change too.
		Expect(env.Client.Create(ctx, &itopsv1alpha1.MaintenanceWindow{
			ObjectMeta: metav1.ObjectMeta{Name: "year-end", Namespace: ns},
			Spec: itopsv1alpha1.MaintenanceWindowSpec{Type: itopsv1alpha1.WindowFreeze,
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "frontend"}},
				Schedules: []itopsv1alpha1.WindowSchedule{{
					Start: &metav1.Time{Time: fakeClock.Now().Add(30 * 24 * time.Hour)}, End: &metav1.Time{Time: fakeClock.Now().Add(31 * 24 * time.Hour)},
				}}},
		})).To(Succeed())

		By("one update that changes the image and drops tier")
		patch := client.MergeFrom(web.DeepCopy())
		escaped := web.DeepCopy()
		escaped.Labels = map[string]string{"app": "web"}
		escaped.Spec.Template.Spec.Containers[0].Image = "shop/web:2.0"
		Eventually(func() error { return alice.Patch(ctx, escaped.DeepCopy(), patch) }).WithTimeout(10 * time.Second).Should(MatchError(ContainSubstring(
			"ChangeRequest web-v2 is approved, but freeze window " + ns + "/frontend-freeze is active until 2026-11-24T10:30:00Z: only Emergency changes pass")))

		By("a label-only edit that drops tier, to change the image next")
		relabelled := web.DeepCopy()
		relabelled.Labels = map[string]string{"app": "web"}
		Expect(alice.Patch(ctx, relabelled, patch)).To(MatchError(ContainSubstring(
			"the edit takes the workload out of the selection of freeze window " + ns + "/frontend-freeze and freeze window " + ns + "/year-end: that is a change")))

		By("a label-only edit that stays in the selection is still free")
		kept := web.DeepCopy()
		kept.Labels["team"] = "shop"
		Expect(alice.Patch(ctx, kept, patch)).To(Succeed())
	})

	It("lets operational controls through, and judges whatever else runs an image", func() {
		ns := newNamespace()
		web, cj, pod := webDeployment(ns), invoiceSync(ns), barePod(ns, "existing")
		for _, obj := range []client.Object{web, cj, pod} {
			Expect(env.Client.Create(ctx, obj)).To(Succeed())
		}
		enforce(ns)
		alice := userClient("alice")
		Eventually(func() error { return alice.Create(ctx, barePod(ns, "debug")) }).WithTimeout(10 * time.Second).Should(MatchError(ContainSubstring(
			`admission webhook "vgatepods.itops.dev" denied the request: itops change control: create of Pod ` + ns + "/debug denied: a Pod not created by a gated workload's controller (kubectl run)")))

		By("kubectl patch cronjob invoice-sync -p '{\"spec\":{\"suspend\":true}}'")
		patch := client.MergeFrom(cj.DeepCopy())
		cj.Spec.Suspend = ptr.To(true)
		Expect(alice.Patch(ctx, cj, patch)).To(Succeed())
		patch = client.MergeFrom(cj.DeepCopy())
		cj.Spec.Suspend = ptr.To(false) // and resume it (a suspended CronJob is not run by hand: see below)
		Expect(alice.Patch(ctx, cj, patch)).To(Succeed())

		By("kubectl rollout pause, and resume")
		patch = client.MergeFrom(web.DeepCopy())
		web.Spec.Paused = true
		Expect(alice.Patch(ctx, web, patch)).To(Succeed())
		patch = client.MergeFrom(web.DeepCopy())
		web.Spec.Paused = false
		Expect(alice.Patch(ctx, web, patch)).To(Succeed())

		By("kubectl debug: an ephemeral container")
		Expect(alice.Get(ctx, client.ObjectKeyFromObject(pod), pod)).To(Succeed())
		pod.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debugger", Image: "busybox:1.36"}}}
		Expect(alice.SubResource("ephemeralcontainers").Update(ctx, pod)).To(MatchError(ContainSubstring(
			"adding an ephemeral container (kubectl debug) to Pod existing")))

		By("kubectl set image on a Pod")
		Expect(alice.Get(ctx, client.ObjectKeyFromObject(pod), pod)).To(Succeed())
		patchPod := client.MergeFrom(pod.DeepCopy())
		pod.Spec.Containers[0].Image = "evil:1"
		Expect(alice.Patch(ctx, pod, patchPod)).To(MatchError(ContainSubstring("changing the spec of Pod existing")))

		By("kubectl create job --from=cronjob/invoice-sync, and a Job of one's own")
		Expect(alice.Get(ctx, client.ObjectKeyFromObject(cj), cj)).To(Succeed())
		job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "invoice-sync-manual", Namespace: ns,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(cj, batchv1.SchemeGroupVersion.WithKind("CronJob"))}},
			Spec: *cj.Spec.JobTemplate.Spec.DeepCopy()}
		Expect(alice.Create(ctx, job)).To(Succeed())
		own := job.DeepCopy()
		own.ObjectMeta = metav1.ObjectMeta{Name: "own", Namespace: ns, OwnerReferences: job.OwnerReferences}
		own.Spec.Selector, own.Spec.Template.Labels, own.Spec.ManualSelector = nil, nil, nil
		own.Spec.Template.Spec.Containers[0].Image = "evil:1"
		Expect(alice.Create(ctx, own)).To(MatchError(ContainSubstring("create of Job " + ns + "/own denied: no ChangeRequest in namespace " + ns + " targets Job own")))

		By("a ReplicaSet of one's own")
		rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "rs", Namespace: ns},
			Spec: appsv1.ReplicaSetSpec{Selector: web.Spec.Selector, Template: web.Spec.Template}}
		Expect(alice.Create(ctx, rs)).To(MatchError(ContainSubstring("a ReplicaSet not managed by a Deployment")))

		By("the controllers' own Pods never reach the gate")
		kcm := userClient("system:kube-controller-manager")
		Expect(kcm.Create(ctx, barePod(ns, "web-abc12"))).To(Succeed())
	})

	It("admits a migration Job under a ChangeRequest listing it, and records the change on it", func() {
		ns := enforcedNamespace()
		alice, bob := userClient("alice"), userClient("bob", "sre-leads")
		migrate := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "db-migrate", Namespace: ns},
			Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{Name: "migrate", Image: "shop/migrate:7"}}}}}}
		Eventually(func() error { return alice.Create(ctx, migrate.DeepCopy()) }).WithTimeout(10 * time.Second).Should(MatchError(ContainSubstring(
			"create of Job " + ns + "/db-migrate denied: no ChangeRequest in namespace " + ns + " targets Job db-migrate")))
		cr := newChangeRequest(ns, "schema-7")
		cr.Spec.Targets = []itopsv1alpha1.ChangeTarget{{Kind: itopsv1alpha1.TargetJob, Name: "db-migrate",
			Containers: []itopsv1alpha1.ContainerPin{{Name: "migrate", Image: "shop/migrate:7"}}}}
		Expect(alice.Create(ctx, cr)).To(Succeed())
		Expect(approve(bob, cr, "bob")).To(Succeed())
		Eventually(func() error { return alice.Create(ctx, migrate) }).WithTimeout(10 * time.Second).Should(Succeed())
		Expect(migrate.Annotations).To(HaveKeyWithValue(itopsv1alpha1.AnnotationChangeRequest, "schema-7"))
	})

	It("records a rollback on the workload: which change it undid, by whom, to which revision", func() {
		ns := enforcedNamespace()
		alice, bob := userClient("alice"), userClient("bob", "sre-leads")
		cr := newChangeRequest(ns, "web-v2", "web")
		Expect(alice.Create(ctx, cr)).To(Succeed())
		Expect(approve(bob, cr, "bob")).To(Succeed())
		web := webDeployment(ns)
		Eventually(func() error { return alice.Create(ctx, web) }).WithTimeout(10 * time.Second).Should(Succeed())
		rs := &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: ns, Labels: map[string]string{"app": "web"},
				Annotations:     map[string]string{"deployment.kubernetes.io/revision": "1"},
				OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(web, appsv1.SchemeGroupVersion.WithKind("Deployment"))}},
			Spec: appsv1.ReplicaSetSpec{Selector: web.Spec.Selector, Template: *web.Spec.Template.DeepCopy()},
		}
		rs.Spec.Template.Labels = map[string]string{"app": "web", "pod-template-hash": "h1"}
		rs.Spec.Template.Spec.Containers[0].Image = "shop/web:0.9"
		Expect(userClient("system:kube-controller-manager").Create(ctx, rs)).To(Succeed())

		By("kubectl rollout undo while the change is still authorised (its rollout going badly)")
		patch := client.MergeFrom(web.DeepCopy())
		web.Spec.Template.Spec.Containers[0].Image = "shop/web:0.9"
		Expect(bob.Patch(ctx, web, patch)).To(Succeed())
		Expect(web.Annotations).NotTo(HaveKey(itopsv1alpha1.AnnotationChangeRequest))
		Expect(web.Annotations).To(HaveKeyWithValue(itopsv1alpha1.AnnotationRolledBackChange, "web-v2"))
		Expect(web.Annotations).To(HaveKeyWithValue(itopsv1alpha1.AnnotationRolledBackBy, "bob"))
		Expect(web.Annotations).To(HaveKeyWithValue(itopsv1alpha1.AnnotationRolledBackRevision, "1"))

		By("nobody forging it")
		patch = client.MergeFrom(web.DeepCopy())
		web.Annotations[itopsv1alpha1.AnnotationRolledBackBy] = "mallory"
		web.Annotations[itopsv1alpha1.AnnotationRolledBackChange] = "someone-elses"
		Expect(alice.Patch(ctx, web, patch)).To(Succeed())
		Expect(web.Annotations).To(HaveKeyWithValue(itopsv1alpha1.AnnotationRolledBackBy, "bob"))
		Expect(web.Annotations).To(HaveKeyWithValue(itopsv1alpha1.AnnotationRolledBackChange, "web-v2"))
	})
})

var _ = Describe("The change gate's scope and records (review of issue 11)", func() {
	It("refuses a forged change record on the status subresource, ReplicationControllers and ControllerRevisions", func() {
		ns := newNamespace()
		web := webDeployment(ns)
		Expect(env.Client.Create(ctx, web)).To(Succeed())
		enforce(ns)
		alice := userClient("alice")

		By("kubectl patch deployment web --subresource=status setting itops.dev/change-request")
		forged := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"annotations":{"itops.dev/change-request":"forged"}}}`))
		Eventually(func() error { return alice.Status().Patch(ctx, web.DeepCopy(), forged) }).WithTimeout(10 * time.Second).Should(MatchError(ContainSubstring(
			"annotation itops.dev/change-request is the change gate's record and cannot be changed through the status subresource")))
		Expect(alice.Status().Patch(ctx, web.DeepCopy(), client.RawPatch(types.MergePatchType,
			[]byte(`{"metadata":{"annotations":{"itops.dev/rolled-back-change":"web-v2"}}}`)))).To(MatchError(ContainSubstring("cannot be changed")))
		Expect(alice.Status().Patch(ctx, web.DeepCopy(), client.RawPatch(types.MergePatchType,
			[]byte(`{"metadata":{"annotations":{"team":"shop"}}}`)))).To(Succeed())

		By("nor through a ReplicaSet's status subresource (a revision's change record)")
		rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: ns, Annotations: map[string]string{itopsv1alpha1.AnnotationChangeRequest: "web-v2"}},
			Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](0), Selector: web.Spec.Selector, Template: web.Spec.Template}}
		Expect(userClient("system:kube-controller-manager").Create(ctx, rs)).To(Succeed())
		Expect(alice.Status().Patch(ctx, rs, client.RawPatch(types.MergePatchType,
			[]byte(`{"metadata":{"annotations":{"itops.dev/change-request":"web-v1"}}}`)))).To(MatchError(ContainSubstring("cannot be changed through the status subresource")))

		By("a ReplicationController runs an image no change can authorise")
		rc := &corev1.ReplicationController{ObjectMeta: metav1.ObjectMeta{Name: "legacy", Namespace: ns},
			Spec: corev1.ReplicationControllerSpec{Replicas: ptr.To[int32](1), Selector: map[string]string{"app": "legacy"},
				Template: &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "legacy"}},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox:1.36"}}}}}}
		Expect(alice.Create(ctx, rc)).To(MatchError(ContainSubstring("a ReplicationController in a change-controlled namespace runs an image no ChangeRequest can authorise")))

		By("a ControllerRevision is the control plane's to write")
		rev := &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "db-1", Namespace: ns,
			Annotations: map[string]string{itopsv1alpha1.AnnotationChangeRequest: "db-v1"}}, Revision: 1,
			Data: runtime.RawExtension{Raw: []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"db","image":"shop/db:2"}]}}}}`)}}
		Expect(alice.Create(ctx, rev)).To(MatchError(ContainSubstring("create of ControllerRevision db-1 in a change-controlled namespace is refused")))
		Expect(userClient("system:kube-controller-manager").Create(ctx, rev)).To(Succeed())

		By("a node's request is skipped only for a mirror pod")
		node := userClient("system:node:n1")
		Expect(node.Create(ctx, barePod(ns, "not-a-mirror"))).To(MatchError(ContainSubstring("a Pod not created by a gated workload's controller")))
		mirror := barePod(ns, "static-web-n1")
		mirror.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "hash"}
		mirror.Spec.NodeName = "n1"
		Expect(node.Create(ctx, mirror)).To(Succeed())
	})
})

var _ = Describe("kubectl create job --from=cronjob (review of issue 11)", func() {
	It("runs the CronJob's own job spec, as the API server defaults it, unless the CronJob is suspended", func() {
		ns := newNamespace()
		cj := invoiceSync(ns)
		Expect(env.Client.Create(ctx, cj)).To(Succeed())
		enforce(ns)
		alice := userClient("alice")
		run := func(name string, mutate func(*batchv1.JobSpec)) *batchv1.Job {
			j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "batch/v1", Kind: "CronJob", Name: cj.Name, UID: cj.UID, Controller: ptr.To(true)}}},
				Spec: *cj.Spec.JobTemplate.Spec.DeepCopy()}
			if mutate != nil {
				mutate(&j.Spec)
			}
			return j
		}
		Eventually(func() error { return alice.Create(ctx, run("manual-1", nil)) }).WithTimeout(10 * time.Second).Should(Succeed())
		Expect(alice.Create(ctx, run("manual-2", func(s *batchv1.JobSpec) { s.Parallelism = ptr.To[int32](50) }))).To(MatchError(ContainSubstring(
			"no ChangeRequest in namespace " + ns + " targets Job manual-2")))

		By("suspending the CronJob (operational) stops manual runs too")
		patch := client.MergeFrom(cj.DeepCopy())
		cj.Spec.Suspend = ptr.To(true)
		Expect(alice.Patch(ctx, cj, patch)).To(Succeed())
		Eventually(func() error { return alice.Create(ctx, run("manual-3", nil)) }).WithTimeout(10 * time.Second).Should(MatchError(ContainSubstring(
			"CronJob invoice-sync is suspended (its emergency stop), so running it by hand needs a ChangeRequest listing Job manual-3")))
	})
})

var _ = Describe("The scaling bounds and GitOps (issue 11)", func() {
	It("let a Deployment without spec.replicas be created under minReplicas 3, and let dry runs through with a warning", func() {
		ns := scaledNamespace()
		Expect(env.Client.Create(ctx, &itopsv1alpha1.ServiceLevel{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: ns},
			Spec: itopsv1alpha1.ServiceLevelSpec{Selector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				Scaling: &itopsv1alpha1.ScalingPolicy{MinReplicas: ptr.To[int32](3)}}})).To(Succeed())
		flux, seen := clientWithWarnings("system:serviceaccount:flux-system:kustomize-controller")
		web := webDeployment(ns)
		web.Spec.Replicas = nil // an HPA owns the count
		Eventually(func() []string {
			_ = flux.Create(ctx, web.DeepCopy(), client.DryRunAll)
			return seen.all()
		}).WithTimeout(10 * time.Second).Should(ContainElement(ContainSubstring("allowed at creation, where an absent spec.replicas")))
		Expect(flux.Create(ctx, web)).To(Succeed())

		By("a dry run the real request would fail")
		patch := client.MergeFrom(web.DeepCopy())
		web.Spec.Replicas = ptr.To[int32](0)
		Expect(flux.Patch(ctx, web.DeepCopy(), patch, client.DryRunAll)).To(Succeed())
		Expect(seen.all()).To(ContainElement(ContainSubstring("dry run: the real request would be denied: itops scaling policy: Deployment " + ns + "/web: 0 replicas is below minReplicas 3")))
		Expect(flux.Patch(ctx, web, patch)).To(MatchError(ContainSubstring("0 replicas is below minReplicas 3")))

		By("an explicit replicas: 1 is a request, judged like any count (client-side and server-side apply)")
		one := webDeployment(ns)
		one.Name, one.Spec.Replicas = "one", ptr.To[int32](1)
		clientSide := one.DeepCopy()
		clientSide.Annotations = map[string]string{corev1.LastAppliedConfigAnnotation: `{"apiVersion":"apps/v1","kind":"Deployment","spec":{"replicas":1}}`}
		Expect(flux.Create(ctx, clientSide)).To(MatchError(ContainSubstring("1 replicas is below minReplicas 3")))
		one.TypeMeta = metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"}
		apply := func(d *appsv1.Deployment) error {
			u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(d)
			Expect(err).NotTo(HaveOccurred())
			unstructured.RemoveNestedField(u, "metadata", "creationTimestamp")
			unstructured.RemoveNestedField(u, "status")
			return flux.Apply(ctx, client.ApplyConfigurationFromUnstructured(&unstructured.Unstructured{Object: u}), client.FieldOwner("flux"), client.ForceOwnership)
		}
		Expect(apply(one.DeepCopy())).To(MatchError(ContainSubstring("1 replicas is below minReplicas 3")))
		one.Spec.Replicas = nil
		Expect(apply(one)).To(Succeed())
	})
})

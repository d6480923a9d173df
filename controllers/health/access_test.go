package health

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// widgetCRD is a custom kind no RBAC rule of the installation grants: an operator's resource
// the administrator has not added to the itops-operator-owner-reader aggregation.
func widgetCRD() *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": "widgets.unreadable.example.com"},
		"spec": map[string]any{
			"group": "unreadable.example.com", "scope": "Namespaced",
			"names": map[string]any{"kind": "Widget", "listKind": "WidgetList", "plural": "widgets", "singular": "widget"},
			"versions": []any{map[string]any{"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}},
		},
	}}
}

// rolloutCRD is a stand-in for Argo Rollouts' CRD, a kind the install's default owner-reader
// role grants.
func rolloutCRD() *unstructured.Unstructured {
	crd := widgetCRD()
	crd.Object["metadata"] = map[string]any{"name": "rollouts.argoproj.io"}
	spec := crd.Object["spec"].(map[string]any)
	spec["group"] = "argoproj.io"
	spec["names"] = map[string]any{"kind": "Rollout", "listKind": "RolloutList", "plural": "rollouts", "singular": "rollout"}
	spec["versions"].([]any)[0].(map[string]any)["name"] = "v1alpha1"
	return crd
}

// ownedReplicaSetWithCrashingPod creates a ReplicaSet controlled by owner and a crash-looping
// pod of it.
func ownedReplicaSetWithCrashingPod(ns, name string, owner *unstructured.Unstructured) *appsv1.ReplicaSet {
	GinkgoHelper()
	labels := map[string]string{"app": name}
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, OwnerReferences: []metav1.OwnerReference{{
			APIVersion: owner.GetAPIVersion(), Kind: owner.GetKind(), Name: owner.GetName(), UID: owner.GetUID(), Controller: ptr.To(true)}}},
		Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}}}},
	}
	Expect(env.Client.Create(ctx, rs)).To(Succeed())
	crashingPodOf(ns, name+"-x1", metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID}, "")
	return rs
}

var _ = Describe("Owner kinds the install grants", func() {
	It("roll an Argo Rollout's pods up to the Rollout through the aggregated owner-reader role", func() {
		Expect(client.IgnoreAlreadyExists(env.Client.Create(ctx, rolloutCRD()))).To(Succeed())
		ns := newNamespace()
		rollout := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
			"metadata": map[string]any{"name": "canary", "namespace": ns},
		}}
		Eventually(func() error { return env.Client.Create(ctx, rollout) }).WithTimeout(timeout).Should(Succeed())
		ownedReplicaSetWithCrashingPod(ns, "canary-7d9f", rollout)
		Eventually(func(g Gomega) {
			inc := getIncident(ns, "rollout-canary")(g)
			g.Expect(inc.Spec.Affected[0]).To(Equal(itopsv1alpha1.ObjectReference{APIVersion: "argoproj.io/v1alpha1", Kind: "Rollout", Namespace: ns, Name: "canary"}))
		}).WithTimeout(timeout).Should(Succeed())
	})
})

var _ = Describe("Owner kinds the operator may not read", func() {
	It("stop the roll-up at the last readable object: a ReplicaSet owned by an unreadable custom kind opens an incident naming the ReplicaSet, promptly", func() {
		Expect(client.IgnoreAlreadyExists(env.Client.Create(ctx, widgetCRD()))).To(Succeed())
		ns := newNamespace()
		widget := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "unreadable.example.com/v1", "kind": "Widget",
			"metadata": map[string]any{"name": "w1", "namespace": ns},
		}}
		Eventually(func() error { return env.Client.Create(ctx, widget) }).WithTimeout(timeout).Should(Succeed())
		rs := ownedReplicaSetWithCrashingPod(ns, "w1-5f7c9", widget)

		// Promptly: a cache read of the unreadable kind would wait forever, and nothing would open.
		Eventually(func(g Gomega) {
			inc := getIncident(ns, "replicaset-w1-5f7c9")(g)
			g.Expect(inc.Spec.Affected[0]).To(Equal(itopsv1alpha1.ObjectReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Namespace: ns, Name: rs.Name}))
			g.Expect(inc.Spec.Reason).To(Equal(itopsv1alpha1.ReasonCrashLoopBackOff))
		}).WithTimeout(10 * time.Second).Should(Succeed())
		Consistently(func() []itopsv1alpha1.Incident { return incidentsIn(ns) }).WithTimeout(2 * time.Second).Should(HaveLen(1))
	})
})

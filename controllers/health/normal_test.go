package health

import (
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/health"
)

// Issue 12, "nothing opens for what is normal". The suite's claim grace period is 3s and its
// node grace period 1s.
var _ = Describe("Normal states", func() {
	withReason := func(ns, reason string) func() []itopsv1alpha1.Incident {
		return func() []itopsv1alpha1.Incident {
			list := &itopsv1alpha1.IncidentList{}
			Expect(env.Client.List(ctx, list, client.InNamespace(ns), client.MatchingLabels{itopsv1alpha1.LabelReason: reason})).To(Succeed())
			return list.Items
		}
	}

	It("opens nothing for a WaitForFirstConsumer claim without a consumer, and VolumeClaimPending once a consumer waits past the grace period", func() {
		ns := newNamespace()
		class := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "local-" + ns}, Provisioner: "example.com/local",
			VolumeBindingMode: ptr.To(storagev1.VolumeBindingWaitForFirstConsumer)}
		Expect(env.Client.Create(ctx, class)).To(Succeed())
		DeferCleanup(func() { Expect(env.Client.Delete(ctx, class)).To(Succeed()) })
		pvc := &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: ns},
			Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: ptr.To(class.Name), AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}},
		}
		Expect(env.Client.Create(ctx, pvc)).To(Succeed())
		Expect(pvc.Status.Phase).To(Equal(corev1.ClaimPending))

		By("waiting by design for its first consumer, past the grace period: nothing opens")
		Consistently(withReason(ns, itopsv1alpha1.ReasonVolumeClaimPending)).WithTimeout(5 * time.Second).Should(BeEmpty())

		By("a pod mounting the claim: VolumeClaimPending once it still does not bind past the grace period")
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "db-0", Namespace: ns},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "db", Image: "db:1"}}, Volumes: []corev1.Volume{{Name: "data",
				VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}}},
		}
		Expect(env.Client.Create(ctx, pod)).To(Succeed())
		Eventually(withReason(ns, itopsv1alpha1.ReasonVolumeClaimPending)).WithTimeout(timeout).Should(ConsistOf(
			HaveField("Spec.Affected", ConsistOf(itopsv1alpha1.ObjectReference{APIVersion: "v1", Kind: "PersistentVolumeClaim", Namespace: ns, Name: "data"}))))
	})

	It("does not page NodeNotReady for a node the cluster autoscaler is removing, and resolves an open one", func() {
		notReady := func(node *corev1.Node) {
			GinkgoHelper()
			node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionUnknown,
				Reason: "NodeStatusUnknown", Message: "Kubelet stopped posting node status.", LastTransitionTime: metav1.Now(), LastHeartbeatTime: metav1.Now()}}
			Expect(env.Client.Status().Update(ctx, node)).To(Succeed())
		}
		scaleDown := func(node *corev1.Node) {
			GinkgoHelper()
			Eventually(func() error {
				if err := env.Client.Get(ctx, client.ObjectKeyFromObject(node), node); err != nil {
					return err
				}
				node.Spec.Unschedulable = true
				node.Spec.Taints = append(node.Spec.Taints, corev1.Taint{Key: health.TaintClusterAutoscalerToBeDeleted,
					Value: strconv.FormatInt(time.Now().Unix(), 10), Effect: corev1.TaintEffectNoSchedule})
				return env.Client.Update(ctx, node)
			}).WithTimeout(timeout).Should(Succeed())
		}
		nodeIncidents := func(name string) func() []itopsv1alpha1.Incident {
			return func() []itopsv1alpha1.Incident {
				var out []itopsv1alpha1.Incident
				for _, inc := range withReason(clusterNamespace, itopsv1alpha1.ReasonNodeNotReady)() {
					if len(inc.Spec.Affected) > 0 && inc.Spec.Affected[0].Name == name {
						out = append(out, inc)
					}
				}
				return out
			}
		}

		By("a node cordoned and tainted for deletion, then its instance gone (Ready=Unknown): nothing opens")
		removed := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "worker-scaled-down"}}
		Expect(env.Client.Create(ctx, removed)).To(Succeed())
		DeferCleanup(func() { Expect(client.IgnoreNotFound(env.Client.Delete(ctx, removed))).To(Succeed()) })
		scaleDown(removed)
		notReady(removed)
		Consistently(nodeIncidents(removed.Name)).WithTimeout(4 * time.Second).Should(BeEmpty())

		By("a node that failed (an open NodeNotReady), then the autoscaler removes it: the incident resolves")
		failed := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "worker-failed-then-removed"}}
		Expect(env.Client.Create(ctx, failed)).To(Succeed())
		DeferCleanup(func() { Expect(client.IgnoreNotFound(env.Client.Delete(ctx, failed))).To(Succeed()) })
		notReady(failed)
		Eventually(nodeIncidents(failed.Name)).WithTimeout(timeout).Should(ConsistOf(HaveField("Status.Phase", itopsv1alpha1.IncidentOpen)))
		scaleDown(failed)
		Eventually(nodeIncidents(failed.Name)).WithTimeout(timeout).Should(ConsistOf(HaveField("Status.Phase", itopsv1alpha1.IncidentResolved)))
	})
})

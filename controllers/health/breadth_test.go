package health

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// warningEvent records a Warning Event about an object as the kubelet or a controller would.
func warningEvent(ns, name string, about corev1.ObjectReference, reason, message string, count int32) {
	GinkgoHelper()
	now := metav1.Now()
	Expect(env.Client.Create(ctx, &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: name, Namespace: ns},
		InvolvedObject: about, Type: corev1.EventTypeWarning, Reason: reason, Message: message, Count: count,
		FirstTimestamp: metav1.NewTime(now.Add(-2 * time.Minute)), LastTimestamp: now,
		Source: corev1.EventSource{Component: "kubelet"},
	})).To(Succeed())
}

// signal returns the incident's signal of reason (nil if none).
func signal(inc *itopsv1alpha1.Incident, reason string) *itopsv1alpha1.Signal {
	for i := range inc.Status.Signals {
		if inc.Status.Signals[i].Reason == reason {
			return &inc.Status.Signals[i]
		}
	}
	return nil
}

func setPodStatus(pod *corev1.Pod, status func(*corev1.PodStatus)) {
	GinkgoHelper()
	Eventually(func() error {
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(pod), pod); err != nil {
			return err
		}
		status(&pod.Status)
		return env.Client.Status().Update(ctx, pod)
	}).WithTimeout(timeout).Should(Succeed())
}

var _ = Describe("Detection breadth", func() {
	It("says why a Deployment has no pods: its ReplicaSet's FailedCreate is a PodCreationFailed signal, with evidence", func() {
		ns := newNamespace()
		deploymentWithPods(ns, "denied", 0)
		rsName := "denied-6cc49f8888"
		// The Deployment wants 2 replicas and has none: the ReplicaSet controller is refused.
		Eventually(func() error {
			d := &appsv1.Deployment{}
			if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "denied"}, d); err != nil {
				return err
			}
			d.Spec.Replicas = ptr.To(int32(2))
			return env.Client.Update(ctx, d)
		}).WithTimeout(timeout).Should(Succeed())
		warningEvent(ns, rsName+".quota", corev1.ObjectReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Namespace: ns, Name: rsName},
			"FailedCreate", `Error creating: pods "denied-6cc49f8888-x" is forbidden: exceeded quota: pods, requested: pods=1, used: pods=0, limited: pods=0`, 5)

		Eventually(func(g Gomega) {
			inc := getIncident(ns, "deployment-denied")(g)
			s := signal(inc, itopsv1alpha1.ReasonPodCreationFailed)
			g.Expect(s).NotTo(BeNil())
			g.Expect(s.Active).To(BeTrue())
			g.Expect(s.Message).To(ContainSubstring("deployment denied cannot create pods"))
			g.Expect(s.Message).To(ContainSubstring("exceeded quota"))
			g.Expect(inc.Spec.Reason).To(Equal(itopsv1alpha1.ReasonPodCreationFailed))
			g.Expect(inc.Status.Evidence).NotTo(BeNil())
			g.Expect(inc.Status.Evidence.Events).To(ContainElement(And(
				HaveField("Reason", "FailedCreate"), HaveField("Object", "ReplicaSet/"+rsName), HaveField("Count", int32(5)))))
		}).WithTimeout(timeout).Should(Succeed())
		Expect(incidentsIn(ns)).To(HaveLen(1), "a FailedCreate is a signal of the workload's incident, not an incident of its own")
	})

	It("opens ProbeFailing for a pod running but not ready with readiness probe failures, and clears it once ready", func() {
		ns := newNamespace()
		pod := deploymentWithPods(ns, "slow", 1)[0]
		long := metav1.NewTime(time.Now().Add(-time.Hour))
		setPodStatus(pod, func(s *corev1.PodStatus) {
			s.Phase = corev1.PodRunning
			s.StartTime = &long
			s.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "ContainersNotReady", LastTransitionTime: long}}
			s.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", Image: "app:1", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: long}}}}
		})
		warningEvent(ns, pod.Name+".unhealthy", corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: pod.Name, FieldPath: "spec.containers{app}"},
			"Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503", 40)

		Eventually(func(g Gomega) {
			inc := getIncident(ns, "deployment-slow")(g)
			s := signal(inc, itopsv1alpha1.ReasonProbeFailing)
			g.Expect(s).NotTo(BeNil())
			g.Expect(s.Active).To(BeTrue())
			g.Expect(s.Message).To(ContainSubstring("Readiness probe failed: HTTP probe failed with statuscode: 503"))
			g.Expect(inc.Status.Evidence).NotTo(BeNil())
			g.Expect(inc.Status.Evidence.Pod).To(Equal(pod.Name))
			g.Expect(inc.Status.Evidence.Image).To(Equal("app:1"))
		}).WithTimeout(timeout).Should(Succeed())

		By("clearing once the pod is ready")
		setPodStatus(pod, func(s *corev1.PodStatus) {
			s.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
		})
		Eventually(func(g Gomega) {
			s := signal(getIncident(ns, "deployment-slow")(g), itopsv1alpha1.ReasonProbeFailing)
			g.Expect(s).NotTo(BeNil())
			g.Expect(s.Active).To(BeFalse())
		}).WithTimeout(timeout).Should(Succeed())
	})

	It("opens ContainerRestarting for a container the kubelet kills for failing its liveness probe, with its last termination", func() {
		ns := newNamespace()
		pod := deploymentWithPods(ns, "hung", 1)[0]
		long := metav1.NewTime(time.Now().Add(-time.Hour))
		killed := metav1.NewTime(time.Now().Add(-time.Minute))
		setPodStatus(pod, func(s *corev1.PodStatus) {
			s.Phase = corev1.PodRunning
			s.StartTime = &long
			s.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", Image: "app:1", RestartCount: 2,
				State:                corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: killed}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "Error", FinishedAt: killed}}}}
		})
		warningEvent(ns, pod.Name+".liveness", corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: pod.Name, FieldPath: "spec.containers{app}"},
			"Unhealthy", "Liveness probe failed: Get \"http://10.0.0.7:8080/healthz\": context deadline exceeded", 9)

		Eventually(func(g Gomega) {
			inc := getIncident(ns, "deployment-hung")(g)
			s := signal(inc, itopsv1alpha1.ReasonContainerRestarting)
			g.Expect(s).NotTo(BeNil())
			g.Expect(s.Message).To(ContainSubstring("killed by the kubelet after failing its liveness probe"))
			g.Expect(inc.Status.Evidence).NotTo(BeNil())
			g.Expect(inc.Status.Evidence.LastTermination).NotTo(BeNil())
			g.Expect(inc.Status.Evidence.LastTermination).To(And(
				HaveField("Container", "app"), HaveField("ExitCode", int32(137)), HaveField("Signal", int32(9)), HaveField("Reason", "Error")))
		}).WithTimeout(timeout).Should(Succeed())
	})

	It("reports a Node Problem Detector condition as a NodeCondition signal of the node's incident", func() {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "npd-" + newNamespace()}}
		Expect(env.Client.Create(ctx, node)).To(Succeed())
		DeferCleanup(func() { Expect(client.IgnoreNotFound(env.Client.Delete(ctx, node))).To(Succeed()) })
		long := metav1.NewTime(time.Now().Add(-time.Hour))
		node.Status.Conditions = []corev1.NodeCondition{
			{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastTransitionTime: long, LastHeartbeatTime: long},
			{Type: "KernelDeadlock", Status: corev1.ConditionTrue, Reason: "DockerHung", Message: "task docker:7 blocked for more than 120 seconds.", LastTransitionTime: long, LastHeartbeatTime: long},
		}
		Expect(env.Client.Status().Update(ctx, node)).To(Succeed())
		Eventually(func(g Gomega) {
			inc := getIncident(clusterNamespace, "node-"+node.Name)(g)
			s := signal(inc, itopsv1alpha1.ReasonNodeCondition)
			g.Expect(s).NotTo(BeNil())
			g.Expect(s.Active).To(BeTrue())
			g.Expect(s.Message).To(ContainSubstring("KernelDeadlock (DockerHung): task docker:7 blocked"))
			g.Expect(inc.Status.Evidence).NotTo(BeNil())
			g.Expect(inc.Status.Evidence.Node).To(Equal(node.Name))
		}).WithTimeout(timeout).Should(Succeed())
	})

	It("opens VolumeMountFailed for a pod stuck in ContainerCreating with FailedMount events", func() {
		ns := newNamespace()
		pods := deploymentWithPods(ns, "stuck", 1)
		long := metav1.NewTime(time.Now().Add(-time.Hour))
		setPodStatus(pods[0], func(s *corev1.PodStatus) {
			s.Phase = corev1.PodPending
			s.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: long}}
			s.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", Image: "app:1",
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}}
		})
		Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(pods[0]), pods[0])).To(Succeed())
		pods[0].Spec.NodeName = "worker-mount"
		// nodeName is set by binding; the status update above does not carry it.
		Expect(env.Client.SubResource("binding").Create(ctx, pods[0], &corev1.Binding{
			ObjectMeta: metav1.ObjectMeta{Name: pods[0].Name, Namespace: ns}, Target: corev1.ObjectReference{Kind: "Node", Name: "worker-mount"}})).To(Succeed())
		warningEvent(ns, pods[0].Name+".mount", corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: pods[0].Name},
			"FailedMount", `MountVolume.SetUp failed for volume "config": configmap "stuck-config" not found`, 6)
		Eventually(func(g Gomega) {
			inc := getIncident(ns, "deployment-stuck")(g)
			mount := signal(inc, itopsv1alpha1.ReasonVolumeMountFailed)
			g.Expect(mount).NotTo(BeNil())
			g.Expect(mount.Message).To(ContainSubstring(`FailedMount (6 times): MountVolume.SetUp failed for volume "config"`))
			g.Expect(inc.Status.Evidence).NotTo(BeNil())
			g.Expect(inc.Status.Evidence.Node).To(Equal("worker-mount"))
			g.Expect(inc.Status.Evidence.Events).To(ContainElement(HaveField("Reason", "FailedMount")))
		}).WithTimeout(timeout).Should(Succeed())
		Expect(incidentsIn(ns)).To(HaveLen(1))
	})
})

package e2e

import (
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/test/cluster"
)

// activeSignal matches an incident's active signal of reason whose message contains text.
func activeSignal(reason, text string) OmegaMatcher {
	return ContainElement(And(HaveField("Reason", reason), HaveField("Active", true), HaveField("Message", ContainSubstring(text))))
}

var _ = Describe("Detection breadth", func() {
	It("says why a Deployment has no pods: a quota denies them (PodCreationFailed on the workload's incident, with evidence)", func() {
		ns := newNamespace()
		Expect(k8s.Create(ctx, &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "no-pods", Namespace: ns},
			Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("0")}}})).To(Succeed())
		Expect(k8s.Create(ctx, crashingDeployment(ns, "denied", "none", 2))).To(Succeed())
		Eventually(func(g Gomega) {
			inc := onlyIncident(ns)(g)
			g.Expect(inc.Name).To(Equal("deployment-denied"))
			g.Expect(inc.Status.Signals).To(activeSignal(itopsv1alpha1.ReasonPodCreationFailed, "forbidden"))
			g.Expect(inc.Spec.Reason).To(Equal(itopsv1alpha1.ReasonPodCreationFailed))
			g.Expect(inc.Status.Evidence).NotTo(BeNil())
			g.Expect(inc.Status.Evidence.Events).To(ContainElement(And(HaveField("Reason", "FailedCreate"),
				HaveField("Object", HavePrefix("ReplicaSet/denied-")), HaveField("Message", ContainSubstring("quota")))))
		}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())
		Consistently(healthIncidents(ns)).WithTimeout(3*time.Second).Should(HaveLen(1), "one incident: the denial is a signal, not an incident of its own")
	})

	It("opens PodUnschedulable with the scheduler's reason once the grace period ends", func() {
		ns := newNamespace()
		d := crashingDeployment(ns, "pinned", "none", 1)
		d.Spec.Template.Spec.NodeSelector = map[string]string{"itops.dev/no-such-node": "true"}
		Expect(k8s.Create(ctx, d)).To(Succeed())
		Eventually(func(g Gomega) {
			inc := onlyIncident(ns)(g)
			g.Expect(inc.Status.Signals).To(activeSignal(itopsv1alpha1.ReasonPodUnschedulable, "didn't match Pod's node affinity/selector"))
			g.Expect(inc.Spec.Reason).To(Equal(itopsv1alpha1.ReasonPodUnschedulable))
			g.Expect(inc.Status.Evidence).NotTo(BeNil())
			g.Expect(inc.Status.Evidence.Pod).To(HavePrefix("pinned-"))
			g.Expect(inc.Status.Evidence.Image).To(Equal("pinned:1"))
		}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())
	})

	It("opens PodUnschedulable for a pod no scheduler binds (spec.schedulerName naming none) once the grace period ends", func() {
		ns := newNamespace()
		d := crashingDeployment(ns, "unbound", "none", 1)
		d.Spec.Template.Spec.SchedulerName = "nope"
		Expect(k8s.Create(ctx, d)).To(Succeed())
		Eventually(func(g Gomega) {
			inc := onlyIncident(ns)(g)
			g.Expect(inc.Status.Signals).To(activeSignal(itopsv1alpha1.ReasonPodUnschedulable,
				`no scheduler has bound it (spec.schedulerName "nope"; is that scheduler running?)`))
			g.Expect(inc.Spec.Reason).To(Equal(itopsv1alpha1.ReasonPodUnschedulable))
			g.Expect(inc.Status.Evidence).NotTo(BeNil())
			g.Expect(inc.Status.Evidence.Pod).To(HavePrefix("unbound-"))
		}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())
	})

	It("opens ProbeFailing for pods running but not ready while the kubelet reports readiness probe failures", func() {
		ns := newNamespace()
		Expect(k8s.Create(ctx, crashingDeployment(ns, "warming", "notready", 1))).To(Succeed())
		pod := onlyPod(ns, func(g Gomega, p *corev1.Pod) { g.Expect(p.Status.Phase).To(Equal(corev1.PodRunning)) })
		By("recording the kubelet's Unhealthy events (kwok runs no probes)")
		kubeletEvent(pod, "Unhealthy", "spec.containers{app}", "Readiness probe failed: HTTP probe failed with statuscode: 503", 12)
		Eventually(func(g Gomega) {
			inc := onlyIncident(ns)(g)
			g.Expect(inc.Status.Signals).To(activeSignal(itopsv1alpha1.ReasonProbeFailing, "Readiness probe failed: HTTP probe failed with statuscode: 503"))
			g.Expect(inc.Spec.Reason).To(Equal(itopsv1alpha1.ReasonProbeFailing))
			g.Expect(inc.Status.Evidence).NotTo(BeNil())
			g.Expect(inc.Status.Evidence.Node).To(Equal(pod.Spec.NodeName))
			g.Expect(inc.Status.Evidence.Events).To(ContainElement(And(HaveField("Reason", "Unhealthy"), HaveField("Count", int32(12)))))
		}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())
	})

	It("names the kubelet's waiting reason: CreateContainerError, RunContainerError and PreStartHookError, one incident per Deployment", func() {
		ns := newNamespace()
		reasons := []string{itopsv1alpha1.ReasonCreateContainerError, itopsv1alpha1.ReasonRunContainerError, itopsv1alpha1.ReasonPreStartHookError}
		for _, reason := range reasons {
			// kwok's pod-waiting stage puts the containers of pods labelled with the reason in it.
			Expect(k8s.Create(ctx, crashingDeployment(ns, strings.ToLower(reason), reason, 1))).To(Succeed())
		}
		Eventually(func(g Gomega) {
			incs := healthIncidents(ns)(g)
			g.Expect(incs).To(HaveLen(3), "one incident per Deployment")
			for _, reason := range reasons {
				inc := &itopsv1alpha1.Incident{}
				g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "deployment-" + strings.ToLower(reason)}, inc)).To(Succeed())
				g.Expect(inc.Spec.Reason).To(Equal(reason))
				g.Expect(inc.Status.Signals).To(activeSignal(reason, "chaos: the runtime reports "+reason+" for container app"))
			}
		}).WithTimeout(150 * time.Second).WithPolling(time.Second).Should(Succeed())
	})

	It("opens VolumeMountFailed for pods stuck in ContainerCreating while the kubelet reports FailedMount", func() {
		ns := newNamespace()
		Expect(k8s.Create(ctx, crashingDeployment(ns, "mounting", "containercreating", 1))).To(Succeed())
		pod := onlyPod(ns, func(g Gomega, p *corev1.Pod) {
			g.Expect(p.Spec.NodeName).NotTo(BeEmpty())
			g.Expect(p.Status.ContainerStatuses).To(ContainElement(HaveField("State.Waiting.Reason", "ContainerCreating")))
		})
		By("recording the kubelet's FailedMount events (kwok mounts nothing)")
		kubeletEvent(pod, "FailedMount", "", `MountVolume.SetUp failed for volume "config" : configmap "web-config" not found`, 4)
		Eventually(func(g Gomega) {
			inc := onlyIncident(ns)(g)
			g.Expect(inc.Status.Signals).To(activeSignal(itopsv1alpha1.ReasonVolumeMountFailed, `stuck in ContainerCreating: FailedMount (4 times): MountVolume.SetUp failed for volume "config"`))
			g.Expect(inc.Spec.Reason).To(Equal(itopsv1alpha1.ReasonVolumeMountFailed))
			g.Expect(inc.Status.Evidence).NotTo(BeNil())
			g.Expect(inc.Status.Evidence.Events).To(ContainElement(And(HaveField("Reason", "FailedMount"), HaveField("Count", int32(4)))))
		}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())
	})

	It("opens ContainerRestarting for a container the kubelet kills for failing its liveness probe", func() {
		ns := newNamespace()
		Expect(k8s.Create(ctx, crashingDeployment(ns, "wedged", "livenesskill", 1))).To(Succeed())
		pod := onlyPod(ns, func(g Gomega, p *corev1.Pod) {
			g.Expect(p.Status.ContainerStatuses).To(ContainElement(And(HaveField("RestartCount", int32(3)),
				HaveField("LastTerminationState.Terminated.ExitCode", int32(137)))))
		})
		By("recording the kubelet's liveness probe failures (kwok runs no probes)")
		kubeletEvent(pod, "Unhealthy", "spec.containers{app}", "Liveness probe failed: Get \"http://10.0.0.7:8080/healthz\": context deadline exceeded", 9)
		Eventually(func(g Gomega) {
			inc := onlyIncident(ns)(g)
			g.Expect(inc.Status.Signals).To(activeSignal(itopsv1alpha1.ReasonContainerRestarting,
				"container app killed by the kubelet after failing its liveness probe (exit code 137, 3 restarts, 9 probe failures)"))
			g.Expect(inc.Spec.Reason).To(Equal(itopsv1alpha1.ReasonContainerRestarting))
			g.Expect(inc.Status.Evidence).NotTo(BeNil())
			g.Expect(inc.Status.Evidence.LastTermination).NotTo(BeNil())
			g.Expect(inc.Status.Evidence.LastTermination.ExitCode).To(Equal(int32(137)))
		}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())
	})

	It("reports a Node Problem Detector condition as NodeCondition and resolves when it clears", func() {
		node := cluster.FakeNode("kwok-node-npd", 10)
		Expect(k8s.Create(ctx, node)).To(Succeed())
		DeferCleanup(func() { Expect(client.IgnoreNotFound(k8s.Delete(ctx, node))).To(Succeed()) })
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(node), node)).To(Succeed())
			g.Expect(node.Status.Conditions).To(ContainElement(And(HaveField("Type", corev1.NodeReady), HaveField("Status", corev1.ConditionTrue))))
		}).WithTimeout(time.Minute).Should(Succeed())

		setKernelDeadlock := func(status corev1.ConditionStatus) {
			GinkgoHelper()
			Eventually(func() error {
				if err := k8s.Get(ctx, client.ObjectKeyFromObject(node), node); err != nil {
					return err
				}
				conds := node.Status.Conditions[:0]
				for _, c := range node.Status.Conditions {
					if c.Type != "KernelDeadlock" {
						conds = append(conds, c)
					}
				}
				node.Status.Conditions = append(conds, corev1.NodeCondition{Type: "KernelDeadlock", Status: status, Reason: "DockerHung",
					Message: "kernel: INFO: task docker:20744 blocked for more than 120 seconds.", LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()})
				return k8s.Status().Update(ctx, node)
			}).WithTimeout(30 * time.Second).Should(Succeed())
		}
		By("Node Problem Detector reporting a kernel deadlock")
		setKernelDeadlock(corev1.ConditionTrue)
		Eventually(func(g Gomega) {
			inc := &itopsv1alpha1.Incident{}
			g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: clusterNamespace, Name: "node-kwok-node-npd"}, inc)).To(Succeed())
			g.Expect(inc.Status.Phase).To(Equal(itopsv1alpha1.IncidentOpen))
			g.Expect(inc.Status.Signals).To(activeSignal(itopsv1alpha1.ReasonNodeCondition, "KernelDeadlock (DockerHung)"))
			g.Expect(inc.Status.Evidence).NotTo(BeNil())
			g.Expect(inc.Status.Evidence.Node).To(Equal("kwok-node-npd"))
		}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())

		By("the condition clearing")
		setKernelDeadlock(corev1.ConditionFalse)
		Eventually(func(g Gomega) {
			inc := &itopsv1alpha1.Incident{}
			g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: clusterNamespace, Name: "node-kwok-node-npd"}, inc)).To(Succeed())
			g.Expect(inc.Status.Phase).To(Equal(itopsv1alpha1.IncidentResolved))
		}).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed())
	})
})

// onlyPod waits for ns to hold exactly one pod that satisfies check, and returns it.
func onlyPod(ns string, check func(g Gomega, p *corev1.Pod)) *corev1.Pod {
	GinkgoHelper()
	var pod corev1.Pod
	Eventually(func(g Gomega) {
		pods := &corev1.PodList{}
		g.Expect(k8s.List(ctx, pods, client.InNamespace(ns))).To(Succeed())
		g.Expect(pods.Items).To(HaveLen(1))
		pod = pods.Items[0]
		check(g, &pod)
	}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())
	return &pod
}

// kubeletEvent records a Warning Event about pod as its kubelet would (kwok's kubelet mounts
// nothing and runs no probes), seen count times.
func kubeletEvent(pod *corev1.Pod, reason, fieldPath, message string, count int32) {
	GinkgoHelper()
	now := metav1.Now()
	Expect(k8s.Create(ctx, &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name + "." + strings.ToLower(reason), Namespace: pod.Namespace},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID,
			FieldPath: fieldPath},
		Type: corev1.EventTypeWarning, Reason: reason, Message: message, Count: count, FirstTimestamp: now, LastTimestamp: now,
		Source: corev1.EventSource{Component: "kubelet", Host: pod.Spec.NodeName},
	})).To(Succeed())
}

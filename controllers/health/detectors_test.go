package health

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

const timeout = 20 * time.Second

// deploymentWithPods creates a Deployment, a ReplicaSet it owns and n pods of that ReplicaSet
// (envtest runs no controller-manager, so the spec plays its part).
func deploymentWithPods(ns, name string, n int) []*corev1.Pod {
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app.kubernetes.io/part-of": "shop"}},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(n)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}}},
		},
	}
	Expect(env.Client.Create(ctx, d)).To(Succeed())
	const hash = "6cc49f8888"
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-" + hash, Namespace: ns,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: name, UID: d.UID, Controller: ptr.To(true)}}},
		Spec: appsv1.ReplicaSetSpec{Selector: d.Spec.Selector, Template: d.Spec.Template},
	}
	Expect(env.Client.Create(ctx, rs)).To(Succeed())
	pods := make([]*corev1.Pod, 0, n)
	for i := range n {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				Name: fmt.Sprintf("%s-%s-%d", name, hash, i), Namespace: ns,
				Labels:          map[string]string{"app": name, appsv1.DefaultDeploymentUniqueLabelKey: hash},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: ptr.To(true)}},
			},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
		}
		Expect(env.Client.Create(ctx, pod)).To(Succeed())
		pods = append(pods, pod)
	}
	return pods
}

func setContainerState(pod *corev1.Pod, state corev1.ContainerState, restarts int32) {
	GinkgoHelper()
	Eventually(func() error {
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(pod), pod); err != nil {
			return err
		}
		pod.Status.Phase = corev1.PodRunning
		pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", Image: "app:1", State: state,
			RestartCount: restarts, Ready: state.Running != nil}}
		return env.Client.Status().Update(ctx, pod)
	}).WithTimeout(timeout).Should(Succeed())
}

func crashLoop(pod *corev1.Pod) {
	setContainerState(pod, corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 10s restarting failed container"}}, 3)
}

func running(pod *corev1.Pod) {
	setContainerState(pod, corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}, 3)
}

func getIncident(ns, name string) func(g Gomega) *itopsv1alpha1.Incident {
	return func(g Gomega) *itopsv1alpha1.Incident {
		inc := &itopsv1alpha1.Incident{}
		g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, inc)).To(Succeed())
		return inc
	}
}

func incidentsIn(ns string) []itopsv1alpha1.Incident {
	list := &itopsv1alpha1.IncidentList{}
	Expect(env.Client.List(ctx, list, client.InNamespace(ns))).To(Succeed())
	return list.Items
}

var _ = Describe("Pod problems", func() {
	It("roll up to one incident per workload and reason, auto-resolve after recovery and reopen on recurrence", func() {
		ns := newNamespace()
		sl := &itopsv1alpha1.ServiceLevel{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: ns},
			Spec: itopsv1alpha1.ServiceLevelSpec{Selector: metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/part-of": "shop"}}}}
		Expect(env.Client.Create(ctx, sl)).To(Succeed())
		pods := deploymentWithPods(ns, "web", 3)
		for _, p := range pods {
			crashLoop(p)
		}

		By("opening exactly one incident for the three crashing pods")
		var inc *itopsv1alpha1.Incident
		Eventually(func(g Gomega) {
			inc = getIncident(ns, "deployment-web")(g)
			g.Expect(inc.Spec.Source).To(Equal(itopsv1alpha1.SourceHealthCheck))
			g.Expect(inc.Spec.Reason).To(Equal(itopsv1alpha1.ReasonCrashLoopBackOff))
			g.Expect(inc.Labels).To(HaveKeyWithValue(itopsv1alpha1.LabelReason, "CrashLoopBackOff"))
			g.Expect(inc.Labels).To(HaveKeyWithValue(itopsv1alpha1.LabelSource, "HealthCheck"))
			g.Expect(inc.Spec.Affected).To(ConsistOf(itopsv1alpha1.ObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Namespace: ns, Name: "web"}))
			g.Expect(inc.Spec.Service).To(Equal("shop"))
			// CrashLoopBackOff is Medium/High; a ServiceLevel raises the impact: High/High.
			g.Expect(inc.Status.Priority).To(Equal(itopsv1alpha1.PriorityP1))
			g.Expect(inc.Status.Phase).To(Equal(itopsv1alpha1.IncidentOpen))
			g.Expect(meta.IsStatusConditionTrue(inc.Status.Conditions, itopsv1alpha1.IncidentConditionProblemPresent)).To(BeTrue())
			// The description is written once; the condition follows the pods as they change.
			present := meta.FindStatusCondition(inc.Status.Conditions, itopsv1alpha1.IncidentConditionProblemPresent)
			g.Expect(present.Message).To(ContainSubstring("3 of 3 pods: pod web-6cc49f8888-0: container app: CrashLoopBackOff"))
		}).WithTimeout(timeout).Should(Succeed())
		Consistently(func() []itopsv1alpha1.Incident { return incidentsIn(ns) }).WithTimeout(2 * time.Second).Should(HaveLen(1))

		By("auto-resolving once every pod has been healthy for --resolve-after")
		for _, p := range pods {
			running(p)
		}
		Eventually(func(g Gomega) {
			inc = getIncident(ns, "deployment-web")(g)
			g.Expect(inc.Status.Phase).To(Equal(itopsv1alpha1.IncidentResolved))
			g.Expect(inc.Status.ResolvedBy).To(Equal(itopsv1alpha1.ResolvedByOperator))
		}).WithTimeout(timeout).Should(Succeed())

		By("reopening it when the crash returns within the reopen window")
		crashLoop(pods[1])
		Eventually(func(g Gomega) {
			inc = getIncident(ns, "deployment-web")(g)
			g.Expect(inc.Status.Phase).To(Equal(itopsv1alpha1.IncidentOpen))
			g.Expect(inc.Status.Occurrences).To(Equal(int32(2)))
			g.Expect(inc.Status.Timeline).To(ContainElement(HaveField("Type", "Reopened")))
		}).WithTimeout(timeout).Should(Succeed())

		By("opening a new incident, linked to the old one, when it recurs after a person resolved it")
		patch := client.MergeFrom(inc.DeepCopy())
		inc.Spec.Resolution = &itopsv1alpha1.Resolution{Code: itopsv1alpha1.ResolutionFixed, By: "alice"}
		Expect(env.Client.Patch(ctx, inc, patch)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(getIncident(ns, "deployment-web")(g).Status.Phase).To(Equal(itopsv1alpha1.IncidentResolved))
		}).WithTimeout(timeout).Should(Succeed())
		running(pods[1])
		Eventually(func(g Gomega) {
			inc := getIncident(ns, "deployment-web")(g)
			g.Expect(meta.IsStatusConditionFalse(inc.Status.Conditions, itopsv1alpha1.IncidentConditionProblemPresent)).To(BeTrue())
		}).WithTimeout(timeout).Should(Succeed())
		crashLoop(pods[2])
		Eventually(func(g Gomega) {
			next := getIncident(ns, "deployment-web-2")(g)
			g.Expect(next.Status.Previous).To(Equal("deployment-web"))
			g.Expect(next.Labels).To(HaveKeyWithValue(itopsv1alpha1.LabelSequence, "2"))
			g.Expect(next.Status.Phase).To(Equal(itopsv1alpha1.IncidentOpen))
		}).WithTimeout(timeout).Should(Succeed())
	})

	It("does not open an incident for a pod that is merely starting", func() {
		ns := newNamespace()
		pods := deploymentWithPods(ns, "starting", 1)
		setContainerState(pods[0], corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}, 0)
		Consistently(func() []itopsv1alpha1.Incident { return incidentsIn(ns) }).WithTimeout(3 * time.Second).Should(BeEmpty())
	})
})

var _ = Describe("Node and job problems", func() {
	It("opens a NodeNotReady incident in the cluster namespace", func() {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "worker-7"}}
		Expect(env.Client.Create(ctx, node)).To(Succeed())
		DeferCleanup(func() { Expect(env.Client.Delete(ctx, node)).To(Succeed()) })
		node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionUnknown,
			Reason: "NodeStatusUnknown", Message: "Kubelet stopped posting node status.", LastTransitionTime: metav1.Now(), LastHeartbeatTime: metav1.Now()}}
		Expect(env.Client.Status().Update(ctx, node)).To(Succeed())
		Eventually(func(g Gomega) {
			inc := getIncident(clusterNamespace, "node-worker-7")(g)
			g.Expect(inc.Spec.Affected).To(ConsistOf(itopsv1alpha1.ObjectReference{APIVersion: "v1", Kind: "Node", Name: "worker-7"}))
			g.Expect(inc.Status.Priority).To(Equal(itopsv1alpha1.PriorityP2))
			g.Expect(inc.Spec.Description).To(ContainSubstring("Kubelet stopped posting node status."))
		}).WithTimeout(timeout).Should(Succeed())
	})

	It("opens a JobFailed incident", func() {
		ns := newNamespace()
		job := &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Name: "nightly-backup", Namespace: ns},
			Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{Name: "backup", Image: "backup:1"}}}}},
		}
		Expect(env.Client.Create(ctx, job)).To(Succeed())
		now := metav1.Now()
		job.Status.StartTime = &now
		job.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: now},
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: now},
		}
		Expect(env.Client.Status().Update(ctx, job)).To(Succeed())
		Eventually(func(g Gomega) {
			inc := getIncident(ns, "job-nightly-backup")(g)
			g.Expect(inc.Status.Priority).To(Equal(itopsv1alpha1.PriorityP4))
			g.Expect(inc.Spec.Description).To(ContainSubstring("BackoffLimitExceeded"))
		}).WithTimeout(timeout).Should(Succeed())
	})
})

// crashingPodOf creates a pod controlled by owner and puts it into a crash loop.
func crashingPodOf(ns, name string, owner metav1.OwnerReference, node string) {
	GinkgoHelper()
	owner.Controller = ptr.To(true)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, OwnerReferences: []metav1.OwnerReference{owner}},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
	}
	Expect(env.Client.Create(ctx, pod)).To(Succeed())
	crashLoop(pod)
}

var _ = Describe("Roll-up through any controller", func() {
	It("opens an incident for the pods of a bare ReplicaSet", func() {
		ns := newNamespace()
		labels := map[string]string{"app": "bare"}
		rs := &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{Name: "bare", Namespace: ns},
			Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}}}},
		}
		Expect(env.Client.Create(ctx, rs)).To(Succeed())
		crashingPodOf(ns, "bare-x1", metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "bare", UID: rs.UID}, "")
		Eventually(func(g Gomega) {
			inc := getIncident(ns, "replicaset-bare")(g)
			g.Expect(inc.Spec.Affected[0].Kind).To(Equal("ReplicaSet"))
			g.Expect(inc.Spec.Reason).To(Equal(itopsv1alpha1.ReasonCrashLoopBackOff))
		}).WithTimeout(timeout).Should(Succeed())
	})

	It("rolls a CronJob's failed run up to one incident naming the CronJob, cleared by a later success", func() {
		ns := newNamespace()
		cj := &batchv1.CronJob{
			ObjectMeta: metav1.ObjectMeta{Name: "report", Namespace: ns},
			Spec: batchv1.CronJobSpec{Schedule: "0 0 1 1 *", Suspend: ptr.To(true), JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{
				Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
					Containers: []corev1.Container{{Name: "report", Image: "report:1"}}}}}}},
		}
		Expect(env.Client.Create(ctx, cj)).To(Succeed())
		finish := func(name string, typ batchv1.JobConditionType, later time.Duration) {
			GinkgoHelper()
			job := &batchv1.Job{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, OwnerReferences: []metav1.OwnerReference{{
					APIVersion: "batch/v1", Kind: "CronJob", Name: "report", UID: cj.UID, Controller: ptr.To(true)}}},
				Spec: cj.Spec.JobTemplate.Spec,
			}
			Expect(env.Client.Create(ctx, job)).To(Succeed())
			now := metav1.NewTime(time.Now().Add(later))
			job.Status.StartTime = &now
			if typ == batchv1.JobFailed {
				job.Status.Conditions = []batchv1.JobCondition{
					{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", LastTransitionTime: now},
					{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: now},
				}
			} else {
				job.Status.CompletionTime = &now
				job.Status.Succeeded = 1
				job.Status.Conditions = []batchv1.JobCondition{
					{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now},
					{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now},
				}
			}
			Expect(env.Client.Status().Update(ctx, job)).To(Succeed())
		}
		finish("report-1", batchv1.JobFailed, 0)
		Eventually(func(g Gomega) {
			inc := getIncident(ns, "cronjob-report")(g)
			g.Expect(inc.Status.Signals).To(ContainElement(And(HaveField("Reason", itopsv1alpha1.ReasonJobFailed), HaveField("Active", true))))
			g.Expect(inc.Spec.Description).To(ContainSubstring("report-1"))
		}).WithTimeout(timeout).Should(Succeed())
		Expect(incidentsIn(ns)).To(HaveLen(1), "no incident per Job name")

		// Condition times have second precision: the success is dated two seconds later.
		finish("report-2", batchv1.JobComplete, 2*time.Second)
		Eventually(func(g Gomega) {
			inc := getIncident(ns, "cronjob-report")(g)
			g.Expect(inc.Status.Signals).To(ContainElement(And(HaveField("Reason", itopsv1alpha1.ReasonJobFailed), HaveField("Active", false))))
		}).WithTimeout(timeout).Should(Succeed())
		Expect(incidentsIn(ns)).To(HaveLen(1))
	})
})

var _ = Describe("Causes", func() {
	It("link a workload whose not-ready pods all run on a NotReady node to the node's incident", func() {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "worker-9"}}
		Expect(env.Client.Create(ctx, node)).To(Succeed())
		DeferCleanup(func() { Expect(env.Client.Delete(ctx, node)).To(Succeed()) })
		node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionUnknown,
			Reason: "NodeStatusUnknown", Message: "Kubelet stopped posting node status.", LastTransitionTime: metav1.Now(), LastHeartbeatTime: metav1.Now()}}
		Expect(env.Client.Status().Update(ctx, node)).To(Succeed())
		Eventually(getIncident(clusterNamespace, "node-worker-9")).WithTimeout(timeout).ShouldNot(BeNil())

		ns := newNamespace()
		labels := map[string]string{"app": "agent"}
		ds := &appsv1.DaemonSet{
			ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: ns},
			Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}}}},
		}
		Expect(env.Client.Create(ctx, ds)).To(Succeed())
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "agent-x1", Namespace: ns, Labels: labels,
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "agent", UID: ds.UID, Controller: ptr.To(true)}}},
			Spec: corev1.PodSpec{NodeName: "worker-9", Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
		}
		Expect(env.Client.Create(ctx, pod)).To(Succeed())
		crashLoop(pod) // not ready, on the NotReady node
		Eventually(func(g Gomega) {
			inc := getIncident(ns, "daemonset-agent")(g)
			g.Expect(inc.Status.CausedBy).To(Equal(&itopsv1alpha1.IncidentReference{Kind: "Incident", Namespace: clusterNamespace, Name: "node-worker-9"}))
			g.Expect(meta.IsStatusConditionTrue(inc.Status.Conditions, itopsv1alpha1.IncidentConditionSymptom)).To(BeTrue())
			g.Expect(inc.Status.Priority).To(Equal(itopsv1alpha1.PriorityP2), "capped at the node's")
			nodeInc := getIncident(clusterNamespace, "node-worker-9")(g)
			g.Expect(nodeInc.Status.Symptoms).To(ContainElement(HaveField("Name", "daemonset-agent")))
		}).WithTimeout(timeout).Should(Succeed())
	})
})

package health

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

func podWith(phase corev1.PodPhase, node string, conds ...corev1.PodCondition) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "shop", CreationTimestamp: ago(time.Hour)},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: "web:1"}}},
		Status:     corev1.PodStatus{Phase: phase, Conditions: conds},
	}
}

func cond(t corev1.PodConditionType, s corev1.ConditionStatus, reason string, since time.Duration) corev1.PodCondition {
	return corev1.PodCondition{Type: t, Status: s, Reason: reason, LastTransitionTime: ago(since),
		Message: "0/3 nodes are available: 3 Insufficient cpu."}
}

func podEvent(reason, msg string, count int32, last time.Duration) Event {
	return Event{Kind: "Pod", Name: "web-1", Reason: reason, Message: msg, Count: count, FirstSeen: now.Add(-last - time.Minute), LastSeen: now.Add(-last)}
}

func withStatuses(p *corev1.Pod, s ...corev1.ContainerStatus) *corev1.Pod {
	p.Status.ContainerStatuses = s
	return p
}

func TestPodEventProblems(t *testing.T) {
	th := DefaultThresholds
	creating := corev1.ContainerStatus{Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}
	mount := podEvent(EventFailedMount, `MountVolume.SetUp failed for volume "data": configmap "cfg" not found`, 4, time.Minute)
	sandbox := podEvent(EventFailedCreatePodSandBox, "failed to setup network for sandbox: plugin type=calico failed", 7, time.Minute)
	readiness := podEvent(EventUnhealthy, "Readiness probe failed: HTTP probe failed with statuscode: 503", 30, time.Minute)
	liveness := podEvent(EventUnhealthy, "Liveness probe failed: Get \"http://10.0.0.1:8080/healthz\": context deadline exceeded", 9, time.Minute)
	killed := func(restarts int32, finished time.Duration, code int32, reason string) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: "app", RestartCount: restarts, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason, FinishedAt: ago(finished)}}}
	}
	started := func(p *corev1.Pod, d time.Duration) *corev1.Pod {
		s := ago(d)
		p.Status.StartTime = &s
		return p
	}
	young := func(p *corev1.Pod, age time.Duration) *corev1.Pod {
		p.CreationTimestamp = ago(age)
		return p
	}
	scheduledBy := func(p *corev1.Pod, name string) *corev1.Pod {
		p.Spec.SchedulerName = name
		return p
	}
	gated := func(p *corev1.Pod) *corev1.Pod {
		p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/quota"}}
		return p
	}
	withInit := func(p *corev1.Pod, s ...corev1.ContainerStatus) *corev1.Pod {
		p.Status.InitContainerStatuses = s
		return p
	}
	running := func() *corev1.Pod {
		return podWith(corev1.PodRunning, "n1", cond(corev1.PodReady, corev1.ConditionTrue, "", time.Hour))
	}
	tests := []struct {
		name     string
		pod      *corev1.Pod
		events   []Event
		restarts map[string][]RestartSample
		want     string
		message  string
		recheck  bool
		// recheckIn, when set, is exactly when the judgement changes (from now).
		recheckIn time.Duration
	}{
		{name: "healthy running pod", pod: running()},
		{name: "unschedulable within grace", pod: podWith(corev1.PodPending, "", cond(corev1.PodScheduled, corev1.ConditionFalse, "Unschedulable", time.Minute)), recheck: true},
		{name: "unschedulable beyond grace", pod: podWith(corev1.PodPending, "", cond(corev1.PodScheduled, corev1.ConditionFalse, "Unschedulable", 6*time.Minute)),
			want: itopsv1alpha1.ReasonPodUnschedulable, message: "unschedulable: 0/3 nodes are available: 3 Insufficient cpu."},
		{name: "scheduled: unschedulable clears", pod: podWith(corev1.PodPending, "n1", cond(corev1.PodScheduled, corev1.ConditionTrue, "", time.Minute)), recheck: true},
		{name: "scheduler error beyond grace", pod: podWith(corev1.PodPending, "", cond(corev1.PodScheduled, corev1.ConditionFalse, "SchedulerError", 6*time.Minute)),
			want: itopsv1alpha1.ReasonPodUnschedulable, message: "not scheduled after 5m: the scheduler reports SchedulerError: 0/3 nodes"},
		{name: "pending, no scheduler verdict, within grace", pod: young(podWith(corev1.PodPending, ""), 2*time.Minute), recheck: true, recheckIn: 3 * time.Minute},
		{name: "pending, no scheduler verdict, beyond grace", pod: podWith(corev1.PodPending, ""),
			want: itopsv1alpha1.ReasonPodUnschedulable, message: "not scheduled after 5m: the scheduler has not reported on it"},
		{name: "custom scheduler beyond grace", pod: scheduledBy(podWith(corev1.PodPending, ""), "nope"),
			want: itopsv1alpha1.ReasonPodUnschedulable, message: `not scheduled after 5m: no scheduler has bound it (spec.schedulerName "nope"; is that scheduler running?)`},
		{name: "custom scheduler within grace", pod: young(scheduledBy(podWith(corev1.PodPending, ""), "nope"), time.Minute), recheck: true, recheckIn: 4 * time.Minute},
		{name: "scheduling gated: held back on purpose", pod: gated(podWith(corev1.PodPending, "", cond(corev1.PodScheduled, corev1.ConditionFalse, "SchedulingGated", time.Hour)))},
		{name: "unschedulable within grace keeps waiting for the scheduler's verdict", pod: scheduledBy(podWith(corev1.PodPending, "", cond(corev1.PodScheduled, corev1.ConditionFalse, "Unschedulable", time.Minute)), "nope"),
			recheck: true},
		{name: "scheduled, no container started beyond grace", pod: withStatuses(podWith(corev1.PodPending, "n1", cond(corev1.PodScheduled, corev1.ConditionTrue, "", 6*time.Minute)), creating),
			want: itopsv1alpha1.ReasonPodUnschedulable, message: "scheduled to node n1 but no container started after 5m: app waiting (ContainerCreating)"},
		{name: "scheduled, no container status beyond grace", pod: podWith(corev1.PodPending, "n1", cond(corev1.PodScheduled, corev1.ConditionTrue, "", 6*time.Minute)),
			want: itopsv1alpha1.ReasonPodUnschedulable, message: "scheduled to node n1 but no container started after 5m: the kubelet has reported no container status"},
		{name: "scheduled, not started, within grace from scheduling", pod: withStatuses(podWith(corev1.PodPending, "n1", cond(corev1.PodScheduled, corev1.ConditionTrue, "", 2*time.Minute)), creating),
			recheck: true, recheckIn: 3 * time.Minute},
		{name: "scheduled, image pull failing: PodProblems says it", pod: withStatuses(podWith(corev1.PodPending, "n1", cond(corev1.PodScheduled, corev1.ConditionTrue, "", 6*time.Minute)),
			corev1.ContainerStatus{Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff"}}})},
		{name: "scheduled, init container ran: the container reasons judge it", pod: withInit(withStatuses(podWith(corev1.PodPending, "n1", cond(corev1.PodScheduled, corev1.ConditionTrue, "", 6*time.Minute)), creating),
			corev1.ContainerStatus{Name: "init", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}})},
		{name: "creating without mount events", pod: withStatuses(podWith(corev1.PodPending, "n1", cond(corev1.PodScheduled, corev1.ConditionTrue, "", 6*time.Minute)), creating),
			want: itopsv1alpha1.ReasonPodUnschedulable, message: "no container started"},
		{name: "mount failing within grace", pod: withStatuses(podWith(corev1.PodPending, "n1", cond(corev1.PodScheduled, corev1.ConditionTrue, "", time.Minute)), creating),
			events: []Event{mount}, recheck: true},
		{name: "mount failing beyond grace", pod: withStatuses(podWith(corev1.PodPending, "n1", cond(corev1.PodScheduled, corev1.ConditionTrue, "", 6*time.Minute)), creating),
			events: []Event{mount}, want: itopsv1alpha1.ReasonVolumeMountFailed, message: `FailedMount (4 times): MountVolume.SetUp failed for volume "data"`, recheck: true},
		{name: "sandbox failing beyond grace", pod: withStatuses(podWith(corev1.PodPending, "n1", cond(corev1.PodScheduled, corev1.ConditionTrue, "", 6*time.Minute)), creating),
			events: []Event{sandbox}, want: itopsv1alpha1.ReasonVolumeMountFailed, message: "FailedCreatePodSandBox (7 times)", recheck: true},
		{name: "mount event too old: only the pending rule", pod: withStatuses(podWith(corev1.PodPending, "n1", cond(corev1.PodScheduled, corev1.ConditionTrue, "", time.Hour)), creating),
			events: []Event{podEvent(EventFailedMount, "x", 1, 20*time.Minute)}, want: itopsv1alpha1.ReasonPodUnschedulable, message: "no container started"},
		{name: "mounted since: running clears", pod: running(), events: []Event{mount}},
		{name: "not ready within grace", pod: podWith(corev1.PodRunning, "n1", cond(corev1.PodReady, corev1.ConditionFalse, "ContainersNotReady", time.Minute)),
			events: []Event{readiness}, recheck: true},
		{name: "not ready beyond grace, probes failing", pod: podWith(corev1.PodRunning, "n1", cond(corev1.PodReady, corev1.ConditionFalse, "ContainersNotReady", 6*time.Minute)),
			events: []Event{readiness}, want: itopsv1alpha1.ReasonProbeFailing, message: "Readiness probe failed: HTTP probe failed with statuscode: 503 (30 times)", recheck: true},
		{name: "not ready without probe events", pod: podWith(corev1.PodRunning, "n1", cond(corev1.PodReady, corev1.ConditionFalse, "ContainersNotReady", 6*time.Minute))},
		{name: "ready again: probe failing clears", pod: running(), events: []Event{readiness}},
		{name: "liveness kills, repeatedly", pod: withStatuses(running(), killed(2, time.Minute, 137, "Error")), events: []Event{liveness},
			want: itopsv1alpha1.ReasonContainerRestarting, message: "container app killed by the kubelet after failing its liveness probe (exit code 137, 2 restarts, 9 probe failures)", recheck: true},
		{name: "one liveness kill is not repeated", pod: withStatuses(running(), killed(1, time.Minute, 137, "Error")), events: []Event{liveness}},
		{name: "OOM kill is not a liveness kill", pod: withStatuses(running(), killed(2, time.Minute, 137, "OOMKilled")), events: []Event{liveness}},
		{name: "liveness kill of another container", pod: withStatuses(running(), killed(2, time.Minute, 137, "Error")),
			events: []Event{func() Event { e := liveness; e.FieldPath = "spec.containers{sidecar}"; return e }()}},
		{name: "restart rate: 4 in 12 minutes", pod: withStatuses(started(running(), 12*time.Minute), killed(4, time.Minute, 1, "Error")),
			want: itopsv1alpha1.ReasonContainerRestarting, message: "container app restarted 4 times since", recheck: true},
		{name: "restart rate too low: 3 in a day", pod: withStatuses(started(running(), 24*time.Hour), killed(3, time.Minute, 1, "Error"))},
		{name: "restarts long ago clear", pod: withStatuses(started(running(), 30*time.Minute), killed(5, 15*time.Minute, 1, "Error"))},
		// Observed restart counts (RestartHistory): the rule for pods older than the window.
		{name: "old pod rising 3 in 10m", pod: withStatuses(started(running(), 2*time.Hour), killed(13, time.Minute, 1, "Error")),
			restarts: map[string][]RestartSample{"app": {{10, now.Add(-time.Hour)}, {11, now.Add(-8 * time.Minute)}, {13, now.Add(-time.Minute)}}},
			want:     itopsv1alpha1.ReasonContainerRestarting, message: "container app restarted 3 times in the last 10m (13 in all; last: Error, exit code 1)", recheck: true},
		{name: "old pod rising 2 in 10m", pod: withStatuses(started(running(), 2*time.Hour), killed(12, time.Minute, 1, "Error")),
			restarts: map[string][]RestartSample{"app": {{10, now.Add(-time.Hour)}, {11, now.Add(-8 * time.Minute)}, {12, now.Add(-time.Minute)}}}},
		{name: "old pod, 50 restarts long ago, none recent", pod: withStatuses(started(running(), 48*time.Hour), killed(50, 20*time.Hour, 1, "Error")),
			restarts: map[string][]RestartSample{"app": {{50, now.Add(-time.Hour)}}}},
		{name: "rise left the window: clears", pod: withStatuses(started(running(), 2*time.Hour), killed(13, 11*time.Minute, 1, "Error")),
			restarts: map[string][]RestartSample{"app": {{10, now.Add(-time.Hour)}, {13, now.Add(-11 * time.Minute)}}}},
		{name: "operator restarted: no history for an old pod", pod: withStatuses(started(running(), 2*time.Hour), killed(5, time.Minute, 1, "Error")),
			restarts: map[string][]RestartSample{"app": {{5, now.Add(-time.Minute)}}}},
		{name: "operator restarted: history within the window rises 3", pod: withStatuses(started(running(), 2*time.Hour), killed(8, time.Minute, 1, "Error")),
			restarts: map[string][]RestartSample{"app": {{5, now.Add(-6 * time.Minute)}, {8, now.Add(-time.Minute)}}},
			want:     itopsv1alpha1.ReasonContainerRestarting, message: "restarted 3 times in the last 10m", recheck: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, recheck := PodEventProblems(tc.pod, tc.events, tc.restarts, now, th)
			if reasons(got) != tc.want {
				t.Fatalf("reasons = %q, want %q (%+v)", reasons(got), tc.want, got)
			}
			if tc.message != "" && !strings.Contains(got[0].Message, tc.message) {
				t.Errorf("message = %q, want it to contain %q", got[0].Message, tc.message)
			}
			if tc.recheck != !recheck.IsZero() || (!recheck.IsZero() && !recheck.After(now)) {
				t.Errorf("recheck = %v, want one: %v", recheck, tc.recheck)
			}
			if tc.recheckIn != 0 && !recheck.Equal(now.Add(tc.recheckIn)) {
				t.Errorf("recheck = %v, want %v", recheck, now.Add(tc.recheckIn))
			}
		})
	}
}

func TestPodProblemsContainerStartErrors(t *testing.T) {
	for _, reason := range []string{"CreateContainerError", "RunContainerError", "PreStartHookError"} {
		young := withStatuses(podWith(corev1.PodPending, "n1"), waiting("app", reason, 0))
		young.CreationTimestamp = ago(10 * time.Second)
		if got := PodProblems(young, now, DefaultThresholds); len(got) != 0 {
			t.Errorf("%s within start-up grace: %+v", reason, got)
		}
		old := withStatuses(podWith(corev1.PodPending, "n1"), waiting("app", reason, 0))
		if got := reasons(PodProblems(old, now, DefaultThresholds)); got != reason {
			t.Errorf("%s beyond grace: reasons %q", reason, got)
		}
		if got := PodProblems(withStatuses(podWith(corev1.PodRunning, "n1"), corev1.ContainerStatus{Name: "app",
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}), now, DefaultThresholds); len(got) != 0 {
			t.Errorf("%s cleared: %+v", reason, got)
		}
		if PriorityFor(reason, false) != itopsv1alpha1.PriorityP3 {
			t.Errorf("%s priority = %s", reason, PriorityFor(reason, false))
		}
	}
}

func TestPodCreationFailedProblem(t *testing.T) {
	quota := func(count int32, first, last time.Duration) Event {
		return Event{Kind: "ReplicaSet", Name: "web-7d9f", Reason: EventFailedCreate, Count: count, FirstSeen: now.Add(-first), LastSeen: now.Add(-last),
			Message: `pods "web-7d9f-x" is forbidden: exceeded quota: pods, requested: pods=1, used: pods=0, limited: pods=0`}
	}
	tests := []struct {
		name    string
		f       CreationFailure
		want    bool
		recheck bool
	}{
		{name: "no events", f: CreationFailure{Kind: "Deployment", Name: "web"}},
		{name: "once, a moment ago: within grace", f: CreationFailure{Kind: "Deployment", Name: "web", Events: []Event{quota(1, 10*time.Second, 10*time.Second)}}, recheck: true},
		{name: "repeated", f: CreationFailure{Kind: "Deployment", Name: "web", Events: []Event{quota(3, 20*time.Second, time.Second)}}, want: true, recheck: true},
		{name: "persisting", f: CreationFailure{Kind: "Deployment", Name: "web", Events: []Event{quota(1, 2*time.Minute, 2*time.Minute)}}, want: true, recheck: true},
		{name: "overcome: all pods exist", f: CreationFailure{Kind: "Deployment", Name: "web", Satisfied: true, Events: []Event{quota(9, time.Hour, time.Second)}}},
		{name: "old event clears", f: CreationFailure{Kind: "Deployment", Name: "web", Events: []Event{quota(9, time.Hour, 30*time.Minute)}}},
		{name: "other reasons ignored", f: CreationFailure{Kind: "Job", Name: "j", Events: []Event{{Kind: "Job", Name: "j", Reason: "BackoffLimitExceeded", Count: 5, FirstSeen: now.Add(-time.Hour), LastSeen: now}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, recheck := PodCreationFailedProblem(tc.f, now, DefaultThresholds)
			if (p != nil) != tc.want {
				t.Fatalf("problem = %+v, want one: %v", p, tc.want)
			}
			if p != nil && (p.Reason != itopsv1alpha1.ReasonPodCreationFailed || !strings.Contains(p.Message, "exceeded quota") ||
				!strings.HasPrefix(p.Message, "deployment web cannot create pods")) {
				t.Errorf("problem = %+v", p)
			}
			if tc.recheck != !recheck.IsZero() {
				t.Errorf("recheck = %v, want one: %v", recheck, tc.recheck)
			}
		})
	}
}

func TestNodeConditionProblem(t *testing.T) {
	node := func(conds ...corev1.NodeCondition) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "worker-1"}, Status: corev1.NodeStatus{Conditions: conds}}
	}
	c := func(typ string, s corev1.ConditionStatus, since time.Duration) corev1.NodeCondition {
		return corev1.NodeCondition{Type: corev1.NodeConditionType(typ), Status: s, Reason: typ + "Reason", Message: "detail", LastTransitionTime: ago(since)}
	}
	healthy := make([]corev1.NodeCondition, 0, 6)
	healthy = append(healthy, c("Ready", corev1.ConditionTrue, time.Hour), c("MemoryPressure", corev1.ConditionFalse, time.Hour),
		c("NetworkUnavailable", corev1.ConditionFalse, time.Hour), c("KernelDeadlock", corev1.ConditionFalse, time.Hour))
	ignoring := DefaultThresholds
	ignoring.NodeConditionsIgnored = []string{"VendorMaintenanceScheduled"}
	tests := []struct {
		name    string
		node    *corev1.Node
		t       Thresholds
		want    string
		recheck bool
	}{
		{name: "healthy", node: node(healthy...)},
		{name: "pressure and NotReady are judged elsewhere", node: node(c("Ready", corev1.ConditionFalse, time.Hour), c("DiskPressure", corev1.ConditionTrue, time.Hour))},
		{name: "network unavailable within grace", node: node(c("NetworkUnavailable", corev1.ConditionTrue, 10*time.Second)), recheck: true},
		{name: "network unavailable", node: node(c("NetworkUnavailable", corev1.ConditionTrue, time.Minute)), want: "NetworkUnavailable (NetworkUnavailableReason): detail"},
		{name: "node problem detector conditions", node: node(append(healthy, c("ReadonlyFilesystem", corev1.ConditionTrue, time.Hour), c("KernelDeadlock", corev1.ConditionTrue, time.Hour))...),
			want: "KernelDeadlock (KernelDeadlockReason): detail; ReadonlyFilesystem (ReadonlyFilesystemReason): detail"},
		{name: "unknown is not a fault", node: node(c("FrequentKubeletRestart", corev1.ConditionUnknown, time.Hour))},
		{name: "allow-listed type ignored", node: node(c("VendorMaintenanceScheduled", corev1.ConditionTrue, time.Hour)), t: ignoring},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			th := tc.t
			if th.RestartThreshold == 0 {
				th = DefaultThresholds
			}
			p, recheck := NodeConditionProblem(tc.node, now, th)
			switch {
			case tc.want == "" && p != nil:
				t.Fatalf("problem = %+v", p)
			case tc.want != "" && (p == nil || p.Reason != itopsv1alpha1.ReasonNodeCondition || p.Message != "node worker-1 reports "+tc.want):
				t.Fatalf("problem = %+v, want message %q", p, tc.want)
			}
			if tc.recheck != !recheck.IsZero() {
				t.Errorf("recheck = %v, want one: %v", recheck, tc.recheck)
			}
		})
	}
}

func TestEvidence(t *testing.T) {
	pod := withStatuses(podWith(corev1.PodRunning, "worker-1"),
		corev1.ContainerStatus{Name: "sidecar", Ready: true, Image: "proxy:2",
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", FinishedAt: ago(time.Minute)}}},
		corev1.ContainerStatus{Name: "app", Ready: false, Image: "web:1", RestartCount: 3,
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "Error",
				Message: strings.Repeat("x", 2000), FinishedAt: ago(2 * time.Minute)}}})
	var events []Event
	for i := 0; i < 14; i++ {
		events = append(events, Event{Kind: "Pod", Name: "web-1", Reason: "Unhealthy", Message: "Liveness probe failed " + string(rune('a'+i)), Count: 1,
			FirstSeen: now.Add(-time.Hour), LastSeen: now.Add(-time.Duration(i) * time.Minute)})
	}
	events = append(events, Event{Kind: "Node", Name: "worker-1", Reason: "Unhealthy", Message: "Liveness probe failed a", Count: 2, LastSeen: now.Add(-30 * time.Second)},
		Event{Kind: "Pod", Name: "web-1", Reason: "Unhealthy", Message: "Liveness probe failed a", Count: 4, LastSeen: now.Add(-time.Hour)})
	ev := Evidence(pod, events, now)
	if ev.Pod != "web-1" || ev.Node != "worker-1" || ev.Image != "web:1" {
		t.Errorf("pod, node, image = %q %q %q", ev.Pod, ev.Node, ev.Image)
	}
	lt := ev.LastTermination
	if lt == nil || lt.Container != "app" || lt.ExitCode != 137 || lt.Signal != 9 || lt.Reason != "Error" || len(lt.Message) > itopsv1alpha1.MaxEvidenceMessage {
		t.Errorf("last termination = %+v", lt)
	}
	if len(ev.Events) != itopsv1alpha1.MaxEvidenceEvents {
		t.Fatalf("events = %d, want the bound %d", len(ev.Events), itopsv1alpha1.MaxEvidenceEvents)
	}
	if e := ev.Events[0]; e.Object != "Pod/web-1" || e.Message != "Liveness probe failed a" || e.Count != 5 {
		t.Errorf("most recent, deduplicated with counts: %+v", e)
	}
	if e := ev.Events[1]; e.Object != "Node/worker-1" {
		t.Errorf("second = %+v, want the node's event", e)
	}
	if Evidence(nil, nil, now) != nil {
		t.Error("no pod and no events: no evidence")
	}
}

func TestEventFrom(t *testing.T) {
	series := &corev1.Event{InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "p"}, Reason: "Unhealthy",
		EventTime: metav1.NewMicroTime(now.Add(-time.Hour)),
		Series:    &corev1.EventSeries{Count: 12, LastObservedTime: metav1.NewMicroTime(now.Add(-time.Minute))}}
	if e := EventFrom(series); e.Count != 12 || !e.FirstSeen.Equal(now.Add(-time.Hour)) || !e.LastSeen.Equal(now.Add(-time.Minute)) {
		t.Errorf("events.k8s.io series: %+v", e)
	}
	legacy := &corev1.Event{InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "p"}, FirstTimestamp: ago(time.Hour), LastTimestamp: ago(time.Second), Count: 3}
	if e := EventFrom(legacy); e.Count != 3 || !e.LastSeen.Equal(now.Add(-time.Second)) {
		t.Errorf("core/v1 counts: %+v", e)
	}
}

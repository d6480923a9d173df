package health

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

var now = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

func ago(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }

func reasons(ps []Problem) string {
	r := make([]string, 0, len(ps))
	for _, p := range ps {
		r = append(r, p.Reason)
	}
	return strings.Join(r, ",")
}

func waiting(name, reason string, restarts int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, RestartCount: restarts,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: "back-off 40s\nmore"}}}
}

func TestPodProblems(t *testing.T) {
	oom := corev1.ContainerStatus{Name: "app", RestartCount: 2,
		State:                corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled", FinishedAt: ago(time.Minute)}}}
	oldOOM := oom.DeepCopy()
	oldOOM.LastTerminationState.Terminated.FinishedAt = ago(time.Hour)
	tests := []struct {
		name      string
		statuses  []corev1.ContainerStatus
		init      []corev1.ContainerStatus
		deleting  bool
		want      string
		wantInMsg string
	}{
		{name: "healthy", statuses: []corev1.ContainerStatus{{Name: "app", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}},
		{name: "merely starting", statuses: []corev1.ContainerStatus{waiting("app", "ContainerCreating", 0)}},
		{name: "crash loop on first observation", statuses: []corev1.ContainerStatus{waiting("app", "CrashLoopBackOff", 1)}, want: "CrashLoopBackOff", wantInMsg: "container app: CrashLoopBackOff"},
		{name: "image pull", statuses: []corev1.ContainerStatus{waiting("app", "ErrImagePull", 0)}, want: "ImagePullBackOff"},
		{name: "image pull back-off", statuses: []corev1.ContainerStatus{waiting("app", "ImagePullBackOff", 0)}, want: "ImagePullBackOff"},
		{name: "config error", statuses: []corev1.ContainerStatus{waiting("app", "CreateContainerConfigError", 0)}, want: "CreateContainerConfigError"},
		{name: "init container crash loop", init: []corev1.ContainerStatus{waiting("migrate", "CrashLoopBackOff", 3)}, want: "CrashLoopBackOff", wantInMsg: "container migrate"},
		{name: "recent OOM kill", statuses: []corev1.ContainerStatus{oom}, want: "OOMKilled", wantInMsg: "OOMKilled at 2026-11-24T09:59:00Z"},
		{name: "old OOM kill is history", statuses: []corev1.ContainerStatus{*oldOOM}},
		{name: "two containers, one reason each, sorted", statuses: []corev1.ContainerStatus{waiting("a", "CrashLoopBackOff", 1), waiting("b", "ImagePullBackOff", 0), waiting("c", "CrashLoopBackOff", 4)},
			want: "CrashLoopBackOff,ImagePullBackOff", wantInMsg: "container a: CrashLoopBackOff; container c: CrashLoopBackOff"},
		{name: "running between two crashes only sustains", statuses: []corev1.ContainerStatus{{Name: "app", RestartCount: 5,
			State:                corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, FinishedAt: ago(30 * time.Second)}}}},
			want: "CrashLoopBackOff", wantInMsg: "container app: restarting after exit code 1"},
		{name: "a failure long ago is history", statuses: []corev1.ContainerStatus{{Name: "app", RestartCount: 1,
			State:                corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, FinishedAt: ago(time.Hour)}}}}},
		{name: "terminating pods are not judged", statuses: []corev1.ContainerStatus{waiting("app", "CrashLoopBackOff", 1)}, deleting: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: ago(time.Hour)},
				Status: corev1.PodStatus{ContainerStatuses: tt.statuses, InitContainerStatuses: tt.init}}
			if tt.deleting {
				pod.DeletionTimestamp = ptr.To(ago(0))
			}
			got := PodProblems(pod, now, DefaultThresholds)
			if reasons(got) != tt.want {
				t.Fatalf("reasons = %q, want %q", reasons(got), tt.want)
			}
			if tt.wantInMsg != "" && !strings.Contains(got[0].Message, tt.wantInMsg) {
				t.Errorf("message %q does not contain %q", got[0].Message, tt.wantInMsg)
			}
		})
	}
}

func TestSustainAndRecheck(t *testing.T) {
	pod := &corev1.Pod{Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "app", RestartCount: 5,
		State:                corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, FinishedAt: ago(time.Minute)}}}}}}
	if got := PodProblems(pod, now, DefaultThresholds); len(got) != 1 || !got[0].Sustain {
		t.Errorf("problems = %+v, want one sustaining crash loop", got)
	}
	if got, want := PodRecheck(pod, now, DefaultThresholds), now.Add(9*time.Minute); !got.Equal(want) {
		t.Errorf("recheck = %s, want %s", got, want)
	}
	waiting := pod.DeepCopy()
	waiting.Status.ContainerStatuses[0].State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}
	if got := PodProblems(waiting, now, DefaultThresholds); len(got) != 1 || got[0].Sustain {
		t.Errorf("problems = %+v, want one crash loop that opens incidents", got)
	}
}

func TestStartupGrace(t *testing.T) {
	young := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: ago(20 * time.Second)},
		Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{waiting("app", "CreateContainerConfigError", 0)}}}
	if got := PodProblems(young, now, DefaultThresholds); len(got) != 0 {
		t.Errorf("a pod 20s old waiting for its Secret: %+v, want none yet", got)
	}
	if got, want := PodRecheck(young, now, DefaultThresholds), now.Add(40*time.Second); !got.Equal(want) {
		t.Errorf("recheck = %s, want the end of the start-up grace %s", got, want)
	}
	young.Status.ContainerStatuses = []corev1.ContainerStatus{waiting("app", "CrashLoopBackOff", 1)}
	if got := PodProblems(young, now, DefaultThresholds); len(got) != 1 {
		t.Errorf("a young crash-looping pod: %+v, want a problem at once", got)
	}
}

func TestOOMKillExpiry(t *testing.T) {
	pod := &corev1.Pod{Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled", FinishedAt: ago(time.Minute)}},
	}}}}
	if got, want := OOMKillExpiry(pod, now, DefaultThresholds), now.Add(9*time.Minute); !got.Equal(want) {
		t.Errorf("expiry = %s, want %s", got, want)
	}
	if got := OOMKillExpiry(pod, now.Add(time.Hour), DefaultThresholds); !got.IsZero() {
		t.Errorf("expiry after the window = %s, want zero", got)
	}
}

func TestNodeProblems(t *testing.T) {
	cond := func(typ corev1.NodeConditionType, st corev1.ConditionStatus, age time.Duration) corev1.NodeCondition {
		return corev1.NodeCondition{Type: typ, Status: st, LastTransitionTime: ago(age), Reason: "KubeletNotReady"}
	}
	tests := []struct {
		name        string
		conds       []corev1.NodeCondition
		want        string
		wantRecheck time.Time
	}{
		{name: "ready", conds: []corev1.NodeCondition{cond(corev1.NodeReady, corev1.ConditionTrue, time.Hour)}},
		{name: "not ready beyond grace", conds: []corev1.NodeCondition{cond(corev1.NodeReady, corev1.ConditionFalse, time.Minute)}, want: "NodeNotReady"},
		{name: "unknown beyond grace", conds: []corev1.NodeCondition{cond(corev1.NodeReady, corev1.ConditionUnknown, time.Minute)}, want: "NodeNotReady"},
		{name: "not ready within grace", conds: []corev1.NodeCondition{cond(corev1.NodeReady, corev1.ConditionFalse, 10*time.Second)}, wantRecheck: now.Add(30 * time.Second)},
		{name: "memory and disk pressure make one problem", conds: []corev1.NodeCondition{
			cond(corev1.NodeReady, corev1.ConditionTrue, time.Hour), cond(corev1.NodeMemoryPressure, corev1.ConditionTrue, time.Minute),
			cond(corev1.NodeDiskPressure, corev1.ConditionTrue, 2*time.Minute), cond(corev1.NodePIDPressure, corev1.ConditionFalse, time.Hour),
		}, want: "NodePressure"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Status: corev1.NodeStatus{Conditions: tt.conds}}
			got, recheck := NodeProblems(node, now, DefaultThresholds)
			if reasons(got) != tt.want {
				t.Errorf("reasons = %q, want %q", reasons(got), tt.want)
			}
			if !recheck.Equal(tt.wantRecheck) {
				t.Errorf("recheck = %s, want %s", recheck, tt.wantRecheck)
			}
		})
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Status: corev1.NodeStatus{Conditions: tests[4].conds}}
	got, _ := NodeProblems(node, now, DefaultThresholds)
	if got[0].Message != "node n1 reports MemoryPressure, DiskPressure" || !got[0].Since.Equal(now.Add(-2*time.Minute)) {
		t.Errorf("pressure problem = %+v", got[0])
	}
}

func TestDeploymentProblems(t *testing.T) {
	dep := func(replicas int32, conds ...appsv1.DeploymentCondition) *appsv1.Deployment {
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: appsv1.DeploymentSpec{Replicas: &replicas},
			Status: appsv1.DeploymentStatus{Conditions: conds}}
	}
	unavailable := appsv1.DeploymentCondition{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionFalse,
		Message: "Deployment does not have minimum availability.", LastTransitionTime: ago(10 * time.Minute)}
	starting := unavailable
	starting.LastTransitionTime = ago(time.Minute)
	stuck := appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded"}
	progressing := appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable"}
	tests := []struct {
		name string
		d    *appsv1.Deployment
		want string
	}{
		{"healthy", dep(3, appsv1.DeploymentCondition{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue}, progressing), ""},
		{"unavailable", dep(3, unavailable, progressing), "WorkloadUnavailable"},
		{"scaled to zero is not unavailable", dep(0, unavailable), ""},
		{"stuck rollout", dep(3, stuck), "RolloutStuck"},
		{"both", dep(3, unavailable, stuck), "WorkloadUnavailable,RolloutStuck"},
		{"merely starting (unavailable within the grace period)", dep(3, starting, progressing), ""},
	}
	for _, tt := range tests {
		got, _ := DeploymentProblems(tt.d, now, DefaultThresholds)
		if reasons(got) != tt.want {
			t.Errorf("%s: reasons = %q, want %q", tt.name, reasons(got), tt.want)
		}
	}
	if _, recheck := DeploymentProblems(dep(3, starting), now, DefaultThresholds); !recheck.Equal(now.Add(4 * time.Minute)) {
		t.Errorf("recheck = %s, want the end of the grace period", recheck)
	}
}

func TestShortfallProblem(t *testing.T) {
	tests := []struct {
		name        string
		s           ReplicaShortfall
		want        bool
		wantRecheck time.Time
	}{
		{"all ready", ReplicaShortfall{Kind: "StatefulSet", Name: "db", Ready: 3, Desired: 3}, false, time.Time{}},
		{"short within grace", ReplicaShortfall{Kind: "StatefulSet", Name: "db", Ready: 2, Desired: 3, NotReadyPodSince: now.Add(-time.Minute)}, false, now.Add(4 * time.Minute)},
		{"short beyond grace", ReplicaShortfall{Kind: "DaemonSet", Name: "agent", Ready: 2, Desired: 3, NotReadyPodSince: now.Add(-10 * time.Minute)}, true, time.Time{}},
		{"short with no pod to date it starts the clock now", ReplicaShortfall{Kind: "StatefulSet", Name: "db", Ready: 0, Desired: 1}, false, now.Add(5 * time.Minute)},
		{"within what the DaemonSet tolerates", ReplicaShortfall{Kind: "DaemonSet", Name: "agent", Ready: 9, Desired: 10, Tolerated: 1, NotReadyPodSince: now.Add(-time.Hour)}, false, time.Time{}},
	}
	for _, tt := range tests {
		p, recheck := ShortfallProblem(tt.s, now, DefaultThresholds)
		if (p != nil) != tt.want || !recheck.Equal(tt.wantRecheck) {
			t.Errorf("%s: problem = %v, recheck = %s; want problem %v, recheck %s", tt.name, p, recheck, tt.want, tt.wantRecheck)
		}
		if p != nil && (p.Reason != itopsv1alpha1.ReasonWorkloadUnavailable || p.Message != "daemonset agent has 2 of 3 replicas ready") {
			t.Errorf("%s: problem = %+v", tt.name, p)
		}
	}
}

func TestNotReadySince(t *testing.T) {
	ready := corev1.Pod{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: ago(time.Hour)},
		Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: ago(time.Hour)}}}}
	notReady := corev1.Pod{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: ago(time.Hour)},
		Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: ago(3 * time.Minute)}}}}
	pending := corev1.Pod{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: ago(7 * time.Minute)}}
	if got := NotReadySince([]corev1.Pod{ready}); !got.IsZero() {
		t.Errorf("all ready: %s, want zero", got)
	}
	if got := NotReadySince([]corev1.Pod{ready, notReady, pending}); !got.Equal(now.Add(-7 * time.Minute)) {
		t.Errorf("since = %s, want the pending pod's creation", got)
	}
}

func TestJobProblems(t *testing.T) {
	j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "backup"}, Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{
		{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit"},
	}}}
	got := JobProblems(j)
	if reasons(got) != "JobFailed" || got[0].Message != "job backup failed: BackoffLimitExceeded: Job has reached the specified backoff limit" {
		t.Errorf("problems = %+v", got)
	}
	if got := JobProblems(&batchv1.Job{}); len(got) != 0 {
		t.Errorf("running job: %+v", got)
	}
}

func TestVolumeClaimProblems(t *testing.T) {
	pvc := func(phase corev1.PersistentVolumeClaimPhase, age time.Duration) *corev1.PersistentVolumeClaim {
		return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data", CreationTimestamp: ago(age)},
			Status: corev1.PersistentVolumeClaimStatus{Phase: phase}}
	}
	tests := []struct {
		name        string
		pvc         *corev1.PersistentVolumeClaim
		want        string
		wantRecheck time.Time
	}{
		{"bound", pvc(corev1.ClaimBound, time.Hour), "", time.Time{}},
		{"pending within grace", pvc(corev1.ClaimPending, time.Minute), "", now.Add(4 * time.Minute)},
		{"pending beyond grace", pvc(corev1.ClaimPending, 6*time.Minute), "VolumeClaimPending", time.Time{}},
		{"lost", pvc(corev1.ClaimLost, time.Hour), "VolumeClaimLost", time.Time{}},
	}
	for _, tt := range tests {
		got, recheck := VolumeClaimProblems(tt.pvc, now, DefaultThresholds)
		if reasons(got) != tt.want || !recheck.Equal(tt.wantRecheck) {
			t.Errorf("%s: reasons %q recheck %s; want %q, %s", tt.name, reasons(got), recheck, tt.want, tt.wantRecheck)
		}
	}
}

func TestTruncate(t *testing.T) {
	if got := Truncate("üïcödé", 6); got != "ü..." {
		t.Errorf("Truncate = %q, want a cut on a rune boundary", got)
	}
	if got := Truncate("short", 10); got != "short" {
		t.Errorf("Truncate = %q", got)
	}
}

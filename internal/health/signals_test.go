package health

import (
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func sig(reason string, active bool) itopsv1alpha1.Signal {
	return itopsv1alpha1.Signal{Reason: reason, Active: active, Count: 1, Since: metav1.NewTime(t0), LastSeenAt: metav1.NewTime(t0),
		Priority: PriorityFor(reason, false)}
}

func TestMostSpecific(t *testing.T) {
	tests := []struct {
		name    string
		signals []itopsv1alpha1.Signal
		want    string
	}{
		{"none", nil, ""},
		{"OOM kill explains the crash loop", []itopsv1alpha1.Signal{sig("CrashLoopBackOff", true), sig("OOMKilled", true)}, "OOMKilled"},
		{"crash loop explains unavailability", []itopsv1alpha1.Signal{sig("WorkloadUnavailable", true), sig("CrashLoopBackOff", true)}, "CrashLoopBackOff"},
		{"image pull explains a stuck rollout", []itopsv1alpha1.Signal{sig("RolloutStuck", true), sig("ImagePullBackOff", true), sig("WorkloadUnavailable", true)}, "ImagePullBackOff"},
		{"config error explains a stuck rollout", []itopsv1alpha1.Signal{sig("RolloutStuck", true), sig("CreateContainerConfigError", true)}, "CreateContainerConfigError"},
		{"stuck rollout over unavailability", []itopsv1alpha1.Signal{sig("WorkloadUnavailable", true), sig("RolloutStuck", true)}, "RolloutStuck"},
		{"an active signal beats a more specific cleared one", []itopsv1alpha1.Signal{sig("OOMKilled", false), sig("WorkloadUnavailable", true)}, "WorkloadUnavailable"},
		{"all cleared: the most specific of them", []itopsv1alpha1.Signal{sig("WorkloadUnavailable", false), sig("OOMKilled", false)}, "OOMKilled"},
		{"custom reasons rank last", []itopsv1alpha1.Signal{sig("ArgoApplicationDegraded", true), sig("WorkloadUnavailable", true)}, "WorkloadUnavailable"},
		{"ties by name", []itopsv1alpha1.Signal{sig("OOMKilled", true), sig("ImagePullBackOff", true)}, "ImagePullBackOff"},
	}
	for _, tt := range tests {
		if got := MostSpecific(tt.signals); got != tt.want {
			t.Errorf("%s: MostSpecific = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestSignalsPriority(t *testing.T) {
	tests := []struct {
		name    string
		signals []itopsv1alpha1.Signal
		want    itopsv1alpha1.Priority
	}{
		{"none", nil, ""},
		{"highest active signal", []itopsv1alpha1.Signal{sig("OOMKilled", true), sig("CrashLoopBackOff", true)}, "P2"},
		{"unavailability is P1", []itopsv1alpha1.Signal{sig("CrashLoopBackOff", true), sig("WorkloadUnavailable", true)}, "P1"},
		{"a cleared signal no longer counts", []itopsv1alpha1.Signal{sig("CrashLoopBackOff", true), sig("WorkloadUnavailable", false)}, "P2"},
		{"all cleared: the highest of them", []itopsv1alpha1.Signal{sig("OOMKilled", false), sig("CrashLoopBackOff", false)}, "P2"},
	}
	for _, tt := range tests {
		if got := SignalsPriority(tt.signals); got != tt.want {
			t.Errorf("%s: SignalsPriority = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestMergeSignals(t *testing.T) {
	pods := []string{"CrashLoopBackOff", "OOMKilled"}
	crash := Problem{Reason: "CrashLoopBackOff", Message: "1 of 3 pods crash", Since: t0.Add(-time.Minute)}
	oom := Problem{Reason: "OOMKilled", Message: "OOMKilled"}
	sustain := Problem{Reason: "CrashLoopBackOff", Message: "running between crashes", Sustain: true}
	later := t0.Add(30 * time.Second)
	tests := []struct {
		name        string
		current     []itopsv1alpha1.Signal
		judged      []string
		problems    []Problem
		now         time.Time
		wantActive  map[string]bool
		wantCount   map[string]int32
		wantStarted []string
		wantCleared []string
		wantChanged bool
	}{
		{name: "first problems start signals", judged: pods, problems: []Problem{crash, oom}, now: t0,
			wantActive: map[string]bool{"CrashLoopBackOff": true, "OOMKilled": true}, wantCount: map[string]int32{"CrashLoopBackOff": 1, "OOMKilled": 1},
			wantStarted: []string{"CrashLoopBackOff", "OOMKilled"}, wantChanged: true},
		{name: "an unchanged problem within a minute changes nothing", current: []itopsv1alpha1.Signal{{Reason: "CrashLoopBackOff", Active: true, Count: 1,
			Message: crash.Message, LastSeenAt: metav1.NewTime(t0), Priority: "P2"}}, judged: pods, problems: []Problem{crash}, now: later,
			wantActive: map[string]bool{"CrashLoopBackOff": true}, wantCount: map[string]int32{"CrashLoopBackOff": 1}},
		{name: "a cleared signal is kept inactive, not dropped", current: []itopsv1alpha1.Signal{sig("CrashLoopBackOff", true), sig("OOMKilled", true)},
			judged: pods, problems: []Problem{crash}, now: later,
			wantActive: map[string]bool{"CrashLoopBackOff": true, "OOMKilled": false}, wantCount: map[string]int32{"CrashLoopBackOff": 1, "OOMKilled": 1},
			wantCleared: []string{"OOMKilled"}, wantChanged: true},
		{name: "a returning signal counts again", current: []itopsv1alpha1.Signal{sig("OOMKilled", false)}, judged: pods, problems: []Problem{oom}, now: later,
			wantActive: map[string]bool{"OOMKilled": true}, wantCount: map[string]int32{"OOMKilled": 2}, wantStarted: []string{"OOMKilled"}, wantChanged: true},
		{name: "sustaining evidence keeps an active signal", current: []itopsv1alpha1.Signal{sig("CrashLoopBackOff", true)}, judged: pods,
			problems: []Problem{sustain}, now: later, wantActive: map[string]bool{"CrashLoopBackOff": true}, wantCount: map[string]int32{"CrashLoopBackOff": 1}, wantChanged: true},
		{name: "sustaining evidence starts nothing", judged: pods, problems: []Problem{sustain}, now: later, wantActive: map[string]bool{}},
		{name: "signals of reasons another detector judges are left alone", current: []itopsv1alpha1.Signal{sig("WorkloadUnavailable", true)},
			judged: pods, problems: nil, now: later, wantActive: map[string]bool{"WorkloadUnavailable": true}, wantCount: map[string]int32{"WorkloadUnavailable": 1}},
	}
	for _, tt := range tests {
		got := MergeSignals(tt.current, tt.judged, tt.problems, false, tt.now)
		if len(got.Signals) != len(tt.wantActive) {
			t.Errorf("%s: %d signals, want %d: %+v", tt.name, len(got.Signals), len(tt.wantActive), got.Signals)
			continue
		}
		for _, s := range got.Signals {
			if s.Active != tt.wantActive[s.Reason] || s.Count != tt.wantCount[s.Reason] {
				t.Errorf("%s: signal %s active=%v count=%d, want %v %d", tt.name, s.Reason, s.Active, s.Count, tt.wantActive[s.Reason], tt.wantCount[s.Reason])
			}
		}
		if got.Changed != tt.wantChanged || len(got.Started) != len(tt.wantStarted) || len(got.Cleared) != len(tt.wantCleared) {
			t.Errorf("%s: changed=%v started=%v cleared=%v, want %v %v %v", tt.name, got.Changed, got.Started, got.Cleared,
				tt.wantChanged, tt.wantStarted, tt.wantCleared)
		}
	}
	first := MergeSignals(nil, pods, []Problem{crash}, true, t0).Signals[0]
	if !first.Since.Time.Equal(crash.Since) || first.Priority != "P1" {
		t.Errorf("since=%s priority=%s; want the problem's start and a ServiceLevel's raised priority", first.Since, first.Priority)
	}
	many := make([]itopsv1alpha1.Signal, 0, 20)
	judged := make([]string, 0, 20)
	problems := make([]Problem, 0, 20)
	for i := range 20 {
		r := "Custom" + string(rune('A'+i))
		judged = append(judged, r)
		problems = append(problems, Problem{Reason: r})
	}
	if got := MergeSignals(many, judged, problems, false, t0); len(got.Signals) != itopsv1alpha1.MaxSignals {
		t.Errorf("signals = %d, want bounded at %d", len(got.Signals), itopsv1alpha1.MaxSignals)
	}
}

func TestNodeCause(t *testing.T) {
	pod := func(name, node string, ready bool) corev1.Pod {
		status := corev1.ConditionFalse
		if ready {
			status = corev1.ConditionTrue
		}
		return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{NodeName: node},
			Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}}}
	}
	unschedulable := func(name, message string) corev1.Pod {
		p := pod(name, "", false)
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
			Reason: corev1.PodReasonUnschedulable, Message: message})
		return p
	}
	down := func(node string) *itopsv1alpha1.IncidentReference {
		if node == "n1" || node == "n2" {
			return &itopsv1alpha1.IncidentReference{Kind: "Incident", Namespace: "itops-cluster", Name: "node-" + node}
		}
		return nil
	}
	tests := []struct {
		name      string
		pods      []corev1.Pod
		wantCause string
	}{
		{"every not-ready pod on a NotReady node: the node explains it", []corev1.Pod{pod("a", "n2", false), pod("b", "n1", false), pod("c", "n3", true)}, "node-n1"},
		{"a not-ready pod on a healthy node: a problem of its own", []corev1.Pod{pod("a", "n1", false), pod("b", "n3", false)}, ""},
		{"all pods ready: nothing to explain", []corev1.Pod{pod("a", "n1", true)}, ""},
		{"an unscheduled pod is not explained by nodes", []corev1.Pod{pod("a", "", false)}, ""},
		{"a replacement the scheduler cannot place because nodes are unreachable: capacity lost", []corev1.Pod{unschedulable("a", "0/4 nodes are available: 3 node(s) had untolerated taint {node.kubernetes.io/unreachable: }")}, "node-n1"},
		{"evicted replacements and a pod on a NotReady node: the node", []corev1.Pod{pod("a", "n2", false), unschedulable("b", "0/4 nodes are available: 3 node(s) had untolerated taint {node.kubernetes.io/not-ready: }")}, "node-n2"},
		{"unschedulable for another reason (resources)", []corev1.Pod{unschedulable("a", "0/4 nodes are available: 4 Insufficient cpu")}, ""},
		{"no pods", nil, ""},
	}
	capacityLost := &itopsv1alpha1.IncidentReference{Kind: "Incident", Namespace: "itops-cluster", Name: "node-n1"}
	for _, tt := range tests {
		got, _ := NodeCause(tt.pods, down, capacityLost)
		name := ""
		if got != nil {
			name = got.Name
		}
		if name != tt.wantCause {
			t.Errorf("%s: cause = %q, want %q", tt.name, name, tt.wantCause)
		}
	}
}

func TestCronJobProblems(t *testing.T) {
	cj := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "backup"}}
	run := func(name string, typ batchv1.JobConditionType, at time.Duration) batchv1.Job {
		return batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(t0.Add(at - time.Minute))},
			Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: typ, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded",
				LastTransitionTime: metav1.NewTime(t0.Add(at))}}}}
	}
	running := batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "backup-4", CreationTimestamp: metav1.NewTime(t0.Add(time.Hour))}}
	tests := []struct {
		name string
		jobs []batchv1.Job
		want string
	}{
		{"no runs", nil, ""},
		{"latest run failed", []batchv1.Job{run("backup-1", batchv1.JobComplete, 0), run("backup-2", batchv1.JobFailed, 5*time.Minute)}, "backup-2"},
		{"a later success clears an earlier failure", []batchv1.Job{run("backup-1", batchv1.JobFailed, 0), run("backup-2", batchv1.JobComplete, 5*time.Minute)}, ""},
		{"a later failure recurs", []batchv1.Job{run("backup-1", batchv1.JobFailed, 0), run("backup-2", batchv1.JobComplete, 5*time.Minute),
			run("backup-3", batchv1.JobFailed, 10*time.Minute)}, "backup-3"},
		{"a run still active is not judged yet", []batchv1.Job{run("backup-3", batchv1.JobFailed, 10*time.Minute), running}, "backup-3"},
	}
	for _, tt := range tests {
		got := CronJobProblems(cj, tt.jobs)
		switch {
		case tt.want == "" && len(got) != 0:
			t.Errorf("%s: %+v, want no problem", tt.name, got)
		case tt.want != "" && (len(got) != 1 || got[0].Reason != "JobFailed" || !strings.Contains(got[0].Message, tt.want) || !strings.Contains(got[0].Message, "cronjob backup")):
			t.Errorf("%s: %+v, want JobFailed naming %s and the CronJob", tt.name, got, tt.want)
		}
	}
}

// A CronJob that keeps no successful Jobs (successfulJobsHistoryLimit: 0): its
// status.lastSuccessfulTime after the failure clears the signal; one before it does not.
func TestCronJobProblemsWithoutSuccessfulHistory(t *testing.T) {
	failed := batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "backup-1", CreationTimestamp: metav1.NewTime(t0.Add(-time.Minute))},
		Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0)}}}}
	for _, tt := range []struct {
		name        string
		lastSuccess time.Time
		wantProblem bool
	}{
		{"a success after the failure, its Job already deleted", t0.Add(5 * time.Minute), false},
		{"the last success was before the failure", t0.Add(-time.Hour), true},
	} {
		cj := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "backup"}, Status: batchv1.CronJobStatus{LastSuccessfulTime: &metav1.Time{Time: tt.lastSuccess}}}
		if got := CronJobProblems(cj, []batchv1.Job{failed}); (len(got) > 0) != tt.wantProblem {
			t.Errorf("%s: %+v, want a problem: %v", tt.name, got, tt.wantProblem)
		}
	}
}

func TestZoneCause(t *testing.T) {
	ref := func(node string) *itopsv1alpha1.IncidentReference {
		return &itopsv1alpha1.IncidentReference{Kind: "Incident", Namespace: "itops-cluster", Name: "node-" + node}
	}
	tests := []struct {
		name      string
		node      string
		notReady  bool
		zone      string
		others    []ZoneNode
		wantCause string
	}{
		{"the first NotReady node of its zone is the cause", "n1", true, "a", []ZoneNode{{"n2", ref("n2")}, {"n3", ref("n3")}}, ""},
		{"a later node of the zone is its symptom", "n3", true, "a", []ZoneNode{{"n2", ref("n2")}, {"n1", ref("n1")}}, "node-n1"},
		{"nodes of the zone without an open incident do not count", "n3", true, "a", []ZoneNode{{"n1", nil}, {"n2", ref("n2")}}, "node-n2"},
		{"a node without a zone stands alone", "n3", true, "", []ZoneNode{{"n1", ref("n1")}}, ""},
		{"a Ready node is nobody's symptom", "n3", false, "a", []ZoneNode{{"n1", ref("n1")}}, ""},
		{"alone in its zone", "n3", true, "a", nil, ""},
	}
	for _, tt := range tests {
		got := ZoneCause(tt.node, tt.notReady, tt.zone, tt.others)
		name := ""
		if got != nil {
			name = got.Name
		}
		if name != tt.wantCause {
			t.Errorf("%s: cause = %q, want %q", tt.name, name, tt.wantCause)
		}
	}
}

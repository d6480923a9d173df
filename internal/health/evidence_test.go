package health

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

func TestCrashLogTarget(t *testing.T) {
	term := func(code int32, reason string) *itopsv1alpha1.IncidentEvidence {
		return &itopsv1alpha1.IncidentEvidence{LastTermination: &itopsv1alpha1.ContainerTermination{Container: "app", ExitCode: code, Reason: reason}}
	}
	pod := func(node string, restarts int32, terminatedNow bool) *corev1.Pod {
		cs := corev1.ContainerStatus{Name: "app", RestartCount: restarts, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}
		if terminatedNow {
			cs.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}
		}
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-1"}, Spec: corev1.PodSpec{NodeName: node},
			Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{cs}}}
	}
	cases := []struct {
		name string
		pod  *corev1.Pod
		ev   *itopsv1alpha1.IncidentEvidence
		want *LogTarget
	}{
		{"crash loop: the previous instance", pod("n1", 3, false), term(1, "Error"), &LogTarget{Namespace: "shop", Pod: "web-1", Container: "app", Previous: true}},
		{"OOM kill", pod("n1", 1, false), term(137, "OOMKilled"), &LogTarget{Namespace: "shop", Pod: "web-1", Container: "app", Previous: true}},
		{"failed job pod: the current instance", pod("n1", 0, true), term(2, "Error"), &LogTarget{Namespace: "shop", Pod: "web-1", Container: "app"}},
		{"exit 0 restarted: a crash loop too", pod("n1", 4, false), term(0, "Completed"), &LogTarget{Namespace: "shop", Pod: "web-1", Container: "app", Previous: true}},
		{"completed, not restarted: no crash", pod("n1", 0, true), term(0, "Completed"), nil},
		{"no termination", pod("n1", 0, false), &itopsv1alpha1.IncidentEvidence{}, nil},
		{"not on a node", pod("", 3, false), term(1, "Error"), nil},
		{"no pod", nil, term(1, "Error"), nil},
	}
	for _, tc := range cases {
		got := CrashLogTarget(tc.pod, tc.ev)
		if (got == nil) != (tc.want == nil) || (got != nil && *got != *tc.want) {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

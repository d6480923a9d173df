package health

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/itops-dev/itops-operator/internal/health"
)

func TestRollUp(t *testing.T) {
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	crashing := func(name string, finished time.Duration) corev1.Pod {
		return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{
			Name: "app", RestartCount: 2,
			State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: metav1.NewTime(now.Add(-finished))}},
		}}}}
	}
	healthy := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-ok"}}
	pods := make([]corev1.Pod, 0, 31)
	for i := range 30 {
		pods = append(pods, crashing(fmt.Sprintf("web-%02d", i), time.Duration(i)*time.Second))
	}
	pods = append(pods, healthy)

	problems, recheck, shown := rollUp(pods, nil, nil, now, health.DefaultThresholds)
	if len(problems) != 1 || problems[0].Reason != "CrashLoopBackOff" {
		t.Fatalf("problems = %+v, want one CrashLoopBackOff", problems)
	}
	msg := problems[0].Message
	if !strings.HasPrefix(msg, "30 of 31 pods: pod web-00: container app: CrashLoopBackOff; pod web-01") ||
		!strings.HasSuffix(msg, "; and 25 more") || strings.Contains(msg, "web-05") {
		t.Errorf("message = %q, want the first five pods named and the rest counted", msg)
	}
	if !problems[0].Since.Equal(now.Add(-29 * time.Second)) {
		t.Errorf("since = %s, want the earliest failure", problems[0].Since)
	}
	if !recheck.IsZero() {
		t.Errorf("recheck = %s, want none without OOM kills", recheck)
	}
	if shown == nil || shown.Name != "web-00" {
		t.Errorf("evidence pod = %v, want the first failing pod", shown)
	}
	if got, _, shown := rollUp([]corev1.Pod{healthy}, nil, nil, now, health.DefaultThresholds); len(got) != 0 || shown != nil {
		t.Errorf("healthy pods: %+v", got)
	}
}

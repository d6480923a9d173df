package scaling

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/itops-dev/itops-operator/internal/health"
)

func TestNotReadyOnly(t *testing.T) {
	pod := func(ready corev1.ConditionStatus, waiting string) corev1.Pod {
		p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour))},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: ready}}}}
		cs := corev1.ContainerStatus{Name: "app", Ready: ready == corev1.ConditionTrue, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
		if waiting != "" {
			cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: waiting}}
			cs.RestartCount = 5
		}
		p.Status.ContainerStatuses = []corev1.ContainerStatus{cs}
		return p
	}
	tests := []struct {
		name string
		pods []corev1.Pod
		want bool
	}{
		{"all ready", []corev1.Pod{pod(corev1.ConditionTrue, ""), pod(corev1.ConditionTrue, "")}, false},
		{"one running but not ready", []corev1.Pod{pod(corev1.ConditionTrue, ""), pod(corev1.ConditionFalse, "")}, true},
		{"a crash loop: more replicas cannot help", []corev1.Pod{pod(corev1.ConditionFalse, ""), pod(corev1.ConditionFalse, "CrashLoopBackOff")}, false},
		{"an image pull error", []corev1.Pod{pod(corev1.ConditionFalse, "ImagePullBackOff")}, false},
		{"no pods", nil, false},
	}
	for _, tt := range tests {
		if got := NotReadyOnly(tt.pods, t0, health.DefaultThresholds); got != tt.want {
			t.Errorf("%s: NotReadyOnly() = %v, want %v", tt.name, got, tt.want)
		}
	}
}

package scaling

import (
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/itops-dev/itops-operator/internal/health"
)

// NotReadyOnly reports whether a workload's pods burn the budget by running without being
// ready: some pod is Running with Ready=False, and no pod has a problem more replicas cannot
// help with (a crash loop, an image pull or configuration error, an OOM kill).
func NotReadyOnly(pods []corev1.Pod, now time.Time, t health.Thresholds) bool {
	notReady := false
	for i := range pods {
		pod := &pods[i]
		if pod.DeletionTimestamp != nil {
			continue
		}
		if len(health.PodProblems(pod, now, t)) > 0 {
			return false
		}
		if pod.Status.Phase != corev1.PodRunning {
			continue
		}
		for _, c := range pod.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionFalse {
				notReady = true
			}
		}
	}
	return notReady
}

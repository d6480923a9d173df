package change

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func deployment(observed int64, replicas, updated, total, available int32, conds ...appsv1.DeploymentCondition) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Generation: 2},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr.To(replicas)},
		Status: appsv1.DeploymentStatus{ObservedGeneration: observed, UpdatedReplicas: updated, Replicas: total,
			AvailableReplicas: available, Conditions: conds},
	}
}

func statefulSet(observed int64, replicas, updated, ready int32) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Generation: 2},
		Spec:       appsv1.StatefulSetSpec{Replicas: ptr.To(replicas), UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType}},
		Status:     appsv1.StatefulSetStatus{ObservedGeneration: observed, UpdatedReplicas: updated, ReadyReplicas: ready},
	}
}

func TestRolloutOf(t *testing.T) {
	timeout := 10 * time.Minute
	stalled := appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse,
		Reason: "ProgressDeadlineExceeded", Message: `ReplicaSet "web-5d9" has timed out progressing.`}
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Generation: 2},
		Status: appsv1.DaemonSetStatus{ObservedGeneration: 2, DesiredNumberScheduled: 3, UpdatedNumberScheduled: 3, NumberAvailable: 2}}
	tests := []struct {
		name      string
		obj       client.Object
		now       time.Time
		want      RolloutPhase
		message   string
		wantAfter time.Time
	}{
		{"deployment not yet observed", deployment(1, 3, 3, 3, 3), t0, RolloutProgressing, "observe", time.Time{}},
		{"deployment half updated", deployment(2, 4, 2, 4, 4), t0, RolloutProgressing, "2 of 4 replicas updated", time.Time{}},
		{"deployment old replicas terminating", deployment(2, 3, 3, 4, 3), t0, RolloutProgressing, "1 old replicas", time.Time{}},
		{"deployment updated, not available", deployment(2, 3, 3, 3, 2), t0, RolloutProgressing, "2 of 3 updated replicas available", time.Time{}},
		{"deployment rolled out", deployment(2, 3, 3, 3, 3), t0, RolloutComplete, "3 replicas", time.Time{}},
		{"deployment stalled", deployment(2, 3, 1, 4, 3, stalled), t0, RolloutFailed, "ProgressDeadlineExceeded", time.Time{}},
		{"deployment never fails on the change's clock", deployment(2, 3, 1, 4, 3), t0.Add(time.Hour), RolloutProgressing, "", time.Time{}},
		{"statefulset not yet observed", statefulSet(1, 3, 3, 3), t0, RolloutProgressing, "observe", t0.Add(timeout)},
		{"statefulset rolling", statefulSet(2, 3, 1, 3), t0, RolloutProgressing, "1 of 3 replicas updated", t0.Add(timeout)},
		{"statefulset not ready", statefulSet(2, 3, 3, 2), t0, RolloutProgressing, "2 of 3 replicas ready", t0.Add(timeout)},
		{"statefulset rolled out", statefulSet(2, 3, 3, 3), t0, RolloutComplete, "", time.Time{}},
		{"single-replica statefulset rolled out", statefulSet(2, 1, 1, 1), t0, RolloutComplete, "1 replicas updated and ready", time.Time{}},
		{"statefulset past its timeout", statefulSet(2, 3, 1, 3), t0.Add(timeout), RolloutFailed, "not rolled out within 10m0s", time.Time{}},
		{"daemonset waiting for availability", ds, t0, RolloutProgressing, "2 of 3 pods available", t0.Add(timeout)},
		{"cronjob", &batchv1.CronJob{}, t0, RolloutComplete, "next Job", time.Time{}},
		{"a migration Job running past the rollout timeout", &batchv1.Job{Status: batchv1.JobStatus{Active: 1}}, t0.Add(time.Hour), RolloutProgressing, "1 active", time.Time{}},
		{"a migration Job that succeeded", &batchv1.Job{Status: batchv1.JobStatus{Succeeded: 1,
			Conditions: []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}}}, t0, RolloutComplete, "the Job succeeded", time.Time{}},
		{"a migration Job that failed", &batchv1.Job{Status: batchv1.JobStatus{Failed: 3,
			Conditions: []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit"}}}},
			t0, RolloutFailed, "the Job failed (BackoffLimitExceeded)", time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := RolloutOf(tt.obj, t0, timeout, tt.now)
			if got.Phase != tt.want || !strings.Contains(got.Message, tt.message) || !got.Deadline.Equal(tt.wantAfter) {
				t.Errorf("RolloutOf() = %+v, want phase %s, message containing %q, deadline %s", got, tt.want, tt.message, tt.wantAfter)
			}
		})
	}
}

package change

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// RolloutPhase is how far a workload's rollout has got.
type RolloutPhase string

// Rollout phases.
const (
	RolloutProgressing RolloutPhase = "Progressing"
	RolloutComplete    RolloutPhase = "Complete"
	RolloutFailed      RolloutPhase = "Failed"
)

// Rollout is a workload's rollout state.
type Rollout struct {
	Phase   RolloutPhase
	Message string
	// Deadline is when a still progressing StatefulSet or DaemonSet rollout fails (zero for
	// Deployments, which report their progress deadline themselves, and finished rollouts).
	Deadline time.Time
}

// RolloutOf reports the rollout of a workload's current generation. A Deployment has rolled
// out when the controller observed its generation and every replica is updated and available;
// it failed when it reports ProgressDeadlineExceeded. A StatefulSet or DaemonSet has rolled out
// when every replica (or scheduled pod) runs the current revision and is ready/available; it
// failed when that has not happened within timeout of appliedAt. A CronJob has no rollout: its
// next Job uses the new template.
func RolloutOf(obj client.Object, appliedAt time.Time, timeout time.Duration, now time.Time) Rollout {
	deadline := appliedAt.Add(timeout)
	progressing := func(format string, args ...any) Rollout {
		if !now.Before(deadline) {
			return Rollout{Phase: RolloutFailed, Message: fmt.Sprintf("not rolled out within %s: ", timeout) + fmt.Sprintf(format, args...)}
		}
		return Rollout{Phase: RolloutProgressing, Message: fmt.Sprintf(format, args...), Deadline: deadline}
	}
	switch w := obj.(type) {
	case *appsv1.Deployment:
		want := replicas(w.Spec.Replicas)
		for _, c := range w.Status.Conditions {
			if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
				return Rollout{Phase: RolloutFailed, Message: "rollout stalled (ProgressDeadlineExceeded): " + c.Message}
			}
		}
		switch {
		case w.Status.ObservedGeneration < w.Generation:
			return Rollout{Phase: RolloutProgressing, Message: "waiting for the deployment controller to observe the change"}
		case w.Status.UpdatedReplicas < want:
			return Rollout{Phase: RolloutProgressing, Message: fmt.Sprintf("%d of %d replicas updated", w.Status.UpdatedReplicas, want)}
		case w.Status.Replicas > w.Status.UpdatedReplicas:
			return Rollout{Phase: RolloutProgressing, Message: fmt.Sprintf("%d old replicas pending termination", w.Status.Replicas-w.Status.UpdatedReplicas)}
		case w.Status.AvailableReplicas < want:
			return Rollout{Phase: RolloutProgressing, Message: fmt.Sprintf("%d of %d updated replicas available", w.Status.AvailableReplicas, want)}
		}
		return Rollout{Phase: RolloutComplete, Message: fmt.Sprintf("%d replicas updated and available", want)}
	case *appsv1.StatefulSet:
		want := replicas(w.Spec.Replicas)
		if w.Spec.UpdateStrategy.RollingUpdate != nil && w.Spec.UpdateStrategy.RollingUpdate.Partition != nil {
			want -= *w.Spec.UpdateStrategy.RollingUpdate.Partition
			want = max(want, 0)
		}
		switch {
		case w.Status.ObservedGeneration < w.Generation:
			return progressing("waiting for the statefulset controller to observe the change")
		case w.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType:
			return Rollout{Phase: RolloutComplete, Message: "update strategy OnDelete: pods take the change when they are deleted"}
		case w.Status.UpdatedReplicas < want:
			return progressing("%d of %d replicas updated", w.Status.UpdatedReplicas, want)
		case w.Status.ReadyReplicas < replicas(w.Spec.Replicas):
			return progressing("%d of %d replicas ready", w.Status.ReadyReplicas, replicas(w.Spec.Replicas))
		}
		return Rollout{Phase: RolloutComplete, Message: fmt.Sprintf("%d replicas updated and ready", replicas(w.Spec.Replicas))}
	case *appsv1.DaemonSet:
		want := w.Status.DesiredNumberScheduled
		switch {
		case w.Status.ObservedGeneration < w.Generation:
			return progressing("waiting for the daemonset controller to observe the change")
		case w.Spec.UpdateStrategy.Type == appsv1.OnDeleteDaemonSetStrategyType:
			return Rollout{Phase: RolloutComplete, Message: "update strategy OnDelete: pods take the change when they are deleted"}
		case w.Status.UpdatedNumberScheduled < want:
			return progressing("%d of %d pods updated", w.Status.UpdatedNumberScheduled, want)
		case w.Status.NumberAvailable < want:
			return progressing("%d of %d pods available", w.Status.NumberAvailable, want)
		}
		return Rollout{Phase: RolloutComplete, Message: fmt.Sprintf("%d pods updated and available", want)}
	case *batchv1.CronJob:
		return Rollout{Phase: RolloutComplete, Message: "the next Job runs the new template"}
	case *batchv1.Job:
		// The Job's own backoffLimit and activeDeadlineSeconds bound it: no timeout here, so
		// that a long migration is not failed by the rollout timeout.
		for _, c := range w.Status.Conditions {
			switch {
			case c.Status != corev1.ConditionTrue:
			case c.Type == batchv1.JobComplete:
				return Rollout{Phase: RolloutComplete, Message: fmt.Sprintf("the Job succeeded (%d pod(s))", w.Status.Succeeded)}
			case c.Type == batchv1.JobFailed:
				return Rollout{Phase: RolloutFailed, Message: fmt.Sprintf("the Job failed (%s): %s", c.Reason, c.Message)}
			}
		}
		return Rollout{Phase: RolloutProgressing, Message: fmt.Sprintf("the Job runs: %d active, %d succeeded, %d failed", w.Status.Active, w.Status.Succeeded, w.Status.Failed)}
	}
	return Rollout{Phase: RolloutFailed, Message: fmt.Sprintf("unsupported workload %T", obj)}
}

func replicas(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

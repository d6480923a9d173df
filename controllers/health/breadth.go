package health

import (
	"context"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/health"
)

// creationFailed adds PodCreationFailed (health.PodCreationFailedProblem) to a workload's
// own problems: a controller that cannot create pods is a signal of the workload's incident,
// with the controller's message saying why.
func creationFailed(problems []health.Problem, recheck time.Time, f health.CreationFailure, in inputs) ([]health.Problem, time.Time) {
	p, at := health.PodCreationFailedProblem(f, in.now, in.t)
	if p != nil {
		problems = append(problems, *p)
	}
	return problems, earliest(recheck, at)
}

// deploymentCreationFailure judges a Deployment by its ReplicaSets' FailedCreate events and
// by its own ReplicaFailure condition (the Deployment controller copies a ReplicaSet's
// FailedCreate there, so the reason survives the events' expiry): while that condition is
// True the failure is current.
func deploymentCreationFailure(d *appsv1.Deployment, events []health.Event, now time.Time) health.CreationFailure {
	f := health.CreationFailure{Kind: "Deployment", Name: d.Name, Events: events, Satisfied: d.Status.Replicas >= desiredReplicas(d.Spec.Replicas)}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentReplicaFailure && c.Status == corev1.ConditionTrue {
			f.Satisfied = false
			f.Events = append(f.Events, health.Event{Kind: "Deployment", Name: d.Name, Reason: health.EventFailedCreate,
				Message: c.Message, Count: 1, FirstSeen: c.LastTransitionTime.Time, LastSeen: now})
		}
	}
	return f
}

func desiredReplicas(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

// jobHasItsPods reports a Job that has finished, is suspended, or runs as many pods as it
// wants now (its parallelism, or fewer when fewer completions remain).
func jobHasItsPods(j *batchv1.Job) bool {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	if j.Spec.Suspend != nil && *j.Spec.Suspend {
		return true
	}
	want := desiredReplicas(j.Spec.Parallelism)
	if j.Spec.Completions != nil {
		if left := *j.Spec.Completions - j.Status.Succeeded; left < want {
			want = left
		}
	}
	return j.Status.Active >= want
}

// evidence captures the incident's evidence (health.Evidence) when the subject shows a
// problem outright: from the pod that shows it (its Warning Events and its node's), and the
// workload's own Warning Events. nil when there is no problem to explain.
func (d *detector) evidence(ctx context.Context, pod *corev1.Pod, podEvents map[string][]health.Event,
	workloadEvents []health.Event, problems []health.Problem, now time.Time) (*itopsv1alpha1.IncidentEvidence, error) {
	opening := false
	for _, p := range problems {
		opening = opening || !p.Sustain
	}
	if !opening {
		return nil, nil
	}
	events := append([]health.Event(nil), workloadEvents...)
	if pod != nil {
		events = append(events, podEvents[pod.Name]...)
		if pod.Spec.NodeName != "" {
			nodeEvents, err := d.eventsOf(ctx, "", "Node", pod.Spec.NodeName)
			if err != nil {
				return nil, err
			}
			events = append(events, nodeEvents...)
		}
	}
	return health.Evidence(pod, events, now), nil
}

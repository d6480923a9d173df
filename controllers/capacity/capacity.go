// Package capacity runs the capacity and schedule detectors of docs/detectors.md, each a
// signal in the incident lifecycle (controllers/incidentwriter.SyncSignal: one incident per
// affected thing), judged by the pure functions of internal/capacity:
//
//   - AutoscalerLimited (AutoscalerReconciler): HorizontalPodAutoscalers that cannot scale or
//     are pinned at maxReplicas, on the scale target workload's incident;
//   - DisruptionBlocked (DisruptionReconciler): PodDisruptionBudgets that allow no disruption
//     by configuration, on the budget's incident;
//   - CronJobMissedSchedule (CronJobReconciler): CronJobs that missed a run or have an invalid
//     schedule, on the CronJob's incident;
//   - MemoryNearLimit (MemoryDetector): containers close to their memory limit, from
//     metrics.k8s.io PodMetrics polled while the API is served, on the pod's workload incident.
//
// The first three are event-driven with exact requeues at the instant their verdict can
// change; HPAs and PDBs are cached trimmed (CacheOptions).
package capacity

import (
	"context"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/controllers/incidentwriter"
	"github.com/itops-dev/itops-operator/internal/capacity"
	"github.com/itops-dev/itops-operator/internal/detector/custom"
	"github.com/itops-dev/itops-operator/internal/health"
)

// +kubebuilder:rbac:groups=autoscaling,resources=horizontalpodautoscalers,verbs=get;list;watch
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch
// +kubebuilder:rbac:groups=batch,resources=cronjobs,verbs=get;list;watch
// +kubebuilder:rbac:groups=metrics.k8s.io,resources=pods,verbs=list

// CacheOptions are the manager cache's entries for the kinds only these detectors read:
// HorizontalPodAutoscalers and PodDisruptionBudgets, trimmed to what the judges read.
// CronJobs share the health detectors' informer; Pods the operator's trimmed pod cache.
func CacheOptions() map[client.Object]cache.ByObject {
	return map[client.Object]cache.ByObject{
		&autoscalingv2.HorizontalPodAutoscaler{}: {Transform: capacity.TrimAutoscaler},
		&policyv1.PodDisruptionBudget{}:          {Transform: capacity.TrimDisruptionBudget},
	}
}

// raceRetry is how soon a write that lost a race with another writer is retried.
const raceRetry = 200 * time.Millisecond

// problemOf turns a finding into the signal the writer records: firing starts or refreshes
// it, pending sustains an active one (Problem.Sustain), none clears it. The signal (and a new
// incident's detectedAt) starts when it fires, as an Alertmanager alert starts after its
// `for`: these problems often predate the operator (a budget created months ago, a CronJob
// last run years ago), and an incident detected in the past would start with its response and
// resolution SLAs breached and its priority raised. The message says since when the problem
// exists; an active signal keeps its start across restarts.
func problemOf(reason string, f capacity.Finding) *custom.Problem {
	if !f.Problem() {
		return nil
	}
	return &custom.Problem{Reason: reason, Message: f.Message, Priority: f.Priority(), Sustain: !f.Firing}
}

// record records finding f of reason on subj's incident and returns the requeue for f.Next: a
// lost race is retried after raceRetry, other errors go to the controller's backoff.
func record(ctx context.Context, w *incidentwriter.Writer, subj health.Subject, reason string, f capacity.Finding,
	affected []itopsv1alpha1.ObjectReference, now time.Time) (reconcile.Result, error) {
	o := incidentwriter.SignalObservation{Subject: subj, Reason: reason, IncidentReason: reason, Affected: affected,
		Problem: problemOf(reason, f), Impact: f.Impact, Urgency: f.Urgency}
	err := w.SyncSignal(ctx, o)
	if incidentwriter.IsRace(err) {
		return reconcile.Result{RequeueAfter: raceRetry}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	return requeueAt(f.Next, now), nil
}

// requeueAt is the result that judges again at next (none for a zero next; at least a
// millisecond ahead, so that a boundary reached exactly is judged after it).
func requeueAt(next, now time.Time) reconcile.Result {
	if next.IsZero() {
		return reconcile.Result{}
	}
	return reconcile.Result{RequeueAfter: max(next.Sub(now), time.Millisecond)}
}

// activeSubjects returns the subjects (spec.affected[0]) of the incidents in namespace ns whose
// signal of reason is active: what a detector must clear when the object it judged is gone.
func activeSubjects(ctx context.Context, c client.Reader, ns, reason string) ([]health.Subject, error) {
	list := &itopsv1alpha1.IncidentList{}
	opts := []client.ListOption{}
	if ns != "" {
		opts = append(opts, client.InNamespace(ns))
	}
	if err := c.List(ctx, list, opts...); err != nil {
		return nil, err
	}
	var out []health.Subject
	for _, inc := range list.Items {
		if len(inc.Spec.Affected) == 0 {
			continue
		}
		for _, s := range inc.Status.Signals {
			if s.Reason == reason && s.Active {
				a := inc.Spec.Affected[0]
				ans := a.Namespace
				if ans == "" {
					ans = inc.Namespace
				}
				out = append(out, health.Subject{APIVersion: a.APIVersion, Kind: a.Kind, Namespace: ans, Name: a.Name})
				break
			}
		}
	}
	return out, nil
}

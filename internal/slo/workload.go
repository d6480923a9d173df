package slo

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// WorkloadState is whether one workload is available, and since when that is known.
type WorkloadState struct {
	Kind, Name string
	// Ready and Desired are its ready and desired replicas (pods for a DaemonSet).
	Ready, Desired int32
	// Down: the workload is unavailable, for the reason Message gives.
	Down    bool
	Message string
	// Since is since when the state has held, from the Available condition's
	// lastTransitionTime; zero when the workload cannot tell (StatefulSets, DaemonSets).
	Since time.Time
}

// StateOf applies the availability rule to a Deployment, StatefulSet or DaemonSet:
//
//   - A Deployment is down while its Available condition is False: fewer pods are available
//     than its rolling update tolerates (replicas - maxUnavailable). It tells since when.
//   - A StatefulSet or DaemonSet is down while fewer pods are available than replicas (desired
//     pods for a DaemonSet) minus its rolling update's maxUnavailable (default 1), and never
//     fewer than one: the same rule, computed from the status, which carries no time.
//   - A workload scaled to zero is not down: nothing was promised.
func StateOf(obj client.Object) WorkloadState {
	switch w := obj.(type) {
	case *appsv1.Deployment:
		st := WorkloadState{Kind: "Deployment", Name: w.Name, Ready: w.Status.ReadyReplicas, Desired: replicas(w.Spec.Replicas)}
		if st.Desired == 0 {
			return st
		}
		for _, c := range w.Status.Conditions {
			if c.Type != appsv1.DeploymentAvailable {
				continue
			}
			st.Since = c.LastTransitionTime.Time
			if c.Status == corev1.ConditionFalse {
				st.Down = true
				st.Message = fmt.Sprintf("Deployment %s: Available=False (%s): %d of %d replicas available", w.Name, c.Reason, w.Status.AvailableReplicas, st.Desired)
			}
			return st
		}
		// No condition yet (a new Deployment): judge from the counts, time unknown.
		st.Down = w.Status.AvailableReplicas < needed(st.Desired, maxUnavailableDeployment(w))
		if st.Down {
			st.Message = fmt.Sprintf("Deployment %s: %d of %d replicas available", w.Name, w.Status.AvailableReplicas, st.Desired)
		}
		return st
	case *appsv1.StatefulSet:
		st := WorkloadState{Kind: "StatefulSet", Name: w.Name, Ready: w.Status.ReadyReplicas, Desired: replicas(w.Spec.Replicas)}
		var mu *intstr.IntOrString
		if ru := w.Spec.UpdateStrategy.RollingUpdate; ru != nil {
			mu = ru.MaxUnavailable
		}
		if n := needed(st.Desired, scaled(mu, st.Desired)); w.Status.AvailableReplicas < n {
			st.Down = true
			st.Message = fmt.Sprintf("StatefulSet %s: %d of %d replicas available (at least %d needed)", w.Name, w.Status.AvailableReplicas, st.Desired, n)
		}
		return st
	case *appsv1.DaemonSet:
		st := WorkloadState{Kind: "DaemonSet", Name: w.Name, Ready: w.Status.NumberReady, Desired: w.Status.DesiredNumberScheduled}
		var mu *intstr.IntOrString
		if ru := w.Spec.UpdateStrategy.RollingUpdate; ru != nil {
			mu = ru.MaxUnavailable
		}
		if n := needed(st.Desired, scaled(mu, st.Desired)); w.Status.NumberAvailable < n {
			st.Down = true
			st.Message = fmt.Sprintf("DaemonSet %s: %d of %d pods available (at least %d needed)", w.Name, w.Status.NumberAvailable, st.Desired, n)
		}
		return st
	}
	return WorkloadState{}
}

// Observe combines the states of a service's workloads at now: the service is down while any
// workload is down, since the earliest of their transitions; it is up since the latest
// recovery. When a workload cannot tell, the state is known from now only.
func Observe(states []WorkloadState, now time.Time) Observation {
	obs := Observation{At: now}
	for _, s := range states {
		obs.Down = obs.Down || s.Down
	}
	known := time.Time{}
	for _, s := range states {
		if s.Down != obs.Down {
			continue // an available workload says nothing about when the service went down
		}
		if s.Since.IsZero() {
			if !obs.Down {
				return Observation{At: now, KnownSince: now}
			}
			continue
		}
		switch {
		case known.IsZero():
			known = s.Since
		case obs.Down && s.Since.Before(known):
			known = s.Since
		case !obs.Down && s.Since.After(known):
			known = s.Since
		}
	}
	if known.IsZero() || known.After(now) {
		known = now
	}
	obs.KnownSince = known
	return obs
}

func replicas(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

// needed is how many pods must be available: desired - maxUnavailable, at least one.
func needed(desired, maxUnavailable int32) int32 {
	if desired <= 0 {
		return 0
	}
	return max(desired-maxUnavailable, 1)
}

func maxUnavailableDeployment(d *appsv1.Deployment) int32 {
	if d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		return 0
	}
	var mu *intstr.IntOrString
	if ru := d.Spec.Strategy.RollingUpdate; ru != nil {
		mu = ru.MaxUnavailable
	}
	if mu == nil {
		v := intstr.FromString("25%")
		mu = &v
	}
	return scaled(mu, replicas(d.Spec.Replicas))
}

// scaled resolves a maxUnavailable (default 1) against desired, rounding percentages down as
// Kubernetes does.
func scaled(mu *intstr.IntOrString, desired int32) int32 {
	if mu == nil {
		return 1
	}
	v, err := intstr.GetScaledValueFromIntOrPercent(mu, int(desired), false)
	if err != nil {
		return 1
	}
	return int32(v) //nolint:gosec // bounded by desired
}

package servicelevel

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/health"
	"github.com/itops-dev/itops-operator/internal/scaling"
)

// maxScalingHistory bounds status.scalingHistory.
const maxScalingHistory = 20

// workloadScaling is what the scaling decision about one selected Deployment or StatefulSet
// depends on.
type workloadScaling struct {
	kind, name string
	replicas   int32
	// bounds are the effective bounds of every ServiceLevel selecting the workload.
	bounds scaling.Bounds
	// hpa names the HorizontalPodAutoscaler scaling the workload, if any.
	hpa string
	// notReadyOnly: its pods run but some are not ready, with no crash loops or the like.
	notReadyOnly bool
	// scaleOut and correct: this ServiceLevel is the one that scales the workload out on burn,
	// or corrects its drift.
	scaleOut, correct bool
}

// scaleAction is a step to take through a workload's scale subresource.
type scaleAction struct {
	kind, name      string
	from, to        int32
	reason, message string
}

// applyScaling decides the scaling steps of the ServiceLevel's workloads, records them in the
// scaling history, and sets ScalingConflict and ScalingDrift. It returns the next cooldown
// boundary (0: none).
func applyScaling(st *itopsv1alpha1.ServiceLevelStatus, sl *itopsv1alpha1.ServiceLevelStatus, spec *itopsv1alpha1.ServiceLevelSpec,
	ws []workloadScaling, firing bool, now time.Time, set func(string, metav1.ConditionStatus, string, string), d *desired) time.Duration {
	if spec.Scaling == nil {
		meta.RemoveStatusCondition(&st.Conditions, itopsv1alpha1.SLConditionScalingConflict)
		meta.RemoveStatusCondition(&st.Conditions, itopsv1alpha1.SLConditionScalingDrift)
		return 0
	}
	stoppedAt := burnStoppedAt(st.BurnRateAlerts)
	previous := map[string]itopsv1alpha1.WorkloadStatus{}
	for _, w := range sl.Workloads {
		previous[w.Kind+"/"+w.Name] = w
	}
	var requeue time.Duration
	var conflicts, drifted []string
	for _, w := range ws {
		p := scaling.Policy{Bounds: w.bounds, Correct: w.correct, ScaleOut: w.scaleOut && spec.Scaling.ScaleOutOnBurn != nil}
		if sob := spec.Scaling.ScaleOutOnBurn; sob != nil {
			p.Step, p.Cooldown = sob.Step, 5*time.Minute
			if sob.Cooldown != nil {
				p.Cooldown = sob.Cooldown.Duration
			}
		}
		a := scaling.Decide(p, scaling.State{Replicas: w.replicas, HPA: w.hpa, Firing: firing, BurnStoppedAt: stoppedAt,
			NotReadyOnly: w.notReadyOnly, Steps: steps(st.ScalingHistory, w.kind, w.name)}, now)
		if a.RequeueAfter > 0 && (requeue == 0 || a.RequeueAfter < requeue) {
			requeue = a.RequeueAfter
		}
		replicas := w.replicas
		if a.Scale {
			d.scale = append(d.scale, scaleAction{kind: w.kind, name: w.name, from: w.replicas, to: a.To, reason: a.Reason, message: a.Message})
			st.ScalingHistory = append(st.ScalingHistory, itopsv1alpha1.ScalingEvent{At: metav1.NewTime(now), Kind: w.kind, Name: w.name,
				From: w.replicas, To: a.To, Reason: a.Reason})
			if n := len(st.ScalingHistory); n > maxScalingHistory {
				st.ScalingHistory = st.ScalingHistory[n-maxScalingHistory:]
			}
			replicas = a.To
		}
		if w.bounds.Conflict() {
			conflicts = append(conflicts, fmt.Sprintf("%s %s: %s", w.kind, w.name, w.bounds.ConflictMessage()))
		}
		drift := scaling.Drift(w.bounds, replicas)
		for i := range st.Workloads {
			if st.Workloads[i].Kind != w.kind || st.Workloads[i].Name != w.name {
				continue
			}
			st.Workloads[i].Scaling = health.Truncate(a.Message, 512)
			st.Workloads[i].Drifted = drift != "" && !w.bounds.Conflict()
			if st.Workloads[i].Drifted {
				drifted = append(drifted, fmt.Sprintf("%s %s: %s", w.kind, w.name, drift))
				if !previous[w.kind+"/"+w.name].Drifted {
					d.workloadEvents = append(d.workloadEvents, workloadEvent{kind: w.kind, name: w.name,
						event: event{corev1.EventTypeWarning, itopsv1alpha1.SLReasonOutOfBounds, fmt.Sprintf("%s outside the scaling bounds of its ServiceLevels: %s", w.name, drift)}})
				}
			}
		}
	}
	if len(conflicts) > 0 {
		set(itopsv1alpha1.SLConditionScalingConflict, metav1.ConditionTrue, itopsv1alpha1.SLReasonBoundsConflict, strings.Join(conflicts, "; "))
	} else {
		set(itopsv1alpha1.SLConditionScalingConflict, metav1.ConditionFalse, itopsv1alpha1.SLReasonBoundsIntersect, "the scaling bounds of the ServiceLevels selecting each workload intersect")
	}
	if len(drifted) > 0 {
		set(itopsv1alpha1.SLConditionScalingDrift, metav1.ConditionTrue, itopsv1alpha1.SLReasonOutOfBounds, strings.Join(drifted, "; "))
	} else {
		set(itopsv1alpha1.SLConditionScalingDrift, metav1.ConditionFalse, itopsv1alpha1.SLReasonWithinBounds, "every workload's replicas are within the scaling bounds")
	}
	return requeue
}

// burnStoppedAt is when the last burn-rate alert stopped firing: the latest time an alert
// entered the OK state (zero while one fires).
func burnStoppedAt(alerts []itopsv1alpha1.BurnRateAlertStatus) time.Time {
	var t time.Time
	for _, a := range alerts {
		if a.State == itopsv1alpha1.AlertFiring {
			return time.Time{}
		}
		if a.Since != nil && a.Since.After(t) {
			t = a.Since.Time
		}
	}
	return t
}

// steps are a workload's automatic steps from the scaling history, oldest first.
func steps(history []itopsv1alpha1.ScalingEvent, kind, name string) []scaling.Step {
	var out []scaling.Step
	for _, e := range history {
		if e.Kind == kind && e.Name == name {
			out = append(out, scaling.Step{At: e.At.Time, From: e.From, To: e.To, Reason: e.Reason})
		}
	}
	return out
}

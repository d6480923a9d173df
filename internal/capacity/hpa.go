package capacity

import (
	"fmt"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// ReasonScalingDisabled is the ScalingActive=False reason of an HPA whose target is scaled to
// zero on purpose (kube-controller-manager's podautoscaler): not a fault.
const ReasonScalingDisabled = "ScalingDisabled"

// ReasonTooManyReplicas is the ScalingLimited=True reason of an HPA that wants more replicas
// than maxReplicas.
const ReasonTooManyReplicas = "TooManyReplicas"

// AutoscalerPolicy holds the AutoscalerLimited knobs (internal/config.AutoscalerLimitedPolicy).
type AutoscalerPolicy struct {
	// Grace: how long ScalingActive or AbleToScale may be False.
	Grace time.Duration
	// SaturatedFor: how long the HPA may stay pinned at maxReplicas under load.
	SaturatedFor time.Duration
}

// Saturated reports whether the HPA is pinned at maxReplicas under load: ScalingLimited=True
// with reason TooManyReplicas, or currentReplicas == maxReplicas with desiredReplicas at least
// maxReplicas; since is the ScalingLimited condition's lastTransitionTime in the first case
// (zero in the second: the caller's first-seen time applies).
func Saturated(h *autoscalingv2.HorizontalPodAutoscaler) (saturated bool, since time.Time) {
	if c := hpaCondition(h, autoscalingv2.ScalingLimited); c != nil && c.Status == corev1.ConditionTrue && c.Reason == ReasonTooManyReplicas {
		return true, c.LastTransitionTime.Time
	}
	maxR := h.Spec.MaxReplicas
	return maxR > 0 && h.Status.CurrentReplicas == maxR && h.Status.DesiredReplicas >= maxR, time.Time{}
}

// JudgeAutoscaler judges one HPA at now:
//   - AbleToScale=False (it cannot read or update its target's scale subresource) or
//     ScalingActive=False (it cannot compute a replica count: metrics missing, a metric API not
//     served), except ScalingActive's ScalingDisabled (target scaled to zero on purpose),
//     beyond p.Grace from the condition's lastTransitionTime;
//   - pinned at maxReplicas (Saturated) for p.SaturatedFor, from the ScalingLimited
//     condition's lastTransitionTime or else saturatedSince (the caller's first-seen time;
//     zero: now).
//
// The message carries the HPA's own condition message. Both problems are Impact Medium,
// Urgency Medium (P3); a firing one is reported before a pending one.
func JudgeAutoscaler(h *autoscalingv2.HorizontalPodAutoscaler, saturatedSince, now time.Time, p AutoscalerPolicy) Finding {
	base := Finding{Impact: itopsv1alpha1.LevelMedium, Urgency: itopsv1alpha1.LevelMedium}
	target := h.Spec.ScaleTargetRef.Kind + " " + h.Spec.ScaleTargetRef.Name
	var fs []Finding
	for _, t := range []autoscalingv2.HorizontalPodAutoscalerConditionType{autoscalingv2.AbleToScale, autoscalingv2.ScalingActive} {
		c := hpaCondition(h, t)
		if c == nil || c.Status != corev1.ConditionFalse || (t == autoscalingv2.ScalingActive && c.Reason == ReasonScalingDisabled) {
			continue
		}
		f := base
		f.Message = fmt.Sprintf("HorizontalPodAutoscaler %s cannot scale %s: %s=False (%s) since %s: %s", h.Name, target, t, c.Reason,
			c.LastTransitionTime.UTC().Format(time.RFC3339), c.Message)
		fs = append(fs, grace(f, c.LastTransitionTime.Time, p.Grace, now))
		break // AbleToScale=False explains ScalingActive
	}
	if ok, since := Saturated(h); ok {
		if since.IsZero() {
			since = saturatedSince
		}
		f := base
		f.Message = fmt.Sprintf("HorizontalPodAutoscaler %s holds %s at maxReplicas (%d) and wants %d: capacity is exhausted under load",
			h.Name, target, h.Spec.MaxReplicas, h.Status.DesiredReplicas)
		if c := hpaCondition(h, autoscalingv2.ScalingLimited); c != nil && c.Status == corev1.ConditionTrue {
			f.Message += fmt.Sprintf("; ScalingLimited=True (%s) since %s: %s", c.Reason, c.LastTransitionTime.UTC().Format(time.RFC3339), c.Message)
		}
		fs = append(fs, grace(f, since, p.SaturatedFor, now))
	}
	if len(fs) == 0 {
		return Finding{}
	}
	return Worst(fs)
}

func hpaCondition(h *autoscalingv2.HorizontalPodAutoscaler, t autoscalingv2.HorizontalPodAutoscalerConditionType) *autoscalingv2.HorizontalPodAutoscalerCondition {
	for i := range h.Status.Conditions {
		if h.Status.Conditions[i].Type == t {
			return &h.Status.Conditions[i]
		}
	}
	return nil
}

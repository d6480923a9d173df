package capacity

import (
	"fmt"
	"strings"
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
	// SaturatedFor: how long the HPA may want more than maxReplicas (Saturated).
	SaturatedFor time.Duration
}

// IsSaturationMessage reports whether an AutoscalerLimited signal's message is the saturation
// finding of the HPA named hpa (JudgeAutoscaler writes "HorizontalPodAutoscaler <name> holds
// <target> at maxReplicas ..."), not its cannot-scale finding or another HPA's: after a
// restart only such a signal dates when the HPA began to want more than maxReplicas.
func IsSaturationMessage(msg, hpa string) bool {
	return strings.HasPrefix(msg, "HorizontalPodAutoscaler "+hpa+" holds ")
}

// Saturated reports whether the HPA wants more replicas than maxReplicas allows, by the HPA
// controller's own verdict: ScalingLimited=True with reason TooManyReplicas
// (kube-controller-manager's podautoscaler normalizes its recommendation into [min, max] and
// says so in that condition). status.desiredReplicas is written after that clamp (and equals
// currentReplicas whenever the HPA does not rescale), so "at max and desiring max" holds for
// every HPA resting at max and proves nothing: it is read only when the HPA carries no
// ScalingLimited condition at all (an autoscaler that writes none). Never saturated:
// minReplicas == maxReplicas (the replica count pinned on purpose; minReplicas defaults to 1)
// and maxReplicas unset.
func Saturated(h *autoscalingv2.HorizontalPodAutoscaler) bool {
	maxR := h.Spec.MaxReplicas
	minR := int32(1)
	if h.Spec.MinReplicas != nil {
		minR = *h.Spec.MinReplicas
	}
	if maxR <= 0 || minR >= maxR {
		return false
	}
	if c := hpaCondition(h, autoscalingv2.ScalingLimited); c != nil {
		return c.Status == corev1.ConditionTrue && c.Reason == ReasonTooManyReplicas
	}
	return h.Status.CurrentReplicas == maxR && h.Status.DesiredReplicas >= maxR
}

// JudgeAutoscaler judges one HPA at now:
//   - AbleToScale=False (it cannot read or update its target's scale subresource) or
//     ScalingActive=False (it cannot compute a replica count: metrics missing, a metric API not
//     served), except ScalingActive's ScalingDisabled (target scaled to zero on purpose),
//     beyond p.Grace from the condition's lastTransitionTime;
//   - wanting more than maxReplicas (Saturated) for p.SaturatedFor, from saturatedSince: the
//     caller's first-seen time of that verdict (zero: now). The ScalingLimited condition's
//     lastTransitionTime is only a lower bound: the HPA controller moves it when the
//     condition's status changes, not its reason, so a True/ScaleUpLimit ramp or a
//     True/TooFewReplicas stretch turning into True/TooManyReplicas keeps the older time; the
//     later of the two counts.
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
	if Saturated(h) {
		since := saturatedSince
		if since.IsZero() {
			since = now
		}
		f := base
		if c := hpaCondition(h, autoscalingv2.ScalingLimited); c != nil {
			if c.LastTransitionTime.After(since) {
				since = c.LastTransitionTime.Time
			}
			f = grace(f, since, p.SaturatedFor, now)
			f.Message = fmt.Sprintf("HorizontalPodAutoscaler %s holds %s at maxReplicas (%d) and wants more since %s: ScalingLimited=True (%s): %s; capacity is exhausted under load",
				h.Name, target, h.Spec.MaxReplicas, f.Since.UTC().Format(time.RFC3339), c.Reason, c.Message)
		} else {
			f = grace(f, since, p.SaturatedFor, now)
			f.Message = fmt.Sprintf("HorizontalPodAutoscaler %s holds %s at maxReplicas (%d) with desiredReplicas %d since %s (no ScalingLimited condition): capacity is exhausted under load",
				h.Name, target, h.Spec.MaxReplicas, h.Status.DesiredReplicas, f.Since.UTC().Format(time.RFC3339))
		}
		fs = append(fs, f)
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

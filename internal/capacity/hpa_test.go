package capacity

import (
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func hpaCond(t autoscalingv2.HorizontalPodAutoscalerConditionType, s corev1.ConditionStatus, reason, msg string, at time.Time) autoscalingv2.HorizontalPodAutoscalerCondition {
	return autoscalingv2.HorizontalPodAutoscalerCondition{Type: t, Status: s, Reason: reason, Message: msg, LastTransitionTime: metav1.NewTime(at)}
}

func hpa(current, desired, maxR int32, conds ...autoscalingv2.HorizontalPodAutoscalerCondition) *autoscalingv2.HorizontalPodAutoscaler {
	minR := int32(1)
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: &minR, MaxReplicas: maxR,
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"}},
		Status: autoscalingv2.HorizontalPodAutoscalerStatus{CurrentReplicas: current, DesiredReplicas: desired, Conditions: conds},
	}
}

func TestJudgeAutoscaler(t *testing.T) {
	p := AutoscalerPolicy{Grace: 10 * time.Minute, SaturatedFor: 15 * time.Minute}
	able := hpaCond(autoscalingv2.AbleToScale, corev1.ConditionTrue, "ReadyForNewScale", "recommended size matches current size", t0.Add(-time.Hour))
	active := hpaCond(autoscalingv2.ScalingActive, corev1.ConditionTrue, "ValidMetricFound", "the HPA was able to successfully calculate a replica count", t0.Add(-time.Hour))
	within := hpaCond(autoscalingv2.ScalingLimited, corev1.ConditionFalse, "DesiredWithinRange", "the desired count is within the acceptable range", t0.Add(-time.Hour))
	noMetrics := func(at time.Time) autoscalingv2.HorizontalPodAutoscalerCondition {
		return hpaCond(autoscalingv2.ScalingActive, corev1.ConditionFalse, "FailedGetResourceMetric",
			"the HPA was unable to compute the replica count: failed to get cpu utilization: unable to get metrics for resource cpu", at)
	}
	tooMany := func(at time.Time) autoscalingv2.HorizontalPodAutoscalerCondition {
		return hpaCond(autoscalingv2.ScalingLimited, corev1.ConditionTrue, ReasonTooManyReplicas, "the desired replica count is more than the maximum replica count", at)
	}
	cases := []struct {
		name           string
		h              *autoscalingv2.HorizontalPodAutoscaler
		saturatedSince time.Time
		firing         bool
		pending        bool
		next           time.Time
		since          time.Time
		msg            string
	}{
		{name: "healthy", h: hpa(3, 3, 10, able, active, within)},
		{name: "at minReplicas is normal", h: hpa(1, 1, 10, able, active,
			hpaCond(autoscalingv2.ScalingLimited, corev1.ConditionTrue, "TooFewReplicas", "the desired replica count is less than the minimum replica count", t0.Add(-time.Hour)))},
		{name: "no conditions yet", h: hpa(0, 0, 10)},
		{name: "metrics missing within grace", h: hpa(3, 3, 10, able, noMetrics(t0.Add(-time.Minute)), within),
			pending: true, next: t0.Add(9 * time.Minute), since: t0.Add(-time.Minute), msg: "ScalingActive=False (FailedGetResourceMetric) since 2026-12-01T09:59:00Z: the HPA was unable"},
		{name: "metrics missing beyond grace", h: hpa(3, 3, 10, able, noMetrics(t0.Add(-10*time.Minute)), within),
			firing: true, since: t0.Add(-10 * time.Minute), msg: "cannot scale Deployment web: ScalingActive=False"},
		{name: "scaled to zero on purpose", h: hpa(0, 0, 10, able,
			hpaCond(autoscalingv2.ScalingActive, corev1.ConditionFalse, ReasonScalingDisabled, "scaling is disabled since the replica count of the target is zero", t0.Add(-time.Hour)))},
		{name: "cannot update the scale subresource", h: hpa(3, 3, 10,
			hpaCond(autoscalingv2.AbleToScale, corev1.ConditionFalse, "FailedUpdateScale", "the HPA controller was unable to update the target scale: forbidden", t0.Add(-11*time.Minute)), active),
			firing: true, since: t0.Add(-11 * time.Minute), msg: "AbleToScale=False (FailedUpdateScale) since 2026-12-01T09:49:00Z: the HPA controller was unable to update the target scale"},
		{name: "AbleToScale explains ScalingActive", h: hpa(3, 3, 10,
			hpaCond(autoscalingv2.AbleToScale, corev1.ConditionFalse, "FailedGetScale", "deployments.apps \"web\" not found", t0.Add(-time.Hour)), noMetrics(t0.Add(-time.Hour))),
			firing: true, since: t0.Add(-time.Hour), msg: "AbleToScale=False (FailedGetScale)"},
		{name: "a future transition time counts from now", h: hpa(3, 3, 10, able, noMetrics(t0.Add(time.Hour))),
			pending: true, next: t0.Add(10 * time.Minute), since: t0},
		// The HPA controller clamps status.desiredReplicas to maxReplicas: a saturated HPA reads
		// current == desired == max, and only ScalingLimited=True/TooManyReplicas tells it apart.
		{name: "pinned at max, TooManyReplicas within", h: hpa(10, 10, 10, able, active, tooMany(t0.Add(-5*time.Minute))), saturatedSince: t0.Add(-5 * time.Minute),
			pending: true, next: t0.Add(10 * time.Minute), since: t0.Add(-5 * time.Minute), msg: "at maxReplicas (10) and wants more since 2026-12-01T09:55:00Z"},
		{name: "pinned at max, TooManyReplicas beyond", h: hpa(10, 10, 10, able, active, tooMany(t0.Add(-15*time.Minute))), saturatedSince: t0.Add(-15 * time.Minute),
			firing: true, since: t0.Add(-15 * time.Minute), msg: "ScalingLimited=True (TooManyReplicas): the desired replica count is more than the maximum"},
		{name: "TooManyReplicas first seen now: the condition's older time is only a bound", h: hpa(10, 10, 10, able, active, tooMany(t0.Add(-time.Hour))),
			pending: true, next: t0.Add(15 * time.Minute), since: t0},
		{name: "a ScaleUpLimit ramp turned TooManyReplicas keeps the ramp's time: first seen counts", h: hpa(10, 10, 10, able, active, tooMany(t0.Add(-2*time.Hour))),
			saturatedSince: t0.Add(-10 * time.Minute), pending: true, next: t0.Add(5 * time.Minute), since: t0.Add(-10 * time.Minute)},
		{name: "first seen before the transition: the transition counts", h: hpa(10, 10, 10, able, active, tooMany(t0.Add(-5*time.Minute))),
			saturatedSince: t0.Add(-time.Hour), pending: true, next: t0.Add(10 * time.Minute), since: t0.Add(-5 * time.Minute)},
		{name: "at max wanting exactly max (DesiredWithinRange) is not limited", h: hpa(10, 10, 10, able, active, within), saturatedSince: t0.Add(-20 * time.Minute)},
		{name: "at max held by scale-down stabilization is not limited", h: hpa(10, 10, 10, able, active,
			hpaCond(autoscalingv2.ScalingLimited, corev1.ConditionFalse, "DesiredWithinRange", "the desired count is within the acceptable range", t0.Add(-time.Hour)),
			hpaCond(autoscalingv2.AbleToScale, corev1.ConditionTrue, "ScaleDownStabilized", "recent recommendations were higher than current one", t0.Add(-time.Hour))),
			saturatedSince: t0.Add(-time.Hour)},
		{name: "a ScaleUpLimit ramp is not saturation", h: hpa(6, 8, 10, able, active,
			hpaCond(autoscalingv2.ScalingLimited, corev1.ConditionTrue, "ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate", t0.Add(-time.Hour)))},
		{name: "a single replica allowed and wanted is not pinned", h: hpa(1, 1, 1, able, active, within), saturatedSince: t0.Add(-time.Hour)},
		{name: "minReplicas == maxReplicas is pinned on purpose, even at TooManyReplicas", h: func() *autoscalingv2.HorizontalPodAutoscaler {
			h := hpa(3, 3, 3, able, active, tooMany(t0.Add(-time.Hour)))
			h.Spec.MinReplicas = &h.Spec.MaxReplicas
			return h
		}(), saturatedSince: t0.Add(-time.Hour)},
		{name: "maxReplicas 1 with minReplicas defaulted is pinned on purpose", h: func() *autoscalingv2.HorizontalPodAutoscaler {
			h := hpa(1, 1, 1)
			h.Spec.MinReplicas = nil
			return h
		}(), saturatedSince: t0.Add(-time.Hour)},
		{name: "no ScalingLimited condition: at max desiring max counts from first seen", h: hpa(10, 10, 10, able, active), saturatedSince: t0.Add(-20 * time.Minute),
			firing: true, since: t0.Add(-20 * time.Minute), msg: "at maxReplicas (10) with desiredReplicas 10 since 2026-12-01T09:40:00Z (no ScalingLimited condition)"},
		{name: "no maxReplicas (status only, defaulted by the API) is never pinned", h: hpa(0, 0, 0, able, active, within)},
		{name: "at max but wanting fewer is scaling down", h: hpa(10, 8, 10, able, active, within)},
		{name: "below max wanting more is scaling up", h: hpa(6, 9, 10, able, active, within)},
		{name: "pinned firing beats metrics pending, next is the earliest", h: hpa(10, 10, 10, able, noMetrics(t0.Add(-time.Minute)), tooMany(t0.Add(-time.Hour))),
			saturatedSince: t0.Add(-time.Hour), firing: true, since: t0.Add(-time.Hour), next: t0.Add(9 * time.Minute), msg: "maxReplicas"},
		{name: "metrics firing beats pinned pending", h: hpa(10, 10, 10, able, noMetrics(t0.Add(-time.Hour)), tooMany(t0.Add(-time.Minute))),
			firing: true, since: t0.Add(-time.Hour), next: t0.Add(15 * time.Minute), msg: "ScalingActive=False"},
		{name: "both pending: the earliest end", h: hpa(10, 10, 10, able, noMetrics(t0.Add(-time.Minute)), tooMany(t0.Add(-14*time.Minute))),
			saturatedSince: t0.Add(-14 * time.Minute), pending: true, next: t0.Add(time.Minute), since: t0.Add(-time.Minute)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := JudgeAutoscaler(tc.h, tc.saturatedSince, t0, p)
			if f.Firing != tc.firing || f.Pending != tc.pending || !f.Next.Equal(tc.next) || !f.Since.Equal(tc.since) {
				t.Fatalf("got firing=%v pending=%v next=%s since=%s, want %v %v %s %s", f.Firing, f.Pending, f.Next, f.Since, tc.firing, tc.pending, tc.next, tc.since)
			}
			if !strings.Contains(f.Message, tc.msg) {
				t.Fatalf("message %q does not contain %q", f.Message, tc.msg)
			}
			if f.Problem() && f.Priority() != itopsv1alpha1.PriorityP3 {
				t.Fatalf("priority %s, want P3", f.Priority())
			}
		})
	}
}

// TestIsSaturationMessage: only this HPA's saturation finding dates saturation after a
// restart, not its cannot-scale finding (same reason) or another HPA's.
func TestIsSaturationMessage(t *testing.T) {
	for msg, want := range map[string]bool{
		"HorizontalPodAutoscaler api holds StatefulSet api at maxReplicas (4) and wants more since 2026-12-01T11:00:00Z: ScalingLimited=True (TooManyReplicas): x": true,
		"HorizontalPodAutoscaler api holds StatefulSet api at maxReplicas (4) with desiredReplicas 6 since 2026-12-01T11:00:00Z (no ScalingLimited condition)":     true,
		"HorizontalPodAutoscaler api cannot scale StatefulSet api: ScalingActive=False (FailedGetResourceMetric): x":                                               false,
		"HorizontalPodAutoscaler api-canary holds StatefulSet api at maxReplicas (2) and wants more since 2026-12-01T11:00:00Z":                                    false,
	} {
		if got := IsSaturationMessage(msg, "api"); got != want {
			t.Errorf("%q: got %v, want %v", msg, got, want)
		}
	}
}

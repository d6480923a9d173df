package capacity

import (
	"reflect"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// TestTrimKeepsWhatJudgesRead: the trimmed objects are judged as the full ones, lose what no
// judge reads, and trimming twice changes nothing.
func TestTrimKeepsWhatJudgesRead(t *testing.T) {
	meta := metav1.ObjectMeta{Namespace: "shop", Name: "web", UID: "u", ResourceVersion: "7", Generation: 2,
		Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{...}"},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}}
	h := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: meta,
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: ptr.To[int32](2), MaxReplicas: 10,
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			Metrics:        []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType}},
			Behavior:       &autoscalingv2.HorizontalPodAutoscalerBehavior{}},
		Status: autoscalingv2.HorizontalPodAutoscalerStatus{CurrentReplicas: 10, DesiredReplicas: 12,
			CurrentMetrics: []autoscalingv2.MetricStatus{{Type: autoscalingv2.ResourceMetricSourceType}},
			Conditions: []autoscalingv2.HorizontalPodAutoscalerCondition{{Type: autoscalingv2.ScalingLimited, Status: corev1.ConditionTrue,
				Reason: ReasonTooManyReplicas, LastTransitionTime: metav1.NewTime(t0.Add(-(20 * time.Minute)))}}}}
	out, _ := TrimAutoscaler(h)
	slim := out.(*autoscalingv2.HorizontalPodAutoscaler)
	if slim.Annotations != nil || slim.ManagedFields != nil || slim.Spec.Metrics != nil || slim.Spec.Behavior != nil || slim.Status.CurrentMetrics != nil {
		t.Fatalf("unread fields kept: %+v", slim)
	}
	p := AutoscalerPolicy{Grace: (20 * time.Minute), SaturatedFor: (20 * time.Minute) / 2}
	if got, want := JudgeAutoscaler(slim, t0, t0, p), JudgeAutoscaler(h, t0, t0, p); !reflect.DeepEqual(got, want) || !got.Firing {
		t.Fatalf("judged differently: %+v vs %+v", got, want)
	}
	again, _ := TrimAutoscaler(slim)
	if !reflect.DeepEqual(again, slim) {
		t.Fatal("TrimAutoscaler is not idempotent")
	}

	one := intstr.FromInt32(1)
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: meta,
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
		Status: policyv1.PodDisruptionBudgetStatus{ObservedGeneration: 2, ExpectedPods: 1, DesiredHealthy: 1, CurrentHealthy: 1,
			DisruptedPods: map[string]metav1.Time{"web-1": metav1.NewTime(t0)}}}
	out, _ = TrimDisruptionBudget(pdb)
	slimPDB := out.(*policyv1.PodDisruptionBudget)
	if slimPDB.Spec.Selector != nil || slimPDB.Status.DisruptedPods != nil || slimPDB.Annotations != nil {
		t.Fatalf("unread fields kept: %+v", slimPDB)
	}
	if got, want := JudgeDisruptionBudget(slimPDB, t0, (20*time.Minute)), JudgeDisruptionBudget(pdb, t0, (20*time.Minute)); !reflect.DeepEqual(got, want) {
		t.Fatalf("judged differently: %+v vs %+v", got, want)
	}
	if other, _ := TrimDisruptionBudget(h); other != any(h) {
		t.Fatal("other kinds pass through")
	}
}

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
	if got, want := JudgeAutoscaler(slim, t0.Add(-20*time.Minute), t0, p), JudgeAutoscaler(h, t0.Add(-20*time.Minute), t0, p); !reflect.DeepEqual(got, want) || !got.Firing {
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
	if slimPDB.Spec.Selector == nil || slimPDB.Status.DisruptedPods != nil || slimPDB.Annotations != nil {
		t.Fatalf("unread fields kept: %+v", slimPDB)
	}
	if got, want := JudgeDisruptionBudget(slimPDB, t0, (20*time.Minute)), JudgeDisruptionBudget(pdb, t0, (20*time.Minute)); !reflect.DeepEqual(got, want) {
		t.Fatalf("judged differently: %+v vs %+v", got, want)
	}
	if other, _ := TrimDisruptionBudget(h); other != any(h) {
		t.Fatal("other kinds pass through")
	}
}

// TestAutoscalerChanged: the HPA controller's periodic status writes (new currentMetrics,
// lastScaleTime, resourceVersion) do not reach the queue; what the judge reads does.
func TestAutoscalerChanged(t *testing.T) {
	base := func() *autoscalingv2.HorizontalPodAutoscaler {
		return &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", ResourceVersion: "1"},
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: ptr.To[int32](2), MaxReplicas: 10,
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"}},
			Status: autoscalingv2.HorizontalPodAutoscalerStatus{CurrentReplicas: 4, DesiredReplicas: 4,
				Conditions: []autoscalingv2.HorizontalPodAutoscalerCondition{{Type: autoscalingv2.ScalingLimited, Status: corev1.ConditionFalse,
					Reason: "DesiredWithinRange", LastTransitionTime: metav1.NewTime(t0)}}}}
	}
	cases := []struct {
		name    string
		edit    func(h *autoscalingv2.HorizontalPodAutoscaler)
		changed bool
	}{
		{name: "resourceVersion only", edit: func(h *autoscalingv2.HorizontalPodAutoscaler) { h.ResourceVersion = "2" }},
		{name: "currentMetrics and lastScaleTime", edit: func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Status.CurrentMetrics = []autoscalingv2.MetricStatus{{Type: autoscalingv2.ResourceMetricSourceType}}
			h.Status.LastScaleTime = ptr.To(metav1.NewTime(t0))
			h.Status.ObservedGeneration = ptr.To[int64](3)
		}},
		{name: "replicas", edit: func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Status.CurrentReplicas = 5 }, changed: true},
		{name: "desired", edit: func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Status.DesiredReplicas = 5 }, changed: true},
		{name: "condition reason", edit: func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Status.Conditions[0].Status, h.Status.Conditions[0].Reason = corev1.ConditionTrue, ReasonTooManyReplicas
		}, changed: true},
		{name: "maxReplicas", edit: func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.MaxReplicas = 12 }, changed: true},
		{name: "minReplicas", edit: func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.MinReplicas = ptr.To[int32](10) }, changed: true},
		{name: "target", edit: func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.ScaleTargetRef.Name = "api" }, changed: true},
		{name: "deletion", edit: func(h *autoscalingv2.HorizontalPodAutoscaler) { h.DeletionTimestamp = ptr.To(metav1.NewTime(t0)) }, changed: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			updated := base()
			tc.edit(updated)
			if got := AutoscalerChanged(base(), updated); got != tc.changed {
				t.Fatalf("changed %v, want %v", got, tc.changed)
			}
		})
	}
}

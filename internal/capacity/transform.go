package capacity

import (
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	policyv1 "k8s.io/api/policy/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// slimMeta keeps an object's identity and timestamps; it drops labels, annotations (an HPA's
// can carry its whole autoscaling/v1 rendering), owner references and managedFields.
func slimMeta(m metav1.ObjectMeta) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion, Generation: m.Generation,
		CreationTimestamp: m.CreationTimestamp, DeletionTimestamp: m.DeletionTimestamp,
	}
}

// TrimAutoscaler is the cache transform of HorizontalPodAutoscalers: it keeps what
// JudgeAutoscaler reads (identity, scaleTargetRef, min and max replicas, current and desired
// replicas, conditions) and drops the metric specs, scaling behavior, current metric values,
// annotations and managedFields. Idempotent; other objects pass through.
func TrimAutoscaler(obj any) (any, error) {
	h, ok := obj.(*autoscalingv2.HorizontalPodAutoscaler)
	if !ok {
		return obj, nil
	}
	return &autoscalingv2.HorizontalPodAutoscaler{
		TypeMeta:   h.TypeMeta,
		ObjectMeta: slimMeta(h.ObjectMeta),
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: h.Spec.ScaleTargetRef, MinReplicas: h.Spec.MinReplicas, MaxReplicas: h.Spec.MaxReplicas,
		},
		Status: autoscalingv2.HorizontalPodAutoscalerStatus{
			ObservedGeneration: h.Status.ObservedGeneration, LastScaleTime: h.Status.LastScaleTime,
			CurrentReplicas: h.Status.CurrentReplicas, DesiredReplicas: h.Status.DesiredReplicas, Conditions: h.Status.Conditions,
		},
	}, nil
}

// TrimDisruptionBudget is the cache transform of PodDisruptionBudgets: it keeps what
// JudgeDisruptionBudget and JudgeBudgetOverlap read (identity, the selector, minAvailable,
// maxUnavailable, the status counts and conditions) and drops status.disruptedPods (a map as
// large as an eviction burst), annotations and managedFields. Idempotent; other objects pass
// through.
func TrimDisruptionBudget(obj any) (any, error) {
	p, ok := obj.(*policyv1.PodDisruptionBudget)
	if !ok {
		return obj, nil
	}
	return &policyv1.PodDisruptionBudget{
		TypeMeta:   p.TypeMeta,
		ObjectMeta: slimMeta(p.ObjectMeta),
		Spec: policyv1.PodDisruptionBudgetSpec{Selector: p.Spec.Selector, MinAvailable: p.Spec.MinAvailable,
			MaxUnavailable: p.Spec.MaxUnavailable},
		Status: policyv1.PodDisruptionBudgetStatus{
			ObservedGeneration: p.Status.ObservedGeneration, DisruptionsAllowed: p.Status.DisruptionsAllowed,
			CurrentHealthy: p.Status.CurrentHealthy, DesiredHealthy: p.Status.DesiredHealthy, ExpectedPods: p.Status.ExpectedPods,
			Conditions: p.Status.Conditions,
		},
	}, nil
}

// AutoscalerChanged reports whether an HPA update can change JudgeAutoscaler's verdict or its
// subject: the scale target, the replica bounds, the current and desired replica counts, the
// conditions (type, status, reason, message, transition time) or the deletion mark. The HPA
// controller writes status about every 15 s with new currentMetrics and lastScaleTime; those
// updates (and resourceVersion-only ones) change nothing here and are filtered out of the
// controller's queue (a watch predicate).
func AutoscalerChanged(old, updated *autoscalingv2.HorizontalPodAutoscaler) bool {
	if old == nil || updated == nil {
		return true
	}
	return !apiequality.Semantic.DeepEqual(verdictInputs(old), verdictInputs(updated))
}

func verdictInputs(h *autoscalingv2.HorizontalPodAutoscaler) autoscalingv2.HorizontalPodAutoscaler {
	return autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: h.DeletionTimestamp},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: h.Spec.ScaleTargetRef, MinReplicas: h.Spec.MinReplicas, MaxReplicas: h.Spec.MaxReplicas,
		},
		Status: autoscalingv2.HorizontalPodAutoscalerStatus{
			CurrentReplicas: h.Status.CurrentReplicas, DesiredReplicas: h.Status.DesiredReplicas, Conditions: h.Status.Conditions,
		},
	}
}

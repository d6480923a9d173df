package health

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/itops-dev/itops-operator/internal/health"
)

// This file gathers, from the cache, what internal/health's "normal state" predicates
// (internal/health/normal.go) judge on.

// +kubebuilder:rbac:groups=storage.k8s.io,resources=storageclasses,verbs=get;list;watch

// podClaimIndex indexes pods by the claims they mount (health.ClaimNames).
const podClaimIndex = "itops.dev/claims"

// indexPodClaims registers podClaimIndex. The lean pod cache keeps volumes' claim names
// (internal/cachetransform) for it.
func indexPodClaims(ctx context.Context, mgr ctrl.Manager) error {
	return mgr.GetFieldIndexer().IndexField(ctx, &corev1.Pod{}, podClaimIndex, func(o client.Object) []string {
		pod, ok := o.(*corev1.Pod)
		if !ok {
			return nil
		}
		return health.ClaimNames(pod)
	})
}

// claimsOfPod maps a pod to the claims it mounts, so that a claim waiting for its first
// consumer is judged again when one appears.
var claimsOfPod = handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
	pod, ok := o.(*corev1.Pod)
	if !ok {
		return nil
	}
	var out []reconcile.Request
	for _, name := range health.ClaimNames(pod) {
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: pod.Namespace, Name: name}})
	}
	return out
})

// claimContext returns the claim's StorageClass (nil when it names none or it does not exist)
// and the pods that mount it.
func claimContext(ctx context.Context, c client.Reader, pvc *corev1.PersistentVolumeClaim) (*storagev1.StorageClass, []corev1.Pod, error) {
	var class *storagev1.StorageClass
	if name := pvc.Spec.StorageClassName; name != nil && *name != "" {
		class = &storagev1.StorageClass{}
		switch err := c.Get(ctx, types.NamespacedName{Name: *name}, class); {
		case apierrors.IsNotFound(err):
			class = nil
		case err != nil:
			return nil, nil, err
		}
	}
	pods := &corev1.PodList{}
	if err := c.List(ctx, pods, client.InNamespace(pvc.Namespace), client.MatchingFields{podClaimIndex: pvc.Name}); err != nil {
		return nil, nil, err
	}
	return class, pods.Items, nil
}

// withoutNormalPods drops the pods whose state is normal (health.PodIsNormal): completed or
// evicted pods their controller replaced, DaemonSet pods whose node is gone.
func withoutNormalPods(ctx context.Context, c client.Reader, pods []corev1.Pod) ([]corev1.Pod, error) {
	var lookupErr error
	nodeExists := func(name string) bool {
		err := c.Get(ctx, types.NamespacedName{Name: name}, &corev1.Node{})
		if err != nil && !apierrors.IsNotFound(err) && lookupErr == nil {
			lookupErr = err
		}
		return err == nil || !apierrors.IsNotFound(err)
	}
	out := pods[:0]
	for _, p := range pods {
		if normal, _ := health.PodIsNormal(&p, nodeExists); !normal {
			out = append(out, p)
		}
	}
	return out, lookupErr
}

// withoutReason drops the problems of one reason.
func withoutReason(problems []health.Problem, reason string) []health.Problem {
	out := problems[:0]
	for _, p := range problems {
		if p.Reason != reason {
			out = append(out, p)
		}
	}
	return out
}

// Package cachetransform trims objects before they enter the operator's informer cache.
// Watching every Pod is the operator's biggest cost; the health detectors read only a pod's
// identity, labels, owners and status, so the rest is dropped.
package cachetransform

import (
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Pod keeps what the detectors read: name, namespace, uid, resourceVersion, labels, owner
// references, creation and deletion timestamps, the node, scheduler name and scheduling gates,
// the container names and images, the
// names of the claims its volumes mount, and the phase, reason, start time, conditions and
// container statuses, and each container's memory limit (MemoryNearLimit compares the working
// set to it; native sidecars, init containers with restartPolicy Always, keep theirs too). It drops managedFields, annotations, other volumes, environment, probes, other
// resources and the like. Non-pods pass through unchanged.
func Pod(obj any) (any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	slim := &corev1.Pod{
		TypeMeta: pod.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name:              pod.Name,
			Namespace:         pod.Namespace,
			UID:               pod.UID,
			ResourceVersion:   pod.ResourceVersion,
			Generation:        pod.Generation,
			CreationTimestamp: pod.CreationTimestamp,
			DeletionTimestamp: pod.DeletionTimestamp,
			Labels:            pod.Labels,
			OwnerReferences:   pod.OwnerReferences,
		},
		// The scheduler and the scheduling gates: a Pending pod no scheduler binds names its
		// scheduler, and a gated pod waits on purpose (internal/health, PodUnschedulable).
		Spec: corev1.PodSpec{NodeName: pod.Spec.NodeName, SchedulerName: pod.Spec.SchedulerName, SchedulingGates: pod.Spec.SchedulingGates},
		Status: corev1.PodStatus{
			Phase:                 pod.Status.Phase,
			Reason:                pod.Status.Reason,
			StartTime:             pod.Status.StartTime,
			Conditions:            pod.Status.Conditions,
			ContainerStatuses:     slimStatuses(pod.Status.ContainerStatuses),
			InitContainerStatuses: slimStatuses(pod.Status.InitContainerStatuses),
		},
	}
	for _, v := range pod.Spec.Volumes {
		// Only which claims the pod mounts: a WaitForFirstConsumer claim is judged by whether
		// a pod uses it (internal/health.ClaimWaitsForConsumer).
		switch {
		case v.PersistentVolumeClaim != nil:
			slim.Spec.Volumes = append(slim.Spec.Volumes, corev1.Volume{Name: v.Name, VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: v.PersistentVolumeClaim.ClaimName}}})
		case v.Ephemeral != nil:
			slim.Spec.Volumes = append(slim.Spec.Volumes, corev1.Volume{Name: v.Name, VolumeSource: corev1.VolumeSource{
				Ephemeral: &corev1.EphemeralVolumeSource{}}})
		}
	}
	for _, c := range pod.Spec.Containers {
		slim.Spec.Containers = append(slim.Spec.Containers, corev1.Container{Name: c.Name, Image: c.Image, Resources: memoryLimit(c.Resources)})
	}
	for _, c := range pod.Spec.InitContainers {
		ic := corev1.Container{Name: c.Name, Image: c.Image}
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			// A native sidecar runs for the pod's life: MemoryNearLimit judges it too.
			ic.RestartPolicy, ic.Resources = c.RestartPolicy, memoryLimit(c.Resources)
		}
		slim.Spec.InitContainers = append(slim.Spec.InitContainers, ic)
	}
	return slim, nil
}

// memoryLimit keeps only a container's memory limit (none: empty).
func memoryLimit(r corev1.ResourceRequirements) corev1.ResourceRequirements {
	if q, ok := r.Limits[corev1.ResourceMemory]; ok {
		return corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: q}}
	}
	return corev1.ResourceRequirements{}
}

func slimStatuses(in []corev1.ContainerStatus) []corev1.ContainerStatus {
	if in == nil {
		return nil
	}
	out := make([]corev1.ContainerStatus, len(in))
	for i, s := range in {
		out[i] = corev1.ContainerStatus{
			Name: s.Name, Image: s.Image, Ready: s.Ready, RestartCount: s.RestartCount,
			State: s.State, LastTerminationState: s.LastTerminationState,
		}
	}
	return out
}

// MaxEventMessage bounds the message of a cached Event, in bytes: more than the evidence keeps
// (512), far less than the API allows (1 KiB for events.k8s.io, unbounded for core/v1).
const MaxEventMessage = 1024

// Event keeps what the detectors and the evidence read of a (Warning) Event: identity, the
// involved object (kind, name, namespace, uid, fieldPath), reason, message (at most
// MaxEventMessage bytes), type, count, first and last timestamps, event time and series.
// It drops the source, reporting controller and instance, related object, action, labels,
// annotations and managedFields. Non-events pass through unchanged.
func Event(obj any) (any, error) {
	e, ok := obj.(*corev1.Event)
	if !ok {
		return obj, nil
	}
	msg := e.Message
	if len(msg) > MaxEventMessage {
		cut := MaxEventMessage
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut]
	}
	return &corev1.Event{
		TypeMeta: e.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name: e.Name, Namespace: e.Namespace, UID: e.UID, ResourceVersion: e.ResourceVersion,
			CreationTimestamp: e.CreationTimestamp, DeletionTimestamp: e.DeletionTimestamp,
		},
		InvolvedObject: corev1.ObjectReference{
			APIVersion: e.InvolvedObject.APIVersion, Kind: e.InvolvedObject.Kind, Namespace: e.InvolvedObject.Namespace,
			Name: e.InvolvedObject.Name, UID: e.InvolvedObject.UID, FieldPath: e.InvolvedObject.FieldPath,
		},
		Reason: e.Reason, Message: msg, Type: e.Type, Count: e.Count,
		FirstTimestamp: e.FirstTimestamp, LastTimestamp: e.LastTimestamp, EventTime: e.EventTime, Series: e.Series,
	}, nil
}

// WarningEvents selects the Events the operator caches: only type=Warning (the API server
// filters them, so Normal events never reach the operator).
var WarningEvents = fields.OneTermEqualSelector("type", corev1.EventTypeWarning)

// ByObject is the operator's per-kind cache configuration: pods trimmed (Pod), Events
// restricted to Warning ones and trimmed (Event). cmd/main.go and the envtest suites use it.
func ByObject() map[client.Object]cache.ByObject {
	return map[client.Object]cache.ByObject{
		&corev1.Pod{}:   {Transform: Pod},
		&corev1.Event{}: {Transform: Event, Field: WarningEvents},
	}
}

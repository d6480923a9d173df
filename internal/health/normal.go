package health

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// This file says what is normal: states that look like problems but are the cluster working as
// designed, for which nothing opens (issue 12, "nothing opens for what is normal"). Each
// predicate is pure; the detectors gather its inputs from the cache.

// Node deletion taints: the taints that node autoscalers put on a node they are about to
// remove. A node carrying one is being removed on purpose.
const (
	// TaintClusterAutoscalerToBeDeleted is Cluster Autoscaler's taint (NoSchedule, value: the
	// Unix time of the decision) on a node it is scaling down; it terminates the instance next
	// (kubernetes/autoscaler, cluster-autoscaler/FAQ.md "How does Cluster Autoscaler remove
	// nodes?"). Cluster Autoscaler cordons the node as well only with
	// --cordon-node-before-terminating, so the taint alone is the signal.
	TaintClusterAutoscalerToBeDeleted = "ToBeDeletedByClusterAutoscaler"
	// TaintKarpenterDisrupted is Karpenter's (v1 and later) NoSchedule taint on a node it is
	// disrupting (consolidation, drift, expiry, repair) before it drains and deletes it
	// (karpenter.sh/docs/concepts/disruption). Karpenter does not set spec.unschedulable.
	TaintKarpenterDisrupted = "karpenter.sh/disrupted"
	// TaintKarpenterDisruption is the same taint in Karpenter v0.32 to v0.37
	// (karpenter.sh/disruption=disrupting:NoSchedule).
	TaintKarpenterDisruption = "karpenter.sh/disruption"
)

// nodeDeletionTaints are the taints that mark a node for deletion. Deliberately absent:
// DeletionCandidateOfClusterAutoscaler (PreferNoSchedule: a candidate, not a decision),
// node.kubernetes.io/unschedulable (any cordon, for any reason), and
// node.cloudprovider.kubernetes.io/shutdown (an instance stopped, not necessarily on purpose).
var nodeDeletionTaints = []string{TaintClusterAutoscalerToBeDeleted, TaintKarpenterDisrupted, TaintKarpenterDisruption}

// NodeRemovedOnPurpose reports whether the node is being removed on purpose, and why: it is
// being deleted (deletionTimestamp set: Karpenter's and the cloud node controller's finalizers
// hold it while it drains), or a node autoscaler has tainted it for deletion (one of
// TaintClusterAutoscalerToBeDeleted, TaintKarpenterDisrupted, TaintKarpenterDisruption; whether
// or not it is also cordoned). Such a node turning NotReady (its instance terminated) is the
// removal going as planned, not NodeNotReady. A cordon alone is not enough: people cordon nodes
// to debug them, and a cordoned node failing is still a failure.
func NodeRemovedOnPurpose(node *corev1.Node) (bool, string) {
	if node.DeletionTimestamp != nil {
		return true, "the node is being deleted"
	}
	for _, t := range node.Spec.Taints {
		for _, key := range nodeDeletionTaints {
			if t.Key == key {
				return true, "the node is tainted " + key + " for removal by its autoscaler"
			}
		}
	}
	return false, ""
}

// ClaimWaitsForConsumer reports whether a Pending claim is waiting by design: its StorageClass
// binds in WaitForFirstConsumer mode, so the volume is provisioned (or bound) only once a pod
// that uses the claim is scheduled, and no such pod exists yet. consumers are the pods of the
// claim's namespace that mount it (see PodUsesClaim); class is the claim's StorageClass, nil when
// the claim names none or it does not exist (then the claim is judged as any other). Source:
// https://kubernetes.io/docs/concepts/storage/storage-classes/#volume-binding-mode.
func ClaimWaitsForConsumer(pvc *corev1.PersistentVolumeClaim, class *storagev1.StorageClass, consumers []corev1.Pod) bool {
	if pvc.Status.Phase != corev1.ClaimPending || !waitsForFirstConsumer(class) {
		return false
	}
	return len(activeConsumers(consumers)) == 0
}

// ClaimPendingSince is when a Pending claim started waiting on something that should already be
// happening, the start of its grace period: its creation, or, for a WaitForFirstConsumer claim,
// the creation of its first consumer pod if that came later (binding only starts then). Zero
// when the claim waits by design (ClaimWaitsForConsumer).
func ClaimPendingSince(pvc *corev1.PersistentVolumeClaim, class *storagev1.StorageClass, consumers []corev1.Pod) time.Time {
	since := pvc.CreationTimestamp.Time
	if !waitsForFirstConsumer(class) {
		return since
	}
	active := activeConsumers(consumers)
	if len(active) == 0 {
		return time.Time{}
	}
	first := active[0].CreationTimestamp.Time
	for _, p := range active[1:] {
		if p.CreationTimestamp.Time.Before(first) {
			first = p.CreationTimestamp.Time
		}
	}
	if first.After(since) {
		return first
	}
	return since
}

func waitsForFirstConsumer(class *storagev1.StorageClass) bool {
	return class != nil && class.VolumeBindingMode != nil && *class.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer
}

// activeConsumers drops pods that will never mount the claim: finished or being deleted.
func activeConsumers(pods []corev1.Pod) []corev1.Pod {
	var out []corev1.Pod
	for _, p := range pods {
		if p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			out = append(out, p)
		}
	}
	return out
}

// PodUsesClaim reports whether the pod mounts the named claim of its namespace, directly
// (persistentVolumeClaim volumes) or through a generic ephemeral volume (whose claim is named
// <pod>-<volume>).
func PodUsesClaim(pod *corev1.Pod, claim string) bool {
	for _, v := range pod.Spec.Volumes {
		if v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == claim {
			return true
		}
		if v.Ephemeral != nil && pod.Name+"-"+v.Name == claim {
			return true
		}
	}
	return false
}

// ClaimNames lists the claims a pod mounts (see PodUsesClaim), for watches that map pods to
// claims.
func ClaimNames(pod *corev1.Pod) []string {
	var out []string
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.PersistentVolumeClaim != nil:
			out = append(out, v.PersistentVolumeClaim.ClaimName)
		case v.Ephemeral != nil:
			out = append(out, pod.Name+"-"+v.Name)
		}
	}
	return out
}

// Pod status reasons of pods that a node or the kubelet stopped on purpose.
const (
	// PodReasonEvicted: the kubelet evicted the pod under node pressure, or the API eviction of
	// a drain (https://kubernetes.io/docs/concepts/scheduling-eviction/node-pressure-eviction/).
	PodReasonEvicted = "Evicted"
	// PodReasonNodeShutdown and PodReasonTerminated: graceful node shutdown stopped the pod
	// (https://kubernetes.io/docs/concepts/cluster-administration/node-shutdown/).
	PodReasonNodeShutdown = "NodeShutdown"
	PodReasonTerminated   = "Terminated"
	// PodReasonPreempting: the scheduler preempted the pod for a higher-priority one.
	PodReasonPreempting = "Preempting"
)

// PodIsNormal reports whether a pod's state is normal even though its containers may show
// problems, and why; such a pod is left out of its workload's judgement:
//   - it completed (Succeeded) and a controller owns it: a finished Job pod, a finished run;
//   - it was evicted, preempted or stopped by a node shutdown (Failed with reason Evicted,
//     Preempting, NodeShutdown or Terminated) and a controller owns it: its controller has
//     replaced it (a ReplicaSet, StatefulSet or DaemonSet counts only active pods), so the
//     workload's own status (available, ready replicas) tells whether anything is short;
//   - a DaemonSet owns it and its node is gone (nodeExists false): the DaemonSet no longer
//     wants a pod there, and the pod garbage collector removes it.
//
// A pod without a controller is never normal here: nobody replaces it. nodeExists reports
// whether a node of that name is in the cache.
func PodIsNormal(pod *corev1.Pod, nodeExists func(name string) bool) (bool, string) {
	owner := metav1.GetControllerOf(pod)
	if owner == nil {
		return false, ""
	}
	switch pod.Status.Phase {
	case corev1.PodSucceeded:
		return true, "completed"
	case corev1.PodFailed:
		switch pod.Status.Reason {
		case PodReasonEvicted, PodReasonPreempting, PodReasonNodeShutdown, PodReasonTerminated:
			return true, "stopped on purpose (" + pod.Status.Reason + ") and replaced by its " + owner.Kind
		}
	}
	if owner.Kind == "DaemonSet" && pod.Spec.NodeName != "" && nodeExists != nil && !nodeExists(pod.Spec.NodeName) {
		return true, "its node " + pod.Spec.NodeName + " is gone"
	}
	return false, ""
}

// VolumeClaimProblemsOf judges a claim with what the cluster is doing about it: nothing for a
// claim that waits for its first consumer by design (ClaimWaitsForConsumer); otherwise
// VolumeClaimProblems with the grace period of a Pending claim counted from ClaimPendingSince
// (for a WaitForFirstConsumer claim, from its first consumer pod). class and consumers as for
// ClaimWaitsForConsumer.
func VolumeClaimProblemsOf(pvc *corev1.PersistentVolumeClaim, class *storagev1.StorageClass, consumers []corev1.Pod, now time.Time, t Thresholds) ([]Problem, time.Time) {
	if ClaimWaitsForConsumer(pvc, class, consumers) {
		return nil, time.Time{}
	}
	if since := ClaimPendingSince(pvc, class, consumers); pvc.Status.Phase == corev1.ClaimPending && !since.Equal(pvc.CreationTimestamp.Time) {
		judged := *pvc // VolumeClaimProblems dates a Pending claim from its creation
		judged.CreationTimestamp = metav1.Time{Time: since}
		return VolumeClaimProblems(&judged, now, t)
	}
	return VolumeClaimProblems(pvc, now, t)
}

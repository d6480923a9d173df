package health

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

var n0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func TestNodeRemovedOnPurpose(t *testing.T) {
	taint := func(key, value string, effect corev1.TaintEffect) corev1.Taint {
		return corev1.Taint{Key: key, Value: value, Effect: effect}
	}
	tests := []struct {
		name          string
		unschedulable bool
		deleting      bool
		taints        []corev1.Taint
		want          bool
	}{
		{"healthy node", false, false, nil, false},
		{"cordoned only: a person debugging it; its failure is still a failure", true, false, []corev1.Taint{taint("node.kubernetes.io/unschedulable", "", corev1.TaintEffectNoSchedule)}, false},
		{"cordoned and tainted by Cluster Autoscaler", true, false, []corev1.Taint{taint(TaintClusterAutoscalerToBeDeleted, "1764583200", corev1.TaintEffectNoSchedule)}, true},
		{"tainted by Cluster Autoscaler, not cordoned (its default)", false, false, []corev1.Taint{taint(TaintClusterAutoscalerToBeDeleted, "1764583200", corev1.TaintEffectNoSchedule)}, true},
		{"Cluster Autoscaler's soft candidate taint is no decision", false, false, []corev1.Taint{taint("DeletionCandidateOfClusterAutoscaler", "1764583200", corev1.TaintEffectPreferNoSchedule)}, false},
		{"Karpenter v1 disrupted", false, false, []corev1.Taint{taint(TaintKarpenterDisrupted, "", corev1.TaintEffectNoSchedule)}, true},
		{"Karpenter v0.3x disruption=disrupting", false, false, []corev1.Taint{taint(TaintKarpenterDisruption, "disrupting", corev1.TaintEffectNoSchedule)}, true},
		{"cloud provider shutdown taint: not necessarily on purpose", false, false, []corev1.Taint{taint("node.cloudprovider.kubernetes.io/shutdown", "", corev1.TaintEffectNoSchedule)}, false},
		{"being deleted", false, true, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Spec: corev1.NodeSpec{Unschedulable: tt.unschedulable, Taints: tt.taints}}
			if tt.deleting {
				node.DeletionTimestamp = &metav1.Time{Time: n0}
			}
			got, why := NodeRemovedOnPurpose(node)
			if got != tt.want || (got && why == "") {
				t.Errorf("NodeRemovedOnPurpose() = %v %q, want %v", got, why, tt.want)
			}
		})
	}
}

func TestVolumeClaimProblemsOf(t *testing.T) {
	wffc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "local"}, VolumeBindingMode: ptr.To(storagev1.VolumeBindingWaitForFirstConsumer)}
	immediate := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "fast"}, VolumeBindingMode: ptr.To(storagev1.VolumeBindingImmediate)}
	claim := func(phase corev1.PersistentVolumeClaimPhase) *corev1.PersistentVolumeClaim {
		return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "shop", CreationTimestamp: metav1.Time{Time: n0}},
			Status: corev1.PersistentVolumeClaimStatus{Phase: phase}}
	}
	pod := func(created time.Duration, phase corev1.PodPhase, deleting bool) corev1.Pod {
		p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", CreationTimestamp: metav1.Time{Time: n0.Add(created)}}, Status: corev1.PodStatus{Phase: phase}}
		if deleting {
			p.DeletionTimestamp = &metav1.Time{Time: n0}
		}
		return p
	}
	grace := DefaultThresholds.VolumeClaimPendingGracePeriod
	tests := []struct {
		name        string
		pvc         *corev1.PersistentVolumeClaim
		class       *storagev1.StorageClass
		consumers   []corev1.Pod
		now         time.Time
		wantWaits   bool
		wantReason  string
		wantRecheck time.Time
	}{
		{"WaitForFirstConsumer, no consumer, hours later: by design, nothing", claim(corev1.ClaimPending), wffc, nil, n0.Add(3 * time.Hour), true, "", time.Time{}},
		{"WaitForFirstConsumer, only a finished consumer: by design", claim(corev1.ClaimPending), wffc, []corev1.Pod{pod(0, corev1.PodSucceeded, false)}, n0.Add(time.Hour), true, "", time.Time{}},
		{"WaitForFirstConsumer, only a consumer being deleted: by design", claim(corev1.ClaimPending), wffc, []corev1.Pod{pod(0, corev1.PodRunning, true)}, n0.Add(time.Hour), true, "", time.Time{}},
		{"WaitForFirstConsumer, consumer created an hour later, within grace: recheck at its end", claim(corev1.ClaimPending), wffc, []corev1.Pod{pod(time.Hour, corev1.PodPending, false)}, n0.Add(time.Hour + time.Minute), false, "", n0.Add(time.Hour + grace)},
		{"WaitForFirstConsumer, consumer past grace, still Pending: a problem", claim(corev1.ClaimPending), wffc, []corev1.Pod{pod(time.Hour, corev1.PodPending, false)}, n0.Add(time.Hour + grace), false, itopsv1alpha1.ReasonVolumeClaimPending, time.Time{}},
		{"WaitForFirstConsumer, consumer older than the claim: grace from the claim", claim(corev1.ClaimPending), wffc, []corev1.Pod{pod(-time.Hour, corev1.PodPending, false)}, n0.Add(grace), false, itopsv1alpha1.ReasonVolumeClaimPending, time.Time{}},
		{"Immediate, no consumer, past grace: a problem", claim(corev1.ClaimPending), immediate, nil, n0.Add(grace), false, itopsv1alpha1.ReasonVolumeClaimPending, time.Time{}},
		{"no (or a missing) StorageClass, past grace: a problem", claim(corev1.ClaimPending), nil, nil, n0.Add(grace), false, itopsv1alpha1.ReasonVolumeClaimPending, time.Time{}},
		{"WaitForFirstConsumer, bound: nothing", claim(corev1.ClaimBound), wffc, nil, n0.Add(time.Hour), false, "", time.Time{}},
		{"WaitForFirstConsumer, Lost: a problem whatever the consumers", claim(corev1.ClaimLost), wffc, nil, n0.Add(time.Hour), false, itopsv1alpha1.ReasonVolumeClaimLost, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ClaimWaitsForConsumer(tt.pvc, tt.class, tt.consumers); got != tt.wantWaits {
				t.Errorf("ClaimWaitsForConsumer() = %v, want %v", got, tt.wantWaits)
			}
			problems, recheck := VolumeClaimProblemsOf(tt.pvc, tt.class, tt.consumers, tt.now, DefaultThresholds)
			reason := ""
			if len(problems) > 0 {
				reason = problems[0].Reason
			}
			if len(problems) > 1 || reason != tt.wantReason || !recheck.Equal(tt.wantRecheck) {
				t.Errorf("VolumeClaimProblemsOf() = %v, %s; want %q, %s", problems, recheck, tt.wantReason, tt.wantRecheck)
			}
		})
	}
}

func TestPodUsesClaim(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-0"}, Spec: corev1.PodSpec{Volumes: []corev1.Volume{
		{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data-web-0"}}},
		{Name: "scratch", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{}}},
		{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}},
	}}}
	for claim, want := range map[string]bool{"data-web-0": true, "web-0-scratch": true, "web-0-cfg": false, "data": false} {
		if got := PodUsesClaim(pod, claim); got != want {
			t.Errorf("PodUsesClaim(%q) = %v, want %v", claim, got, want)
		}
	}
}

func TestPodIsNormal(t *testing.T) {
	owned := func(kind string) []metav1.OwnerReference {
		return []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: kind, Name: "x", Controller: ptr.To(true)}}
	}
	nodes := map[string]bool{"alive": true}
	exists := func(n string) bool { return nodes[n] }
	tests := []struct {
		name   string
		owners []metav1.OwnerReference
		phase  corev1.PodPhase
		reason string
		node   string
		want   bool
	}{
		{"completed Job pod", []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: "j", Controller: ptr.To(true)}}, corev1.PodSucceeded, "", "alive", true},
		{"completed ReplicaSet pod", owned("ReplicaSet"), corev1.PodSucceeded, "", "alive", true},
		{"evicted ReplicaSet pod: replaced", owned("ReplicaSet"), corev1.PodFailed, PodReasonEvicted, "alive", true},
		{"preempted StatefulSet pod: replaced", owned("StatefulSet"), corev1.PodFailed, PodReasonPreempting, "alive", true},
		{"pod stopped by a node shutdown: replaced", owned("ReplicaSet"), corev1.PodFailed, PodReasonNodeShutdown, "alive", true},
		{"pod terminated by a node shutdown: replaced", owned("ReplicaSet"), corev1.PodFailed, PodReasonTerminated, "alive", true},
		{"failed for another reason: judged", owned("ReplicaSet"), corev1.PodFailed, "DeadlineExceeded", "alive", false},
		{"running ReplicaSet pod: judged", owned("ReplicaSet"), corev1.PodRunning, "", "alive", false},
		{"evicted bare pod: nobody replaces it, judged", nil, corev1.PodFailed, PodReasonEvicted, "alive", false},
		{"completed bare pod: judged (it opens nothing by itself)", nil, corev1.PodSucceeded, "", "alive", false},
		{"DaemonSet pod on a node that is gone", owned("DaemonSet"), corev1.PodRunning, "", "gone", true},
		{"DaemonSet pod on a live node: judged", owned("DaemonSet"), corev1.PodRunning, "", "alive", false},
		{"DaemonSet pod not scheduled yet: judged", owned("DaemonSet"), corev1.PodPending, "", "", false},
		{"ReplicaSet pod on a node that is gone: judged (its controller replaces it; the pod shows its problems until then)", owned("ReplicaSet"), corev1.PodRunning, "", "gone", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", OwnerReferences: tt.owners}, Spec: corev1.PodSpec{NodeName: tt.node},
				Status: corev1.PodStatus{Phase: tt.phase, Reason: tt.reason}}
			got, why := PodIsNormal(pod, exists)
			if got != tt.want || (got && why == "") {
				t.Errorf("PodIsNormal() = %v %q, want %v", got, why, tt.want)
			}
		})
	}
}

package cachetransform

import (
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/itops-dev/itops-operator/internal/health"
)

func TestPodKeepsWhatDetectorsRead(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "web-1", Namespace: "shop", UID: "u1", ResourceVersion: "42",
			Labels:          map[string]string{"app": "web"},
			Annotations:     map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{...big...}"},
			ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-abc", Controller: ptr.To(true)}},
		},
		Spec: corev1.PodSpec{
			NodeName: "n1",
			Containers: []corev1.Container{{Name: "app", Image: "web:1", Env: []corev1.EnvVar{{Name: "A", Value: "b"}},
				Command: []string{"/bin/web", "--serve"}, Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi"), corev1.ResourceCPU: resource.MustParse("1")}}}},
			Volumes: []corev1.Volume{{Name: "data"}},
		},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning,
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", RestartCount: 3, ImageID: "sha256:abc", ContainerID: "containerd://1",
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}},
		},
	}
	out, err := Pod(pod)
	if err != nil {
		t.Fatal(err)
	}
	slim := out.(*corev1.Pod)
	if slim.Annotations != nil || slim.ManagedFields != nil || len(slim.Spec.Volumes) != 0 || slim.Spec.Containers[0].Env != nil ||
		slim.Spec.Containers[0].Command != nil || slim.Status.ContainerStatuses[0].ImageID != "" ||
		slim.Spec.Containers[0].Resources.Requests != nil || len(slim.Spec.Containers[0].Resources.Limits) != 1 {
		t.Errorf("unread fields kept: %+v", slim)
	}
	if got, want := health.PodProblems(slim, pod.CreationTimestamp.Time, health.DefaultThresholds), health.PodProblems(pod, pod.CreationTimestamp.Time, health.DefaultThresholds); len(got) != 1 || !reflect.DeepEqual(got[0], want[0]) {
		t.Errorf("detectors judge the slim pod differently: %v vs %v", got, want)
	}
	if q := slim.Spec.Containers[0].Resources.Limits[corev1.ResourceMemory]; q.Value() != 512<<20 {
		t.Errorf("memory limit lost (MemoryNearLimit reads it): %v", slim.Spec.Containers[0].Resources)
	}
	if metav1.GetControllerOf(slim) == nil || slim.Labels["app"] != "web" || slim.Spec.NodeName != "n1" || slim.ResourceVersion != "42" {
		t.Errorf("identity, owner or labels lost: %+v", slim.ObjectMeta)
	}
	node := &corev1.Node{}
	if out, _ := Pod(node); out != node {
		t.Error("non-pods must pass through")
	}
}

// TestPodKeepsClaimNames: the claims a pod mounts survive the transform (a WaitForFirstConsumer
// claim is judged by whether a pod uses it), and so does the reason of an evicted pod; the rest
// of the volume does not.
func TestPodKeepsClaimNames(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "db-0", Namespace: "shop",
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "db", Controller: ptr.To(true)}}},
		Spec: corev1.PodSpec{Volumes: []corev1.Volume{
			{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data-db-0", ReadOnly: true}}},
			{Name: "scratch", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{
				VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: ptr.To("fast")}}}}},
			{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
		}},
		Status: corev1.PodStatus{Phase: corev1.PodFailed, Reason: health.PodReasonEvicted},
	}
	out, err := Pod(pod)
	if err != nil {
		t.Fatal(err)
	}
	slim := out.(*corev1.Pod)
	if got := health.ClaimNames(slim); !reflect.DeepEqual(got, []string{"data-db-0", "db-0-scratch"}) {
		t.Errorf("claims = %v", got)
	}
	if len(slim.Spec.Volumes) != 2 || slim.Spec.Volumes[0].PersistentVolumeClaim.ReadOnly || slim.Spec.Volumes[1].Ephemeral.VolumeClaimTemplate != nil {
		t.Errorf("volumes kept more than claim names: %+v", slim.Spec.Volumes)
	}
	if normal, _ := health.PodIsNormal(slim, nil); !normal {
		t.Error("the slim evicted pod is not judged as the full one")
	}
}

func TestEventKeepsWhatDetectorsRead(t *testing.T) {
	now := metav1.Now()
	long := string(make([]byte, 3000))
	in := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1.17a", Namespace: "shop", UID: "e1", ResourceVersion: "7",
			Annotations: map[string]string{"a": "b"}, ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubelet"}}},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web-1", Namespace: "shop", UID: "p1", FieldPath: "spec.containers{app}", ResourceVersion: "99"},
		Reason:         "Unhealthy", Message: long, Type: corev1.EventTypeWarning, Count: 4, FirstTimestamp: now, LastTimestamp: now,
		Source: corev1.EventSource{Component: "kubelet", Host: "n1"}, ReportingController: "kubelet", ReportingInstance: "n1",
		Related: &corev1.ObjectReference{Kind: "Node", Name: "n1"},
	}
	got, err := Event(in)
	if err != nil {
		t.Fatal(err)
	}
	e := got.(*corev1.Event)
	if len(e.Message) != MaxEventMessage || e.Annotations != nil || e.ManagedFields != nil || e.Related != nil ||
		e.ReportingController != "" || e.Source.Component != "" || e.InvolvedObject.ResourceVersion != "" {
		t.Errorf("not trimmed: %+v", e)
	}
	if e.Reason != "Unhealthy" || e.Count != 4 || e.InvolvedObject.FieldPath != "spec.containers{app}" || e.InvolvedObject.UID != "p1" ||
		!e.LastTimestamp.Equal(&now) || e.Type != corev1.EventTypeWarning || e.Name != "web-1.17a" {
		t.Errorf("lost what detectors read: %+v", e)
	}
	if other, _ := Event(&corev1.Pod{}); reflect.TypeOf(other) != reflect.TypeOf(&corev1.Pod{}) {
		t.Error("non-events pass through")
	}
	if WarningEvents.String() != "type=Warning" {
		t.Errorf("field selector %s", WarningEvents)
	}
}

// TestPodKeepsSidecarMemoryLimits: a native sidecar (an init container with restartPolicy
// Always) keeps its memory limit for MemoryNearLimit; a plain init container keeps none.
func TestPodKeepsSidecarMemoryLimits(t *testing.T) {
	limit := corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi"), corev1.ResourceCPU: resource.MustParse("1")}}
	pod := &corev1.Pod{Spec: corev1.PodSpec{InitContainers: []corev1.Container{
		{Name: "migrate", Image: "m", Resources: limit},
		{Name: "proxy", Image: "p", Resources: limit, RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)},
	}}}
	out, _ := Pod(pod)
	got := out.(*corev1.Pod).Spec.InitContainers
	want := []corev1.Container{{Name: "migrate", Image: "m"}, {Name: "proxy", Image: "p", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
		Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

// TestPodKeepsWhatThePendingRuleReads: a Pending pod is judged the same from the cache as from
// the API server: the scheduler it names and its scheduling gates survive the transform (the
// e2e run found the slim pod named no scheduler, and a gated pod would have fired).
func TestPodKeepsWhatThePendingRuleReads(t *testing.T) {
	created := metav1.NewTime(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	now := created.Add(time.Hour)
	for _, tc := range []struct {
		name string
		spec corev1.PodSpec
		want string // "" for no problem
	}{
		{name: "a scheduler that does not run", spec: corev1.PodSpec{SchedulerName: "nope"}, want: `spec.schedulerName "nope"`},
		{name: "gated: waits on purpose", spec: corev1.PodSpec{SchedulingGates: []corev1.PodSchedulingGate{{Name: "example.com/quota"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.spec.Containers = []corev1.Container{{Name: "app", Image: "web:1", Env: []corev1.EnvVar{{Name: "A", Value: "b"}}}}
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "shop", UID: "u1", CreationTimestamp: created},
				Spec: tc.spec, Status: corev1.PodStatus{Phase: corev1.PodPending}}
			out, err := Pod(pod)
			if err != nil {
				t.Fatal(err)
			}
			full, _ := health.PodEventProblems(pod, nil, nil, now, health.DefaultThresholds)
			slim, _ := health.PodEventProblems(out.(*corev1.Pod), nil, nil, now, health.DefaultThresholds)
			if !reflect.DeepEqual(slim, full) {
				t.Fatalf("the slim pod is judged %v, the full one %v", slim, full)
			}
			switch {
			case tc.want == "" && len(full) != 0:
				t.Fatalf("want no problem, got %v", full)
			case tc.want != "" && (len(full) != 1 || !strings.Contains(full[0].Message, tc.want)):
				t.Fatalf("want one problem naming %s, got %v", tc.want, full)
			}
		})
	}
}

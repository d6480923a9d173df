package podspec

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// Run gives p the status kwok writes for a running pod (conditions, host and pod IPs, a
// container status per container, the init container terminated) and managedFields like the
// API server's: one Update entry of the creating manager for metadata and spec, one of the
// kubelet (kwok) for status. For benchmarks that build cached objects without a cluster.
func Run(p *corev1.Pod) {
	now := metav1.NewTime(time.Date(2026, 12, 1, 7, 0, 0, 0, time.UTC))
	p.UID = "5f0c6b1e-3a2d-4f7e-9b8c-1d2e3f4a5b6c"
	p.ResourceVersion, p.CreationTimestamp = "48213377", now
	p.Status = corev1.PodStatus{
		Phase: corev1.PodRunning, HostIP: "10.0.3.17", HostIPs: []corev1.HostIP{{IP: "10.0.3.17"}},
		PodIP: "10.244.7.23", PodIPs: []corev1.PodIP{{IP: "10.244.7.23"}}, StartTime: &now, QOSClass: corev1.PodQOSBurstable,
	}
	for _, t := range []corev1.PodConditionType{"PodReadyToStartContainers", corev1.PodInitialized, corev1.PodReady, corev1.ContainersReady, corev1.PodScheduled} {
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: now})
	}
	status := func(c corev1.Container, i int) corev1.ContainerStatus {
		return corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: "registry.example.com/" + c.Name + "@sha256:0d5b2b8c8e1f4a6d9c3b7e5f1a2d4c6b8e0f2a4c6e8b0d2f4a6c8e0b2d4f6a8c",
			ContainerID: fmt.Sprintf("containerd://%064x", i+1), Ready: true, Started: ptr.To(true),
			State:        corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
			VolumeMounts: []corev1.VolumeMountStatus{{Name: "config", MountPath: "/etc/load", ReadOnly: true}, {Name: "kube-api-access-x7k2p", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true}},
		}
	}
	for i, c := range p.Spec.InitContainers {
		s := status(c, i)
		s.Ready, s.Started = false, ptr.To(false)
		s.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", StartedAt: now, FinishedAt: now}}
		p.Status.InitContainerStatuses = append(p.Status.InitContainerStatuses, s)
	}
	for i, c := range p.Spec.Containers {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, status(c, 10+i))
	}
	meta := map[string]any{}
	spec := map[string]any{}
	st := map[string]any{}
	mustRoundTrip(p.ObjectMeta, &meta)
	mustRoundTrip(p.Spec, &spec)
	mustRoundTrip(p.Status, &st)
	delete(meta, "managedFields")
	p.ManagedFields = []metav1.ManagedFieldsEntry{
		{Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1", Time: &now, FieldsType: "FieldsV1",
			FieldsV1: fieldsV1(map[string]any{"metadata": meta, "spec": spec})},
		{Manager: "kwok", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1", Time: &now, FieldsType: "FieldsV1",
			FieldsV1: fieldsV1(map[string]any{"status": st}), Subresource: "status"},
	}
}

func mustRoundTrip(in, out any) {
	b, err := json.Marshal(in)
	if err == nil {
		err = json.Unmarshal(b, out)
	}
	if err != nil {
		panic(err)
	}
}

// fieldsV1 renders the field set of v the way managedFields do: "f:<field>" for map keys,
// "k:{...}" for list items with a name (or "v:" for scalars), "." for a set node.
func fieldsV1(v any) *metav1.FieldsV1 {
	b, err := json.Marshal(fieldSet(v))
	if err != nil {
		panic(err)
	}
	f := &metav1.FieldsV1{}
	f.SetRawBytes(b)
	return f
}

func fieldSet(v any) map[string]any {
	out := map[string]any{}
	switch t := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			out["f:"+k] = fieldSet(t[k])
		}
	case []any:
		for i, item := range t {
			key := fmt.Sprintf("i:%d", i)
			if m, ok := item.(map[string]any); ok && m["name"] != nil {
				b, _ := json.Marshal(map[string]any{"name": m["name"]})
				key = "k:" + string(b)
			} else if s, ok := item.(string); ok {
				key = "v:" + fmt.Sprintf("%q", s)
			}
			child := fieldSet(item)
			child["."] = map[string]any{}
			out[key] = child
		}
	}
	return out
}

package health

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
)

func owned(kind, name string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name + "-x1",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: kind, Name: name, Controller: ptr.To(true)}}}}
}

func TestPodSubject(t *testing.T) {
	rsOwner := func(name string) *metav1.OwnerReference {
		if name == "web-6cc49f8888" {
			return &metav1.OwnerReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"}
		}
		return nil
	}
	tests := []struct {
		pod  *corev1.Pod
		want string
	}{
		{owned("ReplicaSet", "web-6cc49f8888"), "Deployment/shop/web"},
		{owned("ReplicaSet", "orphan-rs"), "ReplicaSet/shop/orphan-rs"},
		{owned("StatefulSet", "db"), "StatefulSet/shop/db"},
		{owned("DaemonSet", "agent"), "DaemonSet/shop/agent"},
		{owned("Job", "backup-29012"), "Job/shop/backup-29012"},
		{&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "debug"}}, "Pod/shop/debug"},
	}
	for _, tt := range tests {
		if got := PodSubject(tt.pod, rsOwner).String(); got != tt.want {
			t.Errorf("PodSubject(%s) = %s, want %s", tt.pod.Name, got, tt.want)
		}
	}
}

func TestFingerprintAndName(t *testing.T) {
	web := Subject{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "shop", Name: "web"}
	same := web
	if Fingerprint("CrashLoopBackOff", web) != Fingerprint("CrashLoopBackOff", same) {
		t.Fatal("fingerprint is not deterministic")
	}
	if Fingerprint("CrashLoopBackOff", web) == Fingerprint("OOMKilled", web) {
		t.Error("fingerprint ignores the reason")
	}
	other := web
	other.Namespace = "shop2"
	if Fingerprint("CrashLoopBackOff", web) == Fingerprint("CrashLoopBackOff", other) {
		t.Error("fingerprint ignores the namespace")
	}
	if got := IncidentName("CrashLoopBackOff", web, 1); got != "deployment-web-crashloopbackoff" {
		t.Errorf("name = %s", got)
	}
	if got := IncidentName("CrashLoopBackOff", web, 2); got != "deployment-web-crashloopbackoff-2" {
		t.Errorf("name = %s", got)
	}
	long := Subject{Kind: "Deployment", Namespace: "shop", Name: strings.Repeat("a", 253)}
	long2 := long
	long2.Name = strings.Repeat("a", 252) + "b"
	n1, n2 := IncidentName("CrashLoopBackOff", long, 3), IncidentName("CrashLoopBackOff", long2, 3)
	if n1 == n2 {
		t.Error("truncated names collide")
	}
	for _, n := range []string{n1, n2, IncidentName("NodeNotReady", Subject{Kind: "Node", Name: "ip-10-0-0-1.ec2.internal"}, 1)} {
		if errs := validation.IsDNS1123Subdomain(n); len(errs) > 0 {
			t.Errorf("%s: %v", n, errs)
		}
	}
}

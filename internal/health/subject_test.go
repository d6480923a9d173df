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

func TestRollup(t *testing.T) {
	ctrl := func(apiVersion, kind, name string) *metav1.OwnerReference {
		return &metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, Controller: ptr.To(true)}
	}
	// The controllers the cache knows: each object's own controller.
	owners := map[string]*metav1.OwnerReference{
		"ReplicaSet/web-6cc49f8888":   ctrl("apps/v1", "Deployment", "web"),
		"Deployment/web":              nil,
		"ReplicaSet/orphan-rs":        nil,
		"ReplicaSet/canary-7d9f":      ctrl("argoproj.io/v1alpha1", "Rollout", "canary"),
		"Rollout/canary":              nil,
		"Job/backup-29012":            ctrl("batch/v1", "CronJob", "backup"),
		"CronJob/backup":              nil,
		"StatefulSet/db":              ctrl("acid.zalan.do/v1", "postgresql", "main"),
		"postgresql/main":             nil,
		"ReplicaSet/loop-a":           ctrl("apps/v1", "ReplicaSet", "loop-b"),
		"ReplicaSet/loop-b":           ctrl("apps/v1", "ReplicaSet", "loop-a"),
		"Deployment/operator-managed": ctrl("example.com/v1", "Thing", "t1"),
	}
	// Kinds the operator may not read (no RBAC grant for them).
	unreadable := map[string]bool{"Thing": true, "Secret": true}
	owners["ReplicaSet/guarded-5f7"] = ctrl("example.com/v1", "Thing", "t2")
	owners["Secret/bootstrap"] = nil
	lookup := func(_ string, ref metav1.OwnerReference) (*metav1.OwnerReference, bool, error) {
		if unreadable[ref.Kind] {
			return nil, false, ErrOwnerNotReadable
		}
		o, ok := owners[ref.Kind+"/"+ref.Name]
		return o, ok, nil
	}
	tests := []struct {
		name string
		pod  *corev1.Pod
		want string
	}{
		{"Deployment through its ReplicaSet", owned("ReplicaSet", "web-6cc49f8888"), "Deployment/shop/web"},
		{"bare ReplicaSet", owned("ReplicaSet", "orphan-rs"), "ReplicaSet/shop/orphan-rs"},
		{"Argo Rollout through its ReplicaSet", owned("ReplicaSet", "canary-7d9f"), "Rollout/shop/canary"},
		{"CronJob through its Job", owned("Job", "backup-29012"), "CronJob/shop/backup"},
		{"custom resource through a StatefulSet", owned("StatefulSet", "db"), "postgresql/shop/main"},
		{"unknown controller: named, not followed", owned("DaemonSet", "agent"), "DaemonSet/shop/agent"},
		{"bounded depth on an ownership loop", owned("ReplicaSet", "loop-a"), "ReplicaSet/shop/loop-a"},
		{"unreadable owner kind: stops at the last readable object", owned("ReplicaSet", "guarded-5f7"), "ReplicaSet/shop/guarded-5f7"},
		{"unreadable owner two levels up", owned("Deployment", "operator-managed"), "Deployment/shop/operator-managed"},
		{"unreadable direct controller: the pod itself", owned("Secret", "bootstrap"), "Pod/shop/bootstrap-x1"},
		{"bare pod", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "debug"}}, "Pod/shop/debug"},
	}
	for _, tt := range tests {
		got, err := Rollup(tt.pod, "v1", "Pod", lookup)
		if err != nil || got.String() != tt.want {
			t.Errorf("%s: Rollup = %s, %v; want %s", tt.name, got, err, tt.want)
		}
	}
	if got, _ := Rollup(owned("ReplicaSet", "canary-7d9f"), "v1", "Pod", lookup); got.APIVersion != "argoproj.io/v1alpha1" || got.Group() != "argoproj.io" {
		t.Errorf("rollout subject = %+v, want the argoproj.io group kept", got)
	}
}

func TestFingerprintAndName(t *testing.T) {
	web := Subject{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "shop", Name: "web"}
	same := web
	if Fingerprint(web) != Fingerprint(same) {
		t.Fatal("fingerprint is not deterministic")
	}
	if Fingerprint(web) == LegacyFingerprint("CrashLoopBackOff", web) {
		t.Error("subject fingerprint equals a legacy per-reason one")
	}
	other := web
	other.Namespace = "shop2"
	if Fingerprint(web) == Fingerprint(other) {
		t.Error("fingerprint ignores the namespace")
	}
	rollout := web
	rollout.APIVersion, rollout.Kind = "argoproj.io/v1alpha1", "Rollout"
	if Fingerprint(web) == Fingerprint(rollout) {
		t.Error("fingerprint ignores the kind")
	}
	if got := IncidentName(web, 1); got != "deployment-web" {
		t.Errorf("name = %s, want the subject's, without the reason", got)
	}
	if got := IncidentName(web, 2); got != "deployment-web-2" {
		t.Errorf("name = %s", got)
	}
	long := Subject{Kind: "Deployment", Namespace: "shop", Name: strings.Repeat("a", 253)}
	long2 := long
	long2.Name = strings.Repeat("a", 252) + "b"
	n1, n2 := IncidentName(long, 3), IncidentName(long2, 3)
	if n1 == n2 {
		t.Error("truncated names collide")
	}
	for _, n := range []string{n1, n2, IncidentName(Subject{Kind: "Node", Name: "ip-10-0-0-1.ec2.internal"}, 1)} {
		if errs := validation.IsDNS1123Subdomain(n); len(errs) > 0 {
			t.Errorf("%s: %v", n, errs)
		}
	}
}

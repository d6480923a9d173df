package slo

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func TestStateOf(t *testing.T) {
	since := t0.Add(-time.Hour)
	deploy := func(replicas, available int32, cond corev1.ConditionStatus) *appsv1.Deployment {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: appsv1.DeploymentSpec{Replicas: ptr.To(replicas)},
			Status: appsv1.DeploymentStatus{AvailableReplicas: available, ReadyReplicas: available}}
		if cond != "" {
			d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: cond, Reason: "MinimumReplicasUnavailable", LastTransitionTime: metav1.NewTime(since)}}
		}
		return d
	}
	sts := func(replicas, available int32, maxUnavailable *intstr.IntOrString) *appsv1.StatefulSet {
		s := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db"}, Spec: appsv1.StatefulSetSpec{Replicas: ptr.To(replicas)},
			Status: appsv1.StatefulSetStatus{AvailableReplicas: available, ReadyReplicas: available}}
		if maxUnavailable != nil {
			s.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{MaxUnavailable: maxUnavailable}
		}
		return s
	}
	ds := func(desired, available int32) *appsv1.DaemonSet {
		return &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent"},
			Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: desired, NumberAvailable: available, NumberReady: available}}
	}
	tests := []struct {
		name      string
		obj       client.Object
		wantDown  bool
		wantSince time.Time
		wantMsg   string
	}{
		{"Deployment available", deploy(3, 3, corev1.ConditionTrue), false, since, ""},
		{"Deployment Available=False", deploy(3, 1, corev1.ConditionFalse), true, since, "Available=False (MinimumReplicasUnavailable): 1 of 3"},
		{"Deployment scaled to zero", deploy(0, 0, corev1.ConditionFalse), false, time.Time{}, ""},
		{"new Deployment without condition, nothing available", deploy(2, 0, ""), true, time.Time{}, "0 of 2"},
		{"new Deployment without condition, within maxUnavailable 25% of 4", deploy(4, 3, ""), false, time.Time{}, ""},
		{"StatefulSet of one with its pod unavailable", sts(1, 0, nil), true, time.Time{}, "0 of 1 replicas available (at least 1 needed)"},
		{"StatefulSet of three rolling one pod (maxUnavailable 1)", sts(3, 2, nil), false, time.Time{}, ""},
		{"StatefulSet of three with two pods down", sts(3, 1, nil), true, time.Time{}, "at least 2 needed"},
		{"StatefulSet tolerating 50% unavailable", sts(4, 2, ptr.To(intstr.FromString("50%"))), false, time.Time{}, ""},
		{"DaemonSet with one node's pod updating", ds(5, 4), false, time.Time{}, ""},
		{"DaemonSet with two pods down", ds(5, 3), true, time.Time{}, "3 of 5 pods available"},
		{"DaemonSet on no node", ds(0, 0), false, time.Time{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := StateOf(tt.obj)
			if s.Down != tt.wantDown || !s.Since.Equal(tt.wantSince) || !strings.Contains(s.Message, tt.wantMsg) || (tt.wantMsg == "" && s.Message != "") {
				t.Errorf("StateOf() = %+v, want down=%v since=%s message containing %q", s, tt.wantDown, tt.wantSince, tt.wantMsg)
			}
		})
	}
}

func TestObserve(t *testing.T) {
	now := t0
	up := func(since time.Duration) WorkloadState { return WorkloadState{Since: at(since)} }
	down := func(since time.Duration) WorkloadState { return WorkloadState{Down: true, Since: at(since)} }
	tests := []struct {
		name      string
		states    []WorkloadState
		wantDown  bool
		wantKnown time.Time
	}{
		{"no workloads", nil, false, now},
		{"all up: since the latest recovery", []WorkloadState{up(-3 * time.Hour), up(-time.Hour)}, false, at(-time.Hour)},
		{"all up, one cannot tell: from now", []WorkloadState{up(-3 * time.Hour), {}}, false, now},
		{"one down: down since it went down", []WorkloadState{up(-time.Minute), down(-30 * time.Minute)}, true, at(-30 * time.Minute)},
		{"two down: since the earliest", []WorkloadState{down(-10 * time.Minute), down(-30 * time.Minute)}, true, at(-30 * time.Minute)},
		{"down without a time: from now", []WorkloadState{{Down: true}}, true, now},
		{"a condition time in the future (skew): from now", []WorkloadState{down(time.Minute)}, true, now},
	}
	for _, tt := range tests {
		o := Observe(tt.states, now)
		if o.Down != tt.wantDown || !o.KnownSince.Equal(tt.wantKnown) || !o.At.Equal(now) {
			t.Errorf("%s: Observe() = %+v, want down=%v knownSince=%s", tt.name, o, tt.wantDown, tt.wantKnown)
		}
	}
}

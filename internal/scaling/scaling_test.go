package scaling

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func TestEffective(t *testing.T) {
	tests := []struct {
		name         string
		bounds       []Bound
		wantMin      *int32
		wantMax      *int32
		wantConflict bool
		wantCheck3   string
	}{
		{"no ServiceLevel", nil, nil, nil, false, ""},
		{"one ServiceLevel", []Bound{{"shop", ptr.To[int32](2), ptr.To[int32](10)}}, ptr.To[int32](2), ptr.To[int32](10), false, ""},
		{"the intersection of two", []Bound{{"shop", ptr.To[int32](2), ptr.To[int32](10)}, {"platform", ptr.To[int32](4), ptr.To[int32](8)}},
			ptr.To[int32](4), ptr.To[int32](8), false, "3 replicas is below minReplicas 4 of ServiceLevel platform"},
		{"an empty intersection is a conflict", []Bound{{"a", ptr.To[int32](5), nil}, {"b", nil, ptr.To[int32](3)}},
			ptr.To[int32](5), ptr.To[int32](3), true, "ServiceLevel a sets minReplicas 5, ServiceLevel b sets maxReplicas 3"},
		{"a max alone", []Bound{{"shop", nil, ptr.To[int32](2)}}, nil, ptr.To[int32](2), false, "3 replicas is above maxReplicas 2 of ServiceLevel shop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := Effective(tt.bounds)
			if !equal(b.Min, tt.wantMin) || !equal(b.Max, tt.wantMax) || b.Conflict() != tt.wantConflict {
				t.Errorf("Effective() = %v..%v conflict %v", deref(b.Min), deref(b.Max), b.Conflict())
			}
			if got := b.CheckReplicas("Deployment web", 3); (tt.wantCheck3 == "") != (got == "") || !strings.Contains(got, tt.wantCheck3) {
				t.Errorf("CheckReplicas(3) = %q, want %q", got, tt.wantCheck3)
			}
		})
	}
}

func TestCheckHPA(t *testing.T) {
	b := Effective([]Bound{{"shop", ptr.To[int32](2), ptr.To[int32](10)}})
	for _, tt := range []struct {
		min  *int32
		max  int32
		want string
	}{
		{ptr.To[int32](2), 10, ""},
		{ptr.To[int32](3), 8, ""},
		{nil, 10, "minReplicas 1 is below minReplicas 2 of ServiceLevel shop"},
		{ptr.To[int32](2), 20, "maxReplicas 20 is above maxReplicas 10 of ServiceLevel shop"},
		{ptr.To[int32](1), 20, "minReplicas 1 is below minReplicas 2 of ServiceLevel shop; maxReplicas 20 is above"},
	} {
		if got := b.CheckHPA("web", tt.min, tt.max); (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("CheckHPA(%v, %d) = %q, want %q", deref(tt.min), tt.max, got, tt.want)
		}
	}
}

func TestDecide(t *testing.T) {
	bounds := Effective([]Bound{{"shop", ptr.To[int32](2), ptr.To[int32](6)}})
	scaleOut := Policy{Bounds: bounds, ScaleOut: true, Step: 2, Cooldown: 5 * time.Minute}
	step := func(ago time.Duration, from, to int32, reason string) Step {
		return Step{At: t0.Add(-ago), From: from, To: to, Reason: reason}
	}
	tests := []struct {
		name        string
		p           Policy
		s           State
		wantScale   bool
		wantTo      int32
		wantReason  string
		wantMessage string
		wantRequeue time.Duration
	}{
		{name: "nothing to do", p: scaleOut, s: State{Replicas: 3}},
		{name: "burning on pods that are not ready: one step out", p: scaleOut, s: State{Replicas: 3, Firing: true, NotReadyOnly: true},
			wantScale: true, wantTo: 5, wantReason: ReasonScaleOutOnBurn, wantRequeue: 5 * time.Minute},
		{name: "never above the bounds", p: scaleOut, s: State{Replicas: 5, Firing: true, NotReadyOnly: true},
			wantScale: true, wantTo: 6, wantReason: ReasonScaleOutOnBurn, wantRequeue: 5 * time.Minute},
		{name: "at the maximum", p: scaleOut, s: State{Replicas: 6, Firing: true, NotReadyOnly: true, Steps: []Step{step(10*time.Minute, 4, 6, ReasonScaleOutOnBurn)}},
			wantMessage: "at maxReplicas 6 of ServiceLevel shop"},
		{name: "within the cooldown of the last step", p: scaleOut, s: State{Replicas: 5, Firing: true, NotReadyOnly: true, Steps: []Step{step(time.Minute, 3, 5, ReasonScaleOutOnBurn)}},
			wantMessage: "cooling down", wantRequeue: 4 * time.Minute},
		{name: "crash loops: more replicas cannot help", p: scaleOut, s: State{Replicas: 3, Firing: true},
			wantMessage: "more replicas cannot help"},
		{name: "an HPA scales the workload", p: scaleOut, s: State{Replicas: 3, Firing: true, NotReadyOnly: true, HPA: "web"},
			wantMessage: "left to HorizontalPodAutoscaler web"},
		{name: "scale-out disabled", p: Policy{Bounds: bounds}, s: State{Replicas: 3, Firing: true, NotReadyOnly: true}},
		{name: "the burn stopped less than a cooldown ago: wait", p: scaleOut,
			s:           State{Replicas: 5, BurnStoppedAt: t0.Add(-2 * time.Minute), Steps: []Step{step(20*time.Minute, 3, 5, ReasonScaleOutOnBurn)}},
			wantMessage: "back to 3 replicas", wantRequeue: 3 * time.Minute},
		{name: "the burn stopped a cooldown ago: back to where the episode began", p: scaleOut,
			s: State{Replicas: 6, BurnStoppedAt: t0.Add(-6 * time.Minute),
				Steps: []Step{step(time.Hour, 2, 3, ReasonScaleBack), step(30*time.Minute, 3, 5, ReasonScaleOutOnBurn), step(20*time.Minute, 5, 6, ReasonScaleOutOnBurn)}},
			wantScale: true, wantTo: 3, wantReason: ReasonScaleBack},
		{name: "someone scaled by hand since: their replicas stay", p: scaleOut,
			s: State{Replicas: 4, BurnStoppedAt: t0.Add(-6 * time.Minute), Steps: []Step{step(20*time.Minute, 3, 5, ReasonScaleOutOnBurn)}}},
		{name: "a step just taken that does not show yet is not taken again", p: scaleOut,
			s:           State{Replicas: 3, Firing: true, NotReadyOnly: true, Steps: []Step{step(2*time.Second, 3, 5, ReasonScaleOutOnBurn)}},
			wantMessage: "waiting for the step from 3 to 5 replicas to show", wantRequeue: 28 * time.Second},
		{name: "a step that never showed is taken again", p: scaleOut,
			s:         State{Replicas: 3, Firing: true, NotReadyOnly: true, Steps: []Step{step(10*time.Minute, 3, 5, ReasonScaleOutOnBurn)}},
			wantScale: true, wantTo: 5, wantReason: ReasonScaleOutOnBurn, wantRequeue: 5 * time.Minute},
		{name: "drift is reported", p: Policy{Bounds: bounds}, s: State{Replicas: 9},
			wantMessage: "9 replicas, above maxReplicas 6 of ServiceLevel shop"},
		{name: "drift is corrected when asked", p: Policy{Bounds: bounds, Correct: true}, s: State{Replicas: 1},
			wantScale: true, wantTo: 2, wantReason: ReasonDriftCorrected},
		{name: "conflicting bounds: nothing moves", p: Policy{Bounds: Effective([]Bound{{"a", ptr.To[int32](5), nil}, {"b", nil, ptr.To[int32](3)}}), Correct: true},
			s: State{Replicas: 1}, wantMessage: "do not intersect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Decide(tt.p, tt.s, t0)
			if a.Scale != tt.wantScale || a.To != tt.wantTo || a.Reason != tt.wantReason || a.RequeueAfter != tt.wantRequeue ||
				!strings.Contains(a.Message, tt.wantMessage) {
				t.Errorf("Decide() = %+v, want scale=%v to=%d reason=%q requeue=%s message containing %q",
					a, tt.wantScale, tt.wantTo, tt.wantReason, tt.wantRequeue, tt.wantMessage)
			}
		})
	}
}

func TestDrift(t *testing.T) {
	b := Effective([]Bound{{"shop", ptr.To[int32](2), nil}})
	if got := Drift(b, 1); got != "1 replicas, below minReplicas 2 of ServiceLevel shop" {
		t.Errorf("Drift(1) = %q", got)
	}
	if got := Drift(b, 2); got != "" {
		t.Errorf("Drift(2) = %q", got)
	}
}

func equal(a, b *int32) bool { return (a == nil && b == nil) || (a != nil && b != nil && *a == *b) }

func deref(p *int32) any {
	if p == nil {
		return "-"
	}
	return *p
}

func TestPolicies(t *testing.T) {
	sl := func(name, app string, sc *itopsv1alpha1.ScalingPolicy) itopsv1alpha1.ServiceLevel {
		return itopsv1alpha1.ServiceLevel{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: itopsv1alpha1.ServiceLevelSpec{Selector: metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}, Scaling: sc}}
	}
	sls := []itopsv1alpha1.ServiceLevel{
		sl("zeta", "web", &itopsv1alpha1.ScalingPolicy{MinReplicas: ptr.To[int32](2), ScaleOutOnBurn: &itopsv1alpha1.ScaleOutOnBurn{Step: 1}}),
		sl("alpha", "web", &itopsv1alpha1.ScalingPolicy{MaxReplicas: ptr.To[int32](8), Drift: itopsv1alpha1.DriftCorrect, ScaleOutOnBurn: &itopsv1alpha1.ScaleOutOnBurn{Step: 2}}),
		sl("other", "db", &itopsv1alpha1.ScalingPolicy{MaxReplicas: ptr.To[int32](1)}),
		sl("plain", "web", nil),
	}
	web := labels.Set{"app": "web"}
	b := Effective(BoundsOf(sls, web))
	if *b.Min != 2 || b.MinFrom != "zeta" || *b.Max != 8 || b.MaxFrom != "alpha" {
		t.Errorf("bounds = %+v", b)
	}
	if scaleOut, correct := Actors(sls, web); scaleOut != "alpha" || correct != "alpha" {
		t.Errorf("Actors() = %q, %q; want alpha, alpha (first by name)", scaleOut, correct)
	}
	if got := Selecting(sls, labels.Set{"app": "none"}); len(got) != 0 {
		t.Errorf("Selecting() = %v", got)
	}
}

func TestDefaultedOnCreate(t *testing.T) {
	three, two := int32(3), int32(2)
	bounds := Bounds{Min: &three}
	tests := []struct {
		name        string
		op, sub     string
		replicas    int32
		set         bool
		b           Bounds
		wantAllowed bool
	}{
		{"a create without spec.replicas (defaulted to 1) under minReplicas 3", "CREATE", "", 1, false, bounds, true},
		{"an explicit replicas: 1 on create is a request", "CREATE", "", 1, true, bounds, false},
		{"an explicit 2 on create is a request", "CREATE", "", 2, true, bounds, false},
		{"an update to 1 is a request", "UPDATE", "", 1, true, bounds, false},
		{"kubectl scale to 1", "UPDATE", "scale", 1, true, bounds, false},
		{"conflicting bounds deny everything", "CREATE", "", 1, false, Bounds{Min: &three, Max: &two}, false},
	}
	for _, tt := range tests {
		if got := DefaultedOnCreate(tt.op, tt.sub, tt.replicas, tt.set, tt.b); got != tt.wantAllowed {
			t.Errorf("%s: DefaultedOnCreate() = %v, want %v", tt.name, got, tt.wantAllowed)
		}
	}
}

func TestReplicasSet(t *testing.T) {
	entry := func(op metav1.ManagedFieldsOperationType, fields string) metav1.ManagedFieldsEntry {
		return metav1.ManagedFieldsEntry{Manager: "flux", Operation: op, FieldsV1: metav1.NewFieldsV1(fields)}
	}
	apply, update := metav1.ManagedFieldsOperationApply, metav1.ManagedFieldsOperationUpdate
	tests := []struct {
		name        string
		fields      []metav1.ManagedFieldsEntry
		lastApplied string
		want        bool
	}{
		{"no managed fields", nil, "", false},
		{"a server-side apply without replicas", []metav1.ManagedFieldsEntry{entry(apply, `{"f:spec":{"f:selector":{},"f:template":{}}}`)}, "", false},
		{"a server-side apply setting replicas: 1", []metav1.ManagedFieldsEntry{entry(apply, `{"f:spec":{"f:replicas":{},"f:template":{}}}`)}, "", true},
		{"a client-side apply without replicas (defaults listed)", []metav1.ManagedFieldsEntry{entry(update, `{"f:spec":{"f:replicas":{}}}`)},
			`{"apiVersion":"apps/v1","kind":"Deployment","spec":{"template":{}}}`, false},
		{"a client-side apply setting replicas: 1", []metav1.ManagedFieldsEntry{entry(update, `{"f:spec":{"f:replicas":{}}}`)},
			`{"apiVersion":"apps/v1","kind":"Deployment","spec":{"replicas":1}}`, true},
		{"a plain create: the defaulted object's fields, cannot tell", []metav1.ManagedFieldsEntry{entry(update, `{"f:spec":{"f:replicas":{}}}`)}, "", false},
		{"undecodable fields", []metav1.ManagedFieldsEntry{entry(apply, `not json`)}, "", false},
	}
	for _, tt := range tests {
		if got := ReplicasSet(tt.fields, tt.lastApplied); got != tt.want {
			t.Errorf("%s: ReplicasSet() = %v, want %v", tt.name, got, tt.want)
		}
	}
}

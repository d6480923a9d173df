package capacity

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

func pdb(minAvail, maxUnavail *intstr.IntOrString, allowed, expected, desired, healthy int32, blockedSince time.Time) *policyv1.PodDisruptionBudget {
	p := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", Generation: 1, CreationTimestamp: metav1.NewTime(t0.Add(-48 * time.Hour))},
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: minAvail, MaxUnavailable: maxUnavail},
		Status: policyv1.PodDisruptionBudgetStatus{ObservedGeneration: 1, DisruptionsAllowed: allowed, ExpectedPods: expected,
			DesiredHealthy: desired, CurrentHealthy: healthy},
	}
	if !blockedSince.IsZero() {
		p.Status.Conditions = []metav1.Condition{{Type: policyv1.DisruptionAllowedCondition, Status: metav1.ConditionFalse,
			Reason: policyv1.InsufficientPodsReason, LastTransitionTime: metav1.NewTime(blockedSince)}}
	}
	return p
}

func TestJudgeDisruptionBudget(t *testing.T) {
	one, zero, all, half := intstr.FromInt32(1), intstr.FromInt32(0), intstr.FromString("100%"), intstr.FromString("50%")
	three := intstr.FromInt32(3)
	hour := time.Hour
	cases := []struct {
		name    string
		p       *policyv1.PodDisruptionBudget
		firing  bool
		pending bool
		next    time.Time
		msg     string
	}{
		{name: "allows a disruption", p: pdb(&one, nil, 1, 2, 1, 2, time.Time{})},
		{name: "no pods to protect", p: pdb(&one, nil, 0, 0, 1, 0, t0.Add(-2*hour))},
		{name: "minAvailable equals the one replica, beyond grace", p: pdb(&one, nil, 0, 1, 1, 1, t0.Add(-2*hour)),
			firing: true, msg: "PodDisruptionBudget web allows no disruption since 2026-12-01T08:00:00Z: minAvailable 1 with 1 expected pods (1 healthy); a node drain"},
		{name: "minAvailable equals the one replica, within grace", p: pdb(&one, nil, 0, 1, 1, 1, t0.Add(-10*time.Minute)),
			pending: true, next: t0.Add(50 * time.Minute)},
		{name: "maxUnavailable 0", p: pdb(nil, &zero, 0, 3, 3, 3, t0.Add(-2*hour)), firing: true, msg: "maxUnavailable 0 with 3 expected pods"},
		{name: "minAvailable 100%", p: pdb(&all, nil, 0, 4, 4, 4, t0.Add(-2*hour)), firing: true, msg: "minAvailable 100%"},
		{name: "minAvailable 50% of 4, all healthy", p: pdb(&half, nil, 2, 4, 2, 4, time.Time{})},
		{name: "blocked by configuration and a pod unhealthy too", p: pdb(&three, nil, 0, 3, 3, 2, t0.Add(-2*hour)), firing: true, msg: "(2 healthy)"},
		{name: "blocked only because pods are unhealthy: the workload's incident", p: pdb(&half, nil, 0, 4, 2, 2, t0.Add(-2*hour))},
		{name: "blocked only because the one spare pod is unhealthy", p: pdb(&one, nil, 0, 2, 1, 1, t0.Add(-2*hour))},
		{name: "no condition: counts from creation", p: pdb(&one, nil, 0, 1, 1, 1, time.Time{}), firing: true},
		{name: "status behind the spec: sustained", p: func() *policyv1.PodDisruptionBudget {
			p := pdb(&one, nil, 0, 1, 1, 1, t0.Add(-2*hour))
			p.Generation = 2
			return p
		}(), pending: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := JudgeDisruptionBudget(tc.p, t0, hour)
			if f.Firing != tc.firing || f.Pending != tc.pending || !f.Next.Equal(tc.next) {
				t.Fatalf("got firing=%v pending=%v next=%s, want %v %v %s", f.Firing, f.Pending, f.Next, tc.firing, tc.pending, tc.next)
			}
			if !strings.Contains(f.Message, tc.msg) {
				t.Fatalf("message %q does not contain %q", f.Message, tc.msg)
			}
			if f.Problem() && f.Priority() != itopsv1alpha1.PriorityP4 {
				t.Fatalf("priority %s, want P4", f.Priority())
			}
		})
	}
}

func TestJudgeBudgetOverlap(t *testing.T) {
	budget := func(name string, created time.Time, sel *metav1.LabelSelector) policyv1.PodDisruptionBudget {
		return policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, CreationTimestamp: metav1.NewTime(created)},
			Spec: policyv1.PodDisruptionBudgetSpec{Selector: sel}}
	}
	app := func(v string) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchLabels: map[string]string{"app": v}}
	}
	pod := func(name string, phase corev1.PodPhase, lbls map[string]string) corev1.Pod {
		return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, Labels: lbls}, Status: corev1.PodStatus{Phase: phase}}
	}
	web := map[string]string{"app": "web", "tier": "front"}
	webPods := []corev1.Pod{pod("web-2", corev1.PodRunning, web), pod("web-1", corev1.PodRunning, web)}
	old, young := t0.Add(-48*time.Hour), t0.Add(-10*time.Minute)
	cases := []struct {
		name            string
		p               policyv1.PodDisruptionBudget
		budgets         []policyv1.PodDisruptionBudget
		pods            []corev1.Pod
		firing, pending bool
		msg             string
	}{
		{name: "one budget per pod", p: budget("web", old, app("web")),
			budgets: []policyv1.PodDisruptionBudget{budget("web", old, app("web")), budget("api", old, app("api"))}, pods: webPods},
		{name: "two budgets on the same pods, the newer beyond grace", p: budget("web", old, app("web")),
			budgets: []policyv1.PodDisruptionBudget{budget("web", old, app("web")), budget("web-front", old.Add(time.Hour),
				&metav1.LabelSelector{MatchLabels: map[string]string{"tier": "front"}})},
			pods: webPods, firing: true,
			msg: "PodDisruptionBudgets web and web-front select the same pods (2, web-1 first): the eviction API refuses to evict a pod covered by more than one budget"},
		{name: "the other budget is new: within grace", p: budget("web", old, app("web")),
			budgets: []policyv1.PodDisruptionBudget{budget("web-copy", young, app("web"))}, pods: webPods, pending: true},
		{name: "an empty selector selects every pod of the namespace (policy/v1)", p: budget("web", old, app("web")),
			budgets: []policyv1.PodDisruptionBudget{budget("all", old, &metav1.LabelSelector{})}, pods: webPods, firing: true, msg: "web and all"},
		{name: "a nil selector selects nothing", p: budget("web", old, app("web")),
			budgets: []policyv1.PodDisruptionBudget{budget("none", old, nil)}, pods: webPods},
		{name: "pods the eviction API evicts without budgets do not count", p: budget("web", old, app("web")),
			budgets: []policyv1.PodDisruptionBudget{budget("web-copy", old, app("web"))},
			pods:    []corev1.Pod{pod("web-1", corev1.PodSucceeded, web), pod("web-2", corev1.PodPending, web), pod("web-3", corev1.PodFailed, web)}},
		{name: "no pods", p: budget("web", old, app("web")), budgets: []policyv1.PodDisruptionBudget{budget("web-copy", old, app("web"))}},
		{name: "three budgets: all named", p: budget("web", old, app("web")),
			budgets: []policyv1.PodDisruptionBudget{budget("b", old, app("web")), budget("a", old, app("web"))}, pods: webPods,
			firing: true, msg: "PodDisruptionBudgets web and a, b select"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := JudgeBudgetOverlap(&tc.p, tc.budgets, tc.pods, t0, time.Hour)
			if f.Firing != tc.firing || f.Pending != tc.pending {
				t.Fatalf("got firing=%v pending=%v, want %v %v (%s)", f.Firing, f.Pending, tc.firing, tc.pending, f.Message)
			}
			if !strings.Contains(f.Message, tc.msg) {
				t.Fatalf("message %q does not contain %q", f.Message, tc.msg)
			}
			if f.Problem() && f.Priority() != itopsv1alpha1.PriorityP4 {
				t.Fatalf("priority %s, want P4", f.Priority())
			}
		})
	}
}

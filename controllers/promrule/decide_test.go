package promrule

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

func exprOf(s string) intstr.IntOrString { return intstr.FromString(s) }

func TestDecide(t *testing.T) {
	withSLI := func(mutate func(*itopsv1alpha1.SLI)) *itopsv1alpha1.ServiceLevel {
		sl := newServiceLevel("shop", "checkout")
		sl.UID = "uid-1"
		mutate(sl.Spec.Objectives.SLI)
		return sl
	}
	for _, tc := range []struct {
		name       string
		sl         *itopsv1alpha1.ServiceLevel
		served     bool
		wantRule   bool
		wantDelete bool
		wantReason string // "" : no condition
	}{
		{name: "wants rules, served", sl: withSLI(func(*itopsv1alpha1.SLI) {}), served: true, wantRule: true},
		{name: "wants rules, not served", sl: withSLI(func(*itopsv1alpha1.SLI) {}), wantReason: itopsv1alpha1.SLReasonPrometheusRuleNotServed},
		{name: "prometheusRule unset, served: delete ours", sl: withSLI(func(s *itopsv1alpha1.SLI) { s.PrometheusRule = nil }), served: true, wantDelete: true},
		{name: "prometheusRule unset, not served: nothing to delete", sl: withSLI(func(s *itopsv1alpha1.SLI) { s.PrometheusRule = nil })},
		{name: "availability SLI: delete ours", sl: withSLI(func(s *itopsv1alpha1.SLI) { *s = itopsv1alpha1.SLI{Type: itopsv1alpha1.SLIAvailability} }),
			served: true, wantDelete: true},
		{name: "no objectives: delete ours", sl: func() *itopsv1alpha1.ServiceLevel {
			sl := newServiceLevel("shop", "checkout")
			sl.Spec.Objectives = nil
			return sl
		}(), served: true, wantDelete: true},
		{name: "spec that generates nothing valid: InvalidSpec, the last rules kept", sl: withSLI(func(s *itopsv1alpha1.SLI) { s.Good = "sum(rate(x[5m]))" }),
			served: true, wantReason: itopsv1alpha1.ReasonInvalidSpec},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(tc.sl, tc.served)
			if (d.Rule != nil) != tc.wantRule || d.Delete != tc.wantDelete {
				t.Fatalf("rule %v delete %v, want %v %v", d.Rule != nil, d.Delete, tc.wantRule, tc.wantDelete)
			}
			switch {
			case tc.wantReason == "" && d.Condition != nil:
				t.Errorf("condition %+v, want none", d.Condition)
			case tc.wantReason != "" && (d.Condition == nil || d.Condition.Reason != tc.wantReason || d.Condition.Status != metav1.ConditionFalse):
				t.Errorf("condition %+v, want False %s", d.Condition, tc.wantReason)
			}
			if d.Rule != nil {
				if d.Rule.Name != "checkout" || d.Rule.Namespace != "shop" || !metav1.IsControlledBy(d.Rule, tc.sl) ||
					d.Rule.Labels["release"] != "kube-prometheus-stack" || len(d.Rule.Spec.Groups) != 3 {
					t.Errorf("rule %+v", d.Rule.ObjectMeta)
				}
			}
		})
	}
}

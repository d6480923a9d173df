package selector

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

func TestValidate(t *testing.T) {
	expr := func(key string, op metav1.LabelSelectorOperator, values ...string) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: key, Operator: op, Values: values}}}
	}
	tests := []struct {
		name string
		sel  *metav1.LabelSelector
		want string // "" for valid
	}{
		{"absent selects everything", nil, ""},
		{"empty selects everything", &metav1.LabelSelector{}, ""},
		{"matchLabels", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, ""},
		{"In", expr("app", metav1.LabelSelectorOpIn, "web"), ""},
		{"Exists", expr("app", metav1.LabelSelectorOpExists), ""},
		{"lower-case in (issue 13)", expr("app", "in", "web"), `spec.selector.matchExpressions[0].operator: Invalid value: "in"`},
		{"In without values", expr("app", metav1.LabelSelectorOpIn), "spec.selector.matchExpressions[0].values: Required value"},
		{"Exists with values", expr("app", metav1.LabelSelectorOpExists, "web"), "spec.selector.matchExpressions[0].values: Forbidden"},
		{"invalid key", expr("app/x/y", metav1.LabelSelectorOpExists), "spec.selector.matchExpressions[0].key"},
		{"invalid label value", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "not a value"}}, "spec.selector.matchLabels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := &itopsv1alpha1.ServiceLevelSpec{}
			if tt.sel != nil {
				spec.Selector = *tt.sel
			}
			got := ServiceLevel(spec).ToAggregate()
			switch {
			case tt.want == "" && got != nil:
				t.Fatalf("errors %v, want none", got)
			case tt.want != "" && (got == nil || !strings.Contains(got.Error(), tt.want)):
				t.Fatalf("errors %v, want %q", got, tt.want)
			}
		})
	}
}

func TestMaintenanceWindowPaths(t *testing.T) {
	bad := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: "notin", Values: []string{"x"}}}}
	errs := MaintenanceWindow(&itopsv1alpha1.MaintenanceWindowSpec{Selector: bad, NamespaceSelector: bad}).ToAggregate().Error()
	for _, want := range []string{"spec.selector.matchExpressions[0].operator", "spec.namespaceSelector.matchExpressions[0].operator"} {
		if !strings.Contains(errs, want) {
			t.Errorf("errors %q lack %q", errs, want)
		}
	}
}

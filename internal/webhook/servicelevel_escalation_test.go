package webhook

import (
	"strings"
	"testing"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/config"
)

func TestEscalationWarnings(t *testing.T) {
	policy := &config.NotificationPolicy{
		Receivers: []config.Receiver{{Name: "pagerduty"}},
		Routes:    []config.Route{{Name: "sre-leads", Receivers: []string{"pagerduty"}}},
	}
	withEscalation := func(e string) *itopsv1alpha1.ServiceLevel {
		return &itopsv1alpha1.ServiceLevel{Spec: itopsv1alpha1.ServiceLevelSpec{Owner: &itopsv1alpha1.ServiceOwner{Team: "payments", Escalation: e}}}
	}
	cases := []struct {
		name   string
		sl     *itopsv1alpha1.ServiceLevel
		policy *config.NotificationPolicy
		warn   bool
	}{
		{"no owner", &itopsv1alpha1.ServiceLevel{}, policy, false},
		{"owner without escalation", withEscalation(""), policy, false},
		{"a route's name", withEscalation("sre-leads"), policy, false},
		{"a receiver's name", withEscalation("pagerduty"), policy, false},
		{"a typo", withEscalation("sre-lead"), policy, true},
		{"no policy given", withEscalation("sre-lead"), nil, false},
		{"an empty policy", withEscalation("sre-leads"), &config.NotificationPolicy{}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := EscalationWarnings(tc.sl, tc.policy)
			if got := len(w) > 0; got != tc.warn {
				t.Fatalf("warnings %v, want a warning: %v", w, tc.warn)
			}
			if tc.warn && !strings.Contains(w[0], "spec.owner.escalation: "+tc.sl.Spec.Owner.Escalation) {
				t.Fatalf("the warning %q does not name the field and value", w[0])
			}
		})
	}
}

package notification

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/config"
)

func TestChangeEventsFor(t *testing.T) {
	cases := []struct {
		phase   itopsv1alpha1.ChangePhase
		started bool
		sent    []string
		want    []string
	}{
		{itopsv1alpha1.ChangePhase("Approved"), false, nil, nil},
		{itopsv1alpha1.ChangeInProgress, true, nil, []string{"started"}},
		{itopsv1alpha1.ChangeInProgress, true, []string{"started"}, nil},
		{itopsv1alpha1.ChangeFailed, true, []string{"started"}, []string{"failed"}},
		{itopsv1alpha1.ChangeFailed, true, nil, []string{"started", "failed"}},
		{itopsv1alpha1.ChangeFailed, true, []string{"started", "failed"}, nil},
		{itopsv1alpha1.ChangePhase("Completed"), true, []string{"started"}, nil},
	}
	for _, c := range cases {
		if got := ChangeEventsFor(c.phase, c.started, c.sent); !slices.Equal(got, c.want) {
			t.Errorf("ChangeEventsFor(%s, %v, %v) = %v, want %v", c.phase, c.started, c.sent, got, c.want)
		}
	}
}

func TestChangeEventReceivers(t *testing.T) {
	p := &config.NotificationPolicy{
		Receivers: []config.Receiver{
			{Name: "pd", PagerDuty: &config.PagerDutyReceiver{ChangeEvents: true}},
			{Name: "pd-quiet", PagerDuty: &config.PagerDutyReceiver{}},
			{Name: "slack", Slack: &config.SlackReceiver{}},
		},
		Routes: []config.Route{
			{Match: config.RouteMatch{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "prod"}}}, Receivers: []string{"pd", "pd-quiet", "slack"}},
		},
	}
	if got := ChangeEventReceivers(p, map[string]string{"tier": "prod"}); !slices.Equal(got, []string{"pd"}) {
		t.Fatalf("prod: %v", got)
	}
	if got := ChangeEventReceivers(p, map[string]string{"tier": "dev"}); len(got) != 0 {
		t.Fatalf("dev: %v", got)
	}
}

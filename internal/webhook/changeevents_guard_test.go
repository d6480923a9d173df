package webhook

import (
	"context"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/config"
	"github.com/itops-dev/itops-operator/test/cluster"
)

// TestChangeEventsRecordIsOperatorOwned: the record of the PagerDuty change events sent for a
// ChangeRequest is the operator's; anyone else setting, changing or removing it is refused
// (review finding: anyone with edit could silence or repeat the events).
func TestChangeEventsRecordIsOperatorOwned(t *testing.T) {
	const operator = "system:serviceaccount:itops-system:itops-operator"
	policy, err := config.Parse([]byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	w := &ChangeRequestWebhook{Policy: policy, OperatorUser: operator,
		Reader: fake.NewClientBuilder().WithScheme(cluster.Scheme()).WithObjects(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}).Build()}
	cr := func(record string) *itopsv1alpha1.ChangeRequest {
		c := &itopsv1alpha1.ChangeRequest{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "deploy-1"},
			Spec: itopsv1alpha1.ChangeRequestSpec{Title: "deploy", RequestedBy: "alice"}}
		if record != "" {
			c.Annotations = map[string]string{itopsv1alpha1.AnnotationPagerDutyChangeEvents: record}
		}
		return c
	}
	ctxAs := func(user string, op admissionv1.Operation) context.Context {
		return admission.NewContextWithRequest(context.Background(), admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
			Operation: op, UserInfo: authenticationv1.UserInfo{Username: user}}})
	}
	const path = "metadata.annotations[itops.dev/pagerduty-change-events]: Forbidden: set only by the operator"
	refused := func(err error) bool { return err != nil && strings.Contains(err.Error(), path) }
	cases := []struct {
		name     string
		user     string
		old, new *itopsv1alpha1.ChangeRequest
		refused  bool
	}{
		{"a person creates it with the record preset", "alice", nil, cr("started/pd-a,failed/pd-a"), true},
		{"a person changes it", "alice", cr("started/pd-a"), cr("started/pd-a,failed/pd-a"), true},
		{"a person removes it", "alice", cr("started/pd-a"), cr(""), true},
		{"a person leaves it alone", "alice", cr("started/pd-a"), cr("started/pd-a"), false},
		{"the operator records a sent event", operator, cr("started/pd-a"), cr("started/pd-a,started/pd-b"), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var err error
			if c.old == nil {
				_, err = w.ValidateCreate(ctxAs(c.user, admissionv1.Create), c.new)
			} else {
				_, err = w.ValidateUpdate(ctxAs(c.user, admissionv1.Update), c.old, c.new)
			}
			if refused(err) != c.refused {
				t.Fatalf("refused = %v, want %v (err: %v)", refused(err), c.refused, err)
			}
		})
	}
}

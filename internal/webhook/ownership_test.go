package webhook

import (
	"context"
	"encoding/json"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/test/cluster"
)

// TestDefaultInheritsOwner: a manual incident naming a service inherits its owner's team and
// assignee at creation, like the operator's own incidents (review finding: only
// operator-created incidents did); the namespace annotation is the fallback.
func TestDefaultInheritsOwner(t *testing.T) {
	reader := fake.NewClientBuilder().WithScheme(cluster.Scheme()).WithObjects(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Annotations: map[string]string{itopsv1alpha1.AnnotationOwnerTeam: "platform"}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bare"}},
		&itopsv1alpha1.ServiceLevel{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "checkout"},
			Spec: itopsv1alpha1.ServiceLevelSpec{Owner: &itopsv1alpha1.ServiceOwner{Team: "checkout"}}},
	).Build()
	w := &IncidentWebhook{Reader: reader}
	manual := func(ns, service, team, assignee string) *itopsv1alpha1.Incident {
		return &itopsv1alpha1.Incident{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "down"},
			Spec: itopsv1alpha1.IncidentSpec{Title: "checkout is down", Service: service, Team: team, Assignee: assignee}}
	}
	as := func(op admissionv1.Operation, old *itopsv1alpha1.Incident) context.Context {
		req := admissionv1.AdmissionRequest{Operation: op, UserInfo: authenticationv1.UserInfo{Username: "alice"}}
		if old != nil {
			req.OldObject.Object = old
			req.OldObject.Raw = mustJSON(t, old)
		}
		return admission.NewContextWithRequest(context.Background(), admission.Request{AdmissionRequest: req})
	}
	cases := []struct {
		name               string
		inc                *itopsv1alpha1.Incident
		team, assignee, by string
	}{
		{"service owner", manual("shop", "checkout", "", ""), "checkout", "checkout", "alice"},
		{"no ServiceLevel of that name: the namespace's owner", manual("shop", "search", "", ""), "platform", "platform", "alice"},
		{"no service: the namespace's owner", manual("shop", "", "", ""), "platform", "platform", "alice"},
		{"a person's own assignee is kept", manual("shop", "checkout", "", "bob"), "checkout", "bob", "alice"},
		{"a person's own team is kept, not assigned for them", manual("shop", "checkout", "payments", ""), "payments", "", "alice"},
		{"no owner anywhere", manual("bare", "", "", ""), "", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := w.Default(as(admissionv1.Create, nil), c.inc); err != nil {
				t.Fatal(err)
			}
			if c.inc.Spec.Team != c.team || c.inc.Spec.Assignee != c.assignee {
				t.Fatalf("team %q assignee %q, want %q %q", c.inc.Spec.Team, c.inc.Spec.Assignee, c.team, c.assignee)
			}
			by := ""
			if a := c.inc.Spec.Assignment; a != nil {
				by = a.By
			}
			if by != c.by {
				t.Fatalf("assignment by %q, want %q", by, c.by)
			}
		})
	}
	// An update never re-fills what a person cleared.
	old := manual("shop", "checkout", "checkout", "checkout")
	cleared := manual("shop", "checkout", "", "")
	if err := w.Default(as(admissionv1.Update, old), cleared); err != nil {
		t.Fatal(err)
	}
	if cleared.Spec.Team != "" || cleared.Spec.Assignee != "" {
		t.Fatalf("update re-filled the owner: %+v", cleared.Spec)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

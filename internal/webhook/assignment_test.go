package webhook

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

func TestStampAssignment(t *testing.T) {
	now := metav1.NewTime(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	earlier := metav1.NewTime(now.Add(-time.Hour))
	assigned := func(assignee, team string, a *itopsv1alpha1.Assignment) *itopsv1alpha1.Incident {
		return &itopsv1alpha1.Incident{Spec: itopsv1alpha1.IncidentSpec{Title: "x", Assignee: assignee, Team: team, Assignment: a}}
	}
	recorded := &itopsv1alpha1.Assignment{By: "system:serviceaccount:itops-system:itops-operator", At: &earlier}
	cases := []struct {
		name     string
		old, inc *itopsv1alpha1.Incident
		want     *itopsv1alpha1.Assignment
	}{
		{"create without assignee: nothing", nil, assigned("", "", nil), nil},
		{"create with a team: stamped", nil, assigned("checkout", "checkout", nil), &itopsv1alpha1.Assignment{By: "alice", At: &now}},
		{"create claiming someone else: stamped anyway", nil, assigned("bob", "", &itopsv1alpha1.Assignment{By: "bob", At: &earlier}),
			&itopsv1alpha1.Assignment{By: "alice", At: &now}},
		{"unchanged keeps the record", assigned("checkout", "checkout", recorded), assigned("checkout", "checkout", nil), recorded},
		{"reassign to a person", assigned("checkout", "checkout", recorded), assigned("alice", "checkout", recorded), &itopsv1alpha1.Assignment{By: "alice", At: &now}},
		{"another team", assigned("checkout", "checkout", recorded), assigned("checkout", "payments", recorded), &itopsv1alpha1.Assignment{By: "alice", At: &now}},
		{"unassign is recorded too", assigned("checkout", "checkout", recorded), assigned("", "", recorded), &itopsv1alpha1.Assignment{By: "alice", At: &now}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := StampAssignment(c.old, c.inc, "alice", now)
			if (got == nil) != (c.want == nil) || (got != nil && (got.By != c.want.By || !got.At.Equal(c.want.At))) {
				t.Fatalf("StampAssignment = %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestValidateAssignmentInSomeoneElsesName(t *testing.T) {
	at := metav1.Now()
	old := &itopsv1alpha1.Incident{Spec: itopsv1alpha1.IncidentSpec{Title: "x", Assignee: "checkout"}}
	inc := old.DeepCopy()
	inc.Spec.Assignee = "bob"
	inc.Spec.Assignment = &itopsv1alpha1.Assignment{By: "bob", At: &at}
	errs := ValidateIncidentUpdate(old, inc, "alice")
	if len(errs) != 1 || !strings.Contains(errs.ToAggregate().Error(), `spec.assignment.by: Invalid value: "bob": must be the authenticated user "alice": nobody assigns in someone else's name`) {
		t.Fatalf("errors: %v", errs)
	}
	inc.Spec.Assignment.By = "alice"
	if errs := ValidateIncidentUpdate(old, inc, "alice"); len(errs) != 0 {
		t.Fatalf("own assignment refused: %v", errs)
	}
}

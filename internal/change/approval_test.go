package change

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/config"
)

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

func approval(who string, d itopsv1alpha1.ApprovalDecision, gen int64, at time.Time) itopsv1alpha1.Approval {
	return itopsv1alpha1.Approval{Approver: who, Decision: d, Generation: gen, At: &metav1.Time{Time: at}}
}

func changeRequest(mutate func(*itopsv1alpha1.ChangeRequest)) *itopsv1alpha1.ChangeRequest {
	cr := &itopsv1alpha1.ChangeRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "web-v2", Namespace: "shop", Generation: 3, CreationTimestamp: metav1.NewTime(t0),
			Annotations: map[string]string{itopsv1alpha1.AnnotationContentGeneration: "1"}},
		Spec: itopsv1alpha1.ChangeRequestSpec{
			Title: "web v2", Type: itopsv1alpha1.ChangeNormal, Risk: itopsv1alpha1.LevelHigh, RequestedBy: "alice",
			Targets: []itopsv1alpha1.ChangeTarget{{Kind: itopsv1alpha1.TargetDeployment, Name: "web"}},
		},
	}
	if mutate != nil {
		mutate(cr)
	}
	return cr
}

func TestEvaluate(t *testing.T) {
	pol := PolicyFor(changeRequest(nil), config.Default().ChangePolicies[0])
	tests := []struct {
		name           string
		cr             *itopsv1alpha1.ChangeRequest
		policy         *Policy
		wantAuthorised bool
		wantReason     string
		wantSummary    string
		wantSince      time.Time
		wantVoid       int
	}{
		{
			name:       "no approvals: pending, High risk needs 2",
			cr:         changeRequest(nil),
			wantReason: itopsv1alpha1.ChangeReasonAwaitingApproval, wantSummary: "0/2",
		},
		{
			name: "one of two approvals",
			cr: changeRequest(func(cr *itopsv1alpha1.ChangeRequest) {
				cr.Spec.Approvals = []itopsv1alpha1.Approval{approval("bob", itopsv1alpha1.DecisionApprove, 1, t0.Add(time.Minute))}
			}),
			wantReason: itopsv1alpha1.ChangeReasonAwaitingApproval, wantSummary: "1/2",
		},
		{
			name: "two approvals: approved since the second",
			cr: changeRequest(func(cr *itopsv1alpha1.ChangeRequest) {
				cr.Spec.Approvals = []itopsv1alpha1.Approval{
					approval("carol", itopsv1alpha1.DecisionApprove, 2, t0.Add(2*time.Minute)),
					approval("bob", itopsv1alpha1.DecisionApprove, 1, t0.Add(time.Minute)),
				}
			}),
			wantAuthorised: true, wantReason: itopsv1alpha1.ChangeReasonApproved, wantSummary: "2/2", wantSince: t0.Add(2 * time.Minute),
		},
		{
			name: "approvals for earlier content are void",
			cr: changeRequest(func(cr *itopsv1alpha1.ChangeRequest) {
				cr.Annotations[itopsv1alpha1.AnnotationContentGeneration] = "3"
				cr.Spec.Approvals = []itopsv1alpha1.Approval{
					approval("bob", itopsv1alpha1.DecisionApprove, 1, t0),
					approval("carol", itopsv1alpha1.DecisionApprove, 2, t0),
				}
			}),
			wantReason: itopsv1alpha1.ChangeReasonAwaitingApproval, wantSummary: "0/2", wantVoid: 2,
		},
		{
			name: "without the webhook's record, only approvals at the current generation count",
			cr: changeRequest(func(cr *itopsv1alpha1.ChangeRequest) {
				cr.Annotations = nil
				cr.Spec.Approvals = []itopsv1alpha1.Approval{approval("bob", itopsv1alpha1.DecisionApprove, 2, t0)}
			}),
			wantReason: itopsv1alpha1.ChangeReasonAwaitingApproval, wantSummary: "0/2", wantVoid: 1,
		},
		{
			name: "the requester's own approval never counts",
			cr: changeRequest(func(cr *itopsv1alpha1.ChangeRequest) {
				cr.Spec.Requester = "dave"
				cr.Spec.Approvals = []itopsv1alpha1.Approval{
					approval("alice", itopsv1alpha1.DecisionApprove, 1, t0),
					approval("dave", itopsv1alpha1.DecisionApprove, 1, t0),
				}
			}),
			wantReason: itopsv1alpha1.ChangeReasonAwaitingApproval, wantSummary: "0/2",
		},
		{
			name: "a single reject rejects",
			cr: changeRequest(func(cr *itopsv1alpha1.ChangeRequest) {
				cr.Spec.Approvals = []itopsv1alpha1.Approval{
					approval("bob", itopsv1alpha1.DecisionApprove, 1, t0),
					approval("carol", itopsv1alpha1.DecisionApprove, 1, t0),
					approval("erin", itopsv1alpha1.DecisionReject, 2, t0),
				}
			}),
			wantReason: itopsv1alpha1.ChangeReasonRejected, wantSummary: "2/2",
		},
		{
			name: "a reject of earlier content no longer rejects",
			cr: changeRequest(func(cr *itopsv1alpha1.ChangeRequest) {
				cr.Annotations[itopsv1alpha1.AnnotationContentGeneration] = "2"
				cr.Spec.Approvals = []itopsv1alpha1.Approval{approval("erin", itopsv1alpha1.DecisionReject, 1, t0)}
			}),
			wantReason: itopsv1alpha1.ChangeReasonAwaitingApproval, wantSummary: "0/2", wantVoid: 1,
		},
		{
			name: "emergency: authorised at creation, review outstanding",
			cr: changeRequest(func(cr *itopsv1alpha1.ChangeRequest) {
				cr.Spec.Type = itopsv1alpha1.ChangeEmergency
			}),
			wantAuthorised: true, wantReason: itopsv1alpha1.ChangeReasonEmergency, wantSummary: "0/2", wantSince: t0,
		},
		{
			name: "approvalPolicy raises the required count",
			cr: changeRequest(func(cr *itopsv1alpha1.ChangeRequest) {
				cr.Spec.Risk = itopsv1alpha1.LevelLow
				cr.Spec.ApprovalPolicy = &itopsv1alpha1.ChangeApprovalPolicy{Required: ptr.To[int32](3)}
				cr.Spec.Approvals = []itopsv1alpha1.Approval{approval("bob", itopsv1alpha1.DecisionApprove, 1, t0)}
			}),
			wantReason: itopsv1alpha1.ChangeReasonAwaitingApproval, wantSummary: "1/3",
		},
		{
			name:           "standard change covered by a pattern needs no approvals",
			cr:             changeRequest(func(cr *itopsv1alpha1.ChangeRequest) { cr.Spec.Type = itopsv1alpha1.ChangeStandard }),
			policy:         &Policy{Required: 2, Standard: &config.StandardChange{Name: "image-bump"}},
			wantAuthorised: true, wantReason: itopsv1alpha1.ChangeReasonStandardChange, wantSummary: "standard", wantSince: t0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := PolicyFor(tt.cr, config.Default().ChangePolicies[0])
			if tt.policy != nil {
				p = *tt.policy
			}
			a := Evaluate(tt.cr, p)
			if a.Authorised != tt.wantAuthorised || a.Reason != tt.wantReason || a.Summary() != tt.wantSummary || a.Void != tt.wantVoid {
				t.Errorf("Evaluate() = authorised %v, reason %s, summary %s, void %d; want %v, %s, %s, %d",
					a.Authorised, a.Reason, a.Summary(), a.Void, tt.wantAuthorised, tt.wantReason, tt.wantSummary, tt.wantVoid)
			}
			if !a.Since.Equal(tt.wantSince) {
				t.Errorf("Since = %s, want %s", a.Since, tt.wantSince)
			}
		})
	}
	if pol.Required != 2 {
		t.Errorf("default policy for High risk requires %d, want 2", pol.Required)
	}
}

func TestMayApprove(t *testing.T) {
	cr := changeRequest(func(cr *itopsv1alpha1.ChangeRequest) {
		cr.Spec.Requester = "dave@example.com"
		cr.Spec.ApprovalPolicy = &itopsv1alpha1.ChangeApprovalPolicy{ApproverGroups: []string{"payments"}}
	})
	p := PolicyFor(cr, config.ChangePolicy{ApproverGroups: []string{"sre-leads"}, EmergencyGroups: []string{"system:masters"}, MinApprovals: map[itopsv1alpha1.Level]int32{itopsv1alpha1.LevelHigh: 2}})
	tests := []struct {
		user   string
		groups []string
		want   string
	}{
		{"bob", []string{"sre-leads", "payments"}, ""},
		{"alice", []string{"sre-leads", "payments"}, "alice requested this change and cannot approve it"},
		{"dave@example.com", []string{"sre-leads", "payments"}, "declared requester"},
		{"bob", []string{"payments"}, "bob is not in any of the approver groups sre-leads"},
		{"bob", []string{"sre-leads"}, "bob is not in any of the approver groups payments"},
		{"", nil, "authenticated user"},
	}
	for _, tt := range tests {
		got := p.MayApprove(cr, tt.user, tt.groups)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("MayApprove(%q, %v) = %q, want %q", tt.user, tt.groups, got, tt.want)
		}
	}
	if p.MayRaiseEmergency([]string{"developers"}) || !p.MayRaiseEmergency([]string{"system:masters"}) {
		t.Errorf("MayRaiseEmergency does not follow emergencyGroups %v", p.EmergencyGroups)
	}
}

func TestContentHashIgnoresApprovals(t *testing.T) {
	a := changeRequest(nil)
	b := changeRequest(func(cr *itopsv1alpha1.ChangeRequest) {
		cr.Spec.Approvals = []itopsv1alpha1.Approval{approval("bob", itopsv1alpha1.DecisionApprove, 1, t0)}
		cr.Spec.RequestedBy = "someone-else"
	})
	c := changeRequest(func(cr *itopsv1alpha1.ChangeRequest) { cr.Spec.Targets[0].Name = "api" })
	if ContentHash(&a.Spec) != ContentHash(&b.Spec) {
		t.Errorf("approvals and requestedBy changed the content hash")
	}
	if ContentHash(&a.Spec) == ContentHash(&c.Spec) {
		t.Errorf("a target change did not change the content hash")
	}
}

func TestWindow(t *testing.T) {
	p := Policy{Lifetime: 24 * time.Hour}
	scheduled := changeRequest(func(cr *itopsv1alpha1.ChangeRequest) {
		cr.Spec.Schedule = &itopsv1alpha1.ChangeSchedule{Start: metav1.NewTime(t0.Add(time.Hour)), End: metav1.NewTime(t0.Add(2 * time.Hour))}
	})
	start, end := Window(scheduled, Approvals{Authorised: true, Since: t0}, p)
	if !start.Equal(t0.Add(time.Hour)) || !end.Equal(t0.Add(2*time.Hour)) {
		t.Errorf("scheduled window = %s..%s", start, end)
	}
	start, end = Window(changeRequest(nil), Approvals{Authorised: true, Since: t0}, p)
	if !start.Equal(t0) || !end.Equal(t0.Add(24*time.Hour)) {
		t.Errorf("unscheduled window = %s..%s, want the approval lifetime", start, end)
	}
	if start, end = Window(changeRequest(nil), Approvals{}, p); !start.IsZero() || !end.IsZero() {
		t.Errorf("unauthorised window = %s..%s, want none", start, end)
	}
}

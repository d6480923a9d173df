package change

import (
	"strings"
	"testing"
	"time"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/config"
)

const flux = "system:serviceaccount:flux-system:kustomize-controller"

func gitopsPolicy(t *testing.T, doc string) config.ChangePolicy {
	t.Helper()
	c, err := config.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return c.ChangePolicies[0]
}

// gitOpsChange is a Medium-risk change Flux applied from Git, declaring dev as its author.
func gitOpsChange(mutate func(*itopsv1alpha1.ChangeRequest)) *itopsv1alpha1.ChangeRequest {
	return changeRequest(func(cr *itopsv1alpha1.ChangeRequest) {
		cr.Spec.RequestedBy, cr.Spec.Requester, cr.Spec.Risk = flux, "dev@example.com", itopsv1alpha1.LevelMedium
		if mutate != nil {
			mutate(cr)
		}
	})
}

func TestAppliedByAutomation(t *testing.T) {
	g := config.GitOpsPolicy{Appliers: []string{"ci-bot"}}
	for user, want := range map[string]bool{
		flux: true, "system:serviceaccount:argocd:argocd-application-controller": true, "ci-bot": true,
		"alice": false, "system:admin": false, "": false,
	} {
		if got := AppliedByAutomation(user, g); got != want {
			t.Errorf("AppliedByAutomation(%q) = %v, want %v", user, got, want)
		}
	}
}

// TestMayApproveUnderGitOps: separation of duties for changes applied from Git, with the
// built-in rules and with the administrator's gitops policy.
func TestMayApproveUnderGitOps(t *testing.T) {
	builtIn := "changePolicies: [{}]"
	strict := `
changePolicies:
- gitops:
    appliers: [ci-bot]
    minApprovals: 2
    requireRequester: true
    approverGroups: [change-board]
    excludedApproverGroups: [shop-developers]
`
	tests := []struct {
		name   string
		policy string
		cr     *itopsv1alpha1.ChangeRequest
		user   string
		groups []string
		want   string // "" allowed, else a substring of the refusal
	}{
		{name: "the GitOps controller's ServiceAccount never approves what it applied", policy: builtIn, cr: gitOpsChange(nil),
			user: flux, groups: []string{"system:masters"}, want: flux + " applied this change and cannot approve it"},
		{name: "no ServiceAccount approves, even one that applied nothing", policy: builtIn, cr: gitOpsChange(nil),
			user: "system:serviceaccount:argocd:argocd-server", want: "is a ServiceAccount; approvals are given by people"},
		{name: "no ServiceAccount approves a person's change either", policy: builtIn, cr: changeRequest(nil),
			user: "system:serviceaccount:ci:deployer", want: "is a ServiceAccount"},
		{name: "the declared Git author cannot approve", policy: builtIn, cr: gitOpsChange(nil),
			user: "dev@example.com", want: "dev@example.com is the declared requester of this change"},
		{name: "nor with their name in other letter case", policy: builtIn, cr: gitOpsChange(nil),
			user: "Dev@Example.com", want: "is the declared requester"},
		{name: "another person may, under the built-in policy", policy: builtIn, cr: gitOpsChange(nil), user: "bob"},
		{name: "a declared applier never approves", policy: strict, cr: gitOpsChange(nil),
			user: "ci-bot", groups: []string{"change-board"}, want: "ci-bot applies changes from Git (policy gitops.appliers)"},
		{name: "an approver outside gitops.approverGroups", policy: strict, cr: gitOpsChange(nil),
			user: "bob", groups: []string{"sre"}, want: "bob is not in any of the approver groups change-board"},
		{name: "a repository writer, whatever name the author declared", policy: strict, cr: gitOpsChange(nil),
			user: "mallory", groups: []string{"change-board", "shop-developers"},
			want: "mallory is in group shop-developers, whose members may not approve changes applied from Git"},
		{name: "a board member who does not write to the repository", policy: strict, cr: gitOpsChange(nil),
			user: "bob", groups: []string{"change-board"}},
		{name: "the gitops rules do not touch a change a person raised", policy: strict, cr: changeRequest(nil),
			user: "mallory", groups: []string{"shop-developers"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := PolicyFor(tt.cr, gitopsPolicy(t, tt.policy)).MayApprove(tt.cr, tt.user, tt.groups)
			switch {
			case tt.want == "" && got != "":
				t.Errorf("refused: %s", got)
			case tt.want != "" && !strings.Contains(got, tt.want):
				t.Errorf("MayApprove = %q, want it to contain %q", got, tt.want)
			}
		})
	}
}

// TestEvaluateUnderGitOps: what counts towards authorising a change applied from Git.
func TestEvaluateUnderGitOps(t *testing.T) {
	twoPerson := "changePolicies:\n- gitops: {minApprovals: 2}\n"
	tests := []struct {
		name           string
		policy         string
		cr             *itopsv1alpha1.ChangeRequest
		wantAuthorised bool
		wantSummary    string
	}{
		{name: "built-in: one approval of a Medium change", policy: "", wantAuthorised: true, wantSummary: "1/1",
			cr: gitOpsChange(func(cr *itopsv1alpha1.ChangeRequest) {
				cr.Spec.Approvals = []itopsv1alpha1.Approval{approval("bob", itopsv1alpha1.DecisionApprove, 1, t0)}
			})},
		{name: "two-person rule: one approval is not enough", policy: twoPerson, wantSummary: "1/2",
			cr: gitOpsChange(func(cr *itopsv1alpha1.ChangeRequest) {
				cr.Spec.Approvals = []itopsv1alpha1.Approval{approval("bob", itopsv1alpha1.DecisionApprove, 1, t0)}
			})},
		{name: "two-person rule: two people", policy: twoPerson, wantAuthorised: true, wantSummary: "2/2",
			cr: gitOpsChange(func(cr *itopsv1alpha1.ChangeRequest) {
				cr.Spec.Approvals = []itopsv1alpha1.Approval{
					approval("bob", itopsv1alpha1.DecisionApprove, 1, t0),
					approval("carol", itopsv1alpha1.DecisionApprove, 1, t0.Add(time.Minute)),
				}
			})},
		{name: "two-person rule applies to changes applied from Git only", policy: twoPerson, wantAuthorised: true, wantSummary: "1/1",
			cr: changeRequest(func(cr *itopsv1alpha1.ChangeRequest) {
				cr.Spec.Risk = itopsv1alpha1.LevelMedium
				cr.Spec.Approvals = []itopsv1alpha1.Approval{approval("bob", itopsv1alpha1.DecisionApprove, 1, t0)}
			})},
		{name: "approvals by ServiceAccounts and the author never count (recorded with the webhooks off)", policy: "", wantSummary: "0/1",
			cr: gitOpsChange(func(cr *itopsv1alpha1.ChangeRequest) {
				cr.Spec.Approvals = []itopsv1alpha1.Approval{
					approval(flux, itopsv1alpha1.DecisionApprove, 1, t0),
					approval("system:serviceaccount:argocd:argocd-server", itopsv1alpha1.DecisionApprove, 1, t0),
					approval("DEV@example.com", itopsv1alpha1.DecisionApprove, 1, t0),
				}
			})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := PolicyFor(tt.cr, gitopsPolicy(t, tt.policy))
			got := Evaluate(tt.cr, p)
			if got.Authorised != tt.wantAuthorised || got.Summary() != tt.wantSummary {
				t.Errorf("Evaluate = authorised %v, %s; want %v, %s", got.Authorised, got.Summary(), tt.wantAuthorised, tt.wantSummary)
			}
		})
	}
}

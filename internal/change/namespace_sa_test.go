package change

import (
	"testing"
	"time"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/config"
)

func TestNamespaceServiceAccount(t *testing.T) {
	tests := []struct {
		user, ns string
		want     bool
	}{
		{"system:serviceaccount:shop:default", "shop", true},
		{"system:serviceaccount:shop:deployer", "shop", true},
		{"system:serviceaccount:flux-system:kustomize-controller", "shop", false},
		{"system:serviceaccount:argocd:argocd-application-controller", "shop", false},
		{"system:serviceaccount:shop-eu:default", "shop", false},
		{"system:serviceaccount:shop:", "shop", false},
		{"system:serviceaccount:shop", "shop", false},
		{"alice", "shop", false},
		{"system:serviceaccount:shop:default", "", false},
	}
	for _, tt := range tests {
		if got := NamespaceServiceAccount(tt.user, tt.ns); got != tt.want {
			t.Errorf("NamespaceServiceAccount(%q, %q) = %v, want %v", tt.user, tt.ns, got, tt.want)
		}
	}
}

// TestChangeByNamespaceServiceAccount: a developer with the built-in edit role in shop
// impersonates (or takes a token of) a ServiceAccount of shop, creates a ChangeRequest as it
// and approves it in their own name. With the default policy (any approver, 1 approval, no
// gitops rules) that used to authorise their own change.
func TestChangeByNamespaceServiceAccount(t *testing.T) {
	const sa = "system:serviceaccount:shop:default"
	defaults := config.Default().ChangePolicies[0]
	lowNeedsNone := defaults
	lowNeedsNone.MinApprovals = map[itopsv1alpha1.Level]int32{itopsv1alpha1.LevelLow: 0, itopsv1alpha1.LevelMedium: 1, itopsv1alpha1.LevelHigh: 3}
	byDev := func(risk itopsv1alpha1.Level, requester string, approvers ...string) *itopsv1alpha1.ChangeRequest {
		return changeRequest(func(cr *itopsv1alpha1.ChangeRequest) {
			cr.Spec.RequestedBy, cr.Spec.Requester, cr.Spec.Risk = sa, requester, risk
			for i, a := range approvers {
				cr.Spec.Approvals = append(cr.Spec.Approvals, approval(a, itopsv1alpha1.DecisionApprove, 1, t0.Add(time.Duration(i+1)*time.Minute)))
			}
		})
	}
	tests := []struct {
		name           string
		cr             *itopsv1alpha1.ChangeRequest
		policy         config.ChangePolicy
		wantRequired   int
		wantRequester  bool
		wantAuthorised bool
	}{
		{"the attack: the developer's own approval no longer authorises it", byDev(itopsv1alpha1.LevelMedium, "", "dev"), defaults, 2, true, false},
		{"a second person authorises it", byDev(itopsv1alpha1.LevelMedium, "dev", "bob", "carol"), defaults, 2, true, true},
		{"the declared requester's approval never counts", byDev(itopsv1alpha1.LevelMedium, "dev", "dev", "bob"), defaults, 2, true, false},
		{"a higher requirement stays", byDev(itopsv1alpha1.LevelHigh, "dev", "bob", "carol"), lowNeedsNone, 3, true, false},
		{"a change that needs no approval needs none", byDev(itopsv1alpha1.LevelLow, "dev"), lowNeedsNone, 0, true, true},
		{"a GitOps controller's change keeps the policy's rules", changeRequest(func(cr *itopsv1alpha1.ChangeRequest) {
			cr.Spec.RequestedBy, cr.Spec.Risk = flux, itopsv1alpha1.LevelMedium
			cr.Spec.Approvals = []itopsv1alpha1.Approval{approval("bob", itopsv1alpha1.DecisionApprove, 1, t0.Add(time.Minute))}
		}), defaults, 1, false, true},
		{"a person's change keeps the policy's rules", changeRequest(func(cr *itopsv1alpha1.ChangeRequest) {
			cr.Spec.Risk = itopsv1alpha1.LevelMedium
			cr.Spec.Approvals = []itopsv1alpha1.Approval{approval("bob", itopsv1alpha1.DecisionApprove, 1, t0.Add(time.Minute))}
		}), defaults, 1, false, true},
	}
	for _, tt := range tests {
		p := PolicyFor(tt.cr, tt.policy)
		a := Evaluate(tt.cr, p)
		if p.Required != tt.wantRequired || p.RequireRequester != tt.wantRequester || a.Authorised != tt.wantAuthorised {
			t.Errorf("%s: required %d, requireRequester %v, authorised %v (%s); want %d, %v, %v",
				tt.name, p.Required, p.RequireRequester, a.Authorised, a.Summary(), tt.wantRequired, tt.wantRequester, tt.wantAuthorised)
		}
	}
	// The ServiceAccount itself never approves, like every ServiceAccount.
	cr := byDev(itopsv1alpha1.LevelMedium, "dev")
	if why := PolicyFor(cr, defaults).MayApprove(cr, sa, nil); why == "" {
		t.Error("the requesting ServiceAccount may approve its own change")
	}
}

package webhook

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/config"
	"github.com/itops-dev/itops-operator/test/cluster"
)

// TestValidateChangeUnderGitOps: what admission refuses for a change applied from Git.
func TestValidateChangeUnderGitOps(t *testing.T) {
	const flux = "system:serviceaccount:flux-system:kustomize-controller"
	c, err := config.Parse([]byte(`
changePolicies:
- gitops: {requireRequester: true, excludedApproverGroups: [shop-developers]}
`))
	if err != nil {
		t.Fatal(err)
	}
	p := c.ChangePolicies[0]
	fromGit := func(requester string, approvals ...itopsv1alpha1.Approval) *itopsv1alpha1.ChangeRequest {
		return &itopsv1alpha1.ChangeRequest{
			ObjectMeta: metav1.ObjectMeta{Name: "shop-1-0", Namespace: "shop", Generation: 1,
				Annotations: map[string]string{itopsv1alpha1.AnnotationContentGeneration: "1"}},
			Spec: itopsv1alpha1.ChangeRequestSpec{Title: "shop 1.0", RequestedBy: flux, Requester: requester, Approvals: approvals,
				Targets: []itopsv1alpha1.ChangeTarget{{Kind: itopsv1alpha1.TargetDeployment, Name: "shop"}}},
		}
	}
	ok := func(who string) itopsv1alpha1.Approval {
		return itopsv1alpha1.Approval{Approver: who, Decision: itopsv1alpha1.DecisionApprove}
	}
	tests := []struct {
		name     string
		old, new *itopsv1alpha1.ChangeRequest
		user     string
		groups   []string
		want     string
	}{
		{name: "applied from Git without naming its author", new: fromGit(""), user: flux,
			want: "spec.requester: Required value: " + flux + " applies this change from Git; the policy for namespace shop requires the Git author"},
		{name: "applied from Git naming its author", new: fromGit("dev@example.com"), user: flux},
		{name: "a person's change needs no declared requester", new: func() *itopsv1alpha1.ChangeRequest {
			cr := fromGit("")
			cr.Spec.RequestedBy = "alice"
			return cr
		}(), user: "alice"},
		{name: "the controller approving what it applied", old: fromGit("dev@example.com"), new: fromGit("dev@example.com", ok(flux)), user: flux,
			want: "spec.approvals[0]: Forbidden: " + flux + " applied this change and cannot approve it"},
		{name: "the author approving under their declared name", old: fromGit("dev@example.com"), new: fromGit("dev@example.com", ok("dev@example.com")),
			user: "dev@example.com", want: "is the declared requester of this change"},
		{name: "the author approving under another name, as a repository writer", old: fromGit("dev@example.com"), new: fromGit("dev@example.com", ok("dave")),
			user: "dave", groups: []string{"shop-developers"}, want: "dave is in group shop-developers"},
		{name: "an independent approver", old: fromGit("dev@example.com"), new: fromGit("dev@example.com", ok("bob")), user: "bob", groups: []string{"sre"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ValidateChange(tt.old, tt.new, p, tt.user, tt.groups).ToAggregate()
			switch {
			case tt.want == "" && got != nil:
				t.Errorf("unexpected %v", got)
			case tt.want != "" && (got == nil || !strings.Contains(got.Error(), tt.want)):
				t.Errorf("ValidateChange = %v, want %q", got, tt.want)
			}
		})
	}
}

// TestValidateChangeByNamespaceServiceAccount: with the default policy (no gitops rules), a
// developer acting as a ServiceAccount of their namespace (the edit role may impersonate it)
// must name themselves as spec.requester, and cannot approve the change under that name.
func TestValidateChangeByNamespaceServiceAccount(t *testing.T) {
	const sa = "system:serviceaccount:shop:default"
	p := config.Default().ChangePolicies[0]
	bySA := func(requester string, approvals ...itopsv1alpha1.Approval) *itopsv1alpha1.ChangeRequest {
		return &itopsv1alpha1.ChangeRequest{
			ObjectMeta: metav1.ObjectMeta{Name: "shop-1-1", Namespace: "shop", Generation: 1,
				Annotations: map[string]string{itopsv1alpha1.AnnotationContentGeneration: "1"}},
			Spec: itopsv1alpha1.ChangeRequestSpec{Title: "shop 1.1", RequestedBy: sa, Requester: requester, Approvals: approvals,
				Targets: []itopsv1alpha1.ChangeTarget{{Kind: itopsv1alpha1.TargetDeployment, Name: "shop"}}},
		}
	}
	ok := func(who string) itopsv1alpha1.Approval {
		return itopsv1alpha1.Approval{Approver: who, Decision: itopsv1alpha1.DecisionApprove}
	}
	tests := []struct {
		name     string
		old, new *itopsv1alpha1.ChangeRequest
		user     string
		want     string
	}{
		{name: "created without a requester", new: bySA(""), user: sa,
			want: "spec.requester: Required value: " + sa + " is a ServiceAccount of namespace shop"},
		{name: "created naming the developer", new: bySA("dev"), user: sa},
		{name: "the developer approving under the declared name", old: bySA("dev"), new: bySA("dev", ok("dev")), user: "dev",
			want: "is the declared requester of this change"},
		{name: "another person approving", old: bySA("dev"), new: bySA("dev", ok("bob")), user: "bob"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ValidateChange(tt.old, tt.new, p, tt.user, nil).ToAggregate()
			switch {
			case tt.want == "" && got != nil:
				t.Errorf("unexpected %v", got)
			case tt.want != "" && (got == nil || !strings.Contains(got.Error(), tt.want)):
				t.Errorf("ValidateChange = %v, want %q", got, tt.want)
			}
		})
	}
}

// TestPolicyForNamespaceNotYetCached: a ChangeRequest created in a namespace the cache has not
// seen yet is judged on the namespace read from the API server, not refused.
func TestPolicyForNamespaceNotYetCached(t *testing.T) {
	c, err := config.Parse([]byte(`
changePolicies:
- namespaceSelector: {matchLabels: {tier: prod}}
  approverGroups: [prod-approvers]
- approverGroups: [anyone]
`))
	if err != nil {
		t.Fatal(err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "payments", Labels: map[string]string{"tier": "prod"}}}
	w := &ChangeRequestWebhook{Policy: c,
		Reader:    fake.NewClientBuilder().WithScheme(cluster.Scheme()).Build(),
		APIReader: fake.NewClientBuilder().WithScheme(cluster.Scheme()).WithObjects(ns).Build()}
	p, err := w.policyFor(context.Background(), "payments")
	if err != nil || len(p.ApproverGroups) != 1 || p.ApproverGroups[0] != "prod-approvers" {
		t.Fatalf("policyFor = %+v, %v; want the prod policy", p.ApproverGroups, err)
	}
	if _, err := w.policyFor(context.Background(), "nowhere"); err == nil || !strings.Contains(err.Error(), "reading namespace nowhere") {
		t.Fatalf("policyFor(missing) error = %v", err)
	}
}

// TestMergeApprovals: what an update stores from the approvals it sends, in each documented form.
func TestMergeApprovals(t *testing.T) {
	a := func(who string, d itopsv1alpha1.ApprovalDecision) itopsv1alpha1.Approval {
		return itopsv1alpha1.Approval{Approver: who, Decision: d}
	}
	const ok, no = itopsv1alpha1.DecisionApprove, itopsv1alpha1.DecisionReject
	tests := []struct {
		name     string
		old, req []itopsv1alpha1.Approval
		want     string
	}{
		{name: "first decision, approver left out", req: []itopsv1alpha1.Approval{a("", ok)}, want: "carol=Approve"},
		{name: "merge patch of only the second approver's entry keeps the first",
			old: []itopsv1alpha1.Approval{a("bob", ok)}, req: []itopsv1alpha1.Approval{a("", ok)}, want: "bob=Approve carol=Approve"},
		{name: "merge patch naming the second approver keeps the first",
			old: []itopsv1alpha1.Approval{a("bob", ok)}, req: []itopsv1alpha1.Approval{a("carol", no)}, want: "bob=Approve carol=Reject"},
		{name: "JSON patch append", old: []itopsv1alpha1.Approval{a("bob", ok)},
			req: []itopsv1alpha1.Approval{a("bob", ok), a("", ok)}, want: "bob=Approve carol=Approve"},
		{name: "an unnamed entry of someone who decided replaces their entry in place",
			old: []itopsv1alpha1.Approval{a("carol", ok), a("bob", ok)}, req: []itopsv1alpha1.Approval{a("carol", ok), a("bob", ok), a("", no)},
			want: "carol=Reject bob=Approve"},
		{name: "a changed decision sent alone keeps the others, for the validator to judge",
			old: []itopsv1alpha1.Approval{a("bob", ok), a("carol", ok)}, req: []itopsv1alpha1.Approval{a("", no)}, want: "bob=Approve carol=Reject"},
		{name: "a pure removal is left for the validator to refuse", old: []itopsv1alpha1.Approval{a("bob", ok), a("dave", ok)},
			req: []itopsv1alpha1.Approval{a("bob", ok)}, want: "bob=Approve"},
		{name: "a forged name is kept as sent for the validator to refuse", old: []itopsv1alpha1.Approval{a("bob", ok)},
			req: []itopsv1alpha1.Approval{a("mallory", ok)}, want: "bob=Approve mallory=Approve"},
		{name: "nothing sent", old: []itopsv1alpha1.Approval{a("bob", ok)}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, x := range MergeApprovals(tt.old, tt.req, "carol") {
				got = append(got, x.Approver+"="+string(x.Decision))
			}
			if s := strings.Join(got, " "); s != tt.want {
				t.Errorf("got %q, want %q", s, tt.want)
			}
		})
	}
}

// TestApproveVerbErrors: a decision without the approve verb is refused with what to grant.
func TestApproveVerbErrors(t *testing.T) {
	if errs := ApproveVerbErrors([]int{0}, true, "erin", "shop"); len(errs) != 0 {
		t.Errorf("allowed: got %v", errs)
	}
	errs := ApproveVerbErrors([]int{2}, false, "erin", "shop")
	want := `spec.approvals[2]: Forbidden: user erin may not approve changerequests in namespace shop: grant the itops-approver ClusterRole (verb "approve" on changerequests.itops.dev) with a RoleBinding in shop`
	if len(errs) != 1 || errs[0].Error() != want {
		t.Errorf("got %v, want %s", errs, want)
	}
}

// TestDecidedApprovals: only entries an update adds or changes need the approve verb.
func TestDecidedApprovals(t *testing.T) {
	cr := func(as ...itopsv1alpha1.Approval) *itopsv1alpha1.ChangeRequest {
		return &itopsv1alpha1.ChangeRequest{Spec: itopsv1alpha1.ChangeRequestSpec{Approvals: as}}
	}
	bob := itopsv1alpha1.Approval{Approver: "bob", Decision: itopsv1alpha1.DecisionApprove}
	carol := itopsv1alpha1.Approval{Approver: "carol", Decision: itopsv1alpha1.DecisionApprove}
	if got := DecidedApprovals(nil, cr(bob)); got != nil {
		t.Errorf("create: got %v", got)
	}
	if got := DecidedApprovals(cr(bob), cr(bob)); got != nil {
		t.Errorf("unchanged: got %v", got)
	}
	if got := DecidedApprovals(cr(bob), cr(bob, carol)); len(got) != 1 || got[0] != 1 {
		t.Errorf("added: got %v", got)
	}
	changed := bob
	changed.Comment = "on second thought"
	if got := DecidedApprovals(cr(bob), cr(changed)); len(got) != 1 || got[0] != 0 {
		t.Errorf("changed: got %v", got)
	}
}

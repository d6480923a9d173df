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

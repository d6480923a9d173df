package cli

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// ApprovalPatch is the JSON patch (RFC 6902) that adds the caller's decision to a change whose
// spec.approvals has n entries: an append to /spec/approvals/- when there are some, else the
// list itself. The entry carries no approver: the mutating webhook stamps the authenticated
// user (and the time and generation), so nobody types, or can forge, a name. Two approvers
// racing on an empty list both send the whole list; the webhook merges the stored entries with
// the new one (MergeApprovals), so both decisions are kept.
func ApprovalPatch(n int, decision itopsv1alpha1.ApprovalDecision, comment string) ([]byte, error) {
	entry := map[string]any{"decision": decision}
	if comment != "" {
		entry["comment"] = comment
	}
	op := map[string]any{"op": "add", "path": "/spec/approvals/-", "value": entry}
	if n == 0 {
		op = map[string]any{"op": "add", "path": "/spec/approvals", "value": []any{entry}}
	}
	return json.Marshal([]any{op})
}

// decidedEntry returns the approval that differs between before and after: the caller's.
func decidedEntry(before, after []itopsv1alpha1.Approval) *itopsv1alpha1.Approval {
	prev := map[string]itopsv1alpha1.Approval{}
	for _, a := range before {
		prev[a.Approver] = a
	}
	for i := range after {
		a := after[i]
		if b, ok := prev[a.Approver]; !ok || b.Decision != a.Decision || b.Comment != a.Comment {
			return &after[i]
		}
	}
	return nil
}

func newApproveCommand(o *Options, decision itopsv1alpha1.ApprovalDecision) *cobra.Command {
	verb, past := "approve", "approved"
	if decision == itopsv1alpha1.DecisionReject {
		verb, past = "reject", "rejected"
	}
	var comment string
	cmd := &cobra.Command{
		Use: verb + " CHANGE [--comment TEXT]",
		Short: fmt.Sprintf("%s a ChangeRequest (the webhook records you, the time and the content you decided on)",
			strings.ToUpper(verb[:1])+verb[1:]),
		Long: fmt.Sprintf(`Adds your decision (%s) to the change's spec.approvals. You need the RBAC verb
"approve" on changerequests.itops.dev in the namespace (ClusterRole itops-approver); the
webhooks refuse your own changes (separation of duties) and approvers outside the policy's
groups, and a decision stands until the change's content changes.`, decision),
		Example:           fmt.Sprintf(`  kubectl itops %s payments-3-1 -n payments --comment "rollback plan reviewed"`, verb),
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeNames(o, &itopsv1alpha1.ChangeRequestList{}),
	}
	p := newObjectPrinter(cmd, past)
	cmd.Flags().StringVar(&comment, "comment", "", "why (max 1024 characters)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, ns, err := o.Client()
		if err != nil {
			return err
		}
		cr := &itopsv1alpha1.ChangeRequest{}
		if err := c.Get(cmdContext(), client.ObjectKey{Namespace: ns, Name: args[0]}, cr); err != nil {
			return err
		}
		before := cr.DeepCopy().Spec.Approvals
		body, err := ApprovalPatch(len(before), decision, comment)
		if err != nil {
			return err
		}
		if err := c.Patch(cmdContext(), cr, client.RawPatch(types.JSONPatchType, body)); err != nil {
			return err
		}
		line := fmt.Sprintf("changerequest.itops.dev/%s %s", cr.Name, past)
		if a := decidedEntry(before, cr.Spec.Approvals); a != nil {
			line += fmt.Sprintf(" by %s at %s (generation %d)", a.Approver, stamp(a.At), a.Generation)
		}
		return p.print(o.Streams.Out, cr, line)
	}
	return cmd
}

package change

import (
	"fmt"
	"strings"
	"testing"
	"time"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/config"
)

func edit(user string, gen int64) itopsv1alpha1.ContentEdit {
	return itopsv1alpha1.ContentEdit{User: user, Generation: gen}
}

func TestRecordEdit(t *testing.T) {
	full := make([]itopsv1alpha1.ContentEdit, 0, itopsv1alpha1.MaxContentEditors)
	for i := range itopsv1alpha1.MaxContentEditors {
		full = append(full, edit(fmt.Sprintf("user-%d", i), int64(i+2)))
	}
	tests := []struct {
		name   string
		edits  []itopsv1alpha1.ContentEdit
		user   string
		want   string
		wantOK bool
	}{
		{name: "first editor", user: "bob", want: "bob@5", wantOK: true},
		{name: "a new editor is appended", edits: []itopsv1alpha1.ContentEdit{edit("bob", 3)}, user: "carol", want: "bob@3 carol@5", wantOK: true},
		{name: "an editor's later edit updates their entry in place", edits: []itopsv1alpha1.ContentEdit{edit("bob", 3), edit("carol", 4)},
			user: "bob", want: "bob@5 carol@4", wantOK: true},
		{name: "usernames are identities: another spelling is another entry", edits: []itopsv1alpha1.ContentEdit{edit("bob", 3)},
			user: "Bob", want: "bob@3 Bob@5", wantOK: true},
		{name: "a recorded editor at the bound", edits: full, user: "user-0", wantOK: true,
			want: strings.Replace(record(full), "user-0@2", "user-0@5", 1)},
		{name: "a new editor at the bound: nobody is dropped, the edit is refused", edits: full, user: "mallory", want: record(full)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := record(tt.edits)
			got, ok := RecordEdit(tt.edits, tt.user, 5, t0)
			if ok != tt.wantOK || record(got) != tt.want {
				t.Errorf("RecordEdit = %s, %v; want %s, %v", record(got), ok, tt.want, tt.wantOK)
			}
			if record(tt.edits) != before {
				t.Errorf("the input was modified: %s, was %s", record(tt.edits), before)
			}
			for _, e := range got {
				if e.User == tt.user && ok && (e.At == nil || !e.At.Time.Equal(t0)) {
					t.Errorf("%s's edit not stamped with the time: %v", e.User, e.At)
				}
			}
		})
	}
}

func record(edits []itopsv1alpha1.ContentEdit) string {
	parts := make([]string, 0, len(edits))
	for _, e := range edits {
		parts = append(parts, fmt.Sprintf("%s@%d", e.User, e.Generation))
	}
	return strings.Join(parts, " ")
}

// TestContentHashIgnoresEditors: recording an editor is not itself a content change.
func TestContentHashIgnoresEditors(t *testing.T) {
	cr := changeRequest(nil)
	edited := cr.DeepCopy()
	edited.Spec.EditedBy = []itopsv1alpha1.ContentEdit{edit("bob", 3)}
	if ContentHash(&cr.Spec) != ContentHash(&edited.Spec) {
		t.Error("editedBy changes the content hash")
	}
}

// TestEditorsNeverApprove: the review finding. bob, an approver, edits the targets of alice's
// Pending Medium-risk change (generation 3, which voids earlier approvals) and then approves it
// alone (1 approval needed): he authorised content he wrote. Whoever wrote any part of the
// content does not approve it; the others' rules stay as they were.
func TestEditorsNeverApprove(t *testing.T) {
	defaults := config.Default().ChangePolicies[0] // Medium needs 1 approval, any approver
	gitops := defaults
	gitops.GitOps = config.GitOpsPolicy{MinApprovals: 2}
	const ci = "system:serviceaccount:ci:deployer"
	edited := func(editors []itopsv1alpha1.ContentEdit, approvers ...string) *itopsv1alpha1.ChangeRequest {
		return changeRequest(func(cr *itopsv1alpha1.ChangeRequest) {
			cr.Generation, cr.Spec.Risk, cr.Spec.Requester = 4, itopsv1alpha1.LevelMedium, "jane@example.com"
			cr.Annotations[itopsv1alpha1.AnnotationContentGeneration] = "3"
			cr.Spec.EditedBy = editors
			for i, a := range approvers {
				cr.Spec.Approvals = append(cr.Spec.Approvals, approval(a, itopsv1alpha1.DecisionApprove, 3, t0.Add(time.Duration(i+1)*time.Minute)))
			}
		})
	}
	bobEdited := []itopsv1alpha1.ContentEdit{edit("bob", 3)}
	tests := []struct {
		name           string
		cr             *itopsv1alpha1.ChangeRequest
		policy         config.ChangePolicy
		approver       string
		wantRefused    string // MayApprove's reason for approver; "" when allowed
		wantRequired   int
		wantAuthorised bool
	}{
		{name: "the finding: the editor approving alone is refused and never counted", cr: edited(bobEdited, "bob"), policy: defaults,
			approver: "bob", wantRefused: "bob edited this change's content (generation 3) and cannot approve it: whoever wrote any part of a change does not approve it (separation of duties)",
			wantRequired: 1},
		{name: "the editor under another spelling", cr: edited(bobEdited, "BOB"), policy: defaults,
			approver: "BOB", wantRefused: "BOB edited this change's content (generation 3)", wantRequired: 1},
		{name: "an editor of earlier content stays an editor", cr: edited([]itopsv1alpha1.ContentEdit{edit("bob", 2), edit("dave", 3)}, "bob"), policy: defaults,
			approver: "bob", wantRefused: "bob edited this change's content (generation 2)", wantRequired: 1},
		{name: "someone who did not edit is counted", cr: edited(bobEdited, "bob", "carol"), policy: defaults,
			approver: "carol", wantRequired: 1, wantAuthorised: true},
		{name: "the requester is still refused as requester", cr: edited(bobEdited, "alice"), policy: defaults,
			approver: "alice", wantRefused: "alice requested this change and cannot approve it", wantRequired: 1},
		{name: "the requester who also edited is refused as requester", cr: edited([]itopsv1alpha1.ContentEdit{edit("alice", 3)}, "alice"), policy: defaults,
			approver: "alice", wantRefused: "alice requested this change and cannot approve it", wantRequired: 1},
		{name: "the declared requester is still refused", cr: edited(bobEdited, "jane@example.com"), policy: defaults,
			approver: "Jane@example.com", wantRefused: "is the declared requester of this change", wantRequired: 1},
		{name: "a GitOps applier's edit: the ServiceAccount is refused as one, as before", cr: edited([]itopsv1alpha1.ContentEdit{edit(flux, 3)}, flux),
			policy: defaults, approver: flux, wantRefused: "is a ServiceAccount; approvals are given by people", wantRequired: 1},
		{name: "a GitOps applier's edit brings the gitops rules: two approvals", cr: edited([]itopsv1alpha1.ContentEdit{edit(flux, 3)}, "carol"),
			policy: gitops, approver: "carol", wantRequired: 2},
		{name: "a pipeline's edit from another namespace, two approvals given", cr: edited([]itopsv1alpha1.ContentEdit{edit(ci, 3)}, "carol", "erin"),
			policy: gitops, approver: "erin", wantRequired: 2, wantAuthorised: true},
		{name: "an edit as a ServiceAccount of the change's namespace needs two people", cr: edited([]itopsv1alpha1.ContentEdit{edit("system:serviceaccount:shop:default", 3)}, "bob"),
			policy: defaults, approver: "bob", wantRequired: 2},
		{name: "an edit as a namespace ServiceAccount, two others approving", cr: edited([]itopsv1alpha1.ContentEdit{edit("system:serviceaccount:shop:default", 3)}, "bob", "carol"),
			policy: defaults, approver: "carol", wantRequired: 2, wantAuthorised: true},
		{name: "no editors: as before", cr: edited(nil, "bob"), policy: defaults, approver: "bob", wantRequired: 1, wantAuthorised: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := PolicyFor(tt.cr, tt.policy)
			why := p.MayApprove(tt.cr, tt.approver, nil)
			switch {
			case tt.wantRefused == "" && why != "":
				t.Errorf("MayApprove(%s) refused: %s", tt.approver, why)
			case tt.wantRefused != "" && !strings.Contains(why, tt.wantRefused):
				t.Errorf("MayApprove(%s) = %q, want %q", tt.approver, why, tt.wantRefused)
			}
			a := Evaluate(tt.cr, p)
			if p.Required != tt.wantRequired || a.Authorised != tt.wantAuthorised {
				t.Errorf("required %d, authorised %v (%s, approvers %v); want %d, %v",
					p.Required, a.Authorised, a.Summary(), a.Approvers, tt.wantRequired, tt.wantAuthorised)
			}
			for _, who := range a.Approvers {
				if Editor(tt.cr, who) != nil {
					t.Errorf("editor %s counted as an approver", who)
				}
			}
		})
	}
}

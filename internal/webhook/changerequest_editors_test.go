package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/config"
)

// storedChange is alice's Pending change as stored at generation 2 (content from generation 1).
func storedChange(mutate func(*itopsv1alpha1.ChangeRequest)) *itopsv1alpha1.ChangeRequest {
	cr := &itopsv1alpha1.ChangeRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "web-v2", Namespace: "shop", Generation: 2,
			Labels:      map[string]string{"team": "web"},
			Annotations: map[string]string{itopsv1alpha1.AnnotationContentGeneration: "1"}},
		Spec: itopsv1alpha1.ChangeRequestSpec{Title: "web v2", RequestedBy: "alice", Risk: itopsv1alpha1.LevelMedium,
			Targets: []itopsv1alpha1.ChangeTarget{{Kind: itopsv1alpha1.TargetDeployment, Name: "web",
				Containers: []itopsv1alpha1.ContainerPin{{Name: "app", Image: "shop/web:2.0"}}}}},
	}
	if mutate != nil {
		mutate(cr)
	}
	return cr
}

// defaulted runs the mutating webhook on an update of old to cr by user and returns cr.
func defaulted(t *testing.T, old, cr *itopsv1alpha1.ChangeRequest, user string) *itopsv1alpha1.ChangeRequest {
	t.Helper()
	req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		Operation: admissionv1.Create, UserInfo: authenticationv1.UserInfo{Username: user}}}
	if old != nil {
		raw, err := json.Marshal(old)
		if err != nil {
			t.Fatal(err)
		}
		req.Operation, req.OldObject = admissionv1.Update, runtime.RawExtension{Raw: raw}
	}
	w := &ChangeRequestWebhook{Clock: clocktesting.NewFakePassiveClock(time.Date(2026, 11, 24, 9, 30, 0, 0, time.UTC))}
	if err := w.Default(admission.NewContextWithRequest(context.Background(), req), cr); err != nil {
		t.Fatal(err)
	}
	return cr
}

func editors(cr *itopsv1alpha1.ChangeRequest) string {
	parts := make([]string, 0, len(cr.Spec.EditedBy))
	for _, e := range cr.Spec.EditedBy {
		parts = append(parts, fmt.Sprintf("%s@%d", e.User, e.Generation))
	}
	return strings.Join(parts, " ")
}

// TestDefaultRecordsContentEditors: the mutating webhook records who changed the content,
// from the stored record, whatever the request sends.
func TestDefaultRecordsContentEditors(t *testing.T) {
	bobEdited := func(cr *itopsv1alpha1.ChangeRequest) {
		cr.Generation = 3
		cr.Annotations[itopsv1alpha1.AnnotationContentGeneration] = "3"
		cr.Spec.EditedBy = []itopsv1alpha1.ContentEdit{{User: "bob", Generation: 3}}
	}
	tests := []struct {
		name        string
		old         *itopsv1alpha1.ChangeRequest // nil: a create
		edit        func(*itopsv1alpha1.ChangeRequest)
		user        string
		want        string
		wantContent string
	}{
		{name: "a create carries no editors, whatever it claims", user: "alice", wantContent: "1",
			edit: func(cr *itopsv1alpha1.ChangeRequest) {
				cr.Spec.EditedBy = []itopsv1alpha1.ContentEdit{{User: "carol", Generation: 1}}
			}},
		{name: "the finding: bob pins another image", old: storedChange(nil), user: "bob", want: "bob@3", wantContent: "3",
			edit: func(cr *itopsv1alpha1.ChangeRequest) { cr.Spec.Targets[0].Containers[0].Image = "shop/web:2.1" }},
		{name: "any spec field but the records is content: the description", old: storedChange(nil), user: "bob", want: "bob@3", wantContent: "3",
			edit: func(cr *itopsv1alpha1.ChangeRequest) { cr.Spec.Description = "also bumps the sidecar" }},
		{name: "any spec field but the records is content: the risk", old: storedChange(nil), user: "bob", want: "bob@3", wantContent: "3",
			edit: func(cr *itopsv1alpha1.ChangeRequest) { cr.Spec.Risk = itopsv1alpha1.LevelLow }},
		{name: "a second editor is appended, the first kept", old: storedChange(bobEdited), user: "dave", want: "bob@3 dave@4", wantContent: "4",
			edit: func(cr *itopsv1alpha1.ChangeRequest) { cr.Spec.Title = "web v2.1" }},
		{name: "an approval is not content", old: storedChange(bobEdited), user: "carol", want: "bob@3", wantContent: "3",
			edit: func(cr *itopsv1alpha1.ChangeRequest) {
				cr.Spec.Approvals = []itopsv1alpha1.Approval{{Decision: itopsv1alpha1.DecisionApprove}}
			}},
		{name: "labels and annotations are not content", old: storedChange(bobEdited), user: "erin", want: "bob@3", wantContent: "3",
			edit: func(cr *itopsv1alpha1.ChangeRequest) {
				cr.Labels["team"] = "platform"
				cr.Annotations["note"] = "reviewed in CAB"
			}},
		{name: "an apply from Git that leaves the record out keeps it", old: storedChange(bobEdited), user: "system:serviceaccount:flux-system:kustomize-controller",
			want: "bob@3", wantContent: "3", edit: func(cr *itopsv1alpha1.ChangeRequest) { cr.Spec.EditedBy = nil }},
		{name: "an apply from Git that reverts bob's edit: both recorded", old: storedChange(bobEdited), user: "system:serviceaccount:flux-system:kustomize-controller",
			want: "bob@3 system:serviceaccount:flux-system:kustomize-controller@4", wantContent: "4",
			edit: func(cr *itopsv1alpha1.ChangeRequest) {
				cr.Spec.EditedBy, cr.Spec.Targets[0].Containers[0].Image = nil, "shop/web:1.0"
			}},
		{name: "a forged record is replaced by the stored one", old: storedChange(bobEdited), user: "bob", want: "bob@3", wantContent: "3",
			edit: func(cr *itopsv1alpha1.ChangeRequest) {
				cr.Spec.EditedBy = []itopsv1alpha1.ContentEdit{{User: "mallory", Generation: 9}}
			}},
		{name: "a forged record with a content edit: the stored one plus the editor", old: storedChange(bobEdited), user: "bob", want: "bob@4", wantContent: "4",
			edit: func(cr *itopsv1alpha1.ChangeRequest) {
				cr.Spec.EditedBy = nil
				cr.Spec.Description = "bob again"
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cr := storedChange(nil)
			if tt.old != nil {
				cr = tt.old.DeepCopy()
			}
			tt.edit(cr)
			got := defaulted(t, tt.old, cr, tt.user)
			if editors(got) != tt.want || got.Annotations[itopsv1alpha1.AnnotationContentGeneration] != tt.wantContent {
				t.Errorf("editedBy %q, content generation %s; want %q, %s", editors(got),
					got.Annotations[itopsv1alpha1.AnnotationContentGeneration], tt.want, tt.wantContent)
			}
			edited := tt.old != nil && tt.old.Annotations[itopsv1alpha1.AnnotationContentGeneration] != tt.wantContent
			for _, e := range got.Spec.EditedBy {
				if !edited {
					break
				}
				if e.User == tt.user && (e.At == nil || !e.At.Time.Equal(time.Date(2026, 11, 24, 9, 30, 0, 0, time.UTC))) {
					t.Errorf("%s's edit stamped at %v, want the clock's time", e.User, e.At)
				}
			}
		})
	}
}

// TestValidateChangeRefusesEditorsAsApprovers: the admission side of separation of duties for
// editors, on objects as the mutating webhook leaves them.
func TestValidateChangeRefusesEditorsAsApprovers(t *testing.T) {
	p := config.Default().ChangePolicies[0]
	ok := itopsv1alpha1.Approval{Decision: itopsv1alpha1.DecisionApprove}
	full := func(cr *itopsv1alpha1.ChangeRequest) {
		for i := range itopsv1alpha1.MaxContentEditors {
			cr.Spec.EditedBy = append(cr.Spec.EditedBy, itopsv1alpha1.ContentEdit{User: fmt.Sprintf("user-%d", i), Generation: 2})
		}
	}
	tests := []struct {
		name string
		old  *itopsv1alpha1.ChangeRequest
		edit func(*itopsv1alpha1.ChangeRequest)
		user string
		want string
	}{
		{name: "bob edits alice's change", old: storedChange(nil), user: "bob",
			edit: func(cr *itopsv1alpha1.ChangeRequest) { cr.Spec.Targets[0].Containers[0].Image = "shop/web:2.1" }},
		{name: "then approves it alone", user: "bob", old: storedChange(func(cr *itopsv1alpha1.ChangeRequest) {
			cr.Generation, cr.Annotations[itopsv1alpha1.AnnotationContentGeneration] = 3, "3"
			cr.Spec.Targets[0].Containers[0].Image = "shop/web:2.1"
			cr.Spec.EditedBy = []itopsv1alpha1.ContentEdit{{User: "bob", Generation: 3}}
		}), edit: func(cr *itopsv1alpha1.ChangeRequest) { cr.Spec.Approvals = append(cr.Spec.Approvals, ok) },
			want: "spec.approvals[0]: Forbidden: bob edited this change's content (generation 3) and cannot approve it"},
		{name: "editing and approving in one request", old: storedChange(nil), user: "bob",
			edit: func(cr *itopsv1alpha1.ChangeRequest) {
				cr.Spec.Targets[0].Containers[0].Image = "shop/web:2.1"
				cr.Spec.Approvals = append(cr.Spec.Approvals, ok)
			},
			want: "spec.approvals[0]: Forbidden: bob edited this change's content (generation 3)"},
		{name: "rejecting one's own edit is a decision on it too", user: "bob", old: storedChange(func(cr *itopsv1alpha1.ChangeRequest) {
			cr.Spec.EditedBy = []itopsv1alpha1.ContentEdit{{User: "bob", Generation: 2}}
		}), edit: func(cr *itopsv1alpha1.ChangeRequest) {
			cr.Spec.Approvals = append(cr.Spec.Approvals, itopsv1alpha1.Approval{Decision: itopsv1alpha1.DecisionReject})
		}, want: "bob edited this change's content (generation 2)"},
		{name: "carol, who edited nothing, approves", user: "carol", old: storedChange(func(cr *itopsv1alpha1.ChangeRequest) {
			cr.Spec.EditedBy = []itopsv1alpha1.ContentEdit{{User: "bob", Generation: 2}}
		}), edit: func(cr *itopsv1alpha1.ChangeRequest) { cr.Spec.Approvals = append(cr.Spec.Approvals, ok) }},
		{name: "a 17th person's edit is refused, nobody is dropped", old: storedChange(full), user: "mallory",
			edit: func(cr *itopsv1alpha1.ChangeRequest) { cr.Spec.Description = "mine now" },
			want: "spec.editedBy: Forbidden: 16 people have already edited this change's content, the most a ChangeRequest records (mallory is not among them)"},
		{name: "a recorded editor may still edit a full record", old: storedChange(full), user: "user-7",
			edit: func(cr *itopsv1alpha1.ChangeRequest) { cr.Spec.Description = "again" }},
		{name: "anyone may edit the metadata of a change with a full record", old: storedChange(full), user: "mallory",
			edit: func(cr *itopsv1alpha1.ChangeRequest) { cr.Labels["team"] = "platform" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cr := tt.old.DeepCopy()
			tt.edit(cr)
			cr = defaulted(t, tt.old, cr, tt.user)
			got := ValidateChange(tt.old, cr, p, tt.user, nil).ToAggregate()
			switch {
			case tt.want == "" && got != nil:
				t.Errorf("unexpected %v", got)
			case tt.want != "" && (got == nil || !strings.Contains(got.Error(), tt.want)):
				t.Errorf("ValidateChange = %v, want %q", got, tt.want)
			}
		})
	}
}

// TestEditWarnings: the editor learns at the edit that they will not approve the change.
func TestEditWarnings(t *testing.T) {
	approved := storedChange(func(cr *itopsv1alpha1.ChangeRequest) {
		cr.Spec.Approvals = []itopsv1alpha1.Approval{{Approver: "carol", Decision: itopsv1alpha1.DecisionApprove, Generation: 1}}
	})
	retitled := approved.DeepCopy()
	retitled.Spec.Title = "web v2, bigger"
	relabelled := approved.DeepCopy()
	relabelled.Labels["team"] = "platform"
	tests := []struct {
		name     string
		old, new *itopsv1alpha1.ChangeRequest
		user     string
		want     string
	}{
		{name: "an approver editing", old: approved, new: retitled, user: "bob",
			want: "bob edited the content of ChangeRequest web-v2 and is recorded in spec.editedBy: an editor never approves or rejects this change " +
				"(separation of duties); 1 decision(s) given for the earlier content no longer count"},
		{name: "the requester editing their own change", old: approved, new: retitled, user: "alice"},
		{name: "a metadata edit", old: approved, new: relabelled, user: "bob"},
		{name: "a create", new: retitled, user: "alice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := strings.Join(EditWarnings(tt.old, tt.new, tt.user), "\n")
			if got != tt.want {
				t.Errorf("EditWarnings = %q, want %q", got, tt.want)
			}
		})
	}
}

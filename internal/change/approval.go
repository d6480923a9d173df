// Package change holds the pure rules of change management: which approvals count, when a
// change is authorised and until when, and how far its rollout has got. The admission webhooks,
// the change gate and the ChangeRequest controller all decide with these functions, so that
// they never disagree.
package change

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/config"
)

// ContentHash is a hash of the change's content: its spec other than approvals, requestedBy
// and editedBy (the records of who decided, requested and edited it). Approvals are bound to
// it, and whoever changes it is recorded as an editor (RecordEdit).
func ContentHash(spec *itopsv1alpha1.ChangeRequestSpec) string {
	c := spec.DeepCopy()
	c.Approvals, c.RequestedBy, c.EditedBy = nil, "", nil
	data, err := json.Marshal(c)
	if err != nil { // a typed struct always marshals
		panic(err)
	}
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:16])
}

// ContentGeneration is the generation at which the change's content last changed, as the
// admission webhook recorded it. Without the record (webhooks not running), the current
// generation: no approval given before it counts, which errs on the safe side.
func ContentGeneration(cr *itopsv1alpha1.ChangeRequest) int64 {
	if v, ok := cr.Annotations[itopsv1alpha1.AnnotationContentGeneration]; ok {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 && n <= cr.Generation {
			return n
		}
	}
	return cr.Generation
}

// RecordEdit returns the editors record (spec.editedBy) after user changed the content,
// giving the object generation, at time at: user's entry (matched exactly: usernames are the
// API server's identities) is updated in place, or appended when new. edits is not modified.
// ok is false, and edits is returned as it was, when user is new and the record already holds
// itopsv1alpha1.MaxContentEditors people: an editor is never dropped from the record (that
// would let them approve), so the admission webhook refuses the edit instead.
func RecordEdit(edits []itopsv1alpha1.ContentEdit, user string, generation int64, at time.Time) (out []itopsv1alpha1.ContentEdit, ok bool) {
	stamp := metav1.NewTime(at)
	out = make([]itopsv1alpha1.ContentEdit, 0, len(edits)+1)
	for _, e := range edits {
		out = append(out, *e.DeepCopy())
	}
	for i := range out {
		if out[i].User == user {
			out[i].Generation, out[i].At = generation, &stamp
			return out, true
		}
	}
	if len(out) >= itopsv1alpha1.MaxContentEditors {
		return edits, false
	}
	return append(out, itopsv1alpha1.ContentEdit{User: user, Generation: generation, At: &stamp}), true
}

// Editor returns the record of user's content edits of cr (spec.editedBy), compared
// case-insensitively as the declared requester is, or nil if user never changed its content.
func Editor(cr *itopsv1alpha1.ChangeRequest, user string) *itopsv1alpha1.ContentEdit {
	for i := range cr.Spec.EditedBy {
		if strings.EqualFold(cr.Spec.EditedBy[i].User, user) {
			return &cr.Spec.EditedBy[i]
		}
	}
	return nil
}

// Policy is the approval policy in force for one change: the administrator's policy for its
// namespace, tightened by the change's own approvalPolicy.
type Policy struct {
	// Required is the number of approvals needed.
	Required int
	// ApproverGroups are the sets of groups an approver must belong to: one of each set.
	ApproverGroups [][]string
	// EmergencyGroups may raise Emergency changes.
	EmergencyGroups []string
	// Lifetime is how long an approval of a change without a schedule stays valid.
	Lifetime time.Duration
	// Standard is the pre-approved pattern covering every target, if any.
	Standard *config.StandardChange
	// Automated: the change was applied by automation (AppliedByAutomation), so the
	// administrator's gitops rules below are in force.
	Automated bool
	// RequireRequester: the change must declare spec.requester (gitops.requireRequester).
	RequireRequester bool
	// ExcludedApproverGroups: no member of these groups may approve
	// (gitops.excludedApproverGroups).
	ExcludedApproverGroups []string
	// Appliers are the administrator's declared appliers (gitops.appliers), who never
	// approve, like every ServiceAccount.
	Appliers []string
	// ByNamespaceServiceAccount: the change was created by a ServiceAccount of its own
	// namespace (NamespaceServiceAccount), which any developer of the namespace can act as.
	// Built in, whatever the policy: it must declare spec.requester, and a change that needs
	// approval needs at least NamespaceServiceAccountMinApprovals.
	ByNamespaceServiceAccount bool
	// EditedByNamespaceServiceAccount: a ServiceAccount of the change's own namespace changed
	// its content (spec.editedBy). Whoever acted as it could be any developer of the namespace,
	// an approver among them, so a change that needs approval needs at least
	// NamespaceServiceAccountMinApprovals: the editor's one approval never authorises it.
	EditedByNamespaceServiceAccount bool
}

// NamespaceServiceAccountMinApprovals is the least number of approvals of a change created by a
// ServiceAccount of its own namespace, when it needs any: two distinct people, so that a
// developer acting as the ServiceAccount (impersonation, a token, a Pod running as it) cannot
// authorise their own change with their one approval. Source: the two-person rule (NIST SP
// 800-53 AC-5, separation of duties), applied where the cluster cannot name the requester.
const NamespaceServiceAccountMinApprovals = 2

// PolicyFor computes the policy in force for cr under the administrator's policy p. A change
// created by a ServiceAccount of its own namespace is tightened whatever p says (see
// Policy.ByNamespaceServiceAccount), and so is one such a ServiceAccount edited
// (Policy.EditedByNamespaceServiceAccount). The administrator's gitops rules apply to a change
// created or edited by automation (a ServiceAccount or a declared applier): either way the
// cluster knows who applied the content, not who wrote it.
func PolicyFor(cr *itopsv1alpha1.ChangeRequest, p config.ChangePolicy) Policy {
	risk := cr.Spec.Risk
	if risk == "" {
		risk = itopsv1alpha1.LevelMedium
	}
	out := Policy{
		Required:        int(p.MinApprovals[risk]),
		EmergencyGroups: p.EmergencyGroups,
		Lifetime:        p.ApprovalLifetime.Duration,
	}
	if len(p.ApproverGroups) > 0 {
		out.ApproverGroups = append(out.ApproverGroups, p.ApproverGroups)
	}
	if ap := cr.Spec.ApprovalPolicy; ap != nil {
		if ap.Required != nil && int(*ap.Required) > out.Required {
			out.Required = int(*ap.Required)
		}
		if len(ap.ApproverGroups) > 0 {
			out.ApproverGroups = append(out.ApproverGroups, ap.ApproverGroups)
		}
	}
	if cr.Spec.Type == itopsv1alpha1.ChangeStandard {
		out.Standard = p.StandardChangeFor(cr.Spec.Targets)
	}
	out.Appliers = p.GitOps.Appliers
	automated := AppliedByAutomation(cr.Spec.RequestedBy, p.GitOps)
	for _, e := range cr.Spec.EditedBy {
		automated = automated || AppliedByAutomation(e.User, p.GitOps)
		out.EditedByNamespaceServiceAccount = out.EditedByNamespaceServiceAccount || NamespaceServiceAccount(e.User, cr.Namespace)
	}
	if automated {
		g := p.GitOps
		out.Automated, out.RequireRequester, out.ExcludedApproverGroups = true, g.RequireRequester, g.ExcludedApproverGroups
		if int(g.MinApprovals) > out.Required {
			out.Required = int(g.MinApprovals)
		}
		if len(g.ApproverGroups) > 0 {
			out.ApproverGroups = append(out.ApproverGroups, g.ApproverGroups)
		}
	}
	if NamespaceServiceAccount(cr.Spec.RequestedBy, cr.Namespace) {
		out.ByNamespaceServiceAccount, out.RequireRequester = true, true
	}
	if (out.ByNamespaceServiceAccount || out.EditedByNamespaceServiceAccount) &&
		out.Required > 0 && out.Required < NamespaceServiceAccountMinApprovals {
		out.Required = NamespaceServiceAccountMinApprovals
	}
	return out
}

// MayApprove reports why a user with groups may not approve cr, or "" if they may. It is the
// separation of duties the cluster can verify: nobody approves content they wrote.
//   - neither the stamped requester (requestedBy) nor the declared one (requester, compared
//     case-insensitively, as Git authors' names and e-mail addresses are);
//   - nobody who changed the content after its creation (spec.editedBy, compared
//     case-insensitively), whenever they did: an approval is given for the whole content, and an
//     edit that later edits revert or overwrite still had its author choose what the approvers
//     saw. A decision is for the content, so this holds for Reject too;
//   - never a ServiceAccount nor a declared applier: an approval is a person's decision, and a
//     ServiceAccount acts for whoever controls what it runs (a Git repository, a pipeline, any
//     Pod in its namespace), so its approval would launder anyone's identity;
//   - a member of every set of approver groups, and, for a change applied by automation, of
//     none of gitops.excludedApproverGroups.
func (p Policy) MayApprove(cr *itopsv1alpha1.ChangeRequest, user string, groups []string) string {
	if why := p.refusedApprover(cr, user); why != "" {
		return why
	}
	for _, set := range p.ApproverGroups {
		if !intersects(set, groups) {
			return fmt.Sprintf("%s is not in any of the approver groups %s", user, strings.Join(set, ", "))
		}
	}
	for _, g := range p.ExcludedApproverGroups {
		if slices.Contains(groups, g) {
			return fmt.Sprintf("%s is in group %s, whose members may not approve changes applied from Git (policy gitops.excludedApproverGroups; separation of duties)", user, g)
		}
	}
	return ""
}

// refusedApprover is the part of MayApprove that needs no group membership, so that Evaluate
// applies it too (an approval recorded while the webhooks were off never counts).
func (p Policy) refusedApprover(cr *itopsv1alpha1.ChangeRequest, user string) string {
	switch {
	case user == "":
		return "approvals need an authenticated user"
	case user == cr.Spec.RequestedBy && p.Automated:
		return fmt.Sprintf("%s applied this change and cannot approve it (separation of duties)", user)
	case user == cr.Spec.RequestedBy:
		return fmt.Sprintf("%s requested this change and cannot approve it (separation of duties)", user)
	case cr.Spec.Requester != "" && strings.EqualFold(user, cr.Spec.Requester):
		return fmt.Sprintf("%s is the declared requester of this change and cannot approve it (separation of duties)", user)
	case IsServiceAccount(user):
		return fmt.Sprintf("%s is a ServiceAccount; approvals are given by people, never by automation (separation of duties)", user)
	case slices.Contains(p.Appliers, user):
		return fmt.Sprintf("%s applies changes from Git (policy gitops.appliers) and never approves one (separation of duties)", user)
	}
	if e := Editor(cr, user); e != nil {
		return fmt.Sprintf("%s edited this change's content (generation %d) and cannot approve it: "+
			"whoever wrote any part of a change does not approve it (separation of duties); ask another approver", user, e.Generation)
	}
	return ""
}

// MayRaiseEmergency reports whether a member of groups may raise an Emergency change.
func (p Policy) MayRaiseEmergency(groups []string) bool {
	return intersects(p.EmergencyGroups, groups)
}

func intersects(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

// Approvals is the evaluation of a change's approvals against its current content.
type Approvals struct {
	// Required and Valid count approvals; Valid counts Approve decisions on the current content.
	Required, Valid int
	// Approvers are the users whose approvals count, in the order they were given.
	Approvers []string
	// Void counts approvals given for earlier content.
	Void int
	// Rejection is a Reject decision on the current content, if any.
	Rejection *itopsv1alpha1.Approval
	// Authorised: approved (or pre-approved, or an emergency) and not rejected.
	Authorised bool
	// Reason is the Approved condition's reason.
	Reason string
	// Since is when the change became authorised (zero if it is not).
	Since time.Time
	// Reviewed is whether an Emergency change has its approvals after the fact.
	Reviewed bool
}

// Summary is the printer column: valid approvals over required ones.
func (a Approvals) Summary() string {
	if a.Reason == itopsv1alpha1.ChangeReasonStandardChange {
		return "standard"
	}
	return fmt.Sprintf("%d/%d", a.Valid, a.Required)
}

// Evaluate counts the approvals that are valid for the change's current content. Group
// membership was checked when each approval was admitted; here, an approval counts when it is
// an Approve given for the current content by someone separation of duties allows (not the
// requester, not an editor of the content, not automation).
func Evaluate(cr *itopsv1alpha1.ChangeRequest, p Policy) Approvals {
	content := ContentGeneration(cr)
	a := Approvals{Required: p.Required}
	approvals := slices.Clone(cr.Spec.Approvals)
	sort.SliceStable(approvals, func(i, j int) bool { return at(approvals[i]).Before(at(approvals[j])) })
	var reachedAt time.Time
	for i := range approvals {
		ap := approvals[i]
		if ap.Generation < content || ap.Generation == 0 {
			a.Void++
			continue
		}
		if p.refusedApprover(cr, ap.Approver) != "" {
			continue // refused at admission; never counted
		}
		switch ap.Decision {
		case itopsv1alpha1.DecisionReject:
			if a.Rejection == nil {
				a.Rejection = &approvals[i]
			}
		case itopsv1alpha1.DecisionApprove:
			a.Valid++
			a.Approvers = append(a.Approvers, ap.Approver)
			if a.Valid == a.Required {
				reachedAt = at(ap)
			}
		}
	}
	approved := a.Valid >= a.Required
	if approved && a.Required == 0 {
		reachedAt = cr.CreationTimestamp.Time
	}
	switch {
	case a.Rejection != nil:
		a.Reason = itopsv1alpha1.ChangeReasonRejected
	case cr.Spec.Type == itopsv1alpha1.ChangeEmergency:
		a.Authorised, a.Reason, a.Since = true, itopsv1alpha1.ChangeReasonEmergency, cr.CreationTimestamp.Time
		a.Reviewed = approved && a.Valid > 0
	case p.Standard != nil:
		a.Authorised, a.Reason, a.Since = true, itopsv1alpha1.ChangeReasonStandardChange, cr.CreationTimestamp.Time
		a.Required = 0
	case approved:
		a.Authorised, a.Reason, a.Since = true, itopsv1alpha1.ChangeReasonApproved, reachedAt
	default:
		a.Reason = itopsv1alpha1.ChangeReasonAwaitingApproval
	}
	return a
}

func at(a itopsv1alpha1.Approval) time.Time {
	if a.At == nil {
		return time.Time{}
	}
	return a.At.Time
}

// Window is when an authorised change may be applied: inside its schedule, or, without one,
// until its approval lapses.
func Window(cr *itopsv1alpha1.ChangeRequest, a Approvals, p Policy) (start, end time.Time) {
	if s := cr.Spec.Schedule; s != nil {
		return s.Start.Time, s.End.Time
	}
	if !a.Authorised {
		return time.Time{}, time.Time{}
	}
	return a.Since, a.Since.Add(p.Lifetime)
}

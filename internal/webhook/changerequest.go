package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/change"
	"github.com/itops-dev/itops-operator/internal/config"
)

// ChangeRequestWebhook stamps who requested and who approved a change, when, and for which
// content, from the authenticated user, the clock and the object's generation; and it enforces
// the administrator's policy: separation of duties, approver groups, emergency groups,
// Standard change patterns, and append-only approvals.
type ChangeRequestWebhook struct {
	// Reader reads Namespaces (for their labels, which select the policy), from the cache.
	Reader client.Reader
	// APIReader reads a Namespace the cache has not seen yet (one created a moment ago) from
	// the API server; nil: the cache's answer stands.
	APIReader client.Reader
	// Policy is the administrator-owned policy.
	Policy *config.Config
	// OperatorUser is the operator's own identity (from a SelfSubjectReview at start-up).
	// Only it removes the audit finalizer; empty disables that check.
	OperatorUser string
	// Clock is injected for tests; the real clock when nil.
	Clock clock.PassiveClock
	// Authorizer creates SubjectAccessReviews: an update that adds or changes an approval
	// requires the caller to hold the custom verb `approve` on changerequests.itops.dev in the
	// namespace (like the `approve` verb of CSR signers). nil skips the check (unit tests only).
	Authorizer client.Writer
}

// +kubebuilder:webhook:path=/mutate-itops-dev-v1alpha1-changerequest,mutating=true,failurePolicy=fail,sideEffects=None,groups=itops.dev,resources=changerequests,verbs=create;update,versions=v1alpha1,name=mchangerequest.itops.dev,admissionReviewVersions=v1
// +kubebuilder:webhook:path=/validate-itops-dev-v1alpha1-changerequest,mutating=false,failurePolicy=fail,sideEffects=None,groups=itops.dev,resources=changerequests,verbs=create;update,versions=v1alpha1,name=vchangerequest.itops.dev,admissionReviewVersions=v1

// SetupWithManager registers the webhooks.
func (w *ChangeRequestWebhook) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewWebhookManagedBy(mgr, &itopsv1alpha1.ChangeRequest{}).WithDefaulter(w).WithValidator(w).Complete()
}

func (w *ChangeRequestWebhook) now() metav1.Time {
	t := time.Now()
	if w.Clock != nil {
		t = w.Clock.Now()
	}
	return metav1.NewTime(t.UTC().Truncate(time.Second))
}

// changeRequestContext returns the request's user and the object before the request.
func changeRequestContext(ctx context.Context) (admission.Request, *itopsv1alpha1.ChangeRequest, error) {
	req, err := admission.RequestFromContext(ctx)
	if err != nil {
		return req, nil, err
	}
	var old *itopsv1alpha1.ChangeRequest
	if req.Operation == admissionv1.Update && len(req.OldObject.Raw) > 0 {
		old = &itopsv1alpha1.ChangeRequest{}
		if err := json.Unmarshal(req.OldObject.Raw, old); err != nil {
			return req, nil, fmt.Errorf("decoding the old change request: %w", err)
		}
	}
	return req, old, nil
}

// Default stamps requestedBy at creation (and keeps it afterwards), `at` and `generation` of
// every new or changed approval, the generation at which the content last changed, and who
// changed it (spec.editedBy: the stored record, plus the user when this update changes the
// content; what the request sends there is never taken).
func (w *ChangeRequestWebhook) Default(ctx context.Context, cr *itopsv1alpha1.ChangeRequest) error {
	req, old, err := changeRequestContext(ctx)
	if err != nil {
		return err
	}
	if cr.Annotations == nil {
		cr.Annotations = map[string]string{}
	}
	if old == nil {
		cr.Spec.RequestedBy = req.UserInfo.Username
		cr.Spec.EditedBy = nil // the creator is requestedBy; only later edits are recorded
		cr.Annotations[itopsv1alpha1.AnnotationContentGeneration] = "1"
		if cr.DeletionTimestamp == nil {
			controllerutil.AddFinalizer(cr, itopsv1alpha1.AuditFinalizer)
		}
		StampApprovals(nil, cr, w.now(), 1)
		return nil
	}
	cr.Spec.RequestedBy = old.Spec.RequestedBy
	// The stored record, whatever the request says: an apply that leaves the field out (it is not
	// in Git) or a forged value never changes it.
	cr.Spec.EditedBy = old.Spec.DeepCopy().EditedBy
	cr.Spec.Approvals = MergeApprovals(old.Spec.Approvals, cr.Spec.Approvals, req.UserInfo.Username)
	content := change.ContentGeneration(old)
	if change.ContentHash(&old.Spec) != change.ContentHash(&cr.Spec) {
		content = old.Generation + 1 // the generation this update gives the object
		// At the bound the record stays as it was and the validator refuses the edit.
		cr.Spec.EditedBy, _ = change.RecordEdit(cr.Spec.EditedBy, req.UserInfo.Username, content, w.now().Time)
	}
	cr.Annotations[itopsv1alpha1.AnnotationContentGeneration] = strconv.FormatInt(content, 10)
	StampApprovals(old, cr, w.now(), old.Generation)
	return nil
}

// MergeApprovals returns the approvals an update stores, from the approvals before (old) and
// those the request sends (req), for the authenticated user:
//   - an entry without an approver is the user's own decision: the approver is stamped (the user
//     never types their name); if the user already had an entry, this one replaces it in place
//     (the validator then judges whether the decision may change);
//   - when the request gives a decision (a new entry, or a changed decision or comment) but
//     leaves out earlier entries (a merge patch replaces the whole list, so a second approver
//     using `kubectl patch --type merge` sends only their own entry), the earlier entries are
//     kept: approvals are append-only, so the request can only have meant to decide. Earlier
//     entries come first, in their order, new ones after; the validator then judges the decision.
//
// A request that only removes entries (decides nothing) is returned as sent, for the validator
// to refuse. The result never holds two entries of one approver.
func MergeApprovals(old, req []itopsv1alpha1.Approval, user string) []itopsv1alpha1.Approval {
	if len(req) == 0 {
		return req
	}
	out := make([]itopsv1alpha1.Approval, 0, len(req))
	seen := map[string]int{} // approver -> index in out
	for _, a := range req {
		if a.Approver == "" {
			a.Approver = user
		}
		if i, ok := seen[a.Approver]; ok {
			out[i] = a // the user's own entry (stamped from an empty approver) replaces the one sent before
			continue
		}
		seen[a.Approver] = len(out)
		out = append(out, a)
	}
	before := map[string]itopsv1alpha1.Approval{}
	for _, a := range old {
		before[a.Approver] = a
	}
	decides := false
	for _, a := range out {
		if b, ok := before[a.Approver]; !ok || b.Decision != a.Decision || b.Comment != a.Comment {
			decides = true
		}
	}
	if !decides {
		return out
	}
	merged := make([]itopsv1alpha1.Approval, 0, len(old)+len(out))
	for _, b := range old {
		if i, ok := seen[b.Approver]; ok {
			merged = append(merged, out[i])
			continue
		}
		merged = append(merged, b)
	}
	for _, a := range out {
		if _, ok := before[a.Approver]; !ok {
			merged = append(merged, a)
		}
	}
	return merged
}

// DecidedApprovals returns the indices of cr's approvals that an update adds or changes (a new
// approver, or a changed decision or comment): the entries the caller is deciding now. Empty
// for a create (approvals are refused there) and for updates that leave approvals alone.
func DecidedApprovals(old, cr *itopsv1alpha1.ChangeRequest) []int {
	if old == nil {
		return nil
	}
	before := map[string]itopsv1alpha1.Approval{}
	for _, a := range old.Spec.Approvals {
		before[a.Approver] = a
	}
	var idx []int
	for i, a := range cr.Spec.Approvals {
		if b, ok := before[a.Approver]; ok && b.Decision == a.Decision && b.Comment == a.Comment {
			continue
		}
		idx = append(idx, i)
	}
	return idx
}

// StampApprovals gives every new or changed approval the time and the generation the approver
// decided on; an unchanged one keeps what was recorded.
func StampApprovals(old, cr *itopsv1alpha1.ChangeRequest, now metav1.Time, generation int64) {
	before := map[string]itopsv1alpha1.Approval{}
	if old != nil {
		for _, a := range old.Spec.Approvals {
			before[a.Approver] = a
		}
	}
	for i := range cr.Spec.Approvals {
		a := &cr.Spec.Approvals[i]
		if b, ok := before[a.Approver]; ok && b.Decision == a.Decision && b.Comment == a.Comment {
			a.At, a.Generation = b.At.DeepCopy(), b.Generation
			continue
		}
		at := now
		a.At, a.Generation = &at, generation
	}
}

func (w *ChangeRequestWebhook) policyFor(ctx context.Context, namespace string) (config.ChangePolicy, error) {
	ns := &corev1.Namespace{}
	err := w.Reader.Get(ctx, client.ObjectKey{Name: namespace}, ns)
	if apierrors.IsNotFound(err) && w.APIReader != nil {
		// Created a moment ago: the request is judged on the namespace as it is, not refused.
		err = w.APIReader.Get(ctx, client.ObjectKey{Name: namespace}, ns)
	}
	if err != nil {
		return config.ChangePolicy{}, fmt.Errorf("reading namespace %s for its change policy: %w", namespace, err)
	}
	return w.Policy.ChangePolicyFor(ns.Labels), nil
}

// ValidateCreate enforces who may raise the change and what it may claim.
func (w *ChangeRequestWebhook) ValidateCreate(ctx context.Context, cr *itopsv1alpha1.ChangeRequest) (admission.Warnings, error) {
	req, _, err := changeRequestContext(ctx)
	if err != nil {
		return nil, err
	}
	p, err := w.policyFor(ctx, cr.Namespace)
	if err != nil {
		return nil, apierrors.NewServiceUnavailable(err.Error())
	}
	errs := ValidateChange(nil, cr, p, req.UserInfo.Username, req.UserInfo.Groups)
	if w.OperatorUser != "" && req.UserInfo.Username != w.OperatorUser {
		errs = append(errs, ValidateOperatorMarks(nil, cr, nil, ChangeRequestOperatorAnnotations, w.OperatorUser, "change request")...)
	}
	return nil, changeInvalid(cr, errs)
}

// ValidateUpdate enforces the approval rules.
func (w *ChangeRequestWebhook) ValidateUpdate(ctx context.Context, old, cr *itopsv1alpha1.ChangeRequest) (admission.Warnings, error) {
	req, _, err := changeRequestContext(ctx)
	if err != nil {
		return nil, err
	}
	p, err := w.policyFor(ctx, cr.Namespace)
	if err != nil {
		return nil, apierrors.NewServiceUnavailable(err.Error())
	}
	errs := ValidateChange(old, cr, p, req.UserInfo.Username, req.UserInfo.Groups)
	if decided := DecidedApprovals(old, cr); len(decided) > 0 && w.Authorizer != nil {
		// Only updates that decide pay for the review.
		allowed, err := w.mayApprove(ctx, req.UserInfo, cr.Namespace)
		if err != nil {
			return nil, apierrors.NewServiceUnavailable(err.Error())
		}
		errs = append(errs, ApproveVerbErrors(decided, allowed, req.UserInfo.Username, cr.Namespace)...)
	}
	if w.OperatorUser != "" && req.UserInfo.Username != w.OperatorUser {
		errs = append(errs, ValidateOperatorMarks(old, cr, nil, ChangeRequestOperatorAnnotations, w.OperatorUser, "change request")...)
	}
	return EditWarnings(old, cr, req.UserInfo.Username), changeInvalid(cr, errs)
}

// EditWarnings tells user, when their update of old to cr changes the content, that they are now
// one of the change's editors, who never approve it, and how many decisions on the earlier
// content no longer count: an admission warning, so an approver learns it at the edit, not when
// their approval is refused. Empty for the requester and for updates that leave the content alone.
func EditWarnings(old, cr *itopsv1alpha1.ChangeRequest, user string) admission.Warnings {
	if old == nil || user == cr.Spec.RequestedBy || change.ContentHash(&old.Spec) == change.ContentHash(&cr.Spec) {
		return nil
	}
	msg := fmt.Sprintf("%s edited the content of ChangeRequest %s and is recorded in spec.editedBy: "+
		"an editor never approves or rejects this change (separation of duties)", user, cr.Name)
	content := change.ContentGeneration(old)
	voided := 0
	for _, a := range old.Spec.Approvals {
		if a.Generation >= content && a.Generation > 0 {
			voided++
		}
	}
	if voided > 0 {
		msg += fmt.Sprintf("; %d decision(s) given for the earlier content no longer count", voided)
	}
	return admission.Warnings{msg}
}

// mayApprove asks the API server's authorizers (a SubjectAccessReview) whether user holds the
// verb approve on changerequests.itops.dev in namespace.
func (w *ChangeRequestWebhook) mayApprove(ctx context.Context, user authenticationv1.UserInfo, namespace string) (bool, error) {
	extra := map[string]authorizationv1.ExtraValue{}
	for k, v := range user.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: user.Username, UID: user.UID, Groups: user.Groups, Extra: extra,
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: namespace, Verb: ApproveVerb, Group: itopsv1alpha1.GroupVersion.Group,
			Version: itopsv1alpha1.GroupVersion.Version, Resource: "changerequests",
		},
	}}
	if err := w.Authorizer.Create(ctx, sar); err != nil {
		return false, fmt.Errorf("asking whether %s may approve changerequests in namespace %s (SubjectAccessReview): %w", user.Username, namespace, err)
	}
	return sar.Status.Allowed, nil
}

// ApproveVerb is the custom RBAC verb on changerequests.itops.dev that giving a decision
// (Approve or Reject) requires, as the `approve` verb on certificatesigners does for CSRs.
// The ClusterRole itops-approver grants it; itops-edit does not.
const ApproveVerb = "approve"

// ApproveVerbErrors refuses each decided approval (indices into spec.approvals) when the
// caller lacks the approve verb (allowed false), saying which role to grant.
func ApproveVerbErrors(decided []int, allowed bool, user, namespace string) field.ErrorList {
	if allowed {
		return nil
	}
	var errs field.ErrorList
	for _, i := range decided {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "approvals").Index(i), fmt.Sprintf(
			"user %s may not approve changerequests in namespace %s: grant the itops-approver ClusterRole "+
				"(verb %q on changerequests.itops.dev) with a RoleBinding in %s", user, namespace, ApproveVerb, namespace)))
	}
	return errs
}

// ValidateDelete allows deletion; the audit finalizer records the final state.
func (w *ChangeRequestWebhook) ValidateDelete(context.Context, *itopsv1alpha1.ChangeRequest) (admission.Warnings, error) {
	return nil, nil
}

// ValidateChange is the validation of a create (old nil) or an update of cr by user.
func ValidateChange(old, cr *itopsv1alpha1.ChangeRequest, p config.ChangePolicy, user string, groups []string) field.ErrorList {
	var errs field.ErrorList
	spec := field.NewPath("spec")
	pol := change.PolicyFor(cr, p)
	contentChanged := old == nil || change.ContentHash(&old.Spec) != change.ContentHash(&cr.Spec)

	becameEmergency := cr.Spec.Type == itopsv1alpha1.ChangeEmergency && (old == nil || old.Spec.Type != itopsv1alpha1.ChangeEmergency)
	if becameEmergency && !pol.MayRaiseEmergency(groups) {
		errs = append(errs, field.Forbidden(spec.Child("type"), fmt.Sprintf(
			"only members of %s may raise Emergency changes in namespace %s; %s is not: use type Normal and ask for approval",
			groupList(pol.EmergencyGroups), cr.Namespace, user)))
	}
	switch {
	case pol.ByNamespaceServiceAccount && contentChanged && cr.Spec.Requester == "":
		errs = append(errs, field.Required(spec.Child("requester"), fmt.Sprintf(
			"%s is a ServiceAccount of namespace %s, which anyone who may create Pods there or impersonate it can act as; "+
				"a change it creates must declare the person behind it as spec.requester (and needs %d approvals), "+
				"so that separation of duties can refuse their approval (see docs/security.md)",
			cr.Spec.RequestedBy, cr.Namespace, change.NamespaceServiceAccountMinApprovals)))
	case pol.RequireRequester && contentChanged && cr.Spec.Requester == "":
		errs = append(errs, field.Required(spec.Child("requester"), fmt.Sprintf(
			"%s applies this change from Git; the policy for namespace %s requires the Git author to be declared as spec.requester, "+
				"so that separation of duties can refuse their approval", cr.Spec.RequestedBy, cr.Namespace)))
	}
	if cr.Spec.Type == itopsv1alpha1.ChangeStandard && contentChanged && pol.Standard == nil {
		errs = append(errs, field.Invalid(spec.Child("type"), cr.Spec.Type, fmt.Sprintf(
			"no Standard change pattern of the policy for namespace %s covers every target (%s); use type Normal and ask for approval",
			cr.Namespace, patternList(p.StandardChanges))))
	}

	if old != nil && contentChanged && change.Editor(cr, user) == nil {
		// Default records every content editor; only a full record leaves one out.
		errs = append(errs, field.Forbidden(spec.Child("editedBy"), fmt.Sprintf(
			"%d people have already edited this change's content, the most a ChangeRequest records (%s is not among them); "+
				"an editor is never dropped from the record, since editors may not approve: raise a new ChangeRequest for this content",
			len(cr.Spec.EditedBy), user)))
	}

	ap := spec.Child("approvals")
	if old == nil {
		if len(cr.Spec.Approvals) > 0 {
			errs = append(errs, field.Forbidden(ap, "approvals are added by approvers to an existing ChangeRequest, never with the change itself (nor from Git)"))
		}
		return errs
	}
	before := map[string]itopsv1alpha1.Approval{}
	for _, a := range old.Spec.Approvals {
		before[a.Approver] = a
	}
	after := map[string]bool{}
	oldContent := change.ContentGeneration(old)
	for i, a := range cr.Spec.Approvals {
		after[a.Approver] = true
		b, existed := before[a.Approver]
		if existed && b.Decision == a.Decision && b.Comment == a.Comment {
			continue // unchanged
		}
		p := ap.Index(i)
		switch {
		case a.Approver != user:
			errs = append(errs, field.Invalid(p.Child("approver"), a.Approver, fmt.Sprintf(
				"must be the authenticated user %q: nobody approves in someone else's name (leave approver out: it is stamped)", user)))
			continue
		case existed && b.Generation >= oldContent:
			errs = append(errs, field.Forbidden(p, fmt.Sprintf(
				"approvals are append-only: %s already decided %s on this content; a decision stands until the change's content changes",
				user, b.Decision)))
			continue
		}
		if why := pol.MayApprove(cr, user, groups); why != "" {
			errs = append(errs, field.Forbidden(p, why))
		}
	}
	for _, b := range old.Spec.Approvals {
		if !after[b.Approver] {
			errs = append(errs, field.Forbidden(ap, fmt.Sprintf(
				"approvals are append-only: the approval of %s cannot be removed; to add your decision use "+
					"`kubectl itops approve|reject`, or a JSON patch adding to /spec/approvals/-", b.Approver)))
		}
	}
	return errs
}

func groupList(groups []string) string {
	if len(groups) == 0 {
		return "no group (the policy allows no Emergency changes here)"
	}
	return "group " + strings.Join(groups, " or ")
}

func patternList(patterns []config.StandardChange) string {
	if len(patterns) == 0 {
		return "the policy has no Standard change patterns"
	}
	var parts []string
	for _, sc := range patterns {
		var targets []string
		for _, t := range sc.Targets {
			targets = append(targets, string(t.Kind)+"/"+t.Name)
		}
		parts = append(parts, fmt.Sprintf("pattern %s covers %s", sc.Name, strings.Join(targets, ", ")))
	}
	return strings.Join(parts, "; ")
}

func changeInvalid(cr *itopsv1alpha1.ChangeRequest, errs field.ErrorList) error {
	if len(errs) == 0 {
		return nil
	}
	return apierrors.NewInvalid(itopsv1alpha1.GroupVersion.WithKind("ChangeRequest").GroupKind(), cr.Name, errs)
}

// Package webhook holds the admission webhooks: typed defaulters and validators that return
// field errors, so that kubectl shows which field is wrong and why.
package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/notify"
)

// IncidentWebhook stamps who acknowledged or resolved an incident, and when, from the
// authenticated user and the clock, and refuses illegal transitions. Nobody can act in
// someone else's name: `by` and `at` in a request are never trusted.
type IncidentWebhook struct {
	// OperatorUser is the operator's own identity (from a SelfSubjectReview at start-up).
	// Only it may open automated incidents or set the fields and metadata health detection
	// owns; empty disables that check (tests of the people rules alone).
	OperatorUser string
	// Clock is injected for tests; the real clock when nil.
	Clock clock.PassiveClock
	// Reader reads the incident's ServiceLevel and Namespace (from the cache) for the owner a
	// new incident inherits; nil: no inheritance.
	Reader client.Reader
}

// +kubebuilder:webhook:path=/mutate-itops-dev-v1alpha1-incident,mutating=true,failurePolicy=fail,sideEffects=None,groups=itops.dev,resources=incidents,verbs=create;update,versions=v1alpha1,name=mincident.itops.dev,admissionReviewVersions=v1
// +kubebuilder:webhook:path=/validate-itops-dev-v1alpha1-incident,mutating=false,failurePolicy=fail,sideEffects=None,groups=itops.dev,resources=incidents,verbs=create;update,versions=v1alpha1,name=vincident.itops.dev,admissionReviewVersions=v1

// SetupWithManager registers the webhooks.
func (w *IncidentWebhook) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewWebhookManagedBy(mgr, &itopsv1alpha1.Incident{}).WithDefaulter(w).WithValidator(w).Complete()
}

func (w *IncidentWebhook) now() metav1.Time {
	t := time.Now()
	if w.Clock != nil {
		t = w.Clock.Now()
	}
	return metav1.NewTime(t.UTC().Truncate(time.Second))
}

// requestContext returns the authenticated user and the object before the request.
func requestContext(ctx context.Context) (string, *itopsv1alpha1.Incident, error) {
	req, err := admission.RequestFromContext(ctx)
	if err != nil {
		return "", nil, err
	}
	var old *itopsv1alpha1.Incident
	if req.Operation == admissionv1.Update && len(req.OldObject.Raw) > 0 {
		old = &itopsv1alpha1.Incident{}
		if err := json.Unmarshal(req.OldObject.Raw, old); err != nil {
			return "", nil, fmt.Errorf("decoding the old incident: %w", err)
		}
	}
	return req.UserInfo.Username, old, nil
}

// Default fills a new incident's team and assignee from the owner of its service, and stamps
// `by` and `at` of a new or changed acknowledgement, resolution or assignment, keeping those of
// an unchanged one as they were.
func (w *IncidentWebhook) Default(ctx context.Context, inc *itopsv1alpha1.Incident) error {
	user, old, err := requestContext(ctx)
	if err != nil {
		return err
	}
	if old == nil && (inc.Spec.Team == "" || inc.Spec.Assignee == "") {
		DefaultOwnership(inc, w.ownerOf(ctx, inc.Namespace, inc.Spec.Service))
	}
	var oldAck *itopsv1alpha1.Acknowledgement
	var oldRes *itopsv1alpha1.Resolution
	if old != nil {
		oldAck, oldRes = old.Spec.Acknowledgement, old.Spec.Resolution
	}
	if old == nil && inc.DeletionTimestamp == nil {
		// Every incident's final state reaches the audit trail before it goes.
		controllerutil.AddFinalizer(inc, itopsv1alpha1.AuditFinalizer)
	}
	now := w.now()
	inc.Spec.Acknowledgement = StampAcknowledgement(oldAck, inc.Spec.Acknowledgement, user, now)
	inc.Spec.Resolution = StampResolution(oldRes, inc.Spec.Resolution, user, now)
	inc.Spec.Assignment = StampAssignment(old, inc, user, now)
	return nil
}

// ownerOf is the owner of the incidents of service in namespace ns (notify.OwnerOf): the
// ServiceLevel's spec.owner, else the namespace annotations. What cannot be read counts as
// absent: ownership never holds up opening an incident.
func (w *IncidentWebhook) ownerOf(ctx context.Context, ns, service string) itopsv1alpha1.ServiceOwner {
	if w.Reader == nil {
		return itopsv1alpha1.ServiceOwner{}
	}
	var slOwner *itopsv1alpha1.ServiceOwner
	if service != "" {
		sl := &itopsv1alpha1.ServiceLevel{}
		if err := w.Reader.Get(ctx, client.ObjectKey{Namespace: ns, Name: service}, sl); err == nil {
			slOwner = sl.Spec.Owner
		}
	}
	namespace := &corev1.Namespace{}
	if err := w.Reader.Get(ctx, client.ObjectKey{Name: ns}, namespace); err != nil {
		namespace.Annotations = nil
	}
	return notify.OwnerOf(slOwner, namespace.Annotations)
}

// DefaultOwnership fills a new incident's empty spec.team with the owner's team, and its empty
// spec.assignee with the team when the team is the owner's (a person who names a team of their
// own choosing without an assignee is left to assign). Manual and automated incidents inherit
// alike; the assignment is stamped with the creator like any other (StampAssignment).
func DefaultOwnership(inc *itopsv1alpha1.Incident, owner itopsv1alpha1.ServiceOwner) {
	if owner.Team == "" {
		return
	}
	if inc.Spec.Team == "" {
		inc.Spec.Team = owner.Team
	}
	if inc.Spec.Assignee == "" && inc.Spec.Team == owner.Team {
		inc.Spec.Assignee = owner.Team
	}
}

// StampAssignment returns the assignment record to store: stamped with user and now when the
// incident is created with an assignee or team, or when either changes; the recorded one
// otherwise (never the request's). old is nil for a create.
func StampAssignment(old, inc *itopsv1alpha1.Incident, user string, now metav1.Time) *itopsv1alpha1.Assignment {
	if old != nil && old.Spec.Assignee == inc.Spec.Assignee && old.Spec.Team == inc.Spec.Team {
		return old.Spec.Assignment.DeepCopy()
	}
	if inc.Spec.Assignee == "" && inc.Spec.Team == "" && old == nil {
		return nil
	}
	return &itopsv1alpha1.Assignment{By: user, At: &now}
}

// StampAcknowledgement returns the acknowledgement to store: an unchanged one (same note)
// keeps its recorded by/at; a new or changed one is stamped with user and now.
func StampAcknowledgement(old, req *itopsv1alpha1.Acknowledgement, user string, now metav1.Time) *itopsv1alpha1.Acknowledgement {
	if req == nil {
		return nil
	}
	if old != nil && old.Note == req.Note {
		return old.DeepCopy()
	}
	out := req.DeepCopy()
	out.By, out.At = user, &now
	return out
}

// StampResolution returns the resolution to store: an unchanged one (same code and note)
// keeps its recorded by/at; a new or changed one is stamped with user and now.
func StampResolution(old, req *itopsv1alpha1.Resolution, user string, now metav1.Time) *itopsv1alpha1.Resolution {
	if req == nil {
		return nil
	}
	if old != nil && old.Code == req.Code && old.Note == req.Note {
		return old.DeepCopy()
	}
	out := req.DeepCopy()
	out.By, out.At = user, &now
	return out
}

// ValidateCreate checks that people's decisions on a new incident carry their own name.
func (w *IncidentWebhook) ValidateCreate(ctx context.Context, inc *itopsv1alpha1.Incident) (admission.Warnings, error) {
	user, _, err := requestContext(ctx)
	if err != nil {
		return nil, err
	}
	errs := ValidateIncidentUpdate(nil, inc, user)
	if w.OperatorUser != "" && user != w.OperatorUser {
		errs = append(errs, ValidateOperatorOwned(nil, inc, w.OperatorUser)...)
	}
	return nil, invalid(inc, errs)
}

// ValidateUpdate refuses illegal transitions: acting in someone else's name, changing or
// withdrawing another person's acknowledgement or resolution, changing a closed incident.
func (w *IncidentWebhook) ValidateUpdate(ctx context.Context, old, inc *itopsv1alpha1.Incident) (admission.Warnings, error) {
	user, _, err := requestContext(ctx)
	if err != nil {
		return nil, err
	}
	errs := ValidateIncidentUpdate(old, inc, user)
	if w.OperatorUser != "" && user != w.OperatorUser {
		errs = append(errs, ValidateOperatorOwned(old, inc, w.OperatorUser)...)
	}
	return nil, invalid(inc, errs)
}

// operatorOwnedLabels and operatorOwnedAnnotations are metadata only the operator sets on
// incidents: label selectors over them (dashboards, routes, the operator's own lookups) must
// find the operator's incidents and nothing else.
var (
	operatorOwnedLabels = []string{
		itopsv1alpha1.LabelReason, itopsv1alpha1.LabelSource, itopsv1alpha1.LabelFingerprint, itopsv1alpha1.LabelSequence,
	}
	operatorOwnedAnnotations = []string{itopsv1alpha1.AnnotationPrevious, itopsv1alpha1.AnnotationDetectedAt}

	// ChangeRequestOperatorAnnotations are the annotations only the operator sets on
	// ChangeRequests: the record of the PagerDuty change events sent (editing it would
	// silence or repeat them).
	ChangeRequestOperatorAnnotations = []string{itopsv1alpha1.AnnotationPagerDutyChangeEvents}
)

// ValidateOperatorOwned refuses, to anyone but the operator, what the operator alone writes on
// an incident: a source other than Manual, a fingerprint, the labels and annotations detection
// sets (creating, changing or removing them), the cause of an automated incident
// (spec.reason, spec.affected), and the removal of the audit finalizer. old is nil for a
// create. People keep the rest: title, description, impact, urgency, assignee, their own
// acknowledgement and resolution.
func ValidateOperatorOwned(old, inc *itopsv1alpha1.Incident, operator string) field.ErrorList {
	var errs field.ErrorList
	msg := "set only by the operator (" + operator + "); people open incidents with source Manual"
	spec := field.NewPath("spec")
	source := inc.Spec.Source
	if source == "" {
		source = itopsv1alpha1.SourceManual
	}
	if old == nil {
		if source != itopsv1alpha1.SourceManual {
			errs = append(errs, field.Forbidden(spec.Child("source"), msg))
		}
		if inc.Spec.Fingerprint != "" {
			errs = append(errs, field.Forbidden(spec.Child("fingerprint"), msg))
		}
	} else {
		if inc.Spec.Source != old.Spec.Source {
			errs = append(errs, field.Forbidden(spec.Child("source"), msg))
		}
		if inc.Spec.Fingerprint != old.Spec.Fingerprint {
			errs = append(errs, field.Forbidden(spec.Child("fingerprint"), msg))
		}
		if automated(old) {
			cause := fmt.Sprintf("the cause of an automated incident is the operator's record of what it detected; only %s changes it", operator)
			if inc.Spec.Reason != old.Spec.Reason {
				errs = append(errs, field.Forbidden(spec.Child("reason"), cause))
			}
			if !apiequality.Semantic.DeepEqual(inc.Spec.Affected, old.Spec.Affected) {
				errs = append(errs, field.Forbidden(spec.Child("affected"), cause))
			}
		}
	}
	var oldMeta metav1.Object
	if old != nil {
		oldMeta = old
	}
	errs = append(errs, ValidateOperatorMarks(oldMeta, inc, operatorOwnedLabels, operatorOwnedAnnotations, operator, "incident")...)
	return errs
}

func automated(inc *itopsv1alpha1.Incident) bool {
	return inc.Spec.Source != "" && inc.Spec.Source != itopsv1alpha1.SourceManual
}

// ValidateOperatorMarks refuses, to anyone but the operator, creating, changing or removing
// the given operator-owned labels and annotations of obj, and removing the audit finalizer
// while the operator still has to record the object's final state. old is nil for a create.
// kind names the object in messages ("incident", "change request").
//
// Removing the audit finalizer is not a person's break-glass: it would let the object go
// without its final state in the audit trail. An operator that is gone for good is handled by
// removing its webhook configurations first (helm uninstall does), after which the finalizer
// can be removed like any other (docs/security.md).
func ValidateOperatorMarks(old, obj metav1.Object, labels, annotations []string, operator, kind string) field.ErrorList {
	var errs field.ErrorList
	msg := "set only by the operator (" + operator + ")"
	meta := field.NewPath("metadata")
	get := func(o metav1.Object, annotation bool) map[string]string {
		switch {
		case o == nil:
			return nil
		case annotation:
			return o.GetAnnotations()
		default:
			return o.GetLabels()
		}
	}
	for _, k := range labels {
		if get(obj, false)[k] != get(old, false)[k] {
			errs = append(errs, field.Forbidden(meta.Child("labels").Key(k), msg))
		}
	}
	for _, k := range annotations {
		if get(obj, true)[k] != get(old, true)[k] {
			errs = append(errs, field.Forbidden(meta.Child("annotations").Key(k), msg))
		}
	}
	if old != nil && slices.Contains(old.GetFinalizers(), itopsv1alpha1.AuditFinalizer) &&
		!slices.Contains(obj.GetFinalizers(), itopsv1alpha1.AuditFinalizer) {
		errs = append(errs, field.Forbidden(meta.Child("finalizers"), fmt.Sprintf(
			"the %s finalizer is removed only by the operator (%s), once the %s's final state is in the audit trail; "+
				"delete the %s instead and the operator lets it go (docs/security.md)",
			itopsv1alpha1.AuditFinalizer, operator, kind, kind)))
	}
	return errs
}

// ValidateDelete allows deletion; the audit finalizer records the final state.
func (w *IncidentWebhook) ValidateDelete(context.Context, *itopsv1alpha1.Incident) (admission.Warnings, error) {
	return nil, nil
}

// ValidateIncidentUpdate is the validation of a create (old nil) or update by user.
func ValidateIncidentUpdate(old, inc *itopsv1alpha1.Incident, user string) field.ErrorList {
	var errs field.ErrorList
	spec := field.NewPath("spec")
	var oldAck *itopsv1alpha1.Acknowledgement
	var oldRes *itopsv1alpha1.Resolution
	if old != nil {
		oldAck, oldRes = old.Spec.Acknowledgement, old.Spec.Resolution
	}
	ackChanged := !ackEqual(oldAck, inc.Spec.Acknowledgement)
	resChanged := !resEqual(oldRes, inc.Spec.Resolution)

	if old != nil && old.Status.Phase == itopsv1alpha1.IncidentClosed && (ackChanged || resChanged) {
		errs = append(errs, field.Forbidden(spec, "the incident is Closed; closed incidents are final (open a new incident if the problem is back)"))
		return errs
	}
	if ackChanged {
		p := spec.Child("acknowledgement")
		switch {
		case oldAck != nil && oldAck.By != "" && oldAck.By != user:
			errs = append(errs, field.Forbidden(p, fmt.Sprintf("acknowledged by %s; only %s can change or withdraw this acknowledgement", oldAck.By, oldAck.By)))
		case inc.Spec.Acknowledgement != nil && inc.Spec.Acknowledgement.By != user:
			errs = append(errs, field.Invalid(p.Child("by"), inc.Spec.Acknowledgement.By, fmt.Sprintf("must be the authenticated user %q: nobody acknowledges in someone else's name", user)))
		}
	}
	if old == nil || old.Spec.Assignee != inc.Spec.Assignee || old.Spec.Team != inc.Spec.Team ||
		!apiequality.Semantic.DeepEqual(old.Spec.Assignment, inc.Spec.Assignment) {
		if a := inc.Spec.Assignment; a != nil && a.By != user && (old == nil || !apiequality.Semantic.DeepEqual(old.Spec.Assignment, a)) {
			errs = append(errs, field.Invalid(spec.Child("assignment", "by"), a.By,
				fmt.Sprintf("must be the authenticated user %q: nobody assigns in someone else's name", user)))
		}
	}
	if resChanged {
		p := spec.Child("resolution")
		switch {
		case oldRes != nil && oldRes.By != "" && oldRes.By != user:
			errs = append(errs, field.Forbidden(p, fmt.Sprintf("resolved by %s; only %s can change or withdraw this resolution", oldRes.By, oldRes.By)))
		case inc.Spec.Resolution != nil && inc.Spec.Resolution.By != user:
			errs = append(errs, field.Invalid(p.Child("by"), inc.Spec.Resolution.By, fmt.Sprintf("must be the authenticated user %q: nobody resolves in someone else's name", user)))
		}
	}
	return errs
}

func ackEqual(a, b *itopsv1alpha1.Acknowledgement) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.By == b.By && a.Note == b.Note && a.At.Equal(b.At)
}

func resEqual(a, b *itopsv1alpha1.Resolution) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.By == b.By && a.Code == b.Code && a.Note == b.Note && a.At.Equal(b.At)
}

func invalid(inc *itopsv1alpha1.Incident, errs field.ErrorList) error {
	if len(errs) == 0 {
		return nil
	}
	return apierrors.NewInvalid(itopsv1alpha1.GroupVersion.WithKind("Incident").GroupKind(), inc.Name, errs)
}

package webhook

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/config"
	"github.com/itops-dev/itops-operator/internal/promsli"
	"github.com/itops-dev/itops-operator/internal/selector"
	"github.com/itops-dev/itops-operator/internal/slo"
)

// ServiceLevelWebhook refuses ServiceLevels whose window is invalid (the CRD keeps the
// string-or-object union untyped; slo.ValidateObjectives) or whose selector is invalid (an operator such as
// `in` for `In`, values missing or forbidden, an invalid key or value) with the field path:
// CEL cannot check selectors fully, and an invalid one would select nothing while the
// ServiceLevel reported 100 %.
//
// It also warns (never refuses: the policy is the administrator's and may change after the
// ServiceLevel) when `spec.owner.escalation` names neither a route nor a receiver of the
// notification policy: escalations of the service's incidents would then fall back to the
// matching routes' own escalation (docs/notifications.md).
type ServiceLevelWebhook struct {
	// Notifications is the administrator's notification policy; nil skips the escalation check.
	Notifications *config.NotificationPolicy
}

// +kubebuilder:webhook:path=/validate-itops-dev-v1alpha1-servicelevel,mutating=false,failurePolicy=fail,sideEffects=None,groups=itops.dev,resources=servicelevels,verbs=create;update,versions=v1alpha1,name=vservicelevel.itops.dev,admissionReviewVersions=v1

// SetupWithManager registers the webhook.
func (w *ServiceLevelWebhook) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewWebhookManagedBy(mgr, &itopsv1alpha1.ServiceLevel{}).WithValidator(w).Complete()
}

func validateServiceLevel(sl *itopsv1alpha1.ServiceLevel) error {
	errs := selector.ServiceLevel(&sl.Spec)
	errs = append(errs, slo.ValidateObjectives(sl.Spec.Objectives, field.NewPath("spec", "objectives"))...)
	if o := sl.Spec.Objectives; o != nil {
		errs = append(errs, promsli.Validate(o.SLI, field.NewPath("spec", "objectives", "sli"))...)
	}
	if len(errs) > 0 {
		return apierrors.NewInvalid(itopsv1alpha1.GroupVersion.WithKind("ServiceLevel").GroupKind(), sl.Name, errs)
	}
	return nil
}

// EscalationWarnings returns the admission warning for a `spec.owner.escalation` that names
// neither a route nor a receiver of the policy; none without an owner, an escalation or a policy.
func EscalationWarnings(sl *itopsv1alpha1.ServiceLevel, p *config.NotificationPolicy) admission.Warnings {
	if p == nil || sl.Spec.Owner == nil || sl.Spec.Owner.Escalation == "" {
		return nil
	}
	if p.EscalationReceivers(sl.Spec.Owner.Escalation) != nil {
		return nil
	}
	return admission.Warnings{"spec.owner.escalation: " + sl.Spec.Owner.Escalation +
		" names no route or receiver of the operator's notification policy; escalations of this service's incidents use the matching routes' escalation instead (ask the administrator for the route name)"}
}

// ValidateCreate validates the selector and warns about an unknown escalation.
func (w *ServiceLevelWebhook) ValidateCreate(_ context.Context, sl *itopsv1alpha1.ServiceLevel) (admission.Warnings, error) {
	return EscalationWarnings(sl, w.Notifications), validateServiceLevel(sl)
}

// ValidateUpdate validates the selector. An object stored with an invalid selector (while the
// webhook was down) can only be updated into a valid one, or deleted.
func (w *ServiceLevelWebhook) ValidateUpdate(_ context.Context, _, sl *itopsv1alpha1.ServiceLevel) (admission.Warnings, error) {
	return EscalationWarnings(sl, w.Notifications), validateServiceLevel(sl)
}

// ValidateDelete allows deletion.
func (w *ServiceLevelWebhook) ValidateDelete(context.Context, *itopsv1alpha1.ServiceLevel) (admission.Warnings, error) {
	return nil, nil
}

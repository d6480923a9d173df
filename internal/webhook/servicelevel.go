package webhook

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/selector"
)

// ServiceLevelWebhook refuses ServiceLevels whose selector is invalid (an operator such as
// `in` for `In`, values missing or forbidden, an invalid key or value) with the field path:
// CEL cannot check selectors fully, and an invalid one would select nothing while the
// ServiceLevel reported 100 %.
type ServiceLevelWebhook struct{}

// +kubebuilder:webhook:path=/validate-itops-dev-v1alpha1-servicelevel,mutating=false,failurePolicy=fail,sideEffects=None,groups=itops.dev,resources=servicelevels,verbs=create;update,versions=v1alpha1,name=vservicelevel.itops.dev,admissionReviewVersions=v1

// SetupWithManager registers the webhook.
func (w *ServiceLevelWebhook) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewWebhookManagedBy(mgr, &itopsv1alpha1.ServiceLevel{}).WithValidator(w).Complete()
}

func validateServiceLevel(sl *itopsv1alpha1.ServiceLevel) error {
	if errs := selector.ServiceLevel(&sl.Spec); len(errs) > 0 {
		return apierrors.NewInvalid(itopsv1alpha1.GroupVersion.WithKind("ServiceLevel").GroupKind(), sl.Name, errs)
	}
	return nil
}

// ValidateCreate validates the selector.
func (w *ServiceLevelWebhook) ValidateCreate(_ context.Context, sl *itopsv1alpha1.ServiceLevel) (admission.Warnings, error) {
	return nil, validateServiceLevel(sl)
}

// ValidateUpdate validates the selector. An object stored with an invalid selector (while the
// webhook was down) can only be updated into a valid one, or deleted.
func (w *ServiceLevelWebhook) ValidateUpdate(_ context.Context, _, sl *itopsv1alpha1.ServiceLevel) (admission.Warnings, error) {
	return nil, validateServiceLevel(sl)
}

// ValidateDelete allows deletion.
func (w *ServiceLevelWebhook) ValidateDelete(context.Context, *itopsv1alpha1.ServiceLevel) (admission.Warnings, error) {
	return nil, nil
}

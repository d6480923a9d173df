package webhook

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/schedule"
	"github.com/itops-dev/itops-operator/internal/selector"
)

// MaintenanceWindowWebhook refuses windows whose calendar cannot be evaluated (a cron
// expression the parser refuses, an unknown time zone, a duration that is not positive) or
// whose selectors are invalid (internal/selector), with the field and the reason, at
// admission rather than in a log later.
type MaintenanceWindowWebhook struct{}

// +kubebuilder:webhook:path=/validate-itops-dev-v1alpha1-maintenancewindow,mutating=false,failurePolicy=fail,sideEffects=None,groups=itops.dev,resources=maintenancewindows,verbs=create;update,versions=v1alpha1,name=vmaintenancewindow.itops.dev,admissionReviewVersions=v1

// SetupWithManager registers the webhook.
func (w *MaintenanceWindowWebhook) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewWebhookManagedBy(mgr, &itopsv1alpha1.MaintenanceWindow{}).WithValidator(w).Complete()
}

func validateWindow(mw *itopsv1alpha1.MaintenanceWindow) error {
	_, errs := schedule.Parse(mw.Spec)
	errs = append(errs, selector.MaintenanceWindow(&mw.Spec)...)
	if len(errs) > 0 {
		return apierrors.NewInvalid(itopsv1alpha1.GroupVersion.WithKind("MaintenanceWindow").GroupKind(), mw.Name, errs)
	}
	return nil
}

// ValidateCreate validates the calendar.
func (w *MaintenanceWindowWebhook) ValidateCreate(_ context.Context, mw *itopsv1alpha1.MaintenanceWindow) (admission.Warnings, error) {
	return nil, validateWindow(mw)
}

// ValidateUpdate validates the calendar.
func (w *MaintenanceWindowWebhook) ValidateUpdate(_ context.Context, _, mw *itopsv1alpha1.MaintenanceWindow) (admission.Warnings, error) {
	return nil, validateWindow(mw)
}

// ValidateDelete allows deletion.
func (w *MaintenanceWindowWebhook) ValidateDelete(context.Context, *itopsv1alpha1.MaintenanceWindow) (admission.Warnings, error) {
	return nil, nil
}

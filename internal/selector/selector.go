// Package selector validates the label selectors of the operator's kinds (ServiceLevel
// spec.selector, MaintenanceWindow spec.selector and spec.namespaceSelector) with
// apimachinery's own rules, the ones the API server applies to built-in kinds: operators In,
// NotIn, Exists, DoesNotExist (case-sensitive), values required for In/NotIn and forbidden
// for Exists/DoesNotExist, qualified label keys and valid label values. CEL cannot express all
// of them, so the webhooks refuse invalid selectors at admission with the field path, and the
// controllers report a stored one (admitted while the webhook was down) as Stalled with reason
// InvalidSelector.
//
// What an invalid selector selects, everywhere: nothing. A ServiceLevel with one protects
// nothing (no budget freeze, no measurement: it is Stalled, never "100 %"); a window with one
// covers nothing (no suppression, no planned downtime, no freeze). The alternative, treating
// it as "everything", would let one typo freeze or excuse a whole namespace. The change gate
// and the incident service lookup say so (an admission warning, a log line) instead of
// skipping silently.
package selector

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// Validate checks one label selector (nil is valid: it selects everything) and returns its
// errors under path, for example spec.selector.matchExpressions[0].operator.
func Validate(sel *metav1.LabelSelector, path *field.Path) field.ErrorList {
	if sel == nil {
		return nil
	}
	errs := metav1validation.ValidateLabelSelector(sel, metav1validation.LabelSelectorValidationOptions{}, path)
	if len(errs) == 0 {
		// Belt and braces: what the controllers use to select must accept it too.
		if _, err := metav1.LabelSelectorAsSelector(sel); err != nil {
			errs = append(errs, field.Invalid(path, sel.String(), err.Error()))
		}
	}
	return errs
}

// ServiceLevel checks a ServiceLevel's selectors.
func ServiceLevel(spec *itopsv1alpha1.ServiceLevelSpec) field.ErrorList {
	return Validate(&spec.Selector, field.NewPath("spec", "selector"))
}

// MaintenanceWindow checks a MaintenanceWindow's selectors.
func MaintenanceWindow(spec *itopsv1alpha1.MaintenanceWindowSpec) field.ErrorList {
	errs := Validate(spec.Selector, field.NewPath("spec", "selector"))
	return append(errs, Validate(spec.NamespaceSelector, field.NewPath("spec", "namespaceSelector"))...)
}

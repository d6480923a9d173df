package webhook

import (
	"context"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/clock"
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
//
// On create and update it returns admission warnings: the next three starts of every recurring
// schedule, in the window's time zone, so a reader sees what the window will do before it does
// it; and, for a cron expression restricting both day-of-month and day-of-week, that cron
// matches days where EITHER holds, with the recurrence form that says "the nth weekday".
type MaintenanceWindowWebhook struct {
	// Clock is injected for tests; the real clock when nil.
	Clock clock.PassiveClock
}

func (w *MaintenanceWindowWebhook) now() time.Time {
	if w.Clock == nil {
		return time.Now()
	}
	return w.Clock.Now()
}

// windowWarnings are the admission warnings of a valid window at now (see
// MaintenanceWindowWebhook).
func windowWarnings(mw *itopsv1alpha1.MaintenanceWindow, now time.Time) admission.Warnings {
	cal, errs := schedule.Parse(mw.Spec)
	if len(errs) > 0 {
		return nil
	}
	var out admission.Warnings
	next := cal.NextStarts(now, 3)
	for i, s := range mw.Spec.Schedules {
		if s.Cron == "" && s.Recurrence == "" {
			continue
		}
		p := field.NewPath("spec", "schedules").Index(i)
		if s.Cron != "" && schedule.CronOrTrap(s.Cron) {
			out = append(out, fmt.Sprintf("%s: cron %q restricts both day-of-month and day-of-week, so it starts on days where EITHER matches "+
				"(standard cron), not both; for \"the nth weekday of the month\" use recurrence instead, e.g. "+
				"recurrence: FREQ=MONTHLY;BYDAY=2TU;BYHOUR=2;BYMINUTE=0 for the second Tuesday at 02:00", p.Child("cron"), s.Cron))
		}
		starts := make([]string, 0, 3)
		for _, t := range next[i] {
			starts = append(starts, t.In(cal.Location()).Format("Mon 2006-01-02 15:04 MST"))
		}
		if len(starts) == 0 {
			out = append(out, fmt.Sprintf("%s: no start within %d years", p, 9))
			continue
		}
		out = append(out, fmt.Sprintf("%s: next starts (%s, each for %s): %s", p, cal.Location(), s.Duration.Duration, strings.Join(starts, ", ")))
	}
	return out
}

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
	if err := validateWindow(mw); err != nil {
		return nil, err
	}
	return windowWarnings(mw, w.now()), nil
}

// ValidateUpdate validates the calendar.
func (w *MaintenanceWindowWebhook) ValidateUpdate(_ context.Context, _, mw *itopsv1alpha1.MaintenanceWindow) (admission.Warnings, error) {
	if err := validateWindow(mw); err != nil {
		return nil, err
	}
	return windowWarnings(mw, w.now()), nil
}

// ValidateDelete allows deletion.
func (w *MaintenanceWindowWebhook) ValidateDelete(context.Context, *itopsv1alpha1.MaintenanceWindow) (admission.Warnings, error) {
	return nil, nil
}

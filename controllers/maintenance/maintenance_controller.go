// Package maintenance keeps MaintenanceWindows' calendars: the phase (Scheduled, Active,
// Expired) and the current and next intervals, requeued exactly at the next boundary.
package maintenance

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/audit"
	"github.com/itops-dev/itops-operator/internal/maintenance"
	"github.com/itops-dev/itops-operator/internal/schedule"
	"github.com/itops-dev/itops-operator/internal/selector"
)

// Reconciler keeps a MaintenanceWindow's status in line with its calendar.
type Reconciler struct {
	client.Client
	Recorder recorder.EventRecorder
	Audit    audit.Logger
	// Clock is injected for tests; the real clock when nil.
	Clock clock.PassiveClock
}

// +kubebuilder:rbac:groups=itops.dev,resources=maintenancewindows,verbs=get;list;watch
// +kubebuilder:rbac:groups=itops.dev,resources=maintenancewindows/status,verbs=get;update;patch

func (r *Reconciler) now() time.Time {
	if r.Clock == nil {
		return time.Now()
	}
	return r.Clock.Now()
}

// clockJumpBound caps the wait for the next boundary. Requeue timers run on the monotonic
// clock, so after a wall-clock jump (a VM resumed, a clock corrected) a long wait would fire
// at the wrong wall time; re-evaluating at least hourly bounds the error. Boundaries within the
// hour are hit exactly.
const clockJumpBound = time.Hour

// desired is the computed status of a window.
type desired struct {
	status       itopsv1alpha1.MaintenanceWindowStatus
	requeueAfter time.Duration
	// transition is the phase change, if any.
	transition string
}

// computeStatus evaluates the window's calendar at now. An invalid spec (which admission
// normally refuses) is a terminal Stalled condition, not a retry loop.
func computeStatus(mw *itopsv1alpha1.MaintenanceWindow, now time.Time) desired {
	st := *mw.Status.DeepCopy()
	st.CoverageFrom = maintenance.CoverageFrom(mw, now)
	st.ObservedGeneration = mw.Generation
	d := desired{}
	set := func(condType string, status metav1.ConditionStatus, reason, msg string) {
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: condType, Status: status, Reason: reason, Message: msg,
			ObservedGeneration: mw.Generation, LastTransitionTime: metav1.NewTime(now)})
	}
	stalled := func(reason, msg string) desired {
		set(itopsv1alpha1.ConditionStalled, metav1.ConditionTrue, reason, msg)
		set(itopsv1alpha1.ConditionReady, metav1.ConditionFalse, reason, msg)
		meta.RemoveStatusCondition(&st.Conditions, itopsv1alpha1.ConditionReconciling)
		d.status = st
		return d
	}
	if errs := selector.MaintenanceWindow(&mw.Spec); len(errs) > 0 {
		// Admitted while the webhook was down: the window covers nothing (no suppression, no
		// planned downtime, no freeze) until it is fixed.
		return stalled(itopsv1alpha1.ReasonInvalidSelector, "the window covers nothing until its selectors are fixed: "+errs.ToAggregate().Error())
	}
	cal, errs := schedule.Parse(mw.Spec)
	if len(errs) > 0 {
		return stalled(itopsv1alpha1.ReasonInvalidSpec, errs.ToAggregate().Error())
	}
	// The status reports what the window does: a Maintenance window's period counts from
	// coverageFrom on (internal/maintenance.EffectiveState).
	s, coveragePending := maintenance.EffectiveState(mw.Spec.Type, cal.At(now), st.CoverageFrom.Time, now)
	if s.Phase != st.Phase {
		d.transition = string(s.Phase)
	}
	st.Phase = s.Phase
	st.CurrentStart, st.CurrentEnd, st.NextStart, st.NextEnd = nil, nil, nil, nil
	if s.Current != nil {
		st.CurrentStart, st.CurrentEnd = &metav1.Time{Time: s.Current.Start}, &metav1.Time{Time: s.Current.End}
	}
	if s.Next != nil {
		st.NextStart, st.NextEnd = &metav1.Time{Time: s.Next.Start}, &metav1.Time{Time: s.Next.End}
	}
	var msg string
	reason := string(s.Phase)
	switch {
	case !coveragePending.IsZero():
		reason, msg = coveragePendingCondition(mw, s, coveragePending)
	case s.Current != nil:
		msg = fmt.Sprintf("%s window active until %s", mw.Spec.Type, s.Current.End.UTC().Format(time.RFC3339))
	case s.Next != nil:
		msg = fmt.Sprintf("next %s window from %s to %s", strings.ToLower(string(mw.Spec.Type)),
			s.Next.Start.UTC().Format(time.RFC3339), s.Next.End.UTC().Format(time.RFC3339))
	default:
		msg = "every schedule has ended"
	}
	set(itopsv1alpha1.ConditionReady, metav1.ConditionTrue, reason, msg)
	meta.RemoveStatusCondition(&st.Conditions, itopsv1alpha1.ConditionStalled)
	meta.RemoveStatusCondition(&st.Conditions, itopsv1alpha1.ConditionReconciling)
	if !s.NextBoundary.IsZero() && s.NextBoundary.After(now) {
		d.requeueAfter = min(s.NextBoundary.Sub(now), clockJumpBound)
	}
	d.status = st
	return d
}

// Reconcile computes the window's status and patches it once, only when it changed; it
// requeues exactly at the next boundary (a window opening or closing). A phase change reaches
// the audit trail once: after the patch that records it succeeded (a conflicting patch is
// retried from the newer object, whose phase then tells whether it still is a transition).
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	mw := &itopsv1alpha1.MaintenanceWindow{}
	if err := r.Get(ctx, req.NamespacedName, mw); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	d := computeStatus(mw, r.now())
	if !apiequality.Semantic.DeepEqual(d.status, mw.Status) {
		base := mw.DeepCopy()
		mw.Status = d.status
		err := r.Status().Patch(ctx, mw, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
		if apierrors.IsConflict(err) {
			// The window changed since the cache saw it; its update event reconciles it again.
			ctrl.LoggerFrom(ctx).V(1).Info("status patch conflicted; the newer window is reconciled next", "error", err.Error())
			return ctrl.Result{}, nil
		}
		if err != nil {
			return ctrl.Result{}, err
		}
		if d.transition != "" {
			r.Audit.Write(audit.Record{Kind: "MaintenanceWindow", Namespace: mw.Namespace, Name: mw.Name, Transition: d.transition,
				Phase: d.transition, Message: readyMessage(mw), Fields: []any{"type", mw.Spec.Type}})
			r.Recorder.Eventf(mw, nil, corev1.EventTypeNormal, d.transition, "Update", "%s", readyMessage(mw))
		}
	}
	return ctrl.Result{RequeueAfter: d.requeueAfter}, nil
}

func readyMessage(mw *itopsv1alpha1.MaintenanceWindow) string {
	if c := meta.FindStatusCondition(mw.Status.Conditions, itopsv1alpha1.ConditionReady); c != nil {
		return c.Message
	}
	return string(mw.Status.Phase)
}

// SetupWithManager registers the controller.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).For(&itopsv1alpha1.MaintenanceWindow{}).Named("maintenancewindow").Complete(r)
}

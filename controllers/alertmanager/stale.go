package alertmanager

import (
	"context"
	"time"

	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/controllers/incidentwriter"
	am "github.com/itops-dev/itops-operator/internal/alertmanager"
)

// StaleReconciler resolves recorded Alertmanager alerts whose resolution never arrived: an
// alert whose endsAt has passed, or that Alertmanager has not sent again within
// alertmanager.staleAfter (am.Stale decides). It watches only incidents with alerts on an
// active Alertmanager signal and requeues each exactly at its earliest expiry, so a signal
// clears without a new notification; the incident then auto-resolves through its normal
// lifecycle. It writes through the incident writer, the one writer of the signal fields
// (a notification racing it loses nothing: both patch under optimistic locking).
type StaleReconciler struct {
	// Client reads incidents from the cache.
	Client client.Client
	// Writer writes the signals.
	Writer *incidentwriter.Writer
	// StaleAfter is the policy's alertmanager.staleAfter (0: only endsAt expires alerts).
	StaleAfter time.Duration
	Clock      clock.PassiveClock
}

// Reconcile expires one incident's stale alerts and requeues at the next expiry.
func (r *StaleReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	inc := &itopsv1alpha1.Incident{}
	if err := r.Client.Get(ctx, req.NamespacedName, inc); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if inc.DeletionTimestamp != nil {
		return ctrl.Result{}, nil
	}
	now := r.now()
	resolved, next := am.Stale(inc.Status.Signals, now, r.StaleAfter)
	if len(resolved) > 0 {
		// A conflict (a notification just wrote, or the cache is behind) is retried with
		// backoff from a fresh read, which may no longer find the alerts stale.
		if err := r.Writer.ExpireAlerts(ctx, inc, resolved); err != nil {
			return ctrl.Result{}, err
		}
		alertsTotal.WithLabelValues(OutcomeExpired).Add(float64(len(resolved)))
		fps := make([]string, 0, len(resolved))
		for _, a := range resolved {
			fps = append(fps, a.Reason+"/"+a.Fingerprint)
		}
		log.FromContext(ctx).Info("resolved Alertmanager alerts that were not sent again within alertmanager.staleAfter or passed their endsAt",
			"alerts", fps, "staleAfter", r.StaleAfter.String())
	}
	if next.IsZero() {
		return ctrl.Result{}, nil
	}
	return ctrl.Result{RequeueAfter: next.Sub(now)}, nil
}

// SetupWithManager watches incidents that carry alerts on an active Alertmanager signal.
func (r *StaleReconciler) SetupWithManager(mgr ctrl.Manager) error {
	hasAlerts := predicate.NewPredicateFuncs(func(o client.Object) bool {
		inc, ok := o.(*itopsv1alpha1.Incident)
		return ok && !am.NextExpiry(inc.Status.Signals, r.StaleAfter).IsZero()
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("alertmanager-stale").
		For(&itopsv1alpha1.Incident{}, builder.WithPredicates(hasAlerts)).
		Complete(r)
}

func (r *StaleReconciler) now() time.Time {
	if r.Clock == nil {
		return time.Now()
	}
	return r.Clock.Now()
}

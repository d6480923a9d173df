package capacity

import (
	"context"
	"time"

	"github.com/go-logr/logr"
	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/controllers/incidentwriter"
	"github.com/itops-dev/itops-operator/internal/capacity"
	"github.com/itops-dev/itops-operator/internal/health"
)

// CronJobReconciler runs CronJobMissedSchedule. The subject is the CronJob, whose incident
// also carries its failed runs (JobFailed rolls up from Job to CronJob).
type CronJobReconciler struct {
	Client client.Client
	Writer *incidentwriter.Writer
	// Grace is detection.cronJobMissedSchedule.gracePeriod (for CronJobs without
	// startingDeadlineSeconds).
	Grace time.Duration
	Clock clock.PassiveClock
	Log   logr.Logger
}

// SetupWithManager watches CronJobs (batch/v1; the informer is the health detectors').
func (r *CronJobReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).Named("capacity-cronjob").For(&batchv1.CronJob{}).Complete(r)
}

// Reconcile judges the CronJob and requeues exactly when its next due run becomes missed.
func (r *CronJobReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	now := time.Now()
	if r.Clock != nil {
		now = r.Clock.Now()
	}
	subj := health.Subject{APIVersion: "batch/v1", Kind: "CronJob", Namespace: req.Namespace, Name: req.Name}
	cj := &batchv1.CronJob{}
	err := r.Client.Get(ctx, req.NamespacedName, cj)
	switch {
	case apierrors.IsNotFound(err) || (err == nil && cj.DeletionTimestamp != nil):
		return record(ctx, r.Writer, subj, itopsv1alpha1.ReasonCronJobMissedSchedule, capacity.Finding{}, nil, now)
	case err != nil:
		return reconcile.Result{}, err
	}
	return record(ctx, r.Writer, subj, itopsv1alpha1.ReasonCronJobMissedSchedule, capacity.JudgeCronJob(cj, now, r.Grace), nil, now)
}

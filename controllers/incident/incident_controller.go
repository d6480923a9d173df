// Package incident runs the incident lifecycle: priority, phase and timeline.
package incident

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// Reconciler keeps an Incident's status (priority, phase, timeline, conditions) current.
type Reconciler struct {
	client.Client
	Recorder recorder.EventRecorder
	// Clock is injected for tests; the real clock when nil.
	Clock clock.PassiveClock
}

// +kubebuilder:rbac:groups=itops.dev,resources=incidents,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=itops.dev,resources=incidents/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=itops.dev,resources=incidents/finalizers,verbs=update
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile computes the incident's status and patches it once, only when it changed.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx)
	inc := &itopsv1alpha1.Incident{}
	if err := r.Get(ctx, req.NamespacedName, inc); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !inc.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}

	status, transitions := computeStatus(inc, r.now())
	if apiequality.Semantic.DeepEqual(status, inc.Status) {
		return ctrl.Result{}, nil
	}
	patch := client.MergeFromWithOptions(inc.DeepCopy(), client.MergeFromWithOptimisticLock{})
	inc.Status = status
	if err := r.Status().Patch(ctx, inc, patch); err != nil {
		return ctrl.Result{}, err
	}
	for _, t := range transitions {
		log.Info("incident transition", "transition", t.Type, "phase", status.Phase, "priority", status.Priority)
		r.Recorder.Eventf(inc, nil, corev1.EventTypeNormal, t.Type, "Update", "%s", t.Message)
	}
	return ctrl.Result{}, nil
}

func (r *Reconciler) now() time.Time {
	if r.Clock == nil {
		return time.Now()
	}
	return r.Clock.Now()
}

// SetupWithManager registers the controller.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&itopsv1alpha1.Incident{}).
		Named("incident").
		Complete(r)
}

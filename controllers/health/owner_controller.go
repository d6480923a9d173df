package health

import (
	"context"
	"errors"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/controllers/incidentwriter"
	"github.com/itops-dev/itops-operator/internal/health"
)

// OwnerReconciler judges the pods of subjects no typed detector knows: bare ReplicaSets, Argo
// Rollouts (Pod -> ReplicaSet -> Rollout), any custom resource that controls pods directly
// or through other controllers. Its requests are the subjects themselves, found by rolling
// pods up through their ownerReferences with metadata-only reads.
type OwnerReconciler struct {
	detector
}

// Reconcile judges the pods that roll up to the subject and syncs its incident.
func (r *OwnerReconciler) Reconcile(ctx context.Context, subj health.Subject) (ctrl.Result, error) {
	now := r.Writer.Now()
	obs := incidentwriter.Observation{Subject: subj, Judged: podReasons}
	var recheck time.Time
	owner := &metav1.PartialObjectMetadata{}
	owner.APIVersion, owner.Kind = subj.APIVersion, subj.Kind
	var pods []corev1.Pod
	readable, err := r.Access.CanList(ctx, owner.GroupVersionKind())
	switch {
	case err != nil && !isNoMatch(err):
		return ctrl.Result{}, err
	case err == nil && !readable:
		// A subject of a kind the operator may no longer read (an incident opened before its
		// grant was removed): it cannot be judged; its pods roll up to what can be read.
		return ctrl.Result{}, nil
	}
	switch err := r.Get(ctx, client.ObjectKey{Namespace: subj.Namespace, Name: subj.Name}, owner); {
	case apierrors.IsNotFound(err) || isNoMatch(err):
		// Gone (or its kind no longer served): whatever was wrong with it is over.
	case err != nil:
		return ctrl.Result{}, err
	default:
		list := &corev1.PodList{}
		if err := r.List(ctx, list, client.InNamespace(subj.Namespace)); err != nil {
			return ctrl.Result{}, err
		}
		if pods, err = r.podsRollingUpTo(ctx, list.Items, subj); err != nil {
			return ctrl.Result{}, err
		}
		podEvents, err := r.podEvents(ctx, pods)
		if err != nil {
			return ctrl.Result{}, err
		}
		var shown *corev1.Pod
		obs.Problems, recheck, shown = rollUp(pods, podEvents, r.Restarts, now, r.Thresholds)
		if obs.Evidence, err = r.evidence(ctx, shown, podEvents, nil, obs.Problems, now); err != nil {
			return ctrl.Result{}, err
		}
		obs.Logs = health.CrashLogTarget(shown, obs.Evidence)
		if obs.Service, err = serviceFor(ctx, r.Client, subj.Namespace, owner.GetLabels()); err != nil {
			return ctrl.Result{}, err
		}
	}
	if err := r.judgeCause(ctx, &obs, pods); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.Writer.Sync(ctx, obs); err != nil {
		return retryQuietly(err)
	}
	return requeueAt(recheck, now), nil
}

// setup registers the generic detector: pods (and the incidents of such subjects, on
// start-up) map to the untyped thing they roll up to.
func (r *OwnerReconciler) setup(mgr ctrl.Manager) error {
	return builder.TypedControllerManagedBy[health.Subject](mgr).Named("health-owner").
		Watches(&corev1.Pod{}, handler.TypedEnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []health.Subject {
			pod, ok := o.(*corev1.Pod)
			if !ok || metav1.GetControllerOf(pod) == nil {
				return nil
			}
			subj, err := r.podSubject(ctx, pod)
			if err != nil {
				ctrl.LoggerFrom(ctx).Error(err, "rolling a pod up to its owner", "pod", client.ObjectKeyFromObject(pod))
				return nil
			}
			if isTyped(subj) {
				return nil
			}
			return []health.Subject{subj}
		})).
		Watches(&itopsv1alpha1.Incident{}, handler.TypedEnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []health.Subject {
			inc, ok := o.(*itopsv1alpha1.Incident)
			if !ok || inc.Spec.Source != itopsv1alpha1.SourceHealthCheck || len(inc.Spec.Affected) == 0 {
				return nil
			}
			ref := inc.Spec.Affected[0]
			subj := health.Subject{APIVersion: ref.APIVersion, Kind: ref.Kind, Namespace: ref.Namespace, Name: ref.Name}
			if subj.Namespace == "" || isTyped(subj) || subj.Kind == "PersistentVolumeClaim" {
				return nil
			}
			return []health.Subject{subj}
		}), builder.WithPredicates(incidentAppeared)).
		// Warning Events of their pods re-judge them too.
		Watches(&corev1.Event{}, handler.TypedEnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []health.Subject {
			e, ok := o.(*corev1.Event)
			if !ok || e.InvolvedObject.Kind != "Pod" {
				return nil
			}
			if subj, ok := r.eventSubject(ctx, e); ok && !isTyped(subj) && subj.Kind != "Pod" {
				return []health.Subject{subj}
			}
			return nil
		}), builder.WithPredicates(detectorEvent)).
		// A node's incident changing re-judges the untyped subjects with pods on that node.
		Watches(&itopsv1alpha1.Incident{}, handler.TypedEnqueueRequestsFromMapFunc(r.subjectsOnNode), builder.WithPredicates(nodeIncidentChanged)).
		Complete(r)
}

// subjectsOnNode maps a node's incident to the untyped subjects with pods on that node.
func (r *OwnerReconciler) subjectsOnNode(ctx context.Context, o client.Object) []health.Subject {
	var out []health.Subject
	for _, subj := range r.subjectsOfNodeIncident(ctx, o) {
		if !isTyped(subj) {
			out = append(out, subj)
		}
	}
	return out
}

// isNoMatch reports an error for a kind the API server does not serve (a CRD removed).
func isNoMatch(err error) bool {
	var noKind *meta.NoKindMatchError
	var noResource *meta.NoResourceMatchError
	return err != nil && (meta.IsNoMatchError(err) || errors.As(err, &noKind) || errors.As(err, &noResource))
}

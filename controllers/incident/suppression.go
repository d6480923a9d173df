package incident

import (
	"context"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/maintenance"
)

// Timeline entry types of suppression.
const (
	TransitionSuppressed   = "Suppressed"
	TransitionUnsuppressed = "Unsuppressed"
)

// applySuppression sets the Suppressed condition and suppressedBy from the covering
// Maintenance window, if any. When the window ends with the incident still open, the incident
// becomes a normal open incident (Suppressed=False, WindowEnded); suppressedBy stays as the
// record of what covered it. It returns the transition, if any, and when the suppression ends.
func applySuppression(st *itopsv1alpha1.IncidentStatus, inc *itopsv1alpha1.Incident, s maintenance.Suppression, now time.Time) (*transition, time.Time) {
	t := metav1.NewTime(now)
	current := meta.FindStatusCondition(st.Conditions, itopsv1alpha1.IncidentConditionSuppressed)
	open := st.Phase == itopsv1alpha1.IncidentOpen || st.Phase == itopsv1alpha1.IncidentAcknowledged
	switch {
	case s.Window != nil && open:
		msg := s.Message(inc.Namespace)
		st.SuppressedBy = maintenance.Name(s.Window, inc.Namespace)
		changed := current == nil || current.Status != metav1.ConditionTrue
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: itopsv1alpha1.IncidentConditionSuppressed, Status: metav1.ConditionTrue,
			Reason: itopsv1alpha1.ReasonMaintenanceWindow, Message: msg, ObservedGeneration: inc.Generation, LastTransitionTime: t})
		if changed {
			return &transition{Type: TransitionSuppressed, Message: msg}, s.Until
		}
		return nil, s.Until
	case current != nil && current.Status == metav1.ConditionTrue:
		msg := "the maintenance window " + st.SuppressedBy + " ended"
		if open {
			msg += " with the problem still present: this is a normal open incident now"
		}
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: itopsv1alpha1.IncidentConditionSuppressed, Status: metav1.ConditionFalse,
			Reason: itopsv1alpha1.ReasonWindowEnded, Message: msg, ObservedGeneration: inc.Generation, LastTransitionTime: t})
		return &transition{Type: TransitionUnsuppressed, Message: msg}, time.Time{}
	}
	return nil, time.Time{}
}

// suppression finds the Maintenance window, if any, that suppresses the incident now.
func (r *Reconciler) suppression(ctx context.Context, inc *itopsv1alpha1.Incident, detectedAt, now time.Time) (maintenance.Suppression, error) {
	if len(inc.Spec.Affected) == 0 {
		return maintenance.Suppression{}, nil
	}
	subject, err := r.subjectOf(ctx, inc.Spec.Affected[0])
	if err != nil {
		return maintenance.Suppression{}, err
	}
	var windows []itopsv1alpha1.MaintenanceWindow
	var namespaces []string
	if r.ClusterNamespace != "" {
		namespaces = append(namespaces, r.ClusterNamespace)
	}
	if subject.Namespace != "" && subject.Namespace != r.ClusterNamespace {
		namespaces = append(namespaces, subject.Namespace)
	}
	for _, ns := range namespaces {
		list := &itopsv1alpha1.MaintenanceWindowList{}
		if err := r.List(ctx, list, client.InNamespace(ns)); err != nil {
			return maintenance.Suppression{}, err
		}
		windows = append(windows, list.Items...)
	}
	return maintenance.SuppressionFor(windows, subject, r.ClusterNamespace, detectedAt, now), nil
}

// subjectOf reads the labels of an incident's subject, and of its namespace, from the cache.
func (r *Reconciler) subjectOf(ctx context.Context, ref itopsv1alpha1.ObjectReference) (maintenance.Object, error) {
	obj := maintenance.Object{Namespace: ref.Namespace}
	var o client.Object
	switch ref.Kind {
	case "Deployment":
		o = &appsv1.Deployment{}
	case "StatefulSet":
		o = &appsv1.StatefulSet{}
	case "DaemonSet":
		o = &appsv1.DaemonSet{}
	case "Job":
		o = &batchv1.Job{}
	case "Pod":
		o = &corev1.Pod{}
	case "PersistentVolumeClaim":
		o = &corev1.PersistentVolumeClaim{}
	case "Node":
		o = &corev1.Node{}
	case "Namespace":
		o = &corev1.Namespace{}
	case "CronJob":
		o = &batchv1.CronJob{}
	case "ChangeRequest", "ServiceLevel":
	default:
		// Any other subject (Argo Rollouts, bare ReplicaSets, custom resources): its labels
		// from the metadata cache, if the operator may read its kind (a cache read of a kind
		// it may not list would wait until the context ends); otherwise only its namespace's.
		readable, err := r.Access.CanList(ctx, schema.FromAPIVersionAndKind(ref.APIVersion, ref.Kind))
		if err != nil && !meta.IsNoMatchError(err) {
			return obj, err
		}
		if !readable {
			break
		}
		m := &metav1.PartialObjectMetadata{}
		m.APIVersion, m.Kind = ref.APIVersion, ref.Kind
		o = m
	}
	if o != nil {
		if err := r.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, o); err != nil && !apierrors.IsNotFound(err) && !meta.IsNoMatchError(err) {
			return obj, err
		}
		obj.Labels = o.GetLabels()
	}
	if ref.Namespace != "" {
		ns := &corev1.Namespace{}
		if err := r.Get(ctx, client.ObjectKey{Name: ref.Namespace}, ns); err != nil && !apierrors.IsNotFound(err) {
			return obj, err
		}
		obj.NamespaceLabels = ns.Labels
	}
	return obj, nil
}

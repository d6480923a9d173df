package change

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/controllers/incidentwriter"
	"github.com/itops-dev/itops-operator/internal/audit"
	"github.com/itops-dev/itops-operator/internal/health"
	"github.com/itops-dev/itops-operator/internal/lifecycle"
)

// EnrollmentConfigMap is the ConfigMap, in the operator namespace, that records since when each
// namespace has been under change control. The label alone cannot tell a namespace whose label was removed from
// one that never had it; the record survives operator restarts and operator downtime.
const EnrollmentConfigMap = "itops-change-control"

// NamespaceReconciler notices the break-glass: a namespace leaving change control (its
// itops.dev/change-control label removed or changed) opens a ChangeControlDisabled incident in
// the cluster namespace. Restoring the label auto-resolves it; a person resolving it accepts
// the namespace's leaving change control.
type NamespaceReconciler struct {
	client.Client
	// APIReader reads the enrollment record live (ConfigMaps are not cached).
	APIReader         client.Reader
	OperatorNamespace string
	Incidents         *incidentwriter.Writer
	Audit             audit.Logger
	Clock             clock.PassiveClock
}

// +kubebuilder:rbac:groups=core,resources=namespaces,verbs=get;list;watch

func namespaceSubject(name string) health.Subject {
	return health.Subject{APIVersion: "v1", Kind: "Namespace", Name: name}
}

// enrollment is what to do about one namespace.
type enrollment struct {
	enroll, unenroll bool
	problem          *health.Problem
}

// decideEnrollment: an enforced namespace is enrolled; an enrolled namespace that is no longer
// enforced is a problem, until a person resolves its incident (then it is unenrolled) or the
// label returns; a deleted namespace is unenrolled quietly.
func decideEnrollment(ns *corev1.Namespace, since string, enrolled bool, latest *itopsv1alpha1.Incident) enrollment {
	switch {
	case ns == nil || !ns.DeletionTimestamp.IsZero():
		return enrollment{unenroll: enrolled}
	case ns.Labels[itopsv1alpha1.LabelChangeControl] == itopsv1alpha1.ChangeControlEnforced:
		return enrollment{enroll: !enrolled}
	case !enrolled:
		return enrollment{}
	case latest != nil && latest.Spec.Resolution != nil && !lifecycle.IsOpen(latest):
		return enrollment{unenroll: true} // a person accepted it
	}
	return enrollment{problem: &health.Problem{
		Reason: itopsv1alpha1.ReasonChangeControlDisabled, Source: itopsv1alpha1.SourceChangeGate,
		Message: fmt.Sprintf("namespace %s has been under change control since %s, and its label %s=%s is gone: the change gate no longer "+
			"applies there. If this is the break-glass, restore the label when done (the incident then resolves itself); "+
			"resolve the incident to accept that the namespace leaves change control.",
			ns.Name, since, itopsv1alpha1.LabelChangeControl, itopsv1alpha1.ChangeControlEnforced),
	}}
}

// Reconcile keeps one namespace's enrollment and its ChangeControlDisabled incident.
func (r *NamespaceReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ns := &corev1.Namespace{}
	if err := r.Get(ctx, req.NamespacedName, ns); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, err
		}
		ns = nil
	}
	cm := &corev1.ConfigMap{}
	key := client.ObjectKey{Namespace: r.OperatorNamespace, Name: EnrollmentConfigMap}
	if err := r.APIReader.Get(ctx, key, cm); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, err
		}
		cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "itops-operator"}}}
	}
	since, enrolled := cm.Data[req.Name]
	latest, err := r.latestIncident(ctx, req.Name)
	if err != nil {
		return ctrl.Result{}, err
	}
	d := decideEnrollment(ns, since, enrolled, latest)
	if d.enroll || d.unenroll {
		if cm.Data == nil {
			cm.Data = map[string]string{}
		}
		transition := "ChangeControlEnabled"
		message := fmt.Sprintf("namespace %s entered change control", req.Name)
		switch {
		case d.enroll:
			cm.Data[req.Name] = r.now().UTC().Format(time.RFC3339)
		case ns == nil || !ns.DeletionTimestamp.IsZero():
			// The namespace controller's deletions of its workloads never reach the gate
			// (matchConditions); this record accounts for them.
			delete(cm.Data, req.Name)
			transition = "NamespaceDeleted"
			message = fmt.Sprintf("namespace %s, under change control since %s, is being deleted: the control plane deletes its workloads, "+
				"which the change gate lets through", req.Name, since)
		default:
			delete(cm.Data, req.Name)
			transition, message = "ChangeControlLeft", fmt.Sprintf("namespace %s left change control", req.Name)
		}
		if cm.ResourceVersion == "" {
			err = r.Create(ctx, cm)
		} else {
			err = r.Update(ctx, cm)
		}
		if err != nil {
			return ctrl.Result{}, fmt.Errorf("recording the change control enrollment of %s: %w", req.Name, err)
		}
		r.Audit.Write(audit.Record{Kind: "Namespace", Name: req.Name, Transition: transition, Message: message})
	}
	var problems []health.Problem
	if d.problem != nil {
		problems = append(problems, *d.problem)
	}
	return ctrl.Result{}, r.Incidents.Sync(ctx, incidentwriter.Observation{Subject: namespaceSubject(req.Name),
		Judged: []string{itopsv1alpha1.ReasonChangeControlDisabled}, Problems: problems})
}

func (r *NamespaceReconciler) latestIncident(ctx context.Context, namespace string) (*itopsv1alpha1.Incident, error) {
	list := &itopsv1alpha1.IncidentList{}
	fp := health.Fingerprint(namespaceSubject(namespace))
	if err := r.List(ctx, list, client.InNamespace(r.Incidents.ClusterNamespace), client.MatchingLabels{itopsv1alpha1.LabelFingerprint: fp}); err != nil {
		return nil, err
	}
	return lifecycle.Latest(list.Items), nil
}

func (r *NamespaceReconciler) now() time.Time {
	if r.Clock == nil {
		return time.Now()
	}
	return r.Clock.Now()
}

// SetupWithManager watches Namespaces (label changes) and the incidents about them (a person
// resolving one).
func (r *NamespaceReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("changecontrol").
		// Creates (every namespace at start-up), deletes, label changes, and the start of a
		// namespace's deletion.
		For(&corev1.Namespace{}, builder.WithPredicates(predicate.Or[client.Object](predicate.LabelChangedPredicate{}, terminating))).
		Watches(&itopsv1alpha1.Incident{}, handler.EnqueueRequestsFromMapFunc(namespaceOfIncident)).
		Complete(r)
}

// terminating passes the update that starts a namespace's deletion.
var terminating = predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
	return e.ObjectOld.GetDeletionTimestamp().IsZero() && !e.ObjectNew.GetDeletionTimestamp().IsZero()
}}

// namespaceOfIncident maps a ChangeControlDisabled incident to its namespace.
func namespaceOfIncident(_ context.Context, obj client.Object) []reconcile.Request {
	inc, ok := obj.(*itopsv1alpha1.Incident)
	if !ok || inc.Spec.Reason != itopsv1alpha1.ReasonChangeControlDisabled {
		return nil
	}
	for _, a := range inc.Spec.Affected {
		if a.Kind == "Namespace" {
			return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: a.Name}}}
		}
	}
	return nil
}

package health

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/itops-dev/itops-operator/internal/health"
)

// The detectors read Warning Events from the cache (only type=Warning is watched, trimmed:
// internal/cachetransform.ByObject).
// +kubebuilder:rbac:groups="",resources=events,verbs=get;list;watch

// eventObjectIndex indexes cached Events by their involved object, "Kind/name" (in the
// event's namespace; Node events live in the default namespace, so they are looked up across
// namespaces).
const eventObjectIndex = "involvedObject.kindName"

func eventObjectKey(kind, name string) string { return kind + "/" + name }

func indexEvents(ctx context.Context, mgr ctrl.Manager) error {
	return mgr.GetFieldIndexer().IndexField(ctx, &corev1.Event{}, eventObjectIndex, func(o client.Object) []string {
		if e, ok := o.(*corev1.Event); ok {
			return []string{eventObjectKey(e.InvolvedObject.Kind, e.InvolvedObject.Name)}
		}
		return nil
	})
}

// eventsOf returns the cached Warning Events of one object (namespace "" for a cluster-scoped
// one: a Node).
func (d *detector) eventsOf(ctx context.Context, namespace, kind, name string) ([]health.Event, error) {
	list := &corev1.EventList{}
	opts := []client.ListOption{client.MatchingFields{eventObjectIndex: eventObjectKey(kind, name)}}
	if namespace != "" {
		opts = append(opts, client.InNamespace(namespace))
	}
	if err := d.List(ctx, list, opts...); err != nil {
		return nil, err
	}
	out := make([]health.Event, 0, len(list.Items))
	for i := range list.Items {
		e := &list.Items[i]
		if e.InvolvedObject.Namespace != "" && namespace != "" && e.InvolvedObject.Namespace != namespace {
			continue
		}
		out = append(out, health.EventFrom(e))
	}
	return out, nil
}

// podEvents returns the Warning Events of each pod, by pod name.
func (d *detector) podEvents(ctx context.Context, pods []corev1.Pod) (map[string][]health.Event, error) {
	out := make(map[string][]health.Event, len(pods))
	for i := range pods {
		evs, err := d.eventsOf(ctx, pods[i].Namespace, "Pod", pods[i].Name)
		if err != nil {
			return nil, err
		}
		if len(evs) > 0 {
			out[pods[i].Name] = evs
		}
	}
	return out, nil
}

// workloadEvents returns the Warning Events of a workload and, for a Deployment, of the
// ReplicaSets it controls (their FailedCreate events say why the Deployment has no pods).
func (d *detector) workloadEvents(ctx context.Context, obj client.Object, kind string) ([]health.Event, error) {
	out, err := d.eventsOf(ctx, obj.GetNamespace(), kind, obj.GetName())
	if err != nil || kind != "Deployment" {
		return out, err
	}
	rss := &metav1.PartialObjectMetadataList{}
	rss.SetGroupVersionKind(appsv1.SchemeGroupVersion.WithKind("ReplicaSetList"))
	if err := d.List(ctx, rss, client.InNamespace(obj.GetNamespace())); err != nil {
		return nil, err
	}
	for i := range rss.Items {
		ref := metav1.GetControllerOfNoCopy(&rss.Items[i])
		if ref == nil || ref.UID != obj.GetUID() {
			continue
		}
		evs, err := d.eventsOf(ctx, obj.GetNamespace(), "ReplicaSet", rss.Items[i].Name)
		if err != nil {
			return nil, err
		}
		out = append(out, evs...)
	}
	return out, nil
}

// eventSubject returns the subject an Event's object rolls up to: a pod's workload, a
// ReplicaSet's Deployment, a Job's CronJob; false for events of other objects (Nodes) or
// objects no longer known.
func (d *detector) eventSubject(ctx context.Context, e *corev1.Event) (health.Subject, bool) {
	ref := e.InvolvedObject
	if ref.Name == "" || e.Namespace == "" || ref.Kind == "Node" {
		return health.Subject{}, false
	}
	if ref.Kind == "Pod" {
		pod := &corev1.Pod{}
		if err := d.Get(ctx, client.ObjectKey{Namespace: e.Namespace, Name: ref.Name}, pod); err != nil {
			return health.Subject{}, false
		}
		subj, err := d.podSubject(ctx, pod)
		return subj, err == nil
	}
	lookup := d.lookup(ctx)
	owner, found, err := lookup(e.Namespace, metav1.OwnerReference{APIVersion: ref.APIVersion, Kind: ref.Kind, Name: ref.Name, UID: ref.UID})
	if err != nil || !found {
		return health.Subject{}, false
	}
	obj := &metav1.ObjectMeta{Namespace: e.Namespace, Name: ref.Name}
	if owner != nil {
		obj.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	subj, err := health.Rollup(obj, ref.APIVersion, ref.Kind, lookup)
	return subj, err == nil
}

// detectorEvent passes Warning Events whose reason a detector judges (health.DetectorEventReasons)
// as they are created or seen again; other Warning Events are only evidence.
var detectorEvent = predicate.Funcs{
	CreateFunc: func(e event.CreateEvent) bool { return judgedEvent(e.Object) },
	UpdateFunc: func(e event.UpdateEvent) bool { return judgedEvent(e.ObjectNew) },
	DeleteFunc: func(event.DeleteEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool {
		return false
	},
}

func judgedEvent(o client.Object) bool {
	e, ok := o.(*corev1.Event)
	return ok && e.Type == corev1.EventTypeWarning && health.DetectorEventReasons[e.Reason]
}

package netcheck

import (
	"context"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/controllers/incidentwriter"
	"github.com/itops-dev/itops-operator/internal/config"
	"github.com/itops-dev/itops-operator/internal/detector/custom"
	"github.com/itops-dev/itops-operator/internal/health"
	"github.com/itops-dev/itops-operator/internal/netcheck"
)

// GroupVersionKinds of the callers read as unstructured (always served by the API server).
var (
	crdGVK        = schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: netcheck.KindCustomResourceDefinition}
	apiServiceGVK = schema.GroupVersionKind{Group: "apiregistration.k8s.io", Version: "v1", Kind: netcheck.KindAPIService}
)

// callerKind is one kind of object through which the API server calls a Service.
type callerKind struct {
	gvk     schema.GroupVersionKind
	newObj  func() client.Object
	newList func() client.ObjectList
}

func unstructuredCallerKind(gvk schema.GroupVersionKind) callerKind {
	newObj, newList := unstructuredOf(gvk)
	return callerKind{gvk: gvk, newObj: newObj, newList: newList}
}

// unstructuredOf makes empty unstructured objects and lists of a kind (for kinds whose Go
// types the operator does not import: CRDs, APIServices, Gateway API objects).
func unstructuredOf(gvk schema.GroupVersionKind) (func() client.Object, func() client.ObjectList) {
	return func() client.Object {
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(gvk)
			return u
		}, func() client.ObjectList {
			l := &unstructured.UnstructuredList{}
			l.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
			return l
		}
}

// callerKinds are the admission webhook configurations, CRDs (conversion webhooks) and
// APIServices (aggregated APIs).
var callerKinds = []callerKind{
	{gvk: admissionregistrationv1.SchemeGroupVersion.WithKind(netcheck.KindValidatingWebhookConfiguration),
		newObj:  func() client.Object { return &admissionregistrationv1.ValidatingWebhookConfiguration{} },
		newList: func() client.ObjectList { return &admissionregistrationv1.ValidatingWebhookConfigurationList{} }},
	{gvk: admissionregistrationv1.SchemeGroupVersion.WithKind(netcheck.KindMutatingWebhookConfiguration),
		newObj:  func() client.Object { return &admissionregistrationv1.MutatingWebhookConfiguration{} },
		newList: func() client.ObjectList { return &admissionregistrationv1.MutatingWebhookConfigurationList{} }},
	unstructuredCallerKind(crdGVK),
	unstructuredCallerKind(apiServiceGVK),
}

// callersOf reads the Services an object makes the API server call, with what calls them.
func callersOf(o client.Object) []netcheck.CallerOf {
	switch c := o.(type) {
	case *admissionregistrationv1.ValidatingWebhookConfiguration:
		return netcheck.WebhookCallers(netcheck.KindValidatingWebhookConfiguration, c.Name, netcheck.ValidatingWebhooks(c))
	case *admissionregistrationv1.MutatingWebhookConfiguration:
		return netcheck.WebhookCallers(netcheck.KindMutatingWebhookConfiguration, c.Name, netcheck.MutatingWebhooks(c))
	case *unstructured.Unstructured:
		var (
			caller netcheck.CallerOf
			ok     bool
		)
		switch c.GetKind() {
		case netcheck.KindCustomResourceDefinition:
			caller, ok = netcheck.CRDCaller(c.Object, c.GetName())
		case netcheck.KindAPIService:
			caller, ok = netcheck.APIServiceCaller(c.Object, c.GetName())
		}
		if ok {
			return []netcheck.CallerOf{caller}
		}
	}
	return nil
}

// webhookServiceKeys indexes a caller object by the Services it makes the API server call
// (ns/name).
func webhookServiceKeys(o client.Object) []string {
	var keys []string
	for _, c := range callersOf(o) {
		k := c.Namespace + "/" + c.Service
		if len(keys) == 0 || keys[len(keys)-1] != k {
			keys = append(keys, k)
		}
	}
	return keys
}

// callerReference is the spec.affected entry of a caller's object.
func callerReference(c netcheck.Caller) itopsv1alpha1.ObjectReference {
	for _, k := range callerKinds {
		if k.gvk.Kind == c.Kind {
			return itopsv1alpha1.ObjectReference{APIVersion: k.gvk.GroupVersion().String(), Kind: c.Kind, Name: c.Name}
		}
	}
	return itopsv1alpha1.ObjectReference{Kind: c.Kind, Name: c.Name}
}

// WebhookReconciler runs WebhookUnavailable over the Services the API server calls: those of
// admission webhooks (every configuration, the operator's own included), of CRD conversion
// webhooks and of aggregated APIs (APIServices). A Service that cannot answer one of them
// (it does not exist, lacks the port, has no ready endpoint; or an APIService on it reports
// Available=False) opens (or joins) the Service's incident, in its namespace: one incident
// per Service however many configurations call it, listing them in spec.affected and the
// message, with the priority of the worst failurePolicy.
type WebhookReconciler struct {
	// Reader reads the network detectors' cache (the caller objects, Services,
	// EndpointSlices).
	Reader client.Reader
	Writer *incidentwriter.Writer
	Policy config.WebhooksPolicy
	Clock  clock.PassiveClock

	seen firstSeen
}

// called reports whether the API server calls the Service (namespace/name) for a webhook or
// an aggregated API, from the index.
func called(ctx context.Context, r client.Reader, ns, name string) (bool, error) {
	for _, k := range callerKinds {
		list := k.newList()
		if err := r.List(ctx, list, client.MatchingFields{indexWebhookService: ns + "/" + name}, client.Limit(1)); err != nil {
			return false, err
		}
		if apimeta.LenList(list) > 0 {
			return true, nil
		}
	}
	return false, nil
}

// callers lists what calls the Service (namespace/name).
func (r *WebhookReconciler) callers(ctx context.Context, ns, name string) ([]netcheck.Caller, error) {
	var out []netcheck.Caller
	for _, k := range callerKinds {
		list := k.newList()
		if err := r.Reader.List(ctx, list, client.MatchingFields{indexWebhookService: ns + "/" + name}); err != nil {
			return nil, err
		}
		_ = apimeta.EachListItem(list, func(o runtime.Object) error {
			obj, ok := o.(client.Object)
			if !ok || obj.GetDeletionTimestamp() != nil {
				return nil
			}
			for _, c := range callersOf(obj) {
				if c.Namespace == ns && c.Service == name {
					out = append(out, c.Caller)
				}
			}
			return nil
		})
	}
	return out, nil
}

// SetupWithManager watches the caller objects (re-judging the Services they call, before and
// after a change) and the Services and EndpointSlices the API server calls.
func (r *WebhookReconciler) SetupWithManager(mgr ctrl.Manager, c cache.Cache) error {
	services := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		keys := webhookServiceKeys(o)
		reqs := make([]reconcile.Request, 0, len(keys))
		for _, k := range keys {
			ns, name, _ := strings.Cut(k, "/")
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}})
		}
		return reqs
	})
	ifCalled := func(ctx context.Context, ns, name string) []reconcile.Request {
		if ok, err := called(ctx, r.Reader, ns, name); err != nil || !ok {
			return nil
		}
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}}}
	}
	b := ctrl.NewControllerManagedBy(mgr).Named("netcheck-webhookservice").
		WatchesRawSource(source.Kind[client.Object](c, &corev1.Service{}, handler.EnqueueRequestsFromMapFunc(
			func(ctx context.Context, o client.Object) []reconcile.Request {
				return ifCalled(ctx, o.GetNamespace(), o.GetName())
			}))).
		WatchesRawSource(source.Kind[client.Object](c, &discoveryv1.EndpointSlice{}, handler.EnqueueRequestsFromMapFunc(
			func(ctx context.Context, o client.Object) []reconcile.Request {
				if name := o.GetLabels()[netcheck.ServiceNameLabel]; name != "" {
					return ifCalled(ctx, o.GetNamespace(), name)
				}
				return nil
			})))
	for _, k := range callerKinds {
		b = b.WatchesRawSource(source.Kind[client.Object](c, k.newObj(), services))
	}
	return b.Complete(r)
}

// Reconcile judges one Service the API server calls.
func (r *WebhookReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	subj := health.Subject{APIVersion: "v1", Kind: "Service", Namespace: req.Namespace, Name: req.Name}
	o := incidentwriter.SignalObservation{Subject: subj, Reason: itopsv1alpha1.ReasonWebhookUnavailable,
		IncidentReason: itopsv1alpha1.ReasonWebhookUnavailable}
	key := req.String()
	callers, err := r.callers(ctx, req.Namespace, req.Name)
	if err != nil {
		return reconcile.Result{}, err
	}
	if len(callers) == 0 {
		r.seen.observe(key, false, time.Time{})
		return writeSignal(ctx, r.Writer, o, 0)
	}
	st, err := serviceState(ctx, r.Reader, req.Namespace, req.Name)
	if err != nil {
		return reconcile.Result{}, err
	}
	v := netcheck.JudgeWebhookService(req.Namespace, req.Name, callers, st)
	t := now(r.Clock)
	first := r.seen.observe(key, len(v.Unavailable) > 0, t)
	if len(v.Unavailable) == 0 {
		return writeSignal(ctx, r.Writer, o, 0)
	}
	j := custom.Judge(custom.Verdict{Unhealthy: true}, first, r.Policy.GracePeriod.Duration, t)
	o.Problem = &custom.Problem{Reason: itopsv1alpha1.ReasonWebhookUnavailable, Message: v.Message, Since: j.Since,
		Priority: v.Priority, Sustain: j.Pending}
	o.Impact, o.Urgency = v.Impact, v.Urgency
	for _, c := range v.Unavailable {
		o.Affected = netcheck.CapAffected(o.Affected, callerReference(c))
	}
	return writeSignal(ctx, r.Writer, o, j.RequeueAfter)
}

// serviceState reads a Service and counts its ready endpoints.
func serviceState(ctx context.Context, c client.Reader, ns, name string) (netcheck.ServiceState, error) {
	svc := &corev1.Service{}
	switch err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, svc); {
	case apierrors.IsNotFound(err):
		return netcheck.ServiceState{}, nil
	case err != nil:
		return netcheck.ServiceState{}, err
	}
	if svc.DeletionTimestamp != nil {
		return netcheck.ServiceState{}, nil
	}
	st := netcheck.ServiceState{Exists: true, ExternalName: svc.Spec.Type == corev1.ServiceTypeExternalName}
	for _, p := range svc.Spec.Ports {
		st.Ports = append(st.Ports, p.Port)
	}
	slices := &discoveryv1.EndpointSliceList{}
	if err := c.List(ctx, slices, client.InNamespace(ns), client.MatchingLabels{netcheck.ServiceNameLabel: name}); err != nil {
		return st, err
	}
	st.ReadyEndpoints = netcheck.ReadyEndpoints(slices.Items)
	return st, nil
}

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
	"k8s.io/apimachinery/pkg/runtime"
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

// webhookKind is one of the two admission webhook configuration kinds.
type webhookKind struct {
	kind     string
	newObj   func() client.Object
	newList  func() client.ObjectList
	webhooks func(client.Object) []netcheck.Webhook
}

var (
	validatingKind = webhookKind{kind: "ValidatingWebhookConfiguration",
		newObj:  func() client.Object { return &admissionregistrationv1.ValidatingWebhookConfiguration{} },
		newList: func() client.ObjectList { return &admissionregistrationv1.ValidatingWebhookConfigurationList{} },
		webhooks: func(o client.Object) []netcheck.Webhook {
			return netcheck.ValidatingWebhooks(o.(*admissionregistrationv1.ValidatingWebhookConfiguration))
		}}
	mutatingKind = webhookKind{kind: "MutatingWebhookConfiguration",
		newObj:  func() client.Object { return &admissionregistrationv1.MutatingWebhookConfiguration{} },
		newList: func() client.ObjectList { return &admissionregistrationv1.MutatingWebhookConfigurationList{} },
		webhooks: func(o client.Object) []netcheck.Webhook {
			return netcheck.MutatingWebhooks(o.(*admissionregistrationv1.MutatingWebhookConfiguration))
		}}
)

// webhookServiceKeys indexes a webhook configuration by its webhooks' Services (ns/name).
func webhookServiceKeys(o client.Object) []string {
	var hooks []netcheck.Webhook
	switch c := o.(type) {
	case *admissionregistrationv1.ValidatingWebhookConfiguration:
		hooks = netcheck.ValidatingWebhooks(c)
	case *admissionregistrationv1.MutatingWebhookConfiguration:
		hooks = netcheck.MutatingWebhooks(c)
	}
	var keys []string
	for _, h := range hooks {
		if h.Service != nil {
			keys = append(keys, h.Service.Namespace+"/"+h.Service.Name)
		}
	}
	return keys
}

// WebhookReconciler runs WebhookUnavailable over one kind of admission webhook
// configuration: a configuration (any, the operator's own included) with a webhook whose
// Service does not exist or has no ready endpoint opens (or joins) the configuration's
// incident, in the cluster namespace (a cluster-scoped subject, as Nodes).
type WebhookReconciler struct {
	// Reader reads the network detectors' cache (webhook configurations, Services,
	// EndpointSlices).
	Reader client.Reader
	Writer *incidentwriter.Writer
	Policy config.WebhooksPolicy
	Clock  clock.PassiveClock

	kind webhookKind
	seen firstSeen
}

// SetupWithManager watches the configurations, and the Services and EndpointSlices their
// webhooks call.
func (r *WebhookReconciler) SetupWithManager(mgr ctrl.Manager, c cache.Cache) error {
	byService := func(ctx context.Context, ns, name string) []reconcile.Request {
		list := r.kind.newList()
		if err := r.Reader.List(ctx, list, client.MatchingFields{indexWebhookService: ns + "/" + name}); err != nil {
			return nil
		}
		var reqs []reconcile.Request
		_ = apimeta.EachListItem(list, func(o runtime.Object) error {
			if m, ok := o.(client.Object); ok {
				reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Name: m.GetName()}})
			}
			return nil
		})
		return reqs
	}
	return ctrl.NewControllerManagedBy(mgr).Named("netcheck-" + strings.ToLower(r.kind.kind)).
		WatchesRawSource(source.Kind[client.Object](c, r.kind.newObj(), &handler.EnqueueRequestForObject{})).
		WatchesRawSource(source.Kind[client.Object](c, &corev1.Service{}, handler.EnqueueRequestsFromMapFunc(
			func(ctx context.Context, o client.Object) []reconcile.Request {
				return byService(ctx, o.GetNamespace(), o.GetName())
			}))).
		WatchesRawSource(source.Kind[client.Object](c, &discoveryv1.EndpointSlice{}, handler.EnqueueRequestsFromMapFunc(
			func(ctx context.Context, o client.Object) []reconcile.Request {
				if name := o.GetLabels()[netcheck.ServiceNameLabel]; name != "" {
					return byService(ctx, o.GetNamespace(), name)
				}
				return nil
			}))).
		Complete(r)
}

// Reconcile judges one webhook configuration.
func (r *WebhookReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	subj := health.Subject{APIVersion: admissionregistrationv1.SchemeGroupVersion.String(), Kind: r.kind.kind, Name: req.Name}
	o := incidentwriter.SignalObservation{Subject: subj, Reason: itopsv1alpha1.ReasonWebhookUnavailable,
		IncidentReason: itopsv1alpha1.ReasonWebhookUnavailable}
	cfg := r.kind.newObj()
	err := r.Reader.Get(ctx, req.NamespacedName, cfg)
	if apierrors.IsNotFound(err) || (err == nil && cfg.GetDeletionTimestamp() != nil) {
		r.seen.observe(req.Name, false, time.Time{})
		return writeSignal(ctx, r.Writer, o, 0)
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	hooks := r.kind.webhooks(cfg)
	var lookupErr error
	v := netcheck.JudgeWebhooks(r.kind.kind, cfg.GetName(), hooks, func(ns, name string) netcheck.ServiceState {
		st, err := serviceState(ctx, r.Reader, ns, name)
		if err != nil && lookupErr == nil {
			lookupErr = err
		}
		return st
	})
	if lookupErr != nil {
		return reconcile.Result{}, lookupErr
	}
	t := now(r.Clock)
	first := r.seen.observe(req.Name, len(v.Unavailable) > 0, t)
	if len(v.Unavailable) == 0 {
		return writeSignal(ctx, r.Writer, o, 0)
	}
	j := custom.Judge(custom.Verdict{Unhealthy: true}, first, r.Policy.GracePeriod.Duration, t)
	o.Problem = &custom.Problem{Reason: itopsv1alpha1.ReasonWebhookUnavailable, Message: v.Message, Since: j.Since,
		Priority: v.Priority, Sustain: j.Pending}
	o.Impact, o.Urgency = v.Impact, v.Urgency
	unavailable := map[string]bool{}
	for _, n := range v.Unavailable {
		unavailable[n] = true
	}
	seenSvc := map[string]bool{}
	for _, h := range hooks {
		if h.Service != nil && unavailable[h.Name] && !seenSvc[h.Service.Namespace+"/"+h.Service.Name] {
			seenSvc[h.Service.Namespace+"/"+h.Service.Name] = true
			o.Affected = append(o.Affected, itopsv1alpha1.ObjectReference{APIVersion: "v1", Kind: "Service",
				Namespace: h.Service.Namespace, Name: h.Service.Name})
		}
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

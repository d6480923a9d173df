// Package netcheck runs the network detectors (docs/detectors.md): ServiceWithoutEndpoints
// (Services whose EndpointSlices list no ready endpoint), RouteBackendMissing (Ingresses,
// Gateway API HTTPRoutes, GRPCRoutes and Gateways naming a backend Service or a TLS Secret
// that does not exist, a port the Service does not expose, or a cross-namespace reference no
// ReferenceGrant allows) and WebhookUnavailable (admission webhooks whose Service cannot
// answer). Each judges its objects with the pure functions of internal/netcheck and writes
// one incident per affected thing through the shared incident writer (SyncSignal), with an
// exact requeue at the end of its grace period.
//
// What they read lives in a cache of their own, trimmed by internal/netcheck.Trim: Services
// (type, selector, ports), EndpointSlices (endpoint conditions), Ingresses (spec), webhook
// configurations (no caBundle), Secrets as metadata only (name), Gateway API objects as
// unstructured (their references, a route's ResolvedRefs conditions, a ReferenceGrant's from
// and to). Pods, workloads, ServiceLevels and Incidents are read from the manager's cache.
// The Gateway API kinds are watched once their CRDs are served, ReferenceGrants likewise
// (until then cross-namespace references are checked for existence only); Secrets once the
// operator may list and watch them (the installation does not grant it, as for certificate
// expiry): until then the TLS checks wait and the log says why.
package netcheck

import (
	"context"
	"fmt"
	"sync"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/itops-dev/itops-operator/controllers/incidentwriter"
	"github.com/itops-dev/itops-operator/internal/config"
	"github.com/itops-dev/itops-operator/internal/netcheck"
)

// RBAC: the network detectors read Services, EndpointSlices, Ingresses, every admission
// webhook configuration (none holds a credential: caBundle is a public certificate) and the
// Gateway API's routes, Gateways and ReferenceGrants, CustomResourceDefinitions and APIServices (for the
// Services they make the API server call; cached trimmed to that). Secrets are not granted
// here (docs/detectors.md).
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch
// +kubebuilder:rbac:groups=discovery.k8s.io,resources=endpointslices,verbs=get;list;watch
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses,verbs=get;list;watch
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=validatingwebhookconfigurations;mutatingwebhookconfigurations,verbs=get;list;watch
// +kubebuilder:rbac:groups=apiextensions.k8s.io,resources=customresourcedefinitions,verbs=get;list;watch
// +kubebuilder:rbac:groups=apiregistration.k8s.io,resources=apiservices,verbs=get;list;watch
// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=httproutes;grpcroutes;gateways;referencegrants,verbs=get;list;watch

// raceRetry is how soon a write that lost a race with another writer is retried.
const raceRetry = 200 * time.Millisecond

// DefaultRetryInterval is how often a waiting detector checks again for a Gateway API kind
// to be served, or for the grant to read Secrets, unless Options say otherwise.
const DefaultRetryInterval = time.Minute

// Options tune the network detectors; the zero value is the installation's.
type Options struct {
	// RetryInterval is how often a waiting detector checks again for a Gateway API kind to be
	// served, or for the grant to read Secrets (DefaultRetryInterval when zero). A field, not
	// a package variable: each manager's starters read their own, so a test may shorten it
	// without racing a running manager.
	RetryInterval time.Duration
}

// Index names of the network detectors' cache.
const (
	// indexRefs indexes Ingresses by the objects they refer to ("Service/ns/name",
	// "Secret/ns/name").
	indexRefs = "netcheck.refs"
	// indexWebhookService indexes webhook configurations, CRDs and APIServices by the
	// Services they make the API server call ("ns/name").
	indexWebhookService = "netcheck.webhookService"
)

// Setup creates the network detectors' cache and adds the detectors the policy enables,
// with the default Options.
func Setup(mgr manager.Manager, w *incidentwriter.Writer, policy config.DetectionPolicy) error {
	return SetupWithOptions(mgr, w, policy, Options{})
}

// SetupWithOptions is Setup with Options.
func SetupWithOptions(mgr manager.Manager, w *incidentwriter.Writer, policy config.DetectionPolicy, opts Options) error {
	if opts.RetryInterval <= 0 {
		opts.RetryInterval = DefaultRetryInterval
	}
	services := policy.ServicesWithoutEndpoints.Scope != config.ServiceScopeNone
	routes := policy.RouteBackends.RouteBackendsEnabled()
	webhooks := policy.Webhooks.WebhooksEnabled()
	if !services && !routes && !webhooks {
		return nil
	}
	c, err := cache.New(mgr.GetConfig(), cache.Options{
		Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(), HTTPClient: mgr.GetHTTPClient(),
		DefaultTransform: netcheck.Trim, ReaderFailOnMissingInformer: false,
	})
	if err != nil {
		return fmt.Errorf("creating the network detectors' cache: %w", err)
	}
	if err := mgr.Add(c); err != nil {
		return err
	}
	ctx := context.Background()
	if webhooks {
		for _, k := range callerKinds {
			if err := c.IndexField(ctx, k.newObj(), indexWebhookService, webhookServiceKeys); err != nil {
				return err
			}
		}
		if err := (&WebhookReconciler{Reader: c, Writer: w, Policy: policy.Webhooks}).SetupWithManager(mgr, c); err != nil {
			return fmt.Errorf("setting up WebhookUnavailable: %w", err)
		}
	}
	if services {
		r := &ServiceReconciler{Reader: c, Client: mgr.GetClient(), Writer: w, Policy: policy.ServicesWithoutEndpoints}
		if webhooks {
			r.Called = func(ctx context.Context, ns, name string) (bool, error) { return called(ctx, c, ns, name) }
		}
		if err := r.SetupWithManager(mgr, c); err != nil {
			return fmt.Errorf("setting up ServiceWithoutEndpoints: %w", err)
		}
	}
	if routes {
		if err := c.IndexField(ctx, &networkingv1.Ingress{}, indexRefs, ingressRefKeys); err != nil {
			return err
		}
		if err := SetupRoutes(mgr, c, w, policy.RouteBackends, opts.RetryInterval); err != nil {
			return fmt.Errorf("setting up RouteBackendMissing: %w", err)
		}
	}
	return nil
}

// firstSeen remembers when each object was first seen unhealthy in this occurrence (the
// grace period of problems whose start the objects do not record; in memory: after a
// restart the grace period starts again, while an open incident's signal stays active).
type firstSeen struct {
	mu sync.Mutex
	m  map[string]time.Time
}

// observe returns when key was first seen unhealthy (now if it just was); unhealthy false
// forgets it.
func (f *firstSeen) observe(key string, unhealthy bool, now time.Time) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[string]time.Time{}
	}
	if !unhealthy {
		delete(f.m, key)
		return time.Time{}
	}
	if t, ok := f.m[key]; ok {
		return t
	}
	f.m[key] = now
	return now
}

func now(c clock.PassiveClock) time.Time {
	if c == nil {
		return time.Now()
	}
	return c.Now()
}

// sync writes one observation; a lost race is retried shortly, a pending one requeues at
// the end of its grace period (requeue).
func writeSignal(ctx context.Context, w *incidentwriter.Writer, o incidentwriter.SignalObservation, requeue time.Duration) (reconcile.Result, error) {
	err := w.SyncSignal(ctx, o)
	if incidentwriter.IsRace(err) {
		return reconcile.Result{RequeueAfter: raceRetry}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	return reconcile.Result{RequeueAfter: requeue}, nil
}

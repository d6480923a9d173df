package netcheck

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	certexpirycontrollers "github.com/itops-dev/itops-operator/controllers/certexpiry"
	"github.com/itops-dev/itops-operator/controllers/incidentwriter"
	"github.com/itops-dev/itops-operator/internal/config"
	"github.com/itops-dev/itops-operator/internal/detector/custom"
	"github.com/itops-dev/itops-operator/internal/health"
	"github.com/itops-dev/itops-operator/internal/netcheck"
	"github.com/itops-dev/itops-operator/internal/priority"
	"github.com/itops-dev/itops-operator/internal/readaccess"
)

// routeKind is one kind the RouteBackendMissing detector judges.
type routeKind struct {
	gvk schema.GroupVersionKind
	// services, secrets: what its references may name.
	services, secrets bool
	newObj            func() client.Object
	newList           func() client.ObjectList
	refs              func(client.Object) []netcheck.Ref
	// unresolved reads the object's own ResolvedRefs=False verdicts (nil: it has none).
	unresolved func(client.Object) []netcheck.ParentCondition
}

// gatewayAPI reports whether the kind is of the Gateway API (its cross-namespace references
// need a ReferenceGrant).
func (k routeKind) gatewayAPI() bool { return k.gvk.Group == netcheck.GatewayGroup }

var ingressKind = routeKind{
	gvk: networkingv1.SchemeGroupVersion.WithKind("Ingress"), services: true, secrets: true,
	newObj:  func() client.Object { return &networkingv1.Ingress{} },
	newList: func() client.ObjectList { return &networkingv1.IngressList{} },
	refs:    func(o client.Object) []netcheck.Ref { return netcheck.IngressRefs(o.(*networkingv1.Ingress)) },
}

// gatewayKinds are the Gateway API kinds, read as unstructured objects once served.
var gatewayKinds = []routeKind{
	withUnresolved(unstructuredKind(netcheck.HTTPRouteGVK, true, false, netcheck.RouteRefs)),
	withUnresolved(unstructuredKind(netcheck.GRPCRouteGVK, true, false, netcheck.RouteRefs)),
	unstructuredKind(netcheck.GatewayGVK, false, true, netcheck.GatewayRefs),
}

// withUnresolved reads a route's status.parents[] ResolvedRefs=False verdicts.
func withUnresolved(k routeKind) routeKind {
	k.unresolved = func(o client.Object) []netcheck.ParentCondition {
		u := o.(*unstructured.Unstructured)
		return netcheck.UnresolvedParents(u.Object, u.GetNamespace())
	}
	return k
}

// referenceGrants is an empty list of ReferenceGrants (unstructured: the operator does not
// link the Gateway API's types).
func referenceGrants() *unstructured.UnstructuredList {
	l := &unstructured.UnstructuredList{}
	l.SetGroupVersionKind(netcheck.ReferenceGrantGVK.GroupVersion().WithKind(netcheck.KindReferenceGrant + "List"))
	return l
}

func referenceGrant() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(netcheck.ReferenceGrantGVK)
	return u
}

func unstructuredKind(gvk schema.GroupVersionKind, services, secrets bool, refs func(map[string]any, string) []netcheck.Ref) routeKind {
	newObj, newList := unstructuredOf(gvk)
	return routeKind{gvk: gvk, services: services, secrets: secrets, newObj: newObj, newList: newList,
		refs: func(o client.Object) []netcheck.Ref {
			u := o.(*unstructured.Unstructured)
			return refs(u.Object, u.GetNamespace())
		},
	}
}

// ingressRefKeys indexes an Ingress by the objects it refers to.
func ingressRefKeys(o client.Object) []string {
	ing, ok := o.(*networkingv1.Ingress)
	if !ok {
		return nil
	}
	var keys []string
	for _, r := range netcheck.IngressRefs(ing) {
		keys = append(keys, r.Kind+"/"+r.Key())
	}
	return keys
}

// secretMetadata is a Secret as the detector reads it: metadata only (no data ever reaches
// the cache).
func secretMetadata() *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	return m
}

// routes is the set of running route controllers, whether Secrets may be read and whether
// ReferenceGrants are served (and may be read).
type routes struct {
	cache   cache.Cache
	secrets atomic.Bool
	grants  atomic.Bool

	mu      sync.Mutex
	running []*RouteReconciler
}

// add registers a running controller; once Secrets may be read it watches them, once
// ReferenceGrants are served a Gateway API kind watches those.
func (rs *routes) add(r *RouteReconciler) error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.running = append(rs.running, r)
	if rs.secrets.Load() && r.kind.secrets {
		if err := r.watchSecrets(); err != nil {
			return err
		}
	}
	if rs.grants.Load() && r.kind.gatewayAPI() {
		return r.watchGrants()
	}
	return nil
}

// secretsGranted makes every running controller that reads Secrets watch them and judge its
// objects again.
func (rs *routes) secretsGranted(ctx context.Context) error {
	return rs.enable(ctx, &rs.secrets, func(k routeKind) bool { return k.secrets }, (*RouteReconciler).watchSecrets)
}

// grantsServed makes every running Gateway API controller watch ReferenceGrants and judge its
// objects again.
func (rs *routes) grantsServed(ctx context.Context) error {
	return rs.enable(ctx, &rs.grants, routeKind.gatewayAPI, (*RouteReconciler).watchGrants)
}

// enable turns a flag on, then makes every running controller of the kinds it applies to
// watch what it gives access to and judge all its objects again.
func (rs *routes) enable(ctx context.Context, flag *atomic.Bool, applies func(routeKind) bool, watch func(*RouteReconciler) error) error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	flag.Store(true)
	for _, r := range rs.running {
		if !applies(r.kind) {
			continue
		}
		if err := watch(r); err != nil {
			return err
		}
		list := r.kind.newList()
		if err := rs.cache.List(ctx, list); err != nil {
			return err
		}
		var objs []client.Object
		_ = apimeta.EachListItem(list, func(o runtime.Object) error {
			if m, ok := o.(client.Object); ok {
				objs = append(objs, m)
			}
			return nil
		})
		go func(r *RouteReconciler) {
			for _, o := range objs {
				select {
				case r.resync <- event.GenericEvent{Object: o}:
				case <-ctx.Done():
					return
				}
			}
		}(r)
	}
	return nil
}

// SetupRoutes adds the Ingress controller, a starter per Gateway API kind (it waits for the
// kind's CRD), the starter of the ReferenceGrant checks (it waits for their CRD) and the
// starter of the TLS Secret checks (it waits for the grant); the starters check again every
// retry.
func SetupRoutes(mgr manager.Manager, c cache.Cache, w *incidentwriter.Writer, policy config.RouteBackendsPolicy, retry time.Duration) error {
	rs := &routes{cache: c}
	log := ctrl.Log.WithName("netcheck").WithName("routes")
	ing := &RouteReconciler{Reader: c, Writer: w, Policy: policy, kind: ingressKind, routes: rs}
	if err := ing.setup(mgr); err != nil {
		return err
	}
	if err := rs.add(ing); err != nil {
		return err
	}
	for _, k := range gatewayKinds {
		if err := mgr.Add(&kindStarter{mgr: mgr, retry: retry, log: log.WithValues("kind", k.gvk.Kind),
			reconciler: &RouteReconciler{Reader: c, Writer: w, Policy: policy, kind: k, routes: rs}}); err != nil {
			return err
		}
	}
	if err := mgr.Add(&grantStarter{mgr: mgr, retry: retry, routes: rs, log: log}); err != nil {
		return err
	}
	return mgr.Add(&secretStarter{mgr: mgr, retry: retry, routes: rs, log: log})
}

// RouteReconciler runs RouteBackendMissing over one kind: an object naming a backend Service
// or a TLS Secret that does not exist for the grace period opens (or joins) its incident.
type RouteReconciler struct {
	// Reader reads the network detectors' cache.
	Reader client.Reader
	Writer *incidentwriter.Writer
	Policy config.RouteBackendsPolicy
	Clock  clock.PassiveClock

	kind       routeKind
	routes     *routes
	seen       firstSeen
	resync     chan event.GenericEvent
	controller controller.Controller
}

// setup builds the controller: the kind, and the Services its objects name (created,
// deleted, or their type or ports changed); Secrets are added by watchSecrets once they may be read.
func (r *RouteReconciler) setup(mgr ctrl.Manager) error {
	r.resync = make(chan event.GenericEvent)
	b := ctrl.NewControllerManagedBy(mgr).Named("netcheck-" + strings.ToLower(r.kind.gvk.Kind)).
		WatchesRawSource(source.Kind[client.Object](r.routes.cache, r.kind.newObj(), &handler.EnqueueRequestForObject{})).
		WatchesRawSource(source.Channel(r.resync, &handler.EnqueueRequestForObject{}))
	if r.kind.services {
		b = b.WatchesRawSource(source.Kind[client.Object](r.routes.cache, &corev1.Service{},
			handler.EnqueueRequestsFromMapFunc(r.referring(netcheck.KindService)), servicePorts))
	}
	c, err := b.Build(r)
	r.controller = c
	return err
}

// servicePorts lets through the Service events a route's verdict depends on: creations,
// deletions, and updates that change its type or ports (the trimmed cache's other updates,
// a new resourceVersion, re-judge nothing).
var servicePorts = predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
	old, okOld := e.ObjectOld.(*corev1.Service)
	cur, okNew := e.ObjectNew.(*corev1.Service)
	return !okOld || !okNew || old.Spec.Type != cur.Spec.Type || !apiequality.Semantic.DeepEqual(old.Spec.Ports, cur.Spec.Ports)
}}

// watchSecrets watches Secrets (metadata only; created or deleted).
func (r *RouteReconciler) watchSecrets() error {
	existence := predicate.Funcs{UpdateFunc: func(event.UpdateEvent) bool { return false }}
	return r.controller.Watch(source.Kind[client.Object](r.routes.cache, secretMetadata(),
		handler.EnqueueRequestsFromMapFunc(r.referring(netcheck.KindSecret)), existence))
}

// watchGrants watches ReferenceGrants: one created, changed or deleted re-judges the
// objects of the kind that refer into its namespace from another.
func (r *RouteReconciler) watchGrants() error {
	return r.controller.Watch(source.Kind[client.Object](r.routes.cache, referenceGrant(),
		handler.EnqueueRequestsFromMapFunc(r.referringInto)))
}

// referringInto maps a ReferenceGrant to the objects of the kind with a reference into its
// namespace from another.
func (r *RouteReconciler) referringInto(ctx context.Context, grant client.Object) []reconcile.Request {
	list := r.kind.newList()
	if err := r.Reader.List(ctx, list); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	_ = apimeta.EachListItem(list, func(item runtime.Object) error {
		obj, ok := item.(client.Object)
		if !ok || obj.GetNamespace() == grant.GetNamespace() {
			return nil
		}
		for _, ref := range r.kind.refs(obj) {
			if ref.Namespace == grant.GetNamespace() {
				reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(obj)})
				break
			}
		}
		return nil
	})
	return reqs
}

// referring maps a Service or Secret to the objects of the kind that name it: through the
// index for Ingresses, by reading every object of a Gateway API kind otherwise.
func (r *RouteReconciler) referring(kind string) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		key := o.GetNamespace() + "/" + o.GetName()
		list := r.kind.newList()
		var opts []client.ListOption
		if r.kind.gvk == ingressKind.gvk {
			opts = append(opts, client.MatchingFields{indexRefs: kind + "/" + key})
		}
		if err := r.Reader.List(ctx, list, opts...); err != nil {
			return nil
		}
		var reqs []reconcile.Request
		_ = apimeta.EachListItem(list, func(item runtime.Object) error {
			obj, ok := item.(client.Object)
			if !ok {
				return nil
			}
			for _, ref := range r.kind.refs(obj) {
				if ref.Kind == kind && ref.Key() == key {
					reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: obj.GetName()}})
					break
				}
			}
			return nil
		})
		return reqs
	}
}

// Reconcile judges one object's references.
func (r *RouteReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	subj := health.Subject{APIVersion: r.kind.gvk.GroupVersion().String(), Kind: r.kind.gvk.Kind, Namespace: req.Namespace, Name: req.Name}
	o := incidentwriter.SignalObservation{Subject: subj, Reason: itopsv1alpha1.ReasonRouteBackendMissing,
		IncidentReason: itopsv1alpha1.ReasonRouteBackendMissing}
	key := subj.String()
	obj := r.kind.newObj()
	err := r.Reader.Get(ctx, req.NamespacedName, obj)
	if apierrors.IsNotFound(err) || (err == nil && obj.GetDeletionTimestamp() != nil) {
		r.seen.observe(key, false, time.Time{})
		return writeSignal(ctx, r.Writer, o, 0)
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	var lookupErr error
	facts := netcheck.RouteFacts{Kind: subj.Kind, Namespace: req.Namespace, Name: req.Name, Refs: r.kind.refs(obj),
		Lookup: func(ref netcheck.Ref) netcheck.Target {
			t, err := r.lookup(ctx, ref)
			if err != nil && lookupErr == nil {
				lookupErr = err
			}
			return t
		}}
	if r.kind.unresolved != nil {
		facts.Unresolved = r.kind.unresolved(obj)
	}
	if r.kind.gatewayAPI() && r.routes.grants.Load() {
		facts.GrantsServed = true
		if facts.Grants, err = r.grantsFor(ctx, req.Namespace, facts.Refs); err != nil {
			return reconcile.Result{}, err
		}
	}
	v := netcheck.JudgeRoute(facts)
	if lookupErr != nil {
		return reconcile.Result{}, lookupErr
	}
	t := now(r.Clock)
	first := r.seen.observe(key, v.Unhealthy(), t)
	if !v.Unhealthy() {
		return writeSignal(ctx, r.Writer, o, 0)
	}
	msg := v.Message
	if len(v.Unknown) > 0 {
		msg += " (TLS Secrets not checked: the operator may not list and watch Secrets)"
	}
	j := custom.Judge(custom.Verdict{Unhealthy: true}, first, r.Policy.GracePeriod.Duration, t)
	impact, urgency := netcheck.RouteSeverity()
	o.Problem = &custom.Problem{Reason: itopsv1alpha1.ReasonRouteBackendMissing, Message: msg, Since: j.Since,
		Priority: priority.For(impact, urgency), Sustain: j.Pending}
	o.Impact, o.Urgency = impact, urgency
	for _, m := range v.Missing {
		ref := itopsv1alpha1.ObjectReference{APIVersion: "v1", Kind: m.Kind, Namespace: m.Namespace, Name: m.Name}
		if !containsRef(o.Affected, ref) && len(o.Affected) < 31 {
			o.Affected = append(o.Affected, ref)
		}
	}
	return writeSignal(ctx, r.Writer, o, j.RequeueAfter)
}

func containsRef(refs []itopsv1alpha1.ObjectReference, ref itopsv1alpha1.ObjectReference) bool {
	for _, r := range refs {
		if r == ref {
			return true
		}
	}
	return false
}

// grantsFor reads the ReferenceGrants of the namespaces the references point to from
// another than the object's.
func (r *RouteReconciler) grantsFor(ctx context.Context, namespace string, refs []netcheck.Ref) ([]netcheck.Grant, error) {
	var grants []netcheck.Grant
	read := map[string]bool{namespace: true}
	for _, ref := range refs {
		if read[ref.Namespace] {
			continue
		}
		read[ref.Namespace] = true
		list := referenceGrants()
		if err := r.Reader.List(ctx, list, client.InNamespace(ref.Namespace)); err != nil {
			return nil, err
		}
		for i := range list.Items {
			grants = append(grants, netcheck.GrantOf(list.Items[i].Object, ref.Namespace))
		}
	}
	return grants, nil
}

// lookup reads what the cache knows of a referenced object: whether it exists and a
// Service's type and ports; not known for a Secret while the operator may not read Secrets.
func (r *RouteReconciler) lookup(ctx context.Context, ref netcheck.Ref) (netcheck.Target, error) {
	var obj client.Object
	switch ref.Kind {
	case netcheck.KindService:
		obj = &corev1.Service{}
	case netcheck.KindSecret:
		if !r.routes.secrets.Load() {
			return netcheck.Target{}, nil
		}
		obj = secretMetadata()
	default:
		return netcheck.Target{}, nil
	}
	switch err := r.Reader.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, obj); {
	case apierrors.IsNotFound(err):
		return netcheck.Target{Known: true}, nil
	case err != nil:
		return netcheck.Target{}, err
	}
	t := netcheck.Target{Known: true, Exists: obj.GetDeletionTimestamp() == nil}
	if svc, ok := obj.(*corev1.Service); ok {
		t.ExternalName = svc.Spec.Type == corev1.ServiceTypeExternalName
		for _, p := range svc.Spec.Ports {
			t.Ports = append(t.Ports, netcheck.ServicePort{Name: p.Name, Port: p.Port, TargetPort: tp(p.TargetPort)})
		}
	}
	return t, nil
}

// kindStarter starts the controller of a Gateway API kind once the API server serves it
// and the operator may list and watch it, checking every retry.
type kindStarter struct {
	mgr        manager.Manager
	retry      time.Duration
	log        logr.Logger
	reconciler *RouteReconciler
}

// NeedLeaderElection is true: only the leader detects.
func (s *kindStarter) NeedLeaderElection() bool { return true }

// Start checks now and every retry until the controller runs.
func (s *kindStarter) Start(ctx context.Context) error {
	started, err := readaccess.Await(ctx, s.retry, s.try, func(why string) {
		s.log.V(1).Info("route backend detection waits for the kind", "why", why, "retryEvery", s.retry.String())
	})
	if started {
		s.log.Info("route backend detection watching")
	}
	return err
}

func (s *kindStarter) try(ctx context.Context) (string, error) {
	gvk := s.reconciler.kind.gvk
	if why := readaccess.Watchable(ctx, s.mgr.GetRESTMapper(), s.mgr.GetClient(), gvk, "Gateway API CRDs not installed"); why != "" {
		return why, nil
	}
	if err := s.reconciler.setup(s.mgr); err != nil {
		return "", fmt.Errorf("starting the %s route backend controller: %w", gvk.Kind, err)
	}
	return "", s.reconciler.routes.add(s.reconciler)
}

// grantStarter turns on the ReferenceGrant checks of Gateway API objects' cross-namespace
// references once the API server serves ReferenceGrant (gateway.networking.k8s.io/v1beta1)
// and the operator may list and watch it, checking at start and every retry. Until then
// cross-namespace references are judged for existence only.
type grantStarter struct {
	mgr    manager.Manager
	retry  time.Duration
	routes *routes
	log    logr.Logger
}

// NeedLeaderElection is true: only the leader detects.
func (s *grantStarter) NeedLeaderElection() bool { return true }

// Start checks now and every retry until the grant checks run.
func (s *grantStarter) Start(ctx context.Context) error {
	started, err := readaccess.Await(ctx, s.retry, func(ctx context.Context) (string, error) {
		if why := readaccess.Watchable(ctx, s.mgr.GetRESTMapper(), s.mgr.GetClient(), netcheck.ReferenceGrantGVK, "cross-namespace references are checked for existence only"); why != "" {
			return why, nil
		}
		if _, err := s.routes.cache.GetInformer(ctx, referenceGrant()); err != nil {
			return "", fmt.Errorf("watching ReferenceGrants: %w", err)
		}
		return "", nil
	}, func(why string) {
		s.log.V(1).Info("route ReferenceGrant checks wait", "why", why, "retryEvery", s.retry.String())
	})
	if !started {
		return err
	}
	s.log.Info("route ReferenceGrant checks on")
	return s.routes.grantsServed(ctx)
}

// secretStarter turns on the TLS Secret checks once the operator may list and watch Secrets
// (certexpirycontrollers.Allowed), checking at start and every retry; until then it
// says why once, in the log.
type secretStarter struct {
	mgr    manager.Manager
	retry  time.Duration
	routes *routes
	log    logr.Logger
}

// NeedLeaderElection is true: only the leader detects.
func (s *secretStarter) NeedLeaderElection() bool { return true }

// Start checks now and every retry until the TLS checks run.
func (s *secretStarter) Start(ctx context.Context) error {
	told := false
	started, err := readaccess.Await(ctx, s.retry, func(ctx context.Context) (string, error) {
		switch ok, err := certexpirycontrollers.Allowed(ctx, s.mgr.GetClient()); {
		case err != nil:
			return "checking whether the operator may read Secrets failed: " + err.Error(), nil
		case !ok:
			return "the operator may not list and watch Secrets; grant it (docs/detectors.md). Backend Service checks run meanwhile", nil
		}
		if _, err := s.routes.cache.GetInformer(ctx, secretMetadata()); err != nil {
			return "", fmt.Errorf("watching Secrets (metadata): %w", err)
		}
		return "", nil
	}, func(why string) {
		if !told { // once, whatever the reason: the grant is an administrator's decision
			s.log.Info("route TLS Secret checks wait: "+why, "retryEvery", s.retry.String())
			told = true
		}
	})
	if !started {
		return err
	}
	s.log.Info("route TLS Secret checks on")
	return s.routes.secretsGranted(ctx)
}

// tp is a Service port's targetPort as written ("" when unset).
func tp(v intstr.IntOrString) string {
	if v.Type == intstr.Int && v.IntVal == 0 {
		return ""
	}
	return v.String()
}

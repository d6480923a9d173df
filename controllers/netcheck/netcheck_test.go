package netcheck

import (
	"context"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/controllers/incidentwriter"
	"github.com/itops-dev/itops-operator/internal/config"
	"github.com/itops-dev/itops-operator/internal/detector/custom"
	"github.com/itops-dev/itops-operator/internal/health"
	"github.com/itops-dev/itops-operator/internal/lifecycle"
	"github.com/itops-dev/itops-operator/test/cluster"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

type env struct {
	t     *testing.T
	ctx   context.Context
	c     client.Client
	clock *clocktesting.FakePassiveClock
	w     *incidentwriter.Writer
}

func newEnv(t *testing.T, objs ...client.Object) *env {
	b := fake.NewClientBuilder().WithScheme(cluster.Scheme()).WithStatusSubresource(&itopsv1alpha1.Incident{}).WithObjects(objs...)
	for _, k := range callerKinds {
		b = b.WithIndex(k.newObj(), indexWebhookService, webhookServiceKeys)
	}
	c := b.Build()
	clock := clocktesting.NewFakePassiveClock(t0)
	return &env{t: t, ctx: context.Background(), c: c, clock: clock,
		w: &incidentwriter.Writer{Client: c, Policy: lifecycle.DefaultPolicy, ClusterNamespace: "itops-cluster", Clock: clock}}
}

// reconcile runs r at the time given and returns its requeue.
func (e *env) reconcile(r reconcile.Reconciler, at time.Time, ns, name string) time.Duration {
	e.t.Helper()
	e.clock.SetTime(at)
	res, err := r.Reconcile(e.ctx, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}})
	if err != nil {
		e.t.Fatalf("reconcile %s/%s: %v", ns, name, err)
	}
	return res.RequeueAfter
}

// incident returns the incident named name in ns (nil when none).
func (e *env) incident(ns, name string) *itopsv1alpha1.Incident {
	e.t.Helper()
	inc := &itopsv1alpha1.Incident{}
	if err := e.c.Get(e.ctx, client.ObjectKey{Namespace: ns, Name: name}, inc); err != nil {
		return nil
	}
	return inc
}

func signal(inc *itopsv1alpha1.Incident, reason string) *itopsv1alpha1.Signal {
	for i := range inc.Status.Signals {
		if inc.Status.Signals[i].Reason == reason {
			return &inc.Status.Signals[i]
		}
	}
	return nil
}

func slice(ns, svc string, ready ...bool) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: svc + "-abcde",
		Labels: map[string]string{discoveryv1.LabelServiceName: svc}}, AddressType: discoveryv1.AddressTypeIPv4}
	for _, r := range ready {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{"10.0.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(r)}})
	}
	return s
}

// TestServiceWithoutEndpoints: a Deployment's only pod never becomes ready. The Service waits
// its grace period (measured from the pod), opens its incident, becomes the symptom of the
// Deployment's incident once that one opens, and clears when an endpoint is ready.
func TestServiceWithoutEndpoints(t *testing.T) {
	ns := "shop"
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web", UID: "dep-uid", Labels: map[string]string{"tier": "shop"}},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(int32(1))}}
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web-7d9f", UID: "rs-uid",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: "dep-uid", Controller: ptr.To(true)}}}}
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web-7d9f-x2x4q", Labels: map[string]string{"app": "web"},
		CreationTimestamp: metav1.NewTime(t0.Add(-time.Minute)),
		OwnerReferences:   []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-7d9f", UID: "rs-uid", Controller: ptr.To(true)}}},
		Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: metav1.NewTime(t0)}}}}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web", CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour))},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}}}
	external := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example"}}
	e := newEnv(t, dep, rs, p, svc, external, slice(ns, "web", false))
	grace := 6 * time.Minute
	r := &ServiceReconciler{Reader: e.c, Client: e.c, Writer: e.w, Clock: e.clock,
		Policy: config.ServicesWithoutEndpointsPolicy{Scope: config.ServiceScopeAll, GracePeriod: metav1.Duration{Duration: grace}}}

	if got := e.reconcile(r, t0.Add(time.Minute), ns, "web"); got != 5*time.Minute {
		t.Fatalf("within grace: requeue at its end (5m), got %s", got)
	}
	if e.incident(ns, "service-web") != nil {
		t.Fatal("within grace: no incident yet")
	}
	e.reconcile(r, t0.Add(grace), ns, "web")
	inc := e.incident(ns, "service-web")
	if inc == nil || inc.Spec.Reason != itopsv1alpha1.ReasonServiceWithoutEndpoints || inc.Status.CausedBy != nil {
		t.Fatalf("grace over: the Service's own incident, no cause yet; got %+v", inc)
	}
	s := signal(inc, itopsv1alpha1.ReasonServiceWithoutEndpoints)
	if s == nil || !s.Active || s.Priority != itopsv1alpha1.PriorityP3 || !strings.Contains(s.Message, "(web-7d9f-x2x4q)") || !s.Since.Time.Equal(t0) {
		t.Fatalf("signal: %+v", s)
	}

	// The Deployment's own incident opens (its pods are the cause): the Service's becomes its symptom.
	depSubj := health.Subject{APIVersion: "apps/v1", Kind: "Deployment", Namespace: ns, Name: "web"}
	if err := e.w.SyncSignal(e.ctx, incidentwriter.SignalObservation{Subject: depSubj, Reason: itopsv1alpha1.ReasonWorkloadUnavailable,
		IncidentReason: itopsv1alpha1.ReasonWorkloadUnavailable, Impact: itopsv1alpha1.LevelHigh, Urgency: itopsv1alpha1.LevelHigh,
		Problem: &custom.Problem{Reason: itopsv1alpha1.ReasonWorkloadUnavailable, Message: "0/1 available", Priority: itopsv1alpha1.PriorityP1}}); err != nil {
		t.Fatal(err)
	}
	e.reconcile(r, t0.Add(grace+time.Minute), ns, "web")
	inc = e.incident(ns, "service-web")
	if c := inc.Status.CausedBy; c == nil || c.Kind != "Incident" || c.Name != "deployment-web" {
		t.Fatalf("a symptom of the Deployment's incident: %+v", inc.Status.CausedBy)
	}
	if reqs := r.servicesOfNamespace(e.ctx, e.incident(ns, "deployment-web")); len(reqs) != 1 || reqs[0].Name != "web" {
		t.Fatalf("the workload's incident re-judges the Service: %v", reqs)
	}

	// An endpoint becomes ready: the signal clears (the cause is kept, as for workloads).
	sl := &discoveryv1.EndpointSlice{}
	if err := e.c.Get(e.ctx, client.ObjectKey{Namespace: ns, Name: "web-abcde"}, sl); err != nil {
		t.Fatal(err)
	}
	sl.Endpoints[0].Conditions.Ready = ptr.To(true)
	if err := e.c.Update(e.ctx, sl); err != nil {
		t.Fatal(err)
	}
	e.reconcile(r, t0.Add(grace+2*time.Minute), ns, "web")
	if s := signal(e.incident(ns, "service-web"), itopsv1alpha1.ReasonServiceWithoutEndpoints); s.Active {
		t.Fatalf("ready again: cleared, got %+v", s)
	}

	e.reconcile(r, t0.Add(grace), ns, "db")
	e.reconcile(r, t0.Add(grace), ns, "gone")
	if e.incident(ns, "service-db") != nil || e.incident(ns, "service-gone") != nil {
		t.Fatal("ExternalName and deleted Services are not judged")
	}
}

// TestServiceScopeAndIdle: Covered judges only what a ServiceLevel covers (and raises the
// priority); a Service whose Deployment is scaled to zero has no endpoints by design.
func TestServiceScopeAndIdle(t *testing.T) {
	ns := "shop"
	idle := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "batch"}, Spec: appsv1.DeploymentSpec{Replicas: ptr.To(int32(0)),
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "batch"}}}}}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web", UID: "dep-uid", Labels: map[string]string{"tier": "shop"}}}
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web-1", Labels: map[string]string{"app": "web"},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: "dep-uid", Controller: ptr.To(true)}}}}
	svc := func(name, app string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": app}}}
	}
	sl := &itopsv1alpha1.ServiceLevel{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shop"},
		Spec: itopsv1alpha1.ServiceLevelSpec{Selector: metav1.LabelSelector{MatchLabels: map[string]string{"tier": "shop"}}}}
	e := newEnv(t, idle, dep, p, svc("batch", "batch"), svc("web", "web"), svc("typo", "wbe"))
	r := &ServiceReconciler{Reader: e.c, Client: e.c, Writer: e.w, Clock: e.clock,
		Policy: config.ServicesWithoutEndpointsPolicy{Scope: config.ServiceScopeCovered}}
	for _, name := range []string{"batch", "web", "typo"} {
		e.reconcile(r, t0, ns, name)
	}
	list := &itopsv1alpha1.IncidentList{}
	if err := e.c.List(e.ctx, list); err != nil || len(list.Items) != 0 {
		t.Fatalf("Covered without a ServiceLevel: nothing, got %d (%v)", len(list.Items), err)
	}
	if err := e.c.Create(e.ctx, sl); err != nil {
		t.Fatal(err)
	}
	if reqs := r.allServicesOf(e.ctx, sl); len(reqs) != 3 {
		t.Fatalf("a ServiceLevel re-judges the Services of its namespace: %v", reqs)
	}
	e.reconcile(r, t0, ns, "web")
	inc := e.incident(ns, "service-web")
	if inc == nil || inc.Spec.Service != "shop" || signal(inc, itopsv1alpha1.ReasonServiceWithoutEndpoints).Priority != itopsv1alpha1.PriorityP2 {
		t.Fatalf("covered: the ServiceLevel named, impact raised (P2); got %+v", inc)
	}
	r.Policy.Scope = config.ServiceScopeAll
	e.reconcile(r, t0, ns, "batch")
	e.reconcile(r, t0, ns, "typo")
	if e.incident(ns, "service-batch") != nil {
		t.Fatal("scaled to zero: normal")
	}
	if inc := e.incident(ns, "service-typo"); inc == nil || !strings.Contains(inc.Status.Signals[0].Message, "its selector app=wbe selects no pods") {
		t.Fatalf("a selector matching nothing: %+v", inc)
	}
}

// TestServiceOfJob: a headless Service in front of an indexed Job's pods has no ready
// endpoint once the Job completes: nothing opens, nor when the finished Job's pods are gone.
func TestServiceOfJob(t *testing.T) {
	ns := "batch"
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pi", UID: "job-uid"},
		Spec:   batchv1.JobSpec{Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"job-name": "pi"}}}},
		Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}}}
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pi-0-abcde", Labels: map[string]string{"job-name": "pi"},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: "pi", UID: "job-uid", Controller: ptr.To(true)}}},
		Status: corev1.PodStatus{Phase: corev1.PodSucceeded, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "PodCompleted"}}}}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pi"},
		Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: map[string]string{"job-name": "pi"}}}
	e := newEnv(t, job, p, svc, slice(ns, "pi", false))
	r := &ServiceReconciler{Reader: e.c, Client: e.c, Writer: e.w, Clock: e.clock,
		Policy: config.ServicesWithoutEndpointsPolicy{Scope: config.ServiceScopeAll, GracePeriod: metav1.Duration{Duration: time.Minute}}}
	if got := e.reconcile(r, t0, ns, "pi"); got != 0 {
		t.Fatalf("a Job's pods: no grace period to wait, got requeue %s", got)
	}
	e.reconcile(r, t0.Add(time.Hour), ns, "pi")
	if e.incident(ns, "service-pi") != nil {
		t.Fatal("a completed Job's Service: nothing opens")
	}
	if err := e.c.Delete(e.ctx, p); err != nil {
		t.Fatal(err)
	}
	e.reconcile(r, t0.Add(2*time.Hour), ns, "pi")
	if e.incident(ns, "service-pi") != nil {
		t.Fatal("a finished Job whose pods are gone: nothing opens")
	}
}

// TestRouteBackendMissing: an Ingress naming a missing Service and a missing TLS Secret. The
// TLS check waits while Secrets may not be read; the message names each object and field.
func TestRouteBackendMissing(t *testing.T) {
	ns := "shop"
	ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}, Spec: networkingv1.IngressSpec{
		TLS: []networkingv1.IngressTLS{{Hosts: []string{"shop.example"}, SecretName: "shop-tls"}},
		Rules: []networkingv1.IngressRule{{Host: "shop.example", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
			Paths: []networkingv1.HTTPIngressPath{
				{Path: "/", PathType: ptr.To(networkingv1.PathTypePrefix), Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web"}}},
				{Path: "/api", PathType: ptr.To(networkingv1.PathTypePrefix), Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "api"}}},
			}}}}}}}
	web := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}}
	e := newEnv(t, ing, web)
	rs := &routes{}
	r := &RouteReconciler{Reader: e.c, Writer: e.w, Clock: e.clock, kind: ingressKind, routes: rs,
		Policy: config.RouteBackendsPolicy{GracePeriod: metav1.Duration{Duration: time.Minute}}}
	if got := e.reconcile(r, t0, ns, "web"); got != time.Minute {
		t.Fatalf("first seen: requeue at the end of the grace period, got %s", got)
	}
	e.reconcile(r, t0.Add(time.Minute), ns, "web")
	inc := e.incident(ns, "ingress-web")
	if inc == nil || inc.Spec.Reason != itopsv1alpha1.ReasonRouteBackendMissing {
		t.Fatalf("grace over: %+v", inc)
	}
	want := "Ingress web refers to objects that do not exist: Service shop/api does not exist (spec.rules[0].http.paths[1].backend.service.name) " +
		"(TLS Secrets not checked: the operator may not list and watch Secrets)"
	if s := inc.Status.Signals[0]; s.Message != want || s.Priority != itopsv1alpha1.PriorityP3 {
		t.Fatalf("signal: %q %s", s.Message, s.Priority)
	}
	if a := inc.Spec.Affected; len(a) != 2 || a[1].Kind != "Service" || a[1].Name != "api" {
		t.Fatalf("affected: %+v", a)
	}

	rs.secrets.Store(true)
	e.reconcile(r, t0.Add(2*time.Minute), ns, "web")
	if s := e.incident(ns, "ingress-web").Status.Signals[0]; !strings.Contains(s.Message, "Secret shop/shop-tls does not exist (spec.tls[0].secretName)") {
		t.Fatalf("Secrets readable: the TLS Secret is checked too; got %q", s.Message)
	}
	for _, o := range []client.Object{
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "api"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shop-tls"}, Type: corev1.SecretTypeTLS},
	} {
		if err := e.c.Create(e.ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	e.reconcile(r, t0.Add(3*time.Minute), ns, "web")
	if s := e.incident(ns, "ingress-web").Status.Signals[0]; s.Active {
		t.Fatalf("both exist: cleared, got %+v", s)
	}
	// A backend port the Service does not expose: missing too.
	ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Port = networkingv1.ServiceBackendPort{Number: 8080}
	if err := e.c.Update(e.ctx, ing); err != nil {
		t.Fatal(err)
	}
	e.reconcile(r, t0.Add(4*time.Minute), ns, "web")
	e.reconcile(r, t0.Add(5*time.Minute), ns, "web")
	if s := e.incident(ns, "ingress-web").Status.Signals[0]; !s.Active || s.Message != "Ingress web sends to ports its Services do not expose: "+
		"Service shop/web has no port 8080 (host shop.example path /: spec.rules[0].http.paths[0].backend.service.port.number)" {
		t.Fatalf("a port the Service does not expose: got %+v", s)
	}
	if keys := ingressRefKeys(ing); len(keys) != 3 || keys[2] != "Secret/shop/shop-tls" {
		t.Fatalf("index keys: %v", keys)
	}
}

// TestHTTPRouteGrantsAndVerdict: an HTTPRoute's cross-namespace backendRef without a
// ReferenceGrant (the CRD served) is missing; once granted it clears. The route's own
// ResolvedRefs=False fires too, quoting the controller.
func TestHTTPRouteGrantsAndVerdict(t *testing.T) {
	route := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
		"metadata": map[string]any{"namespace": "shop", "name": "shop"},
		"spec": map[string]any{"rules": []any{map[string]any{"backendRefs": []any{
			map[string]any{"name": "web-v2", "namespace": "canary", "port": int64(80)}}}}}}}
	web := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "canary", Name: "web-v2"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}
	e := newEnv(t, route, web)
	kind := gatewayKinds[0]
	rs := &routes{}
	rs.grants.Store(true)
	r := &RouteReconciler{Reader: e.c, Writer: e.w, Clock: e.clock, kind: kind, routes: rs,
		Policy: config.RouteBackendsPolicy{GracePeriod: metav1.Duration{Duration: time.Minute}}}
	e.reconcile(r, t0, "shop", "shop")
	e.reconcile(r, t0.Add(time.Minute), "shop", "shop")
	inc := e.incident("shop", "httproute-shop")
	if inc == nil || inc.Status.Signals[0].Message != "HTTPRoute shop refers to other namespaces without their consent: Service canary/web-v2 not permitted: "+
		"no ReferenceGrant in canary allows HTTPRoute from shop (spec.rules[0].backendRefs[0])" {
		t.Fatalf("no grant: %+v", inc)
	}
	grant := referenceGrant()
	grant.SetNamespace("canary")
	grant.SetName("allow-shop")
	grant.Object["spec"] = map[string]any{"from": []any{map[string]any{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "shop"}},
		"to": []any{map[string]any{"group": "", "kind": "Service"}}}
	if err := e.c.Create(e.ctx, grant); err != nil {
		t.Fatal(err)
	}
	if reqs := r.referringInto(e.ctx, grant); len(reqs) != 1 || reqs[0].Name != "shop" {
		t.Fatalf("a grant re-judges the routes referring into its namespace: %v", reqs)
	}
	e.reconcile(r, t0.Add(2*time.Minute), "shop", "shop")
	if s := e.incident("shop", "httproute-shop").Status.Signals[0]; s.Active {
		t.Fatalf("granted: cleared, got %+v", s)
	}

	// The gateway controller says otherwise: its verdict counts.
	if err := e.c.Get(e.ctx, client.ObjectKeyFromObject(route), route); err != nil {
		t.Fatal(err)
	}
	route.Object["status"] = map[string]any{"parents": []any{map[string]any{"parentRef": map[string]any{"name": "gw"},
		"conditions": []any{map[string]any{"type": "ResolvedRefs", "status": "False", "reason": "BackendNotFound", "message": "Service canary/web-v2 has no port 80"}}}}}
	if err := e.c.Update(e.ctx, route); err != nil {
		t.Fatal(err)
	}
	e.reconcile(r, t0.Add(3*time.Minute), "shop", "shop")
	e.reconcile(r, t0.Add(4*time.Minute), "shop", "shop")
	if s := e.incident("shop", "httproute-shop").Status.Signals[0]; !s.Active || s.Message != "HTTPRoute shop: its gateway controller reports "+
		"ResolvedRefs=False for parent Gateway shop/gw: BackendNotFound: Service canary/web-v2 has no port 80" {
		t.Fatalf("the controller's verdict: got %+v", s)
	}
}

// TestWebhookUnavailable: one Service that two webhook configurations, a CRD's conversion
// webhook and an APIService call has no ready endpoint: one P1 incident, on the Service in its
// namespace, naming every caller in spec.affected and the message (not one per configuration,
// as before); ready endpoints clear it.
func TestWebhookUnavailable(t *testing.T) {
	fail, ignore := admissionregistrationv1.Fail, admissionregistrationv1.Ignore
	ref := &admissionregistrationv1.ServiceReference{Namespace: "policy", Name: "engine"}
	validating := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "policy-engine"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{Name: "validate.policy.example", FailurePolicy: &fail,
			ClientConfig: admissionregistrationv1.WebhookClientConfig{Service: ref},
			Rules: []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, Resources: []string{"pods"}}}}}}}
	mutating := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "policy-engine-mutating"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{Name: "mutate.policy.example", FailurePolicy: &ignore,
			ClientConfig: admissionregistrationv1.WebhookClientConfig{Service: ref}}}}
	crd := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": "policies.policy.example"},
		"spec": map[string]any{"conversion": map[string]any{"strategy": "Webhook", "webhook": map[string]any{"clientConfig": map[string]any{
			"service": map[string]any{"namespace": "policy", "name": "engine"}}}},
			"versions": []any{map[string]any{"name": "v1"}, map[string]any{"name": "v1alpha1"}}}}}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "policy", Name: "engine"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "engine"}, Ports: []corev1.ServicePort{{Port: 443}}}}
	e := newEnv(t, validating, mutating, crd, svc, slice("policy", "engine", false))
	r := &WebhookReconciler{Reader: e.c, Writer: e.w, Clock: e.clock,
		Policy: config.WebhooksPolicy{GracePeriod: metav1.Duration{Duration: time.Minute}}}
	if got := e.reconcile(r, t0, "policy", "engine"); got != time.Minute || e.incident("policy", "service-engine") != nil {
		t.Fatalf("within grace: no incident, requeue at its end; got %s", got)
	}
	e.reconcile(r, t0.Add(time.Minute), "policy", "engine")
	list := &itopsv1alpha1.IncidentList{}
	if err := e.c.List(e.ctx, list); err != nil || len(list.Items) != 1 {
		t.Fatalf("want one incident for the one Service; have %d (%v)", len(list.Items), err)
	}
	inc := e.incident("policy", "service-engine")
	if inc == nil {
		t.Fatalf("want the Service's incident in its namespace, have %s/%s", list.Items[0].Namespace, list.Items[0].Name)
	}
	s := inc.Status.Signals[0]
	if s.Priority != itopsv1alpha1.PriorityP1 || !strings.Contains(s.Message, "Service policy/engine, which the API server calls for 3 webhooks or APIs, has no ready endpoint") ||
		!strings.Contains(s.Message, "ValidatingWebhookConfiguration policy-engine/validate.policy.example (failurePolicy Fail): the API server rejects CREATE of pods") ||
		!strings.Contains(s.Message, "CustomResourceDefinition policies.policy.example: reads and writes") {
		t.Fatalf("signal: %+v", s)
	}
	affected := make([]string, 0, len(inc.Spec.Affected))
	for _, a := range inc.Spec.Affected {
		affected = append(affected, a.Kind+"/"+a.Name)
	}
	if want := "Service/engine CustomResourceDefinition/policies.policy.example MutatingWebhookConfiguration/policy-engine-mutating ValidatingWebhookConfiguration/policy-engine"; strings.Join(affected, " ") != want {
		t.Fatalf("affected: %v, want %s", affected, want)
	}
	sl := &discoveryv1.EndpointSlice{}
	if err := e.c.Get(e.ctx, client.ObjectKey{Namespace: "policy", Name: "engine-abcde"}, sl); err != nil {
		t.Fatal(err)
	}
	sl.Endpoints[0].Conditions.Ready = nil // nil is ready
	if err := e.c.Update(e.ctx, sl); err != nil {
		t.Fatal(err)
	}
	e.reconcile(r, t0.Add(2*time.Minute), "policy", "engine")
	if s := e.incident("policy", inc.Name).Status.Signals[0]; s.Active {
		t.Fatalf("ready: cleared, got %+v", s)
	}
	if keys := webhookServiceKeys(validating); len(keys) != 1 || keys[0] != "policy/engine" {
		t.Fatalf("index keys: %v", keys)
	}
	if ok, err := called(e.ctx, e.c, "policy", "engine"); !ok || err != nil {
		t.Fatalf("called: %v %v", ok, err)
	}
}

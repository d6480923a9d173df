package netcheck

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/detector/custom"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func TestJudged(t *testing.T) {
	cases := []struct {
		name string
		spec corev1.ServiceSpec
		want bool
	}{
		{"selector", corev1.ServiceSpec{Selector: map[string]string{"app": "web"}}, true},
		{"headless with selector", corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: map[string]string{"app": "web"}}, true},
		{"selector-less (endpoints managed elsewhere)", corev1.ServiceSpec{}, false},
		{"ExternalName", corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example", Selector: map[string]string{"app": "web"}}, false},
	}
	for _, tc := range cases {
		if got := Judged(&corev1.Service{Spec: tc.spec}); got != tc.want {
			t.Errorf("%s: got %v", tc.name, got)
		}
	}
}

func TestReadyEndpoints(t *testing.T) {
	slices := []discoveryv1.EndpointSlice{
		{Endpoints: []discoveryv1.Endpoint{{}, {Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(false)}}}},
		{Endpoints: []discoveryv1.Endpoint{{Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}}},
		{},
	}
	if got := ReadyEndpoints(slices); got != 2 {
		t.Fatalf("got %d, want 2 (nil ready is ready)", got)
	}
	if got := ReadyEndpoints(slices[:0]); got != 0 {
		t.Fatalf("no slices: got %d", got)
	}
}

func pod(name string, ready bool, transition time.Time) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour))},
		Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status, LastTransitionTime: metav1.NewTime(transition)}}}}
}

func TestPodFactsOf(t *testing.T) {
	if f := PodFactsOf(pod("a", false, t0)); f.Ready || !f.NotReadySince.Equal(t0) {
		t.Fatalf("not ready: %+v", f)
	}
	if f := PodFactsOf(pod("a", true, t0)); !f.Ready {
		t.Fatalf("ready: %+v", f)
	}
	job := pod("pi-0", false, t0)
	job.OwnerReferences = []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: "pi", Controller: ptr.To(true)}}
	job.Status.Phase = corev1.PodSucceeded
	if f := PodFactsOf(job); !f.Job || !f.Completed {
		t.Fatalf("a Job's completed pod: %+v", f)
	}
	rs := pod("web-1", false, t0)
	rs.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web", Controller: ptr.To(true)},
		{APIVersion: "batch/v1", Kind: "Job", Name: "not-the-controller"}}
	if f := PodFactsOf(rs); f.Job || f.Completed {
		t.Fatalf("a ReplicaSet's running pod: %+v", f)
	}
	bare := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "b", CreationTimestamp: metav1.NewTime(t0)}}
	if f := PodFactsOf(bare); f.Ready || !f.NotReadySince.Equal(t0) {
		t.Fatalf("no condition yet: not ready since creation, got %+v", f)
	}
}

func TestJudgeService(t *testing.T) {
	sel := map[string]string{"app": "web"}
	base := ServiceFacts{Name: "web", Created: t0.Add(-2 * time.Hour), Selector: sel}
	with := func(mod func(*ServiceFacts)) ServiceFacts {
		f := base
		mod(&f)
		return f
	}
	many := make([]PodFacts, 0, 7)
	for _, n := range []string{"g", "f", "e", "d", "c", "b", "a"} {
		many = append(many, PodFacts{Name: "web-" + n, NotReadySince: t0.Add(-time.Minute)})
	}
	cases := []struct {
		name      string
		facts     ServiceFacts
		unhealthy bool
		since     time.Time
		message   string
	}{
		{"ready endpoints: healthy", with(func(f *ServiceFacts) { f.ReadyEndpoints = 1; f.Pods = []PodFacts{{Name: "web-a"}} }), false, time.Time{}, ""},
		{"no pods selected: a selector that matches nothing", base, true, time.Time{}, "Service web has no endpoints: its selector app=web selects no pods"},
		{"no pods, its Deployment scaled to zero: normal", with(func(f *ServiceFacts) { f.Idle = []string{"Deployment/web"} }), false, time.Time{}, ""},
		{"pods none ready: since the last one stopped being ready", with(func(f *ServiceFacts) {
			f.Pods = []PodFacts{{Name: "web-b", NotReadySince: t0.Add(-10 * time.Minute)}, {Name: "web-a", NotReadySince: t0.Add(-3 * time.Minute)}}
		}), true, t0.Add(-3 * time.Minute), "none of the 2 pods its selector app=web selects is ready (web-a, web-b)"},
		{"a Service younger than its not-ready pods: since its creation", with(func(f *ServiceFacts) {
			f.Created = t0.Add(-time.Minute)
			f.Pods = []PodFacts{{Name: "web-a", NotReadySince: t0.Add(-time.Hour)}}
		}), true, t0.Add(-time.Minute), "(web-a)"},
		{"ready pods the slices do not list: targetPort", with(func(f *ServiceFacts) {
			f.Pods = []PodFacts{{Name: "web-a", Ready: true}}
		}), true, base.Created, "although 1 selected pods are ready (web-a): check that its targetPort"},
		{"many pods: five named", with(func(f *ServiceFacts) { f.Pods = many }), true, t0.Add(-time.Minute),
			"(web-a, web-b, web-c, web-d, web-e and 2 more)"},
		{"the pods of an indexed Job (headless Service): not a problem", with(func(f *ServiceFacts) {
			f.Pods = []PodFacts{{Name: "pi-0", Job: true, Completed: true}, {Name: "pi-1", Job: true}}
		}), false, time.Time{}, ""},
		{"terminated pods only: not a problem", with(func(f *ServiceFacts) {
			f.Pods = []PodFacts{{Name: "web-a", Completed: true}}
		}), false, time.Time{}, ""},
		{"a Job's pod and a not-ready pod of something else: judged", with(func(f *ServiceFacts) {
			f.Pods = []PodFacts{{Name: "pi-0", Job: true, Completed: true}, {Name: "web-a", NotReadySince: t0.Add(-time.Minute)}}
		}), true, t0.Add(-time.Minute), "none of the 2 pods its selector app=web selects is ready (pi-0, web-a)"},
		{"no pods, a finished Job's template matches: normal", with(func(f *ServiceFacts) { f.Idle = []string{"Job/pi"} }), false, time.Time{}, ""},
		{"no pods, a finished Job and a Deployment that wants pods: judged", with(func(f *ServiceFacts) {
			f.Idle, f.Serving = []string{"Job/migrate"}, []string{"Deployment/web"}
		}), true, time.Time{}, "selects no pods"},
		{"only a finished Job's pods, and a Deployment that wants pods: judged", with(func(f *ServiceFacts) {
			f.Pods, f.Serving = []PodFacts{{Name: "migrate-x", Job: true, Completed: true}}, []string{"Deployment/web"}
		}), true, base.Created, "none of the 1 pods"},
	}
	for _, tc := range cases {
		v := JudgeService(tc.facts)
		if v.Unhealthy != tc.unhealthy || !v.Since.Equal(tc.since) || !strings.Contains(v.Message, tc.message) {
			t.Errorf("%s: got %+v", tc.name, v)
		}
	}
}

// TestServiceGrace runs one Service through its grace period as the controller does
// (JudgeService, then custom.Judge): healthy, within grace, firing, clearing.
func TestServiceGrace(t *testing.T) {
	grace := 6 * time.Minute
	down := ServiceFacts{Name: "web", Created: t0.Add(-time.Hour), Selector: map[string]string{"app": "web"},
		Pods: []PodFacts{{Name: "web-a", NotReadySince: t0}}}
	up := down
	up.ReadyEndpoints, up.Pods = 1, []PodFacts{{Name: "web-a", Ready: true}}
	jobDone := down
	jobDone.Pods = []PodFacts{{Name: "web-a", Job: true, Completed: true, NotReadySince: t0}}
	cases := []struct {
		name            string
		facts           ServiceFacts
		at              time.Time
		firing, pending bool
		requeue         time.Duration
	}{
		{"healthy", up, t0, false, false, 0},
		{"within grace: judged again when it ends", down, t0.Add(time.Minute), false, true, 5 * time.Minute},
		{"grace over: firing", down, t0.Add(grace), true, false, 0},
		{"a restart: the pods still say since when", down, t0.Add(grace + time.Minute), true, false, 0},
		{"ready again: cleared", up, t0.Add(grace + 2*time.Minute), false, false, 0},
		{"a Job's pods only: healthy, no grace", jobDone, t0.Add(time.Minute), false, false, 0},
		{"firing, then its pods turn out to be a completed Job's: cleared", jobDone, t0.Add(grace + time.Minute), false, false, 0},
	}
	for _, tc := range cases {
		v := JudgeService(tc.facts)
		j := custom.Judge(custom.Verdict{Unhealthy: v.Unhealthy, Since: v.Since}, tc.at, grace, tc.at)
		if j.Firing != tc.firing || j.Pending != tc.pending || j.RequeueAfter != tc.requeue {
			t.Errorf("%s: got %+v", tc.name, j)
		}
	}
}

func TestCoveredAndSeverity(t *testing.T) {
	sl := labels.SelectorFromSet(labels.Set{"tier": "shop"})
	if !Covered([]labels.Selector{sl}, []labels.Set{{"app": "web"}, {"tier": "shop"}}) {
		t.Error("a ServiceLevel selecting one of the workloads covers the Service")
	}
	if Covered([]labels.Selector{sl, labels.Everything(), nil}, []labels.Set{{"app": "web"}}) {
		t.Error("an empty selector covers nothing, nor does one that does not match")
	}
	if Covered([]labels.Selector{sl}, nil) {
		t.Error("no workload (no pods): not covered")
	}
	if i, u := ServiceSeverity(false); i != itopsv1alpha1.LevelMedium || u != itopsv1alpha1.LevelMedium {
		t.Errorf("uncovered: %s/%s", i, u)
	}
	if i, u := ServiceSeverity(true); i != itopsv1alpha1.LevelHigh || u != itopsv1alpha1.LevelMedium {
		t.Errorf("covered: %s/%s", i, u)
	}
}

func TestServiceCause(t *testing.T) {
	ref := func(n string) *itopsv1alpha1.IncidentReference {
		return &itopsv1alpha1.IncidentReference{Kind: "Incident", Namespace: "shop", Name: n}
	}
	if c := ServiceCause(nil); c != nil {
		t.Fatalf("no workload: %v", c)
	}
	if c := ServiceCause([]CauseCandidate{{Subject: "Deployment/shop/web"}}); c != nil {
		t.Fatalf("workload without incident: the Service stands on its own, got %v", c)
	}
	c := ServiceCause([]CauseCandidate{{Subject: "StatefulSet/shop/web", Incident: ref("statefulset-web")},
		{Subject: "Deployment/shop/web-canary"}, {Subject: "Deployment/shop/web", Incident: ref("deployment-web")}})
	if c == nil || c.Name != "deployment-web" {
		t.Fatalf("the first workload by subject with an incident: got %v", c)
	}
}

func TestIngressRefs(t *testing.T) {
	ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"}}
	if err := yaml.Unmarshal([]byte(`
spec:
  defaultBackend: {service: {name: fallback, port: {number: 80}}}
  tls:
  - hosts: [shop.example]
    secretName: shop-tls
  - hosts: [default-cert.example]
  rules:
  - host: shop.example
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /static, pathType: Prefix, backend: {resource: {apiGroup: k8s.example.com, kind: StorageBucket, name: static}}}
  - host: no-http.example
  - http:
      paths:
      - {pathType: ImplementationSpecific, backend: {service: {name: api, port: {name: grpc}}}}
`), ing); err != nil {
		t.Fatal(err)
	}
	want := []Ref{
		{Kind: KindService, Namespace: "shop", Name: "fallback", Field: "spec.defaultBackend.service.name",
			Port: Port{Number: 80}, PortField: "spec.defaultBackend.service.port.number", Where: "the default backend"},
		{Kind: KindService, Namespace: "shop", Name: "web", Field: "spec.rules[0].http.paths[0].backend.service.name",
			Port: Port{Number: 80}, PortField: "spec.rules[0].http.paths[0].backend.service.port.number", Where: "host shop.example path /"},
		{Kind: KindService, Namespace: "shop", Name: "api", Field: "spec.rules[2].http.paths[0].backend.service.name",
			Port: Port{Name: "grpc"}, PortField: "spec.rules[2].http.paths[0].backend.service.port.name", Where: "host * path /"},
		{Kind: KindSecret, Namespace: "shop", Name: "shop-tls", Field: "spec.tls[0].secretName"},
	}
	if got := IngressRefs(ing); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v", got)
	}
}

func object(t *testing.T, y string) map[string]any {
	t.Helper()
	m := map[string]any{}
	if err := yaml.Unmarshal([]byte(y), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestGatewayAPIRefs(t *testing.T) {
	route := object(t, `
spec:
  parentRefs: [{name: shop-gw}]
  rules:
  - backendRefs:
    - {name: web, port: 80}
    - {name: web-v2, namespace: canary, port: 80, weight: 10}
  - backendRefs:
    - {group: "", kind: Service, name: api, port: 8080}
    - {group: multicluster.x-k8s.io, kind: ServiceImport, name: remote}
  - filters: [{type: RequestRedirect}]
`)
	want := []Ref{
		{Kind: KindService, Namespace: "shop", Name: "web", Field: "spec.rules[0].backendRefs[0]", Port: Port{Number: 80}, PortField: "spec.rules[0].backendRefs[0].port"},
		{Kind: KindService, Namespace: "canary", Name: "web-v2", Field: "spec.rules[0].backendRefs[1]", Port: Port{Number: 80}, PortField: "spec.rules[0].backendRefs[1].port"},
		{Kind: KindService, Namespace: "shop", Name: "api", Field: "spec.rules[1].backendRefs[0]", Port: Port{Number: 8080}, PortField: "spec.rules[1].backendRefs[0].port"},
	}
	if got := RouteRefs(route, "shop"); !reflect.DeepEqual(got, want) {
		t.Fatalf("route: got %+v", got)
	}
	gw := object(t, `
spec:
  gatewayClassName: example
  listeners:
  - {name: http, port: 80, protocol: HTTP}
  - name: https
    port: 443
    protocol: HTTPS
    tls:
      mode: Terminate
      certificateRefs:
      - {name: shop-tls}
      - {kind: Secret, name: shared-tls, namespace: certs}
      - {group: example.com, kind: Vault, name: v}
`)
	want = []Ref{
		{Kind: KindSecret, Namespace: "shop", Name: "shop-tls", Field: "spec.listeners[1].tls.certificateRefs[0]"},
		{Kind: KindSecret, Namespace: "certs", Name: "shared-tls", Field: "spec.listeners[1].tls.certificateRefs[1]"},
	}
	if got := GatewayRefs(gw, "shop"); !reflect.DeepEqual(got, want) {
		t.Fatalf("gateway: got %+v", got)
	}
}

func TestJudgeRoute(t *testing.T) {
	refs := []Ref{
		{Kind: KindService, Namespace: "shop", Name: "web", Field: "spec.rules[0].http.paths[0].backend.service.name"},
		{Kind: KindService, Namespace: "shop", Name: "gone", Field: "spec.rules[0].http.paths[1].backend.service.name"},
		{Kind: KindService, Namespace: "shop", Name: "gone", Field: "spec.defaultBackend.service.name"},
		{Kind: KindSecret, Namespace: "shop", Name: "shop-tls", Field: "spec.tls[0].secretName"},
	}
	existing := map[string]bool{"Service/shop/web": true, "Secret/shop/shop-tls": true}
	all := func(r Ref) Target { return Target{Known: true, Exists: existing[r.Kind+"/"+r.Key()]} }
	noSecrets := func(r Ref) Target {
		if r.Kind == KindSecret {
			return Target{}
		}
		return all(r)
	}
	v := JudgeRoute(RouteFacts{Kind: "Ingress", Name: "web", Refs: refs, Lookup: all})
	if len(v.Missing) != 2 || v.Message != "Ingress web refers to objects that do not exist: Service shop/gone does not exist "+
		"(spec.rules[0].http.paths[1].backend.service.name, spec.defaultBackend.service.name)" {
		t.Fatalf("got %+v", v)
	}
	v = JudgeRoute(RouteFacts{Kind: "Ingress", Name: "web", Refs: refs[3:], Lookup: noSecrets})
	if len(v.Missing) != 0 || len(v.Unknown) != 1 || v.Message != "" {
		t.Fatalf("Secrets not readable: unknown, not missing; got %+v", v)
	}
	delete(existing, "Secret/shop/shop-tls")
	existing["Service/shop/gone"] = true
	v = JudgeRoute(RouteFacts{Kind: "Ingress", Name: "web", Refs: refs, Lookup: all})
	if len(v.Missing) != 1 || !strings.Contains(v.Message, "Secret shop/shop-tls does not exist (spec.tls[0].secretName)") {
		t.Fatalf("missing TLS Secret: got %+v", v)
	}
	if v := JudgeRoute(RouteFacts{Kind: "Ingress", Name: "web", Lookup: all}); len(v.Missing) != 0 || v.Message != "" {
		t.Fatalf("no references: %+v", v)
	}
}

// TestJudgeRoutePorts: a backend port the Service does not expose is a missing backend
// (ingress-nginx answers 503), named with the rule's host and path and the port's field.
func TestJudgeRoutePorts(t *testing.T) {
	ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"}}
	if err := yaml.Unmarshal([]byte(`
spec:
  defaultBackend: {service: {name: web, port: {name: http}}}
  rules:
  - host: shop.example
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /api, pathType: Prefix, backend: {service: {name: web, port: {number: 8080}}}}
      - {path: /grpc, pathType: Prefix, backend: {service: {name: web, port: {name: grpc}}}}
      - {path: /legacy, pathType: Prefix, backend: {service: {name: legacy, port: {number: 8080}}}}
`), ing); err != nil {
		t.Fatal(err)
	}
	services := map[string]Target{
		"web":    {Known: true, Exists: true, Ports: []ServicePort{{Name: "http", Port: 80}}},
		"full":   {Known: true, Exists: true, Ports: []ServicePort{{Name: "http", Port: 80}, {Port: 8080}, {Name: "grpc", Port: 9090}}},
		"legacy": {Known: true, Exists: true, ExternalName: true},
		// port 80 forwarding to the container's 8080 ("grpc" the container port's name):
		// ingress-nginx resolves a backend port by targetPort too.
		"target": {Known: true, Exists: true, Ports: []ServicePort{{Name: "http", Port: 80, TargetPort: "8080"}, {Port: 9090, TargetPort: "grpc"}}},
	}
	cases := []struct {
		name    string
		web     string
		missing int
		message string
	}{
		{"every port exposed: healthy", "full", 0, ""},
		{"ports matched by targetPort (number and name): healthy for an Ingress", "target", 0, ""},
		{"a number and a name the Service does not expose", "web", 2, "Ingress web sends to ports its Services do not expose: " +
			"Service shop/web has no port 8080 (host shop.example path /api: spec.rules[0].http.paths[1].backend.service.port.number); " +
			"Service shop/web has no port named \"grpc\" (host shop.example path /grpc: spec.rules[0].http.paths[2].backend.service.port.name)"},
	}
	for _, tc := range cases {
		lookup := func(r Ref) Target {
			if r.Name == "web" {
				return services[tc.web]
			}
			return services[r.Name]
		}
		v := JudgeRoute(RouteFacts{Kind: "Ingress", Name: "web", Refs: IngressRefs(ing), Lookup: lookup})
		if len(v.Missing) != tc.missing || v.Message != tc.message {
			t.Errorf("%s: got %+v", tc.name, v)
		}
	}

	// Both kinds of problem: one sentence each.
	route := object(t, `
spec:
  rules:
  - backendRefs: [{name: web, port: 8443}, {name: gone, port: 80}, {name: web, port: 80}]
`)
	v := JudgeRoute(RouteFacts{Kind: "HTTPRoute", Name: "shop", Refs: RouteRefs(route, "shop"), Lookup: func(r Ref) Target {
		if r.Name == "gone" {
			return Target{Known: true}
		}
		return services["web"]
	}})
	if want := "HTTPRoute shop refers to objects that do not exist: Service shop/gone does not exist (spec.rules[0].backendRefs[1]). " +
		"HTTPRoute shop sends to ports its Services do not expose: Service shop/web has no port 8443 (spec.rules[0].backendRefs[0].port)"; v.Message != want || len(v.Missing) != 2 {
		t.Errorf("route: got %q", v.Message)
	}
	// A Gateway API backendRef's port is the Service's port (the Gateway API spec): no targetPort fallback.
	v = JudgeRoute(RouteFacts{Kind: "HTTPRoute", Name: "shop", Refs: RouteRefs(object(t, `
spec:
  rules:
  - backendRefs: [{name: web, port: 8080}]
`), "shop"), Lookup: func(Ref) Target { return services["target"] }})
	if len(v.Missing) != 1 {
		t.Errorf("HTTPRoute to a targetPort: got %+v", v)
	}
}

// TestJudgeRouteGatewayAPI: a cross-namespace backendRef needs a ReferenceGrant in the
// target namespace when the CRD is served (not judged when it is not), and the route's own
// ResolvedRefs=False verdict counts too.
func TestJudgeRouteGatewayAPI(t *testing.T) {
	route := object(t, `
metadata: {name: shop, namespace: shop, generation: 3}
spec:
  rules:
  - backendRefs: [{name: web, port: 80}, {name: web-v2, namespace: canary, port: 80}]
status:
  parents:
  - parentRef: {name: shop-gw, sectionName: https}
    conditions:
    - {type: Accepted, status: "True", reason: Accepted}
    - {type: ResolvedRefs, status: "False", reason: RefNotPermitted, message: "backendRef web-v2/canary not permitted by any ReferenceGrant", observedGeneration: 3}
  - parentRef: {name: old-gw, namespace: infra}
    conditions:
    - {type: ResolvedRefs, status: "False", reason: BackendNotFound, message: stale, observedGeneration: 2}
  - parentRef: {name: other-gw}
    conditions:
    - {type: ResolvedRefs, status: "False", reason: UnsupportedProtocol, message: h2c}
`)
	unresolved := UnresolvedParents(route, "shop")
	if want := []ParentCondition{{Parent: "Gateway shop/shop-gw/https", Reason: "RefNotPermitted",
		Message: "backendRef web-v2/canary not permitted by any ReferenceGrant"}}; !reflect.DeepEqual(unresolved, want) {
		t.Fatalf("unresolved parents (a stale generation and other reasons skipped): %+v", unresolved)
	}
	grant := GrantOf(object(t, `
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: shop}]
  to: [{group: "", kind: Service}]
`), "canary")
	otherKind := GrantOf(object(t, `
spec:
  from: [{group: gateway.networking.k8s.io, kind: GRPCRoute, namespace: shop}]
  to: [{group: "", kind: Service, name: web-v2}]
`), "canary")
	exists := func(Ref) Target { return Target{Known: true, Exists: true, Ports: []ServicePort{{Port: 80}}} }
	denied := "HTTPRoute shop refers to other namespaces without their consent: Service canary/web-v2 not permitted: " +
		"no ReferenceGrant in canary allows HTTPRoute from shop (spec.rules[0].backendRefs[1])"
	reported := "HTTPRoute shop: its gateway controller reports ResolvedRefs=False for parent Gateway shop/shop-gw/https: " +
		"RefNotPermitted: backendRef web-v2/canary not permitted by any ReferenceGrant"
	cases := []struct {
		name       string
		served     bool
		grants     []Grant
		unresolved []ParentCondition
		unhealthy  bool
		message    string
	}{
		{"a grant allows it: healthy", true, []Grant{grant}, nil, false, ""},
		{"CRD not served: existence only", false, nil, nil, false, ""},
		{"no grant: not permitted", true, []Grant{otherKind}, nil, true, denied},
		{"the controller's own verdict, quoted", false, nil, unresolved, true, reported},
		{"both", true, nil, unresolved, true, denied + ". " + reported},
	}
	for _, tc := range cases {
		v := JudgeRoute(RouteFacts{Kind: "HTTPRoute", Namespace: "shop", Name: "shop", Refs: RouteRefs(route, "shop"), Lookup: exists,
			GrantsServed: tc.served, Grants: tc.grants, Unresolved: tc.unresolved})
		if v.Unhealthy() != tc.unhealthy || v.Message != tc.message {
			t.Errorf("%s: got %+v", tc.name, v)
		}
	}
	named := Ref{Kind: KindSecret, Namespace: "certs", Name: "shared-tls"}
	secretGrant := Grant{Namespace: "certs", From: []GrantFrom{{Group: GatewayGroup, Kind: "Gateway", Namespace: "shop"}},
		To: []GrantTo{{Kind: KindSecret, Name: "shared-tls"}}}
	if !Permitted([]Grant{secretGrant}, "Gateway", "shop", named) {
		t.Error("a grant naming the Secret allows it")
	}
	if Permitted([]Grant{secretGrant}, "Gateway", "shop", Ref{Kind: KindSecret, Namespace: "certs", Name: "other"}) ||
		Permitted([]Grant{secretGrant}, "Gateway", "infra", named) {
		t.Error("another name, another namespace: not allowed")
	}
}

// TestRouteGrantGrace: a cross-namespace reference without a grant waits its grace (the
// grant and the route applied together arrive in any order), fires, and clears once granted.
func TestRouteGrantGrace(t *testing.T) {
	grace := time.Minute
	refs := []Ref{{Kind: KindService, Namespace: "canary", Name: "web-v2", Field: "spec.rules[0].backendRefs[0]"}}
	grant := Grant{Namespace: "canary", From: []GrantFrom{{Group: GatewayGroup, Kind: "HTTPRoute", Namespace: "shop"}}, To: []GrantTo{{Kind: KindService}}}
	cases := []struct {
		name            string
		grants          []Grant
		at              time.Time
		firing, pending bool
	}{
		{"granted: healthy", []Grant{grant}, t0, false, false},
		{"no grant, within grace", nil, t0.Add(10 * time.Second), false, true},
		{"no grant, grace over: firing", nil, t0.Add(grace), true, false},
		{"granted again: cleared", []Grant{grant}, t0.Add(2 * grace), false, false},
	}
	for _, tc := range cases {
		v := JudgeRoute(RouteFacts{Kind: "HTTPRoute", Namespace: "shop", Name: "shop", Refs: refs, GrantsServed: true, Grants: tc.grants,
			Lookup: func(Ref) Target { return Target{Known: true, Exists: true} }})
		j := custom.Judge(custom.Verdict{Unhealthy: v.Unhealthy()}, t0, grace, tc.at)
		if j.Firing != tc.firing || j.Pending != tc.pending {
			t.Errorf("%s: got %+v (%s)", tc.name, j, v.Message)
		}
	}
}

// TestRouteGrace runs one Ingress through its grace period as the controller does
// (JudgeRoute, then custom.Judge from first seen): healthy, within grace, firing, clearing.
func TestRouteGrace(t *testing.T) {
	grace := time.Minute
	refs := []Ref{{Kind: KindService, Namespace: "shop", Name: "web", Field: "spec.defaultBackend.service.name",
		Port: Port{Number: 8080}, PortField: "spec.defaultBackend.service.port.number", Where: "the default backend"}}
	ok := Target{Known: true, Exists: true, Ports: []ServicePort{{Port: 8080}}}
	wrongPort := Target{Known: true, Exists: true, Ports: []ServicePort{{Port: 80}}}
	cases := []struct {
		name            string
		target          Target
		at              time.Time
		firing, pending bool
		requeue         time.Duration
	}{
		{"healthy", ok, t0, false, false, 0},
		{"within grace: judged again when it ends", wrongPort, t0.Add(30 * time.Second), false, true, 30 * time.Second},
		{"grace over: firing", wrongPort, t0.Add(grace), true, false, 0},
		{"port exposed again: cleared", ok, t0.Add(2 * grace), false, false, 0},
	}
	for _, tc := range cases {
		v := JudgeRoute(RouteFacts{Kind: "Ingress", Name: "web", Refs: refs, Lookup: func(Ref) Target { return tc.target }})
		j := custom.Judge(custom.Verdict{Unhealthy: len(v.Missing) > 0}, t0, grace, tc.at)
		if j.Firing != tc.firing || j.Pending != tc.pending || j.RequeueAfter != tc.requeue {
			t.Errorf("%s: got %+v (%s)", tc.name, j, v.Message)
		}
	}
}

func TestJudgeWebhookService(t *testing.T) {
	fail, ignore := admissionregistrationv1.Fail, admissionregistrationv1.Ignore
	rules := []admissionregistrationv1.RuleWithOperations{{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
		Rule:       admissionregistrationv1.Rule{APIGroups: []string{"", "apps"}, Resources: []string{"pods", "deployments"}},
	}}
	cfg := func(policy *admissionregistrationv1.FailurePolicyType, svc string) *admissionregistrationv1.ValidatingWebhookConfiguration {
		return &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "policy"},
			Webhooks: []admissionregistrationv1.ValidatingWebhook{{Name: "check.policy.example", FailurePolicy: policy, Rules: rules,
				ClientConfig: admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{Namespace: "policy", Name: svc}}},
				{Name: "url.policy.example", ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: ptr.To("https://policy.example")}}}}
	}
	callers := func(c *admissionregistrationv1.ValidatingWebhookConfiguration) []Caller {
		xs := WebhookCallers(KindValidatingWebhookConfiguration, c.Name, ValidatingWebhooks(c))
		out := make([]Caller, 0, len(xs))
		for _, x := range xs {
			out = append(out, x.Caller)
		}
		return out
	}
	services := map[string]ServiceState{
		"ready":    {Exists: true, ReadyEndpoints: 2, Ports: []int32{443}},
		"down":     {Exists: true, Ports: []int32{443}},
		"external": {Exists: true, ExternalName: true},
		"http":     {Exists: true, ReadyEndpoints: 2, Ports: []int32{80}},
	}
	cases := []struct {
		name     string
		svc      string
		cfg      *admissionregistrationv1.ValidatingWebhookConfiguration
		priority itopsv1alpha1.Priority
		message  string
	}{
		{"ready endpoints: available", "ready", cfg(&fail, "ready"), "", ""},
		{"ExternalName: the API server resolves it", "external", cfg(&fail, "external"), "", ""},
		{"Fail without endpoints: the cluster stops accepting changes (P1)", "down", cfg(&fail, "down"), itopsv1alpha1.PriorityP1,
			"Service policy/down, which the API server calls for 1 webhook or API, has no ready endpoint: " +
				"ValidatingWebhookConfiguration policy/check.policy.example (failurePolicy Fail): " +
				"the API server rejects CREATE, UPDATE of deployments, deployments.apps, pods, pods.apps"},
		{"the default failurePolicy is Fail", "missing", cfg(nil, "missing"), itopsv1alpha1.PriorityP1, "does not exist: ValidatingWebhookConfiguration policy/check.policy.example (failurePolicy Fail)"},
		{"a Service without the webhook's port (443 by default)", "http", cfg(&fail, "http"), itopsv1alpha1.PriorityP1, "Service policy/http, which the API server calls for 1 webhook or API, has no port 443"},
		{"Ignore: requests pass without it (P4)", "down", cfg(&ignore, "down"), itopsv1alpha1.PriorityP4, "pass without it, each after the webhook's timeout"},
	}
	for _, tc := range cases {
		v := JudgeWebhookService("policy", tc.svc, callers(tc.cfg), services[tc.svc])
		if v.Priority != tc.priority || !strings.Contains(v.Message, tc.message) || (tc.priority == "") != (len(v.Unavailable) == 0) {
			t.Errorf("%s: got %+v", tc.name, v)
		}
	}

	// One Service, several configurations (Kyverno, Gatekeeper, cert-manager, Istio): one
	// verdict naming all of them, at the worst failurePolicy.
	mutating := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "kyverno-resource-mutating"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{Name: "mutate.kyverno.svc", FailurePolicy: &ignore,
			ClientConfig: admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{Namespace: "kyverno", Name: "kyverno-svc"}}}}}
	validating := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "kyverno-resource-validating"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{
			{Name: "validate.kyverno.svc-fail", FailurePolicy: &fail, Rules: rules,
				ClientConfig: admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{Namespace: "kyverno", Name: "kyverno-svc"}}},
			{Name: "validate.kyverno.svc-ignore", FailurePolicy: &ignore,
				ClientConfig: admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{Namespace: "kyverno", Name: "kyverno-svc"}}}}}
	both := append(WebhookCallers(KindMutatingWebhookConfiguration, mutating.Name, MutatingWebhooks(mutating)),
		WebhookCallers(KindValidatingWebhookConfiguration, validating.Name, ValidatingWebhooks(validating))...)
	all := make([]Caller, 0, len(both))
	for _, c := range both {
		all = append(all, c.Caller)
	}
	v := JudgeWebhookService("kyverno", "kyverno-svc", all, ServiceState{Exists: true, Ports: []int32{443}})
	if len(v.Unavailable) != 3 || v.Priority != itopsv1alpha1.PriorityP1 ||
		!strings.HasPrefix(v.Message, "Service kyverno/kyverno-svc, which the API server calls for 3 webhooks or APIs, has no ready endpoint: "+
			"MutatingWebhookConfiguration kyverno-resource-mutating/mutate.kyverno.svc (failurePolicy Ignore)") ||
		!strings.Contains(v.Message, "; ValidatingWebhookConfiguration kyverno-resource-validating/validate.kyverno.svc-fail (failurePolicy Fail): the API server rejects") {
		t.Errorf("one Service, several configurations: %+v", v)
	}

	// CRD conversion webhooks and aggregated APIs fail closed.
	crd := map[string]any{"spec": map[string]any{"conversion": map[string]any{"strategy": "Webhook",
		"webhook": map[string]any{"clientConfig": map[string]any{"service": map[string]any{"namespace": "widgets", "name": "conv", "port": int64(9443)}}}},
		"versions": []any{map[string]any{"name": "v1"}, map[string]any{"name": "v1beta1"}}}}
	conv, ok := CRDCaller(crd, "widgets.example.com")
	if !ok || conv.Namespace != "widgets" || conv.Service != "conv" || conv.Caller.Port != 9443 {
		t.Fatalf("CRD caller: %+v %v", conv, ok)
	}
	// One version: nothing to convert, the API server never calls the webhook.
	one := map[string]any{"spec": map[string]any{"conversion": crd["spec"].(map[string]any)["conversion"], "versions": []any{map[string]any{"name": "v1"}}}}
	if _, ok := CRDCaller(one, "widgets.example.com"); ok {
		t.Error("a single-version CRD calls no conversion webhook")
	}
	// ... unless objects are still stored at a version no longer listed.
	one["status"] = map[string]any{"storedVersions": []any{"v1alpha1", "v1"}}
	if _, ok := CRDCaller(one, "widgets.example.com"); !ok {
		t.Error("objects stored at v1alpha1 are converted when read")
	}
	if _, ok := CRDCaller(map[string]any{"spec": map[string]any{"conversion": map[string]any{"strategy": "None"}}}, "x"); ok {
		t.Error("a CRD without a conversion webhook calls nothing")
	}
	v = JudgeWebhookService("widgets", "conv", []Caller{conv.Caller}, ServiceState{Exists: true, Ports: []int32{9443}})
	if v.Priority != itopsv1alpha1.PriorityP1 || !strings.Contains(v.Message, "CustomResourceDefinition widgets.example.com: reads and writes of widgets.example.com that need a conversion fail") {
		t.Errorf("conversion webhook: %+v", v)
	}
	apiService := func(status string) map[string]any {
		return map[string]any{"spec": map[string]any{"service": map[string]any{"namespace": "kube-system", "name": "metrics-server"}},
			"status": map[string]any{"conditions": []any{map[string]any{"type": "Available", "status": status,
				"reason": "MissingEndpoints", "message": "endpoints for service/metrics-server in \"kube-system\" have no addresses with port name \"https\""}}}}
	}
	down, ok := APIServiceCaller(apiService("False"), "v1beta1.metrics.k8s.io")
	if !ok || down.Caller.Port != 443 || !down.Caller.Reports {
		t.Fatalf("APIService caller: %+v %v", down, ok)
	}
	v = JudgeWebhookService("kube-system", "metrics-server", []Caller{down.Caller}, ServiceState{Exists: true, Ports: []int32{443}, ReadyEndpoints: 1})
	if v.Priority != itopsv1alpha1.PriorityP1 || !strings.Contains(v.Message,
		"APIService v1beta1.metrics.k8s.io reports Available=False (MissingEndpoints: endpoints for service/metrics-server in \"kube-system\" have no addresses") {
		t.Errorf("APIService Available=False: %+v", v)
	}
	up, _ := APIServiceCaller(apiService("True"), "v1beta1.metrics.k8s.io")
	if v := JudgeWebhookService("kube-system", "metrics-server", []Caller{up.Caller}, ServiceState{}); len(v.Unavailable) != 0 {
		t.Errorf("APIService Available=True decides: %+v", v)
	}
	if _, ok := APIServiceCaller(map[string]any{"spec": map[string]any{"group": "apps"}}, "v1.apps"); ok {
		t.Error("a local APIService calls nothing")
	}
}

func TestCapAffected(t *testing.T) {
	var refs []itopsv1alpha1.ObjectReference
	for i := 0; i < 40; i++ {
		refs = CapAffected(refs, itopsv1alpha1.ObjectReference{Kind: "ValidatingWebhookConfiguration", Name: fmt.Sprint("c", i)},
			itopsv1alpha1.ObjectReference{Kind: "ValidatingWebhookConfiguration", Name: fmt.Sprint("c", i)})
	}
	if len(refs) != MaxAffected-1 || refs[1].Name != "c1" {
		t.Fatalf("capped at %d (the subject comes first): got %d", MaxAffected-1, len(refs))
	}
}

func TestIntercepts(t *testing.T) {
	r := func(ops []admissionregistrationv1.OperationType, groups, resources []string) admissionregistrationv1.RuleWithOperations {
		return admissionregistrationv1.RuleWithOperations{Operations: ops, Rule: admissionregistrationv1.Rule{APIGroups: groups, Resources: resources}}
	}
	all := []admissionregistrationv1.OperationType{admissionregistrationv1.OperationAll}
	cases := []struct {
		rules []admissionregistrationv1.RuleWithOperations
		want  string
	}{
		{[]admissionregistrationv1.RuleWithOperations{r(all, []string{"*"}, []string{"*"})}, "every operation of every resource"},
		{[]admissionregistrationv1.RuleWithOperations{r([]admissionregistrationv1.OperationType{admissionregistrationv1.Delete}, []string{""}, []string{"namespaces"})}, "DELETE of namespaces"},
		{nil, "every operation requests"},
	}
	for _, tc := range cases {
		if got := Intercepts(tc.rules); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

func TestTrim(t *testing.T) {
	meta := metav1.ObjectMeta{Name: "web", Namespace: "shop", ResourceVersion: "7",
		Annotations:   map[string]string{"kubectl.kubernetes.io/last-applied-configuration": strings.Repeat("x", 4096)},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}, Labels: map[string]string{"app": "web", ServiceNameLabel: "web"}}
	svc, _ := Trim(&corev1.Service{ObjectMeta: meta, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
		Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}}, ClusterIP: "10.0.0.1"}})
	if s := svc.(*corev1.Service); s.Annotations != nil || s.ManagedFields != nil || s.Labels != nil || len(s.Spec.Ports) != 1 || s.Spec.Ports[0] != (corev1.ServicePort{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}) || s.Spec.Selector["app"] != "web" {
		t.Errorf("service: %+v", s)
	}
	slice, _ := Trim(&discoveryv1.EndpointSlice{ObjectMeta: meta, Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.1.0.1"},
		NodeName: ptr.To("n1"), Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}}})
	if s := slice.(*discoveryv1.EndpointSlice); len(s.Labels) != 1 || s.Endpoints[0].Addresses != nil || s.Endpoints[0].NodeName != nil || !*s.Endpoints[0].Conditions.Ready {
		t.Errorf("slice: %+v", s)
	}
	vwc, _ := Trim(&admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: meta, Webhooks: []admissionregistrationv1.ValidatingWebhook{{
		Name: "a", ClientConfig: admissionregistrationv1.WebhookClientConfig{CABundle: []byte("pem")}}}})
	if c := vwc.(*admissionregistrationv1.ValidatingWebhookConfiguration); c.Webhooks[0].ClientConfig.CABundle != nil || c.Webhooks[0].Name != "a" {
		t.Errorf("webhook configuration: %+v", c)
	}
	secret, _ := Trim(&metav1.PartialObjectMetadata{ObjectMeta: meta})
	if s := secret.(*metav1.PartialObjectMetadata); s.Annotations != nil || s.Labels != nil || s.Name != "web" {
		t.Errorf("secret metadata: %+v", s)
	}
	u := &unstructured.Unstructured{Object: object(t, `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: shop, annotations: {a: b}}
spec:
  hostnames: [shop.example]
  rules:
  - matches: [{path: {value: /}}]
    backendRefs: [{name: web, port: 80}]
  - filters: [{type: RequestRedirect}]
  - backendRefs: [{name: api}]
status: {parents: []}
`)}
	out, _ := Trim(u)
	again, _ := Trim(out)
	got := again.(*unstructured.Unstructured)
	if got.GetAnnotations() != nil || !reflect.DeepEqual(got.Object["status"], map[string]any{"parents": []any{}}) || got.GetName() != "web" {
		t.Errorf("route: %+v", got.Object)
	}
	if refs := RouteRefs(got.Object, "shop"); len(refs) != 2 || refs[1].Field != "spec.rules[2].backendRefs[0]" {
		t.Errorf("the trimmed route keeps its references at their indexes: %+v", refs)
	}
	withStatus := &unstructured.Unstructured{Object: object(t, `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: shop, generation: 2}
status:
  parents:
  - parentRef: {name: gw}
    controllerName: example.com/gateway
    conditions:
    - {type: Accepted, status: "True", reason: Accepted, message: ok, lastTransitionTime: "2026-12-01T00:00:00Z"}
    - {type: ResolvedRefs, status: "False", reason: BackendNotFound, message: "Service web not found", observedGeneration: 2, lastTransitionTime: "2026-12-01T00:00:00Z"}
`)}
	out, _ = Trim(withStatus)
	if want := map[string]any{"parents": []any{map[string]any{"parentRef": map[string]any{"name": "gw"}, "conditions": []any{map[string]any{
		"type": "ResolvedRefs", "status": "False", "reason": "BackendNotFound", "message": "Service web not found", "observedGeneration": float64(2)}}}}}; !reflect.DeepEqual(out.(*unstructured.Unstructured).Object["status"], want) {
		t.Errorf("route status trimmed to %v", out.(*unstructured.Unstructured).Object["status"])
	}
	if p := UnresolvedParents(out.(*unstructured.Unstructured).Object, "shop"); len(p) != 1 || p[0].Reason != "BackendNotFound" {
		t.Errorf("trimmed route status still read: %+v", p)
	}
	rg := &unstructured.Unstructured{Object: object(t, `
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: allow, namespace: canary, annotations: {a: b}}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: shop}]
  to: [{group: "", kind: Service}]
`)}
	out, _ = Trim(rg)
	if g := GrantOf(out.(*unstructured.Unstructured).Object, "canary"); len(g.From) != 1 || len(g.To) != 1 || out.(*unstructured.Unstructured).GetAnnotations() != nil {
		t.Errorf("ReferenceGrant trimmed: %+v", out)
	}
	if other, _ := Trim(&corev1.ConfigMap{ObjectMeta: meta}); other.(*corev1.ConfigMap).Annotations == nil {
		t.Error("other kinds pass through")
	}
}

// CRDs are cached with their conversion webhook's Service only (no schema, no caBundle);
// APIServices with spec.service and the Available condition.
func TestTrimCallers(t *testing.T) {
	crd := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": "widgets.example.com", "annotations": map[string]any{"a": "b"}},
		"spec": map[string]any{"group": "example.com", "versions": []any{map[string]any{"name": "v1", "schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object"}}}},
			"conversion": map[string]any{"strategy": "Webhook", "webhook": map[string]any{"conversionReviewVersions": []any{"v1"},
				"clientConfig": map[string]any{"caBundle": "cGVt", "service": map[string]any{"namespace": "w", "name": "conv"}}}}}}}
	got, _ := Trim(crd)
	want := map[string]any{"conversion": map[string]any{"strategy": "Webhook", "webhook": map[string]any{"clientConfig": map[string]any{
		"service": map[string]any{"namespace": "w", "name": "conv"}}}}, "versions": []any{map[string]any{"name": "v1"}}}
	if u := got.(*unstructured.Unstructured); !reflect.DeepEqual(u.Object["spec"], want) || u.GetAnnotations() != nil || u.GetName() != "widgets.example.com" {
		t.Fatalf("CRD trimmed to %v", u.Object)
	}
	crd.Object["status"] = map[string]any{"storedVersions": []any{"v1beta1", "v1"}, "acceptedNames": map[string]any{"kind": "Widget"}}
	got, _ = Trim(crd)
	if st := got.(*unstructured.Unstructured).Object["status"]; !reflect.DeepEqual(st, map[string]any{"storedVersions": []any{"v1beta1", "v1"}}) {
		t.Fatalf("CRD status trimmed to %v", st)
	}
	if c, ok := CRDCaller(got.(*unstructured.Unstructured).Object, "widgets.example.com"); !ok || c.Service != "conv" {
		t.Fatalf("trimmed CRD still read: %+v", c)
	}
	api := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
		"metadata": map[string]any{"name": "v1beta1.metrics.k8s.io"},
		"spec":     map[string]any{"caBundle": "cGVt", "group": "metrics.k8s.io", "service": map[string]any{"namespace": "kube-system", "name": "metrics-server"}},
		"status": map[string]any{"conditions": []any{map[string]any{"type": "Available", "status": "False", "reason": "R", "message": "m",
			"lastTransitionTime": "2026-12-01T00:00:00Z"}}}}}
	got, _ = Trim(api)
	if c, ok := APIServiceCaller(got.(*unstructured.Unstructured).Object, "v1beta1.metrics.k8s.io"); !ok || c.Caller.Down != "R: m" {
		t.Fatalf("trimmed APIService still read: %+v", c)
	}
	if _, ok, _ := unstructured.NestedFieldNoCopy(got.(*unstructured.Unstructured).Object, "spec", "caBundle"); ok {
		t.Fatal("APIService caBundle kept")
	}
}

package netcheck

import (
	"fmt"
	"sort"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// Gateway API kinds the RouteBackendMissing detector reads (gateway.networking.k8s.io/v1),
// when their CRDs are served.
var (
	HTTPRouteGVK = schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "HTTPRoute"}
	GRPCRouteGVK = schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "GRPCRoute"}
	GatewayGVK   = schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "Gateway"}
)

// Kinds of object a route refers to.
const (
	KindService = "Service"
	KindSecret  = "Secret"
)

// Ref is one reference of a route to an object that must exist: a backend Service or a TLS
// Secret (core group), with the field path that names it.
type Ref struct {
	// Kind is KindService or KindSecret.
	Kind      string
	Namespace string
	Name      string
	// Field is the path of the field that names it (spec.rules[0].backendRefs[1]).
	Field string
}

// Key is the namespace/name of the referenced object.
func (r Ref) Key() string { return r.Namespace + "/" + r.Name }

// IngressRefs lists an Ingress's references: the default backend's and every path's Service
// (backend.service.name; resource backends are not Services and are skipped) and every TLS
// entry's secretName (an entry without one uses the ingress controller's default
// certificate). All in the Ingress's namespace.
func IngressRefs(ing *networkingv1.Ingress) []Ref {
	var refs []Ref
	svc := func(b *networkingv1.IngressBackend, field string) {
		if b != nil && b.Service != nil && b.Service.Name != "" {
			refs = append(refs, Ref{Kind: KindService, Namespace: ing.Namespace, Name: b.Service.Name, Field: field + ".service.name"})
		}
	}
	svc(ing.Spec.DefaultBackend, "spec.defaultBackend")
	for i, rule := range ing.Spec.Rules {
		if rule.HTTP == nil {
			continue
		}
		for j := range rule.HTTP.Paths {
			svc(&rule.HTTP.Paths[j].Backend, fmt.Sprintf("spec.rules[%d].http.paths[%d].backend", i, j))
		}
	}
	for i, t := range ing.Spec.TLS {
		if t.SecretName != "" {
			refs = append(refs, Ref{Kind: KindSecret, Namespace: ing.Namespace, Name: t.SecretName, Field: fmt.Sprintf("spec.tls[%d].secretName", i)})
		}
	}
	return refs
}

// RouteRefs lists a Gateway API HTTPRoute's or GRPCRoute's backend Services: every
// spec.rules[i].backendRefs[j] of the core group and kind Service (the defaults), in its
// namespace field or the route's. Other kinds of backend are not checked. obj is the route
// as an unstructured object's content.
func RouteRefs(obj map[string]any, namespace string) []Ref {
	var refs []Ref
	rules, _, _ := unstructured.NestedSlice(obj, "spec", "rules")
	for i, r := range rules {
		rule, _ := r.(map[string]any)
		backends, _, _ := unstructured.NestedSlice(rule, "backendRefs")
		for j, b := range backends {
			if ref, ok := objectRef(b, KindService, namespace); ok {
				ref.Field = fmt.Sprintf("spec.rules[%d].backendRefs[%d]", i, j)
				refs = append(refs, ref)
			}
		}
	}
	return refs
}

// GatewayRefs lists a Gateway's TLS Secrets: every spec.listeners[i].tls.certificateRefs[j]
// of the core group and kind Secret (the defaults), in its namespace field or the Gateway's.
func GatewayRefs(obj map[string]any, namespace string) []Ref {
	var refs []Ref
	listeners, _, _ := unstructured.NestedSlice(obj, "spec", "listeners")
	for i, l := range listeners {
		listener, _ := l.(map[string]any)
		certs, _, _ := unstructured.NestedSlice(listener, "tls", "certificateRefs")
		for j, c := range certs {
			if ref, ok := objectRef(c, KindSecret, namespace); ok {
				ref.Field = fmt.Sprintf("spec.listeners[%d].tls.certificateRefs[%d]", i, j)
				refs = append(refs, ref)
			}
		}
	}
	return refs
}

// objectRef reads a Gateway API object reference ({group, kind, name, namespace}) of the
// core group and kind want (group "" and kind want are the API's defaults).
func objectRef(v any, want, namespace string) (Ref, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return Ref{}, false
	}
	group, _, _ := unstructured.NestedString(m, "group")
	kind, found, _ := unstructured.NestedString(m, "kind")
	name, _, _ := unstructured.NestedString(m, "name")
	ns, _, _ := unstructured.NestedString(m, "namespace")
	if group != "" || (found && kind != want) || name == "" {
		return Ref{}, false
	}
	if ns == "" {
		ns = namespace
	}
	return Ref{Kind: want, Namespace: ns, Name: name}, true
}

// Existence answers whether a referenced object exists; known is false when the detector
// cannot tell (it may not read Secrets).
type Existence func(r Ref) (exists, known bool)

// RouteVerdict is the judgement of one route's references.
type RouteVerdict struct {
	// Missing are the references to objects that do not exist.
	Missing []Ref
	// Unknown are the references the detector cannot check (TLS Secrets without RBAC).
	Unknown []Ref
	// Message names each missing object once, with the fields that name it ("" when none).
	Message string
}

// JudgeRoute checks every reference of a route (kind, name: for the message).
func JudgeRoute(kind, name string, refs []Ref, exists Existence) RouteVerdict {
	v := RouteVerdict{}
	for _, r := range refs {
		switch ok, known := exists(r); {
		case !known:
			v.Unknown = append(v.Unknown, r)
		case !ok:
			v.Missing = append(v.Missing, r)
		}
	}
	if len(v.Missing) == 0 {
		return v
	}
	type missing struct {
		ref    Ref
		fields []string
	}
	var order []string
	byObject := map[string]*missing{}
	for _, r := range v.Missing {
		k := r.Kind + " " + r.Key()
		if byObject[k] == nil {
			byObject[k] = &missing{ref: r}
			order = append(order, k)
		}
		byObject[k].fields = append(byObject[k].fields, r.Field)
	}
	sort.Strings(order)
	parts := make([]string, 0, len(order))
	for _, k := range order {
		m := byObject[k]
		parts = append(parts, fmt.Sprintf("%s %s does not exist (%s)", m.ref.Kind, m.ref.Key(), strings.Join(m.fields, ", ")))
	}
	v.Message = fmt.Sprintf("%s %s refers to objects that do not exist: %s", kind, name, strings.Join(parts, "; "))
	return v
}

// RouteSeverity is the impact and urgency of RouteBackendMissing: Medium / Medium (P3). The
// route answers 503 (or with the controller's default certificate) for what it names, while
// the rest of it works.
func RouteSeverity() (impact, urgency itopsv1alpha1.Level) {
	return itopsv1alpha1.LevelMedium, itopsv1alpha1.LevelMedium
}

package netcheck

import (
	"fmt"
	"sort"
	"strconv"
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
	// ReferenceGrantGVK is read, when served, to judge cross-namespace references.
	ReferenceGrantGVK = schema.GroupVersionKind{Group: GatewayGroup, Version: "v1beta1", Kind: KindReferenceGrant}
)

// GatewayGroup is the Gateway API's group; KindReferenceGrant its grant of cross-namespace
// references.
const (
	GatewayGroup       = "gateway.networking.k8s.io"
	KindReferenceGrant = "ReferenceGrant"
)

// Kinds of object a route refers to.
const (
	KindService = "Service"
	KindSecret  = "Secret"
)

// Ref is one reference of a route to an object that must exist: a backend Service or a TLS
// Secret (core group), with the field path that names it and, for a backend, the port.
type Ref struct {
	// Kind is KindService or KindSecret.
	Kind      string
	Namespace string
	Name      string
	// Field is the path of the field that names it (spec.rules[0].backendRefs[1]).
	Field string
	// Port is the backend's Service port (zero: none named, not checked), named by the field
	// PortField (spec.rules[0].http.paths[1].backend.service.port.number).
	Port      Port
	PortField string
	// Where says which part of the route sends there, for a person: "host shop.example
	// path /api", "the default backend" (Ingress); "" when the field says it all.
	Where string
}

// Port is a backend's Service port: a number (Ingress service.port.number, a Gateway API
// backendRef's port) or a name (Ingress service.port.name).
type Port struct {
	Number int32
	Name   string
}

// IsZero reports whether no port is named.
func (p Port) IsZero() bool { return p.Number == 0 && p.Name == "" }

func (p Port) String() string {
	if p.Name != "" {
		return fmt.Sprintf("port named %q", p.Name)
	}
	return fmt.Sprintf("port %d", p.Number)
}

// Key is the namespace/name of the referenced object.
func (r Ref) Key() string { return r.Namespace + "/" + r.Name }

// IngressRefs lists an Ingress's references: the default backend's and every path's Service
// (backend.service.name, with its port.number or port.name; resource backends are not
// Services and are skipped) and every TLS entry's secretName (an entry without one uses the
// ingress controller's default certificate). All in the Ingress's namespace.
func IngressRefs(ing *networkingv1.Ingress) []Ref {
	var refs []Ref
	svc := func(b *networkingv1.IngressBackend, field, where string) {
		if b != nil && b.Service != nil && b.Service.Name != "" {
			ref := Ref{Kind: KindService, Namespace: ing.Namespace, Name: b.Service.Name, Field: field + ".service.name",
				Port: Port{Number: b.Service.Port.Number, Name: b.Service.Port.Name}, Where: where}
			switch {
			case ref.Port.Name != "":
				ref.PortField = field + ".service.port.name"
			case ref.Port.Number != 0:
				ref.PortField = field + ".service.port.number"
			}
			refs = append(refs, ref)
		}
	}
	svc(ing.Spec.DefaultBackend, "spec.defaultBackend", "the default backend")
	for i, rule := range ing.Spec.Rules {
		if rule.HTTP == nil {
			continue
		}
		host := rule.Host
		if host == "" {
			host = "*"
		}
		for j := range rule.HTTP.Paths {
			path := rule.HTTP.Paths[j].Path
			if path == "" {
				path = "/"
			}
			svc(&rule.HTTP.Paths[j].Backend, fmt.Sprintf("spec.rules[%d].http.paths[%d].backend", i, j), "host "+host+" path "+path)
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
// namespace field or the route's, with its port (required for a Service by the API). Other kinds of backend are not checked. obj is the route
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
				if port, ok, _ := unstructured.NestedFieldNoCopy(b.(map[string]any), "port"); ok {
					if n, ok := asInt32(port); ok && n > 0 {
						ref.Port, ref.PortField = Port{Number: n}, ref.Field+".port"
					}
				}
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

// asInt32 reads a number of an unstructured object (int64 from the API server, float64
// from a YAML or JSON decoder).
func asInt32(v any) (int32, bool) {
	switch n := v.(type) {
	case int64:
		return int32(n), true
	case int32:
		return n, true
	case int:
		return int32(n), true
	case float64:
		return int32(n), true
	}
	return 0, false
}

// ServicePort is one of a Service's spec.ports, as a route's port is matched against it.
type ServicePort struct {
	Name string
	Port int32
	// TargetPort is spec.ports[].targetPort as written (a number or a container port name).
	TargetPort string
}

// Target is what the detector knows of a referenced object.
type Target struct {
	// Known is false when the detector cannot tell (a Secret while it may not read Secrets).
	Known bool
	// Exists: the object exists and is not being deleted.
	Exists bool
	// ExternalName: a Service of type ExternalName (a DNS alias; its ports are not checked:
	// the route's port is used as is).
	ExternalName bool
	// Ports are a Service's spec.ports.
	Ports []ServicePort
}

// Lookup reads what the detector knows of a referenced object.
type Lookup func(r Ref) Target

// RouteFacts is everything one route is judged on.
type RouteFacts struct {
	// Kind, Namespace and Name are the route's (Ingress web, HTTPRoute shop).
	Kind, Namespace, Name string
	Refs                  []Ref
	Lookup                Lookup
	// GrantsServed: the ReferenceGrant CRD is served (and readable), so a Gateway API
	// object's cross-namespace reference needs a grant in Grants; false for an Ingress (its
	// references are all in its namespace) and when the CRD is not served (not judged).
	GrantsServed bool
	// Grants are the ReferenceGrants of the namespaces the cross-namespace references point
	// to.
	Grants []Grant
	// Unresolved are the route's own status.parents[] verdicts ResolvedRefs=False (the
	// gateway controller's, UnresolvedParents).
	Unresolved []ParentCondition
}

// RouteVerdict is the judgement of one route's references.
type RouteVerdict struct {
	// Missing are the references that do not resolve: to objects that do not exist, or to a
	// port their Service does not expose.
	Missing []Ref
	// Unknown are the references the detector cannot check (TLS Secrets without RBAC).
	Unknown []Ref
	// NotPermitted are the cross-namespace references no ReferenceGrant allows (also in
	// Missing).
	NotPermitted []Ref
	// Reported are the gateway controller's own ResolvedRefs=False verdicts.
	Reported []ParentCondition
	// Message says what does not resolve, for a person ("" when all does): each missing
	// object once, with the fields that name it; each missing port once, with where the
	// route sends to it; each reference not permitted; each parent whose controller reports
	// ResolvedRefs=False, quoting its reason and message. One sentence per kind of problem,
	// joined by ". ".
	Message string
}

// Unhealthy reports whether anything of the route does not resolve.
func (v RouteVerdict) Unhealthy() bool { return len(v.Missing) > 0 || len(v.Reported) > 0 }

// HasPort reports whether a Service exposes the port: a number is a spec.ports[].port, a
// name a spec.ports[].name (the Ingress and Gateway API definitions of a backend's port).
// With viaTargetPort (Ingress backends) a spec.ports[].targetPort equal to the number or name
// counts too: ingress-nginx resolves a backend port against the port, the targetPort and the
// name alike, so such an Ingress serves traffic and is not reported.
func HasPort(ports []ServicePort, p Port, viaTargetPort bool) bool {
	for _, sp := range ports {
		if (p.Name != "" && sp.Name == p.Name) || (p.Name == "" && sp.Port == p.Number) {
			return true
		}
		if viaTargetPort && sp.TargetPort != "" && (sp.TargetPort == p.Name || (p.Name == "" && sp.TargetPort == strconv.Itoa(int(p.Number)))) {
			return true
		}
	}
	return false
}

// JudgeRoute checks every reference of a route: a cross-namespace one of a Gateway API
// object is allowed by a ReferenceGrant (when the CRD is served: GEP-709, the Gateway API's
// rule that the target namespace's owner must consent), the object exists and, for a
// backend Service that is not an ExternalName, exposes the port the route names. The gateway
// controller's own ResolvedRefs=False verdicts count too: it may know what we do not (a
// backend kind it cannot use, a grant of another version).
func JudgeRoute(f RouteFacts) RouteVerdict {
	v := RouteVerdict{Reported: f.Unresolved}
	missing := &grouped{}
	ports := &grouped{}
	denied := &grouped{}
	for _, r := range f.Refs {
		if f.GrantsServed && r.Namespace != f.Namespace && !Permitted(f.Grants, f.Kind, f.Namespace, r) {
			v.Missing = append(v.Missing, r)
			v.NotPermitted = append(v.NotPermitted, r)
			denied.add(fmt.Sprintf("%s %s not permitted: no ReferenceGrant in %s allows %s from %s", r.Kind, r.Key(), r.Namespace, f.Kind, f.Namespace), r.Field)
			continue
		}
		t := f.Lookup(r)
		switch {
		case !t.Known:
			v.Unknown = append(v.Unknown, r)
		case !t.Exists:
			v.Missing = append(v.Missing, r)
			missing.add(fmt.Sprintf("%s %s does not exist", r.Kind, r.Key()), r.Field)
		case r.Kind == KindService && !r.Port.IsZero() && !t.ExternalName && !HasPort(t.Ports, r.Port, f.Kind == "Ingress"):
			v.Missing = append(v.Missing, r)
			at := r.PortField
			if r.Where != "" {
				at = r.Where + ": " + at
			}
			ports.add(fmt.Sprintf("Service %s has no %s", r.Key(), r.Port), at)
		}
	}
	var sentences []string
	if s := missing.String(); s != "" {
		sentences = append(sentences, fmt.Sprintf("%s %s refers to objects that do not exist: %s", f.Kind, f.Name, s))
	}
	if s := ports.String(); s != "" {
		sentences = append(sentences, fmt.Sprintf("%s %s sends to ports its Services do not expose: %s", f.Kind, f.Name, s))
	}
	if s := denied.String(); s != "" {
		sentences = append(sentences, fmt.Sprintf("%s %s refers to other namespaces without their consent: %s", f.Kind, f.Name, s))
	}
	if len(f.Unresolved) > 0 {
		parts := make([]string, 0, len(f.Unresolved))
		for _, c := range f.Unresolved {
			parts = append(parts, fmt.Sprintf("for parent %s: %s: %s", c.Parent, c.Reason, c.Message))
		}
		sentences = append(sentences, fmt.Sprintf("%s %s: its gateway controller reports ResolvedRefs=False %s", f.Kind, f.Name, strings.Join(parts, "; ")))
	}
	v.Message = strings.Join(sentences, ". ")
	return v
}

// Grant is a ReferenceGrant (gateway.networking.k8s.io/v1beta1), in the namespace it opens:
// objects of a From may refer to objects of a To there.
type Grant struct {
	Namespace string
	From      []GrantFrom
	To        []GrantTo
}

// GrantFrom is one spec.from[] entry of a ReferenceGrant: group, kind and namespace of the
// referring objects.
type GrantFrom struct{ Group, Kind, Namespace string }

// GrantTo is one spec.to[] entry: group and kind of the referred objects, and a name (""
// for every object of the kind).
type GrantTo struct{ Group, Kind, Name string }

// GrantOf reads a ReferenceGrant (an unstructured object's content) of the namespace.
func GrantOf(obj map[string]any, namespace string) Grant {
	g := Grant{Namespace: namespace}
	from, _, _ := unstructured.NestedSlice(obj, "spec", "from")
	for _, f := range from {
		if m, ok := f.(map[string]any); ok {
			group, _, _ := unstructured.NestedString(m, "group")
			kind, _, _ := unstructured.NestedString(m, "kind")
			ns, _, _ := unstructured.NestedString(m, "namespace")
			g.From = append(g.From, GrantFrom{Group: group, Kind: kind, Namespace: ns})
		}
	}
	to, _, _ := unstructured.NestedSlice(obj, "spec", "to")
	for _, t := range to {
		if m, ok := t.(map[string]any); ok {
			group, _, _ := unstructured.NestedString(m, "group")
			kind, _, _ := unstructured.NestedString(m, "kind")
			name, _, _ := unstructured.NestedString(m, "name")
			g.To = append(g.To, GrantTo{Group: group, Kind: kind, Name: name})
		}
	}
	return g
}

// Permitted reports whether a grant of the reference's namespace allows a Gateway API object
// of the kind in fromNamespace to refer to it: one grant with a From of the Gateway API's
// group, the kind and the namespace, and a To of the core group, the reference's kind and
// its name or none (the ReferenceGrant API).
func Permitted(grants []Grant, fromKind, fromNamespace string, r Ref) bool {
	for _, g := range grants {
		if g.Namespace != r.Namespace {
			continue
		}
		from := false
		for _, f := range g.From {
			if f.Group == GatewayGroup && f.Kind == fromKind && f.Namespace == fromNamespace {
				from = true
				break
			}
		}
		if !from {
			continue
		}
		for _, t := range g.To {
			if t.Group == "" && t.Kind == r.Kind && (t.Name == "" || t.Name == r.Name) {
				return true
			}
		}
	}
	return false
}

// ParentCondition is a route's status.parents[] verdict ResolvedRefs=False: the gateway
// controller's own judgement of its references.
type ParentCondition struct {
	// Parent names the parent: Gateway ns/name, with /sectionName when given.
	Parent          string
	Reason, Message string
}

// unresolvedReasons are the ResolvedRefs=False reasons that say a backend does not resolve
// (the Gateway API's RouteReasonBackendNotFound, RouteReasonRefNotPermitted,
// RouteReasonInvalidKind).
var unresolvedReasons = map[string]bool{"BackendNotFound": true, "RefNotPermitted": true, "InvalidKind": true}

// UnresolvedParents reads a route's status.parents[] (an unstructured object's content) for
// ResolvedRefs=False with a reason that says a backend does not resolve, written for the
// route's current generation (an older observedGeneration's verdict is stale: the route
// changed since). One per parent, in status order.
func UnresolvedParents(obj map[string]any, namespace string) []ParentCondition {
	g, _, _ := unstructured.NestedFieldNoCopy(obj, "metadata", "generation")
	generation, _ := asInt32(g)
	parents, _, _ := unstructured.NestedSlice(obj, "status", "parents")
	var out []ParentCondition
	for _, p := range parents {
		pm, ok := p.(map[string]any)
		if !ok {
			continue
		}
		conds, _, _ := unstructured.NestedSlice(pm, "conditions")
		for _, c := range conds {
			cm, ok := c.(map[string]any)
			if !ok || cm["type"] != "ResolvedRefs" || cm["status"] != "False" {
				continue
			}
			reason, _ := cm["reason"].(string)
			if !unresolvedReasons[reason] {
				continue
			}
			if observed, ok := asInt32(cm["observedGeneration"]); ok && generation > 0 && observed < generation {
				continue
			}
			message, _ := cm["message"].(string)
			out = append(out, ParentCondition{Parent: parentName(pm, namespace), Reason: reason, Message: message})
		}
	}
	return out
}

// parentName names a status.parents[] entry's parentRef: Kind ns/name[/sectionName] (kind
// Gateway and the route's namespace by default).
func parentName(p map[string]any, namespace string) string {
	ref, _, _ := unstructured.NestedMap(p, "parentRef")
	kind, _ := ref["kind"].(string)
	if kind == "" {
		kind = "Gateway"
	}
	ns, _ := ref["namespace"].(string)
	if ns == "" {
		ns = namespace
	}
	name, _ := ref["name"].(string)
	out := kind + " " + ns + "/" + name
	if section, _ := ref["sectionName"].(string); section != "" {
		out += "/" + section
	}
	return out
}

// grouped collects problems, each with the places it is seen, for a message: "problem
// (place, place); problem (place)", problems sorted.
type grouped struct {
	order  []string
	places map[string][]string
}

func (g *grouped) add(problem, place string) {
	if g.places == nil {
		g.places = map[string][]string{}
	}
	if _, ok := g.places[problem]; !ok {
		g.order = append(g.order, problem)
	}
	g.places[problem] = append(g.places[problem], place)
}

func (g *grouped) String() string {
	sort.Strings(g.order)
	parts := make([]string, 0, len(g.order))
	for _, p := range g.order {
		parts = append(parts, fmt.Sprintf("%s (%s)", p, strings.Join(g.places[p], ", ")))
	}
	return strings.Join(parts, "; ")
}

// RouteSeverity is the impact and urgency of RouteBackendMissing: Medium / Medium (P3). The
// route answers 503 (or with the controller's default certificate) for what it names, while
// the rest of it works.
func RouteSeverity() (impact, urgency itopsv1alpha1.Level) {
	return itopsv1alpha1.LevelMedium, itopsv1alpha1.LevelMedium
}

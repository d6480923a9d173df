package netcheck

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Trim is the cache transform of the network detectors' cache: every object keeps only what
// a detector reads (docs/detectors.md, "What is read"); it is idempotent.
//   - Service: identity, spec.type, spec.selector and its ports' numbers and names (a
//     webhook's port, a route's port.number or port.name).
//   - EndpointSlice: identity, the kubernetes.io/service-name label, each endpoint's
//     conditions (no addresses, no topology).
//   - Ingress: identity and spec (no status, no annotations).
//   - Validating/MutatingWebhookConfiguration: identity, each webhook's name, failurePolicy,
//     clientConfig.service and rules (no caBundle).
//   - PartialObjectMetadata (Secrets): identity only (no labels, annotations, owners).
//   - unstructured (Gateway API routes and Gateways): apiVersion, kind, identity, the
//     backendRefs of spec.rules, the certificateRefs of spec.listeners[].tls, and of
//     status.parents[] the parentRef and the ResolvedRefs condition (type, status, reason,
//     message, observedGeneration).
//   - unstructured ReferenceGrant: identity and spec.from, spec.to.
//   - unstructured CustomResourceDefinition: identity, spec.conversion's strategy and
//     webhook.clientConfig.service, the versions' names and status.storedVersions (no schema,
//     no caBundle).
//   - unstructured APIService: identity, spec.service and the Available condition.
//
// Other objects pass through.
func Trim(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.Service:
		svc := &corev1.Service{TypeMeta: o.TypeMeta, ObjectMeta: identity(&o.ObjectMeta, nil),
			Spec: corev1.ServiceSpec{Type: o.Spec.Type, Selector: o.Spec.Selector}}
		for _, p := range o.Spec.Ports {
			svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Name: p.Name, Port: p.Port, TargetPort: p.TargetPort})
		}
		return svc, nil
	case *discoveryv1.EndpointSlice:
		s := &discoveryv1.EndpointSlice{TypeMeta: o.TypeMeta, AddressType: o.AddressType,
			ObjectMeta: identity(&o.ObjectMeta, keep(o.Labels, ServiceNameLabel))}
		for _, e := range o.Endpoints {
			s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Conditions: e.Conditions})
		}
		return s, nil
	case *networkingv1.Ingress:
		return &networkingv1.Ingress{TypeMeta: o.TypeMeta, ObjectMeta: identity(&o.ObjectMeta, nil), Spec: o.Spec}, nil
	case *admissionregistrationv1.ValidatingWebhookConfiguration:
		c := &admissionregistrationv1.ValidatingWebhookConfiguration{TypeMeta: o.TypeMeta, ObjectMeta: identity(&o.ObjectMeta, nil)}
		for _, w := range o.Webhooks {
			c.Webhooks = append(c.Webhooks, admissionregistrationv1.ValidatingWebhook{Name: w.Name, FailurePolicy: w.FailurePolicy,
				ClientConfig: admissionregistrationv1.WebhookClientConfig{Service: w.ClientConfig.Service}, Rules: w.Rules})
		}
		return c, nil
	case *admissionregistrationv1.MutatingWebhookConfiguration:
		c := &admissionregistrationv1.MutatingWebhookConfiguration{TypeMeta: o.TypeMeta, ObjectMeta: identity(&o.ObjectMeta, nil)}
		for _, w := range o.Webhooks {
			c.Webhooks = append(c.Webhooks, admissionregistrationv1.MutatingWebhook{Name: w.Name, FailurePolicy: w.FailurePolicy,
				ClientConfig: admissionregistrationv1.WebhookClientConfig{Service: w.ClientConfig.Service}, Rules: w.Rules})
		}
		return c, nil
	case *metav1.PartialObjectMetadata:
		return &metav1.PartialObjectMetadata{TypeMeta: o.TypeMeta, ObjectMeta: identity(&o.ObjectMeta, nil)}, nil
	case *unstructured.Unstructured:
		return trimUnstructured(o), nil
	}
	return obj, nil
}

// identity keeps an object's name, namespace, uid, resourceVersion, generation, creation
// and deletion timestamps, and the labels given.
func identity(m *metav1.ObjectMeta, labels map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion,
		Generation: m.Generation, CreationTimestamp: m.CreationTimestamp, DeletionTimestamp: m.DeletionTimestamp, Labels: labels}
}

func keep(labels map[string]string, key string) map[string]string {
	if v, ok := labels[key]; ok {
		return map[string]string{key: v}
	}
	return nil
}

// trimUnstructured keeps of a Gateway API object what RouteRefs and GatewayRefs read, at the
// same list indexes (the field paths in messages stay right).
func trimUnstructured(u *unstructured.Unstructured) *unstructured.Unstructured {
	out := &unstructured.Unstructured{Object: map[string]any{}}
	out.SetAPIVersion(u.GetAPIVersion())
	out.SetKind(u.GetKind())
	m := identity(&metav1.ObjectMeta{Name: u.GetName(), Namespace: u.GetNamespace(), UID: u.GetUID(),
		ResourceVersion: u.GetResourceVersion(), Generation: u.GetGeneration(), CreationTimestamp: u.GetCreationTimestamp(),
		DeletionTimestamp: u.GetDeletionTimestamp()}, nil)
	out.SetName(m.Name)
	out.SetNamespace(m.Namespace)
	out.SetUID(m.UID)
	out.SetResourceVersion(m.ResourceVersion)
	out.SetGeneration(m.Generation)
	out.SetCreationTimestamp(m.CreationTimestamp)
	out.SetDeletionTimestamp(m.DeletionTimestamp)
	switch u.GetKind() {
	case KindCustomResourceDefinition:
		// Only the conversion webhook: a CRD's schema is often hundreds of kilobytes.
		if conv, ok, _ := unstructured.NestedMap(u.Object, "spec", "conversion"); ok {
			kept := map[string]any{}
			if s, ok := conv["strategy"]; ok {
				kept["strategy"] = s
			}
			if svc, ok, _ := unstructured.NestedFieldNoCopy(conv, "webhook", "clientConfig", "service"); ok {
				kept["webhook"] = map[string]any{"clientConfig": map[string]any{"service": svc}}
			}
			spec := map[string]any{"conversion": kept}
			// The version names (conversion happens between them) and status.storedVersions.
			versions, _, _ := unstructured.NestedSlice(u.Object, "spec", "versions")
			names := make([]any, 0, len(versions))
			for _, v := range versions {
				if m, ok := v.(map[string]any); ok {
					names = append(names, map[string]any{"name": m["name"]})
				}
			}
			spec["versions"] = names
			out.Object["spec"] = spec
			if stored, ok, _ := unstructured.NestedStringSlice(u.Object, "status", "storedVersions"); ok {
				s := make([]any, 0, len(stored))
				for _, v := range stored {
					s = append(s, v)
				}
				out.Object["status"] = map[string]any{"storedVersions": s}
			}
		}
		return out
	case KindAPIService:
		if svc, ok, _ := unstructured.NestedFieldNoCopy(u.Object, "spec", "service"); ok {
			out.Object["spec"] = map[string]any{"service": svc}
		}
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, c := range conds {
			if m, ok := c.(map[string]any); ok && m["type"] == "Available" {
				out.Object["status"] = map[string]any{"conditions": []any{map[string]any{"type": m["type"], "status": m["status"],
					"reason": m["reason"], "message": m["message"]}}}
			}
		}
		return out
	}
	if u.GetKind() == KindReferenceGrant {
		spec := map[string]any{}
		for _, f := range []string{"from", "to"} {
			if v, ok, _ := unstructured.NestedFieldNoCopy(u.Object, "spec", f); ok {
				spec[f] = v
			}
		}
		out.Object["spec"] = spec
		return out
	}
	spec := map[string]any{}
	if rules, ok, _ := unstructured.NestedSlice(u.Object, "spec", "rules"); ok {
		kept := make([]any, 0, len(rules))
		for _, r := range rules {
			rule := map[string]any{}
			if rm, ok := r.(map[string]any); ok {
				if b, ok := rm["backendRefs"]; ok {
					rule["backendRefs"] = b
				}
			}
			kept = append(kept, rule)
		}
		spec["rules"] = kept
	}
	if listeners, ok, _ := unstructured.NestedSlice(u.Object, "spec", "listeners"); ok {
		kept := make([]any, 0, len(listeners))
		for _, l := range listeners {
			listener := map[string]any{}
			if lm, ok := l.(map[string]any); ok {
				if certs, ok, _ := unstructured.NestedFieldNoCopy(lm, "tls", "certificateRefs"); ok {
					listener["tls"] = map[string]any{"certificateRefs": certs}
				}
			}
			kept = append(kept, listener)
		}
		spec["listeners"] = kept
	}
	if len(spec) > 0 {
		out.Object["spec"] = spec
	}
	if parents, ok, _ := unstructured.NestedSlice(u.Object, "status", "parents"); ok {
		kept := make([]any, 0, len(parents))
		for _, p := range parents {
			pm, ok := p.(map[string]any)
			if !ok {
				continue
			}
			parent := map[string]any{}
			if ref, ok := pm["parentRef"]; ok {
				parent["parentRef"] = ref
			}
			conds, _, _ := unstructured.NestedSlice(pm, "conditions")
			for _, c := range conds {
				if cm, ok := c.(map[string]any); ok && cm["type"] == "ResolvedRefs" {
					kc := map[string]any{}
					for _, k := range []string{"type", "status", "reason", "message", "observedGeneration"} {
						if v, ok := cm[k]; ok {
							kc[k] = v
						}
					}
					parent["conditions"] = []any{kc}
				}
			}
			kept = append(kept, parent)
		}
		out.Object["status"] = map[string]any{"parents": kept}
	}
	return out
}

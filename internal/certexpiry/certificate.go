package certexpiry

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// CertificateGVK is cert-manager's Certificate (cert-manager.io/v1), judged by its
// status.notAfter when the API server serves the kind: no Secret is read for it.
var CertificateGVK = schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"}

// Certificate is what the detector reads of a cert-manager Certificate (cert-manager's API
// reference, cert-manager.io/v1 CertificateSpec and CertificateStatus).
type Certificate struct {
	// Info is the issued certificate: NotAfter from status.notAfter; Subject from
	// spec.commonName, else the first of spec.dnsNames; Issuer "<issuerRef.kind>/<issuerRef.name>"
	// (kind Issuer when unset, as cert-manager defaults it).
	Info Info
	// Issued is false while status.notAfter is unset (never issued yet): nothing to judge for
	// expiry (an issuance that fails is the Ready condition's business).
	Issued bool
	// SecretName is spec.secretName, the Secret cert-manager writes the certificate to.
	SecretName string
	// RenewalTime is status.renewalTime, when cert-manager plans (or planned) to renew; zero
	// when unset.
	RenewalTime time.Time
	// NotReady is the Ready condition's "reason: message" when it is False, else empty.
	NotReady string
}

// CertificateOf reads a Certificate's facts. Errors: a status.notAfter or status.renewalTime
// that is not RFC 3339 (cert-manager writes metav1.Time). A missing field is not an error.
func CertificateOf(u *unstructured.Unstructured) (Certificate, error) {
	c := Certificate{}
	c.SecretName, _, _ = unstructured.NestedString(u.Object, "spec", "secretName")
	c.Info.Subject, _, _ = unstructured.NestedString(u.Object, "spec", "commonName")
	if c.Info.Subject == "" {
		if names, _, _ := unstructured.NestedStringSlice(u.Object, "spec", "dnsNames"); len(names) > 0 {
			c.Info.Subject = names[0]
		}
	}
	kind, _, _ := unstructured.NestedString(u.Object, "spec", "issuerRef", "kind")
	name, _, _ := unstructured.NestedString(u.Object, "spec", "issuerRef", "name")
	if kind == "" {
		kind = "Issuer"
	}
	c.Info.Issuer = kind + "/" + name
	if s, _, _ := unstructured.NestedString(u.Object, "status", "notAfter"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return Certificate{}, fmt.Errorf("status.notAfter: %w", err)
		}
		c.Info.NotAfter, c.Issued = t, true
	}
	if s, _, _ := unstructured.NestedString(u.Object, "status", "renewalTime"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return Certificate{}, fmt.Errorf("status.renewalTime: %w", err)
		}
		c.RenewalTime = t
	}
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, raw := range conds {
		cond, ok := raw.(map[string]any)
		if !ok || cond["type"] != "Ready" || cond["status"] != "False" {
			continue
		}
		reason, _ := cond["reason"].(string)
		msg, _ := cond["message"].(string)
		c.NotReady = reason + ": " + msg
	}
	return c, nil
}

// Explain adds to a judgement's message what cert-manager says about the renewal: when the
// renewal time has passed ("cert-manager's renewal was due at ...") and the Ready condition
// when it is False. Empty when there is nothing to add.
func (c Certificate) Explain(now time.Time) string {
	out := ""
	if !c.RenewalTime.IsZero() && !now.Before(c.RenewalTime) {
		out += "; cert-manager's renewal was due at " + c.RenewalTime.UTC().Format(time.RFC3339)
	}
	if c.NotReady != "" {
		out += "; Ready=False: " + c.NotReady
	}
	return out
}

// TrimCertificate is the cache transform of Certificates: it keeps only what CertificateOf
// reads (name, namespace, uid, resourceVersion, timestamps; spec.secretName, commonName, the
// first dnsName, issuerRef; status.notAfter, renewalTime and the Ready condition). Idempotent;
// other objects pass through.
func TrimCertificate(obj any) (any, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return obj, nil
	}
	out := &unstructured.Unstructured{Object: map[string]any{}}
	out.SetAPIVersion(u.GetAPIVersion())
	out.SetKind(u.GetKind())
	out.SetName(u.GetName())
	out.SetNamespace(u.GetNamespace())
	out.SetUID(u.GetUID())
	out.SetResourceVersion(u.GetResourceVersion())
	out.SetCreationTimestamp(u.GetCreationTimestamp())
	out.SetDeletionTimestamp(u.GetDeletionTimestamp())
	spec := map[string]any{}
	for _, k := range []string{"secretName", "commonName"} {
		if v, ok, _ := unstructured.NestedString(u.Object, "spec", k); ok {
			spec[k] = v
		}
	}
	if names, ok, _ := unstructured.NestedStringSlice(u.Object, "spec", "dnsNames"); ok && len(names) > 0 {
		spec["dnsNames"] = []any{names[0]}
	}
	ref := map[string]any{}
	for _, k := range []string{"kind", "name"} {
		if v, ok, _ := unstructured.NestedString(u.Object, "spec", "issuerRef", k); ok {
			ref[k] = v
		}
	}
	if len(ref) > 0 {
		spec["issuerRef"] = ref
	}
	out.Object["spec"] = spec
	status := map[string]any{}
	for _, k := range []string{"notAfter", "renewalTime"} {
		if v, ok, _ := unstructured.NestedString(u.Object, "status", k); ok {
			status[k] = v
		}
	}
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, raw := range conds {
		if cond, ok := raw.(map[string]any); ok && cond["type"] == "Ready" {
			keep := map[string]any{}
			for _, k := range []string{"type", "status", "reason", "message"} {
				if v, ok := cond[k]; ok {
					keep[k] = v
				}
			}
			status["conditions"] = []any{keep}
		}
	}
	out.Object["status"] = status
	return out, nil
}

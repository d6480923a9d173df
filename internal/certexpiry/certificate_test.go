package certexpiry

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func certificateObject(spec, status map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
		"metadata": map[string]any{"name": "web", "namespace": "shop", "uid": "u1", "resourceVersion": "7",
			"managedFields": []any{map[string]any{"manager": "cert-manager"}},
			"annotations":   map[string]any{"kubectl.kubernetes.io/last-applied-configuration": "{...}"}},
	}}
	if spec != nil {
		u.Object["spec"] = spec
	}
	if status != nil {
		u.Object["status"] = status
	}
	return u
}

func TestCertificateOf(t *testing.T) {
	notAfter := time.Date(2027, 1, 5, 10, 0, 0, 0, time.UTC)
	renewal := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	full := map[string]any{"secretName": "web-tls", "commonName": "web.example", "dnsNames": []any{"a.example", "b.example"},
		"issuerRef":  map[string]any{"kind": "ClusterIssuer", "name": "letsencrypt", "group": "cert-manager.io"},
		"privateKey": map[string]any{"algorithm": "ECDSA"}}
	for _, tc := range []struct {
		name         string
		spec, status map[string]any
		want         Certificate
		wantErr      string
	}{
		{name: "issued, Ready", spec: full, status: map[string]any{"notAfter": "2027-01-05T10:00:00Z", "renewalTime": "2026-12-06T10:00:00Z",
			"conditions": []any{map[string]any{"type": "Ready", "status": "True", "reason": "Ready", "message": "up to date"}}},
			want: Certificate{Info: Info{NotAfter: notAfter, Subject: "web.example", Issuer: "ClusterIssuer/letsencrypt"}, Issued: true,
				SecretName: "web-tls", RenewalTime: renewal}},
		{name: "renewal failing: Ready=False quoted", spec: full, status: map[string]any{"notAfter": "2027-01-05T10:00:00Z",
			"conditions": []any{map[string]any{"type": "Issuing", "status": "True"},
				map[string]any{"type": "Ready", "status": "False", "reason": "Failed", "message": "ACME order failed"}}},
			want: Certificate{Info: Info{NotAfter: notAfter, Subject: "web.example", Issuer: "ClusterIssuer/letsencrypt"}, Issued: true,
				SecretName: "web-tls", NotReady: "Failed: ACME order failed"}},
		{name: "no commonName: first dnsName; issuer kind defaults to Issuer",
			spec: map[string]any{"secretName": "s", "dnsNames": []any{"a.example"}, "issuerRef": map[string]any{"name": "local"}},
			want: Certificate{Info: Info{Subject: "a.example", Issuer: "Issuer/local"}, SecretName: "s"}},
		{name: "never issued: no status", spec: map[string]any{"secretName": "s"}, want: Certificate{Info: Info{Issuer: "Issuer/"}, SecretName: "s"}},
		{name: "bad notAfter", spec: full, status: map[string]any{"notAfter": "soon"}, wantErr: "status.notAfter"},
		{name: "bad renewalTime", spec: full, status: map[string]any{"notAfter": "2027-01-05T10:00:00Z", "renewalTime": "x"}, wantErr: "status.renewalTime"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := certificateObject(tc.spec, tc.status)
			got, err := CertificateOf(u)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
			// The cache holds the trimmed object: it must read the same, and trimming again
			// changes nothing.
			trimmed, _ := TrimCertificate(u)
			fromTrimmed, err := CertificateOf(trimmed.(*unstructured.Unstructured))
			if err != nil || !reflect.DeepEqual(fromTrimmed, tc.want) {
				t.Fatalf("trimmed reads %+v, %v; want %+v", fromTrimmed, err, tc.want)
			}
			again, _ := TrimCertificate(trimmed)
			if !reflect.DeepEqual(again, trimmed) {
				t.Fatalf("TrimCertificate is not idempotent: %v then %v", trimmed, again)
			}
		})
	}
}

func TestTrimCertificateDropsWhatIsNotRead(t *testing.T) {
	u := certificateObject(map[string]any{"secretName": "web-tls", "dnsNames": []any{"a", "b", "c"},
		"privateKey": map[string]any{"algorithm": "ECDSA"}, "issuerRef": map[string]any{"name": "x", "group": "cert-manager.io"}},
		map[string]any{"notAfter": "2027-01-05T10:00:00Z", "revision": int64(4),
			"conditions": []any{map[string]any{"type": "Issuing", "status": "False"}, map[string]any{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}}})
	out, err := TrimCertificate(u)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*unstructured.Unstructured)
	want := map[string]any{
		"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
		"metadata": map[string]any{"name": "web", "namespace": "shop", "uid": "u1", "resourceVersion": "7"},
		"spec":     map[string]any{"secretName": "web-tls", "dnsNames": []any{"a"}, "issuerRef": map[string]any{"name": "x"}},
		"status":   map[string]any{"notAfter": "2027-01-05T10:00:00Z", "conditions": []any{map[string]any{"type": "Ready", "status": "True"}}},
	}
	if !reflect.DeepEqual(got.Object, want) {
		t.Fatalf("trimmed\n%v\nwant\n%v", got.Object, want)
	}
	if other, _ := TrimCertificate("not a certificate"); other != "not a certificate" {
		t.Fatalf("other objects pass through, got %v", other)
	}
}

func TestCertificateExplain(t *testing.T) {
	renewal := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		c    Certificate
		now  time.Time
		want string
	}{
		{name: "renewal not due yet, Ready", c: Certificate{RenewalTime: renewal}, now: renewal.Add(-time.Second), want: ""},
		{name: "renewal due (at the second)", c: Certificate{RenewalTime: renewal}, now: renewal, want: "; cert-manager's renewal was due at 2026-12-06T10:00:00Z"},
		{name: "renewal due and failing", c: Certificate{RenewalTime: renewal, NotReady: "Failed: ACME order failed"}, now: renewal.Add(time.Hour),
			want: "; cert-manager's renewal was due at 2026-12-06T10:00:00Z; Ready=False: Failed: ACME order failed"},
		{name: "no renewal time", c: Certificate{}, now: renewal, want: ""},
	} {
		if got := tc.c.Explain(tc.now); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

package certexpiry

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// selfSigned returns a PEM certificate for cn expiring at notAfter, and its PEM key.
func selfSigned(t testing.TB, cn string, notAfter time.Time) ([]byte, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn, Organization: []string{"Example"}},
		NotBefore: notAfter.Add(-90 * 24 * time.Hour), NotAfter: notAfter, DNSNames: []string{cn},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func TestParse(t *testing.T) {
	notAfter := time.Date(2027, 1, 15, 12, 0, 0, 0, time.UTC)
	leaf, key := selfSigned(t, "web.example.com", notAfter)
	intermediate, _ := selfSigned(t, "Intermediate CA", notAfter.Add(365*24*time.Hour))
	cases := []struct {
		name    string
		in      []byte
		want    time.Time
		wantErr string
	}{
		{"leaf", leaf, notAfter, ""},
		{"leaf first in a chain", append(append([]byte{}, leaf...), intermediate...), notAfter, ""},
		{"key before the certificate is skipped", append(append([]byte{}, key...), leaf...), notAfter, ""},
		{"empty", nil, time.Time{}, "no PEM CERTIFICATE"},
		{"garbage", []byte("not a certificate"), time.Time{}, "no PEM CERTIFICATE"},
		{"corrupt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2, 3}}), time.Time{}, "parsing the leaf"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			info, err := Parse(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("want error %q, got %v", tc.wantErr, err)
				}
				return
			}
			if err != nil || !info.NotAfter.Equal(tc.want) || !strings.Contains(info.Subject, "CN=web.example.com") {
				t.Fatalf("got %+v, %v", info, err)
			}
		})
	}
}

func TestJudgeThresholds(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	warn, crit := 30*24*time.Hour, 7*24*time.Hour
	day := 24 * time.Hour
	cases := []struct {
		name     string
		notAfter time.Time
		stage    Stage
		priority itopsv1alpha1.Priority
		next     time.Time
		message  string
	}{
		{"valid: requeue when it enters the warning window", now.Add(90 * day), Valid, "", now.Add(60 * day), ""},
		{"exactly at warnBefore is expiring", now.Add(30 * day), Expiring, itopsv1alpha1.PriorityP4, now.Add(23 * day), "(in 30d)"},
		{"within warnBefore: low priority, requeue at criticalBefore", now.Add(20 * day), Expiring, itopsv1alpha1.PriorityP4, now.Add(13 * day), "expires at 2026-12-21T10:00:00Z"},
		{"within criticalBefore: high priority, requeue at expiry", now.Add(3 * day), Critical, itopsv1alpha1.PriorityP2, now.Add(3 * day), "(in 3d)"},
		{"hours left", now.Add(5*time.Hour + 30*time.Second), Critical, itopsv1alpha1.PriorityP2, now.Add(5*time.Hour + 30*time.Second), "(in 5h0m0s)"},
		{"expired: highest, no requeue", now.Add(-time.Hour), Expired, itopsv1alpha1.PriorityP1, time.Time{}, "expired at 2026-12-01T09:00:00Z"},
		{"expiring now is expired", now, Expired, itopsv1alpha1.PriorityP1, time.Time{}, "expired at"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j := Judge(Info{NotAfter: tc.notAfter, Subject: "CN=web.example.com", Issuer: "CN=Example CA"}, now, warn, crit)
			if j.Stage != tc.stage || j.Priority != tc.priority || !j.Next.Equal(tc.next) || !strings.Contains(j.Message, tc.message) {
				t.Fatalf("got %+v", j)
			}
		})
	}
}

func TestTrimSecretKeepsNoKeyMaterial(t *testing.T) {
	notAfter := time.Date(2027, 1, 15, 12, 0, 0, 0, time.UTC)
	crt, key := selfSigned(t, "web.example.com", notAfter)
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "web-tls", Namespace: "web", Annotations: map[string]string{
			CertManagerCertificateAnnotation: "web", "kubectl.kubernetes.io/last-applied-configuration": string(key),
		}, ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}},
		Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: crt, corev1.TLSPrivateKeyKey: key, "ca.crt": crt},
	}
	out, err := TrimSecret(s)
	if err != nil {
		t.Fatal(err)
	}
	trimmed := out.(*corev1.Secret)
	if trimmed.Data != nil || trimmed.StringData != nil || trimmed.ManagedFields != nil {
		t.Fatalf("data kept: %+v", trimmed)
	}
	for k, v := range trimmed.Annotations {
		if strings.Contains(v, "PRIVATE KEY") || strings.Contains(v, "CERTIFICATE") {
			t.Fatalf("annotation %s keeps PEM", k)
		}
	}
	again, _ := TrimSecret(trimmed.DeepCopy())
	if again.(*corev1.Secret).Annotations[AnnotationNotAfter] != trimmed.Annotations[AnnotationNotAfter] {
		t.Fatalf("not idempotent: %+v", again)
	}
	info, ok := InfoOf(trimmed)
	if !ok || !info.NotAfter.Equal(notAfter) || trimmed.Annotations[CertManagerCertificateAnnotation] != "web" {
		t.Fatalf("got %+v %v", trimmed.Annotations, ok)
	}
	bad, _ := TrimSecret(&corev1.Secret{Type: corev1.SecretTypeTLS, Data: map[string][]byte{corev1.TLSCertKey: []byte("x")}})
	if _, ok := InfoOf(bad.(*corev1.Secret)); ok || bad.(*corev1.Secret).Annotations[AnnotationError] == "" {
		t.Fatalf("unparsable: %+v", bad)
	}
	if pod, _ := TrimSecret(&corev1.Pod{}); pod == nil {
		t.Fatal("other objects pass through")
	}
}

// FuzzParse: tls.crt is user input.
func FuzzParse(f *testing.F) {
	crt, _ := selfSigned(f, "a", time.Now().Add(time.Hour))
	f.Add(crt)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = Parse(b)
	})
}

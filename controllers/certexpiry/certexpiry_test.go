package certexpiry

import (
	"context"
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

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/controllers/incidentwriter"
	"github.com/itops-dev/itops-operator/internal/certexpiry"
	"github.com/itops-dev/itops-operator/internal/config"
	"github.com/itops-dev/itops-operator/internal/lifecycle"
	"github.com/itops-dev/itops-operator/test/cluster"
)

func certPEM(t *testing.T, notAfter time.Time) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "web.example.com"},
		NotBefore: notAfter.Add(-90 * 24 * time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// trimmed is the TLS Secret web/web-tls as the cache holds it (TrimSecret applied).
func trimmed(t *testing.T, notAfter time.Time, ann map[string]string) *corev1.Secret {
	t.Helper()
	out, err := certexpiry.TrimSecret(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "web", Name: "web-tls", Annotations: ann},
		Type: corev1.SecretTypeTLS, Data: map[string][]byte{corev1.TLSCertKey: certPEM(t, notAfter), corev1.TLSPrivateKeyKey: []byte("k")}})
	if err != nil {
		t.Fatal(err)
	}
	return out.(*corev1.Secret)
}

func TestReconcileThresholds(t *testing.T) {
	ctx := context.Background()
	day := 24 * time.Hour
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	clock := clocktesting.NewFakePassiveClock(now)
	notAfter := now.Add(40 * day)
	c := fake.NewClientBuilder().WithScheme(cluster.Scheme()).WithStatusSubresource(&itopsv1alpha1.Incident{}).
		WithObjects(trimmed(t, notAfter, map[string]string{certexpiry.CertManagerCertificateAnnotation: "web"})).Build()
	policy := config.CertificateExpiryPolicy{WarnBefore: metav1.Duration{Duration: 30 * day}, CriticalBefore: metav1.Duration{Duration: 7 * day}}
	w := &incidentwriter.Writer{Client: c, Policy: lifecycle.DefaultPolicy, ClusterNamespace: "itops-cluster", Clock: clock}
	r := &Reconciler{Client: c, Writer: w, Policy: policy, Clock: clock, Log: logr.Discard()}
	req := reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "web", Name: "web-tls"}}
	check := func(name string, at time.Time, wantRequeue time.Duration, wantPriority itopsv1alpha1.Priority, wantActive bool) {
		t.Helper()
		clock.SetTime(at)
		res, err := r.Reconcile(ctx, req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if res.RequeueAfter != wantRequeue {
			t.Fatalf("%s: requeue after %s, want %s", name, res.RequeueAfter, wantRequeue)
		}
		list := &itopsv1alpha1.IncidentList{}
		if err := c.List(ctx, list, client.InNamespace("web")); err != nil {
			t.Fatal(err)
		}
		if wantPriority == "" && !wantActive && len(list.Items) == 0 {
			return
		}
		if len(list.Items) != 1 {
			t.Fatalf("%s: want one incident, got %d", name, len(list.Items))
		}
		inc := list.Items[0]
		s := inc.Status.Signals[0]
		if inc.Spec.Reason != itopsv1alpha1.ReasonCertificateExpiring || inc.Spec.Affected[0].Kind != "Certificate" ||
			inc.Spec.Affected[0].Name != "web" || inc.Spec.Affected[1].Name != "web-tls" || s.Active != wantActive ||
			(wantPriority != "" && s.Priority != wantPriority) {
			t.Fatalf("%s: %+v %+v", name, inc.Spec, inc.Status.Signals)
		}
	}
	check("40 days left: requeued at the warning threshold", now, 10*day, "", false)
	check("30 days left: P4, requeued at the critical threshold", now.Add(10*day), 23*day, itopsv1alpha1.PriorityP4, true)
	check("7 days left: P2, requeued at expiry", now.Add(33*day), 7*day, itopsv1alpha1.PriorityP2, true)
	check("expired: P1", notAfter.Add(time.Minute), 0, itopsv1alpha1.PriorityP1, true)

	renewed := trimmed(t, notAfter.Add(90*day), map[string]string{certexpiry.CertManagerCertificateAnnotation: "web"})
	current := &corev1.Secret{}
	if err := c.Get(ctx, req.NamespacedName, current); err != nil {
		t.Fatal(err)
	}
	current.Annotations = renewed.Annotations
	if err := c.Update(ctx, current); err != nil {
		t.Fatal(err)
	}
	check("renewed: cleared, requeued at the new warning threshold", notAfter.Add(2*time.Minute), 60*day-2*time.Minute, "", false)

	// Expiring again, then the Secret is deleted: the Certificate's incident clears.
	if err := c.Delete(ctx, current); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, trimmed(t, notAfter.Add(3*day), map[string]string{certexpiry.CertManagerCertificateAnnotation: "web"})); err != nil {
		t.Fatal(err)
	}
	check("expiring again", notAfter.Add(3*time.Minute), 3*day-3*time.Minute, itopsv1alpha1.PriorityP2, true)
	if err := c.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "web", Name: "web-tls"}}); err != nil {
		t.Fatal(err)
	}
	check("deleted: cleared", notAfter.Add(4*time.Minute), 0, "", false)
}

// TestSignalStartsWhenItFires: a certificate first seen 3 days before expiry (27 days into
// its 30-day warning window) opens an incident detected now, not when the window began (which
// would open it with its SLAs breached); the message says since when.
func TestSignalStartsWhenItFires(t *testing.T) {
	ctx := context.Background()
	day := 24 * time.Hour
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	clock := clocktesting.NewFakePassiveClock(now)
	c := fake.NewClientBuilder().WithScheme(cluster.Scheme()).WithStatusSubresource(&itopsv1alpha1.Incident{}).
		WithObjects(trimmed(t, now.Add(3*day), nil)).Build()
	policy := config.CertificateExpiryPolicy{WarnBefore: metav1.Duration{Duration: 30 * day}, CriticalBefore: metav1.Duration{Duration: 7 * day}}
	w := &incidentwriter.Writer{Client: c, Policy: lifecycle.DefaultPolicy, ClusterNamespace: "itops-cluster", Clock: clock}
	r := &Reconciler{Client: c, Writer: w, Policy: policy, Clock: clock, Log: logr.Discard()}
	if _, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "web", Name: "web-tls"}}); err != nil {
		t.Fatal(err)
	}
	list := &itopsv1alpha1.IncidentList{}
	if err := c.List(ctx, list, client.InNamespace("web")); err != nil || len(list.Items) != 1 {
		t.Fatalf("want one incident: %v %d", err, len(list.Items))
	}
	inc := list.Items[0]
	s := inc.Status.Signals[0]
	if !s.Active || !s.Since.Time.Equal(now) || inc.Annotations[itopsv1alpha1.AnnotationDetectedAt] != "2026-12-01T10:00:00Z" ||
		!strings.Contains(s.Message, "; within warnBefore since 2026-11-04T10:00:00Z") {
		t.Fatalf("signal %+v, detectedAt %q", s, inc.Annotations[itopsv1alpha1.AnnotationDetectedAt])
	}
}

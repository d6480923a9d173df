package certexpiry

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
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

// certificates is the Certificate cache as the detector reads it: trimmed Certificates by
// namespace/name.
type certificates map[types.NamespacedName]*unstructured.Unstructured

func (c certificates) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	got, ok := c[key]
	if !ok {
		return apierrors.NewNotFound(certexpiry.CertificateGVK.GroupVersion().WithResource("certificates").GroupResource(), key.Name)
	}
	got.DeepCopyInto(obj.(*unstructured.Unstructured))
	return nil
}

func (c certificates) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return nil
}

// put stores the Certificate web/web (secret web-tls) as the cache would hold it.
func (c certificates) put(t *testing.T, status map[string]any) {
	t.Helper()
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
		"metadata": map[string]any{"name": "web", "namespace": "web"},
		"spec": map[string]any{"secretName": "web-tls", "commonName": "web.example.com",
			"issuerRef": map[string]any{"kind": "ClusterIssuer", "name": "letsencrypt"}},
		"status": status}}
	out, err := certexpiry.TrimCertificate(u)
	if err != nil {
		t.Fatal(err)
	}
	c[types.NamespacedName{Namespace: "web", Name: "web"}] = out.(*unstructured.Unstructured)
}

// TestCertificateSource: a cert-manager Certificate is judged by its status.notAfter without
// any Secret being readable; cert-manager's renewal state is quoted; renewal clears; an
// annotated Secret and its Certificate give one judgement (no flapping between two writers);
// a deleted Certificate falls back to its Secret while Secrets are watched.
func TestCertificateSource(t *testing.T) {
	ctx := context.Background()
	day := 24 * time.Hour
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	clock := clocktesting.NewFakePassiveClock(now)
	c := fake.NewClientBuilder().WithScheme(cluster.Scheme()).WithStatusSubresource(&itopsv1alpha1.Incident{}).Build()
	policy := config.CertificateExpiryPolicy{WarnBefore: metav1.Duration{Duration: 30 * day}, CriticalBefore: metav1.Duration{Duration: 7 * day}}
	w := &incidentwriter.Writer{Client: c, Policy: lifecycle.DefaultPolicy, ClusterNamespace: "itops-cluster", Clock: clock}
	certs := certificates{}
	r := &Reconciler{Client: c, Writer: w, Policy: policy, Clock: clock, Log: logr.Discard(), Sources: &Sources{}}
	r.Sources.SetCertificates(certs)
	certReq := reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "web", Name: "web"}}
	secretReq := reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "web", Name: "web-tls"}}

	signal := func(name string) (itopsv1alpha1.Incident, *itopsv1alpha1.Signal) {
		t.Helper()
		list := &itopsv1alpha1.IncidentList{}
		if err := c.List(ctx, list, client.InNamespace("web")); err != nil {
			t.Fatal(err)
		}
		if len(list.Items) == 0 {
			return itopsv1alpha1.Incident{}, nil
		}
		if len(list.Items) != 1 {
			t.Fatalf("%s: want one incident, got %d", name, len(list.Items))
		}
		inc := list.Items[0]
		if a := inc.Spec.Affected; len(a) != 2 || a[0].Kind != "Certificate" || a[0].Name != "web" || a[1].Kind != "Secret" || a[1].Name != "web-tls" {
			t.Fatalf("%s: affected %+v", name, a)
		}
		for i := range inc.Status.Signals {
			if inc.Status.Signals[i].Reason == itopsv1alpha1.ReasonCertificateExpiring && inc.Status.Signals[i].Active {
				return inc, &inc.Status.Signals[i]
			}
		}
		return inc, nil
	}
	reconcileAs := func(name string, rec reconcile.Reconciler, req reconcile.Request, wantRequeue time.Duration) {
		t.Helper()
		res, err := rec.Reconcile(ctx, req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if res.RequeueAfter != wantRequeue {
			t.Fatalf("%s: requeue after %s, want %s", name, res.RequeueAfter, wantRequeue)
		}
	}
	certController := CertificateReconciler{r}

	// Issued, 60 days left: nothing, requeued at the warning threshold.
	certs.put(t, map[string]any{"notAfter": now.Add(60 * day).Format(time.RFC3339)})
	reconcileAs("60 days", certController, certReq, 30*day)
	if _, s := signal("60 days"); s != nil {
		t.Fatalf("60 days: signal %+v", s)
	}

	// Never issued (no notAfter), no Secret readable: nothing to judge.
	certs.put(t, map[string]any{})
	reconcileAs("not issued", certController, certReq, 0)

	// 5 days left, renewal overdue and failing: P2, quoted.
	notAfter := now.Add(5 * day)
	certs.put(t, map[string]any{"notAfter": notAfter.Format(time.RFC3339), "renewalTime": now.Add(-25 * day).Format(time.RFC3339),
		"conditions": []any{map[string]any{"type": "Ready", "status": "False", "reason": "Failed", "message": "ACME order failed"}}})
	reconcileAs("5 days", certController, certReq, 5*day)
	_, s := signal("5 days")
	if s == nil || s.Priority != itopsv1alpha1.PriorityP2 || !strings.HasPrefix(s.Message, `Certificate web: certificate "web.example.com" issued by "ClusterIssuer/letsencrypt" expires at`) ||
		!strings.Contains(s.Message, "cert-manager's renewal was due at 2026-11-06T10:00:00Z; Ready=False: Failed: ACME order failed") {
		t.Fatalf("5 days: signal %+v", s)
	}

	// Secrets become readable: the annotated Secret (an older copy, 2 days left) is judged
	// through its Certificate, the same judgement: no flap, one message.
	if err := c.Create(ctx, trimmed(t, now.Add(2*day), map[string]string{certexpiry.CertManagerCertificateAnnotation: "web"})); err != nil {
		t.Fatal(err)
	}
	r.Sources.SetSecrets(c)
	reconcileAs("the Secret, through its Certificate", r, secretReq, 5*day)
	if _, s2 := signal("Secret"); s2 == nil || s2.Message != s.Message || s2.Priority != itopsv1alpha1.PriorityP2 {
		t.Fatalf("the Secret's judgement differs from its Certificate's: %+v vs %+v", s2, s)
	}

	// The Certificate is deleted (cert-manager keeps its Secret): judged by the Secret now.
	delete(certs, certReq.NamespacedName)
	reconcileAs("Certificate deleted", certController, certReq, 2*day)
	if _, s := signal("Certificate deleted"); s == nil || !strings.HasPrefix(s.Message, "Secret web-tls: ") {
		t.Fatalf("Certificate deleted: signal %+v", s)
	}

	// Renewed: the Certificate is back with 90 days, the Secret renewed: cleared.
	certs.put(t, map[string]any{"notAfter": now.Add(90 * day).Format(time.RFC3339)})
	current := &corev1.Secret{}
	if err := c.Get(ctx, secretReq.NamespacedName, current); err != nil {
		t.Fatal(err)
	}
	current.Annotations = trimmed(t, now.Add(90*day), map[string]string{certexpiry.CertManagerCertificateAnnotation: "web"}).Annotations
	if err := c.Update(ctx, current); err != nil {
		t.Fatal(err)
	}
	reconcileAs("renewed", certController, certReq, 60*day)
	inc, s := signal("renewed")
	if s != nil || inc.Name == "" {
		t.Fatalf("renewed: signal %+v on %q", s, inc.Name)
	}
}

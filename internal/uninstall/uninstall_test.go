package uninstall

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

func TestForeign(t *testing.T) {
	cases := []struct {
		in, want []string
	}{
		{nil, []string{}},
		{[]string{itopsv1alpha1.AuditFinalizer}, []string{}},
		{[]string{"a.example/x", itopsv1alpha1.AuditFinalizer, "b.example/y"}, []string{"a.example/x", "b.example/y"}},
		{[]string{"itops.dev/future", "kubernetes"}, []string{"kubernetes"}},
	}
	for _, c := range cases {
		if got := Foreign(c.in); !slices.Equal(got, c.want) || got == nil {
			t.Errorf("Foreign(%v) = %#v, want %#v", c.in, got, c.want)
		}
	}
}

func scheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := itopsv1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

func objMeta(ns, name string, finalizers ...string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, Name: name, Finalizers: finalizers}
}

func TestRunReleasesFinalizersAndSecret(t *testing.T) {
	ctx := context.Background()
	objs := []client.Object{
		&itopsv1alpha1.Incident{ObjectMeta: objMeta("shop", "crash", itopsv1alpha1.AuditFinalizer)},
		&itopsv1alpha1.Incident{ObjectMeta: objMeta("shop", "other", "example.com/keep", itopsv1alpha1.AuditFinalizer)},
		&itopsv1alpha1.Incident{ObjectMeta: objMeta("shop", "plain")},
		&itopsv1alpha1.ChangeRequest{ObjectMeta: objMeta("web", "release", itopsv1alpha1.AuditFinalizer)},
		&itopsv1alpha1.MaintenanceWindow{ObjectMeta: objMeta("web", "mw")},
		&corev1.Secret{ObjectMeta: objMeta("itops-system", "itops-operator-webhook-cert")},
		// Another release's pod with other labels does not hold the wait up.
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "itops-system", Name: "other", Labels: map[string]string{"app": "x"}}},
	}
	c := fake.NewClientBuilder().WithScheme(scheme(t)).WithObjects(objs...).Build()
	res, err := Run(ctx, c, logr.Discard(), Options{
		OperatorNamespace: "itops-system", PodSelector: "app.kubernetes.io/instance=itops",
		WebhookCertSecret: "itops-operator-webhook-cert", WaitTimeout: time.Second, PollInterval: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Incident shop/crash", "Incident shop/other", "ChangeRequest web/release"}
	if !slices.Equal(res.Released, want) {
		t.Errorf("released %v, want %v", res.Released, want)
	}
	if !res.SecretDeleted {
		t.Error("the webhook certificate Secret was not deleted")
	}
	other := &itopsv1alpha1.Incident{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "other"}, other); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(other.Finalizers, []string{"example.com/keep"}) {
		t.Errorf("another controller's finalizer must stay: %v", other.Finalizers)
	}
	crash := &itopsv1alpha1.Incident{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "crash"}, crash); err != nil {
		t.Fatal(err)
	}
	if len(crash.Finalizers) != 0 {
		t.Errorf("audit finalizer still there: %v", crash.Finalizers)
	}

	// Idempotent: a second run (the hook retried) releases nothing and fails on nothing.
	res, err = Run(ctx, c, logr.Discard(), Options{OperatorNamespace: "itops-system", WebhookCertSecret: "itops-operator-webhook-cert"})
	if err != nil || len(res.Released) != 0 || res.SecretDeleted {
		t.Errorf("second run: %+v, %v", res, err)
	}
}

func TestRunWaitsForTheOperatorsPods(t *testing.T) {
	ctx := context.Background()
	c := fake.NewClientBuilder().WithScheme(scheme(t)).WithObjects(
		&itopsv1alpha1.Incident{ObjectMeta: objMeta("shop", "crash", itopsv1alpha1.AuditFinalizer)},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "itops-system", Name: "op-1",
			Labels: map[string]string{"app.kubernetes.io/instance": "itops"}}},
	).Build()
	_, err := Run(ctx, c, logr.Discard(), Options{
		OperatorNamespace: "itops-system", PodSelector: "app.kubernetes.io/instance=itops",
		WaitTimeout: 50 * time.Millisecond, PollInterval: 10 * time.Millisecond,
	})
	if err == nil || !strings.Contains(err.Error(), "1 operator pod(s)") {
		t.Fatalf("want a still-running error, got %v", err)
	}
	inc := &itopsv1alpha1.Incident{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "crash"}, inc); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(inc.Finalizers, itopsv1alpha1.AuditFinalizer) {
		t.Error("nothing may be released while a replica still runs (it would add the finalizer back)")
	}

	if _, err := Run(ctx, c, logr.Discard(), Options{PodSelector: "a in (", OperatorNamespace: "x"}); err == nil {
		t.Error("a bad selector must be an error")
	}
}

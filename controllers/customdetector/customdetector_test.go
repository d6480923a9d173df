package customdetector

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/controllers/incidentwriter"
	"github.com/itops-dev/itops-operator/internal/config"
	"github.com/itops-dev/itops-operator/internal/detector/custom"
	"github.com/itops-dev/itops-operator/internal/lifecycle"
	"github.com/itops-dev/itops-operator/test/cluster"
)

func application(health string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
		"metadata": map[string]any{"name": "guestbook", "namespace": "argocd",
			"annotations": map[string]any{LastAppliedAnnotation: "{...}"}},
		"status": map[string]any{"health": map[string]any{"status": health}},
	}}
	return u
}

// The reconciler through an object's life: healthy, unhealthy within grace (exact requeue),
// firing (one incident, reason Custom, the detector's reason in the signal), healthy again
// (signal cleared), unhealthy again after a restart of the operator (sustained, not re-fired),
// deleted (cleared).
func TestReconcileLifecycle(t *testing.T) {
	ctx := context.Background()
	clock := clocktesting.NewFakePassiveClock(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	app := application("Healthy")
	c := fake.NewClientBuilder().WithScheme(cluster.Scheme()).WithStatusSubresource(&itopsv1alpha1.Incident{}).WithObjects(app).Build()
	d := config.Detector{Name: "argocd-app-degraded", APIVersion: "argoproj.io/v1alpha1", Kind: "Application",
		Unhealthy: "has(object.status.health) && object.status.health.status == 'Degraded'", Reason: "ArgoApplicationDegraded",
		Impact: itopsv1alpha1.LevelMedium, Urgency: itopsv1alpha1.LevelHigh}
	d.GracePeriod = nil // default 5m
	prg, err := custom.Compile(d.Expressions())
	if err != nil {
		t.Fatal(err)
	}
	w := &incidentwriter.Writer{Client: c, Policy: lifecycle.DefaultPolicy, ClusterNamespace: "itops-cluster", Clock: clock,
		CustomReasons: map[string]bool{d.Reason: true}}
	newReconciler := func() *Reconciler {
		return &Reconciler{Reader: c, Writer: w, Detector: d, Program: prg, GVK: d.GVK(), Clock: clock, Log: logr.Discard(),
			firstSeen: map[types.NamespacedName]time.Time{}}
	}
	r := newReconciler()
	req := reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "argocd", Name: "guestbook"}}
	setHealth := func(h string) {
		t.Helper()
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(d.GVK())
		if err := c.Get(ctx, req.NamespacedName, u); err != nil {
			t.Fatal(err)
		}
		u.Object["status"] = map[string]any{"health": map[string]any{"status": h}}
		if err := c.Update(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	incidents := func() []itopsv1alpha1.Incident {
		t.Helper()
		list := &itopsv1alpha1.IncidentList{}
		if err := c.List(ctx, list, client.InNamespace("argocd")); err != nil {
			t.Fatal(err)
		}
		return list.Items
	}
	step := func(name string, advance time.Duration, wantRequeue time.Duration, wantActive *bool) {
		t.Helper()
		clock.SetTime(clock.Now().Add(advance))
		res, err := r.Reconcile(ctx, req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if res.RequeueAfter != wantRequeue {
			t.Fatalf("%s: requeue %s, want %s", name, res.RequeueAfter, wantRequeue)
		}
		incs := incidents()
		if wantActive == nil {
			if len(incs) != 0 {
				t.Fatalf("%s: want no incident, got %d", name, len(incs))
			}
			return
		}
		if len(incs) != 1 {
			t.Fatalf("%s: want one incident, got %d", name, len(incs))
		}
		inc := incs[0]
		if len(inc.Status.Signals) != 1 || inc.Status.Signals[0].Reason != "ArgoApplicationDegraded" || inc.Status.Signals[0].Active != *wantActive {
			t.Fatalf("%s: signals %+v", name, inc.Status.Signals)
		}
		if inc.Spec.Reason != itopsv1alpha1.ReasonCustom || inc.Labels[itopsv1alpha1.LabelReason] != itopsv1alpha1.ReasonCustom ||
			inc.Status.Signals[0].Priority != itopsv1alpha1.PriorityP2 || inc.Spec.Affected[0].Kind != "Application" {
			t.Fatalf("%s: incident %+v", name, inc)
		}
	}
	yes, no := true, false
	step("healthy: nothing", 0, 0, nil)
	setHealth("Degraded")
	step("degraded: within grace, requeued at its end", 0, 5*time.Minute, nil)
	step("still within grace", 3*time.Minute, 2*time.Minute, nil)
	step("grace over: fires", 2*time.Minute, 0, &yes)
	setHealth("Healthy")
	step("healthy again: cleared", 30*time.Second, 0, &no)
	setHealth("Degraded")
	step("degraded again: within grace, the cleared signal stays cleared", 10*time.Second, 5*time.Minute, &no)
	step("fires again", 5*time.Minute, 0, &yes)
	r = newReconciler() // the operator restarts: first-seen times are lost
	step("after a restart: within a new grace period, the open incident stays present", 10*time.Second, 5*time.Minute, &yes)
	if err := c.Delete(ctx, application("")); err != nil {
		t.Fatal(err)
	}
	step("deleted: cleared", 10*time.Second, 0, &no)
}

func TestTrim(t *testing.T) {
	app := application("Healthy")
	app.SetManagedFields([]metav1.ManagedFieldsEntry{{Manager: "argocd-application-controller", Operation: metav1.ManagedFieldsOperationUpdate}})
	out, err := Trim(app)
	if err != nil {
		t.Fatal(err)
	}
	u := out.(*unstructured.Unstructured)
	if u.GetManagedFields() != nil || u.GetAnnotations() != nil {
		t.Fatalf("not trimmed: %+v", u.Object["metadata"])
	}
	if s, _, _ := unstructured.NestedString(u.Object, "status", "health", "status"); s != "Healthy" {
		t.Fatal("status must stay: expressions read it")
	}
}

// TestSignalStartsWhenItFires: an object unhealthy since long before (the since expression)
// fires at once, but its signal and its new incident's detectedAt start now, as every
// detector's do; the message says since when.
func TestSignalStartsWhenItFires(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	clock := clocktesting.NewFakePassiveClock(now)
	app := application("Degraded")
	app.Object["status"].(map[string]any)["health"].(map[string]any)["since"] = "2026-11-01T08:00:00Z"
	c := fake.NewClientBuilder().WithScheme(cluster.Scheme()).WithStatusSubresource(&itopsv1alpha1.Incident{}).WithObjects(app).Build()
	d := config.Detector{Name: "argocd-app-degraded", APIVersion: "argoproj.io/v1alpha1", Kind: "Application",
		Unhealthy: "has(object.status.health) && object.status.health.status == 'Degraded'", Since: "object.status.health.since",
		Reason: "ArgoApplicationDegraded", Impact: itopsv1alpha1.LevelMedium, Urgency: itopsv1alpha1.LevelHigh}
	prg, err := custom.Compile(d.Expressions())
	if err != nil {
		t.Fatal(err)
	}
	w := &incidentwriter.Writer{Client: c, Policy: lifecycle.DefaultPolicy, ClusterNamespace: "itops-cluster", Clock: clock,
		CustomReasons: map[string]bool{d.Reason: true}}
	r := &Reconciler{Reader: c, Writer: w, Detector: d, Program: prg, GVK: d.GVK(), Clock: clock, Log: logr.Discard(),
		firstSeen: map[types.NamespacedName]time.Time{}}
	if _, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "argocd", Name: "guestbook"}}); err != nil {
		t.Fatal(err)
	}
	list := &itopsv1alpha1.IncidentList{}
	if err := c.List(ctx, list, client.InNamespace("argocd")); err != nil || len(list.Items) != 1 {
		t.Fatalf("want one incident: %v %d", err, len(list.Items))
	}
	inc := list.Items[0]
	s := inc.Status.Signals[0]
	if !s.Active || !s.Since.Time.Equal(now) || inc.Annotations[itopsv1alpha1.AnnotationDetectedAt] != "2026-12-01T10:00:00Z" ||
		!strings.Contains(s.Message, "unhealthy since 2026-11-01T08:00:00Z") {
		t.Fatalf("signal %+v, detectedAt %q", s, inc.Annotations[itopsv1alpha1.AnnotationDetectedAt])
	}
}

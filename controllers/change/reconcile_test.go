package change

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/controllers/incidentwriter"
	"github.com/itops-dev/itops-operator/internal/audit"
	"github.com/itops-dev/itops-operator/internal/config"
	"github.com/itops-dev/itops-operator/internal/lifecycle"
	"github.com/itops-dev/itops-operator/test/cluster"
)

// reconcilerWith is a Reconciler on a fake client whose status patches go through patch.
func reconcilerWith(t *testing.T, lines *[]string, patch func(ctx context.Context, c client.Client, obj client.Object) error) (*Reconciler, client.Client) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}
	cr := newChange(approvedBy("bob", t0))
	cr.Finalizers = []string{itopsv1alpha1.AuditFinalizer}
	c := fake.NewClientBuilder().WithScheme(cluster.Scheme()).WithObjects(ns, cr).WithStatusSubresource(cr).
		WithInterceptorFuncs(interceptor.Funcs{SubResourcePatch: func(ctx context.Context, c client.Client, _ string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			if err := patch(ctx, c, obj); err != nil {
				return err
			}
			return c.Status().Patch(ctx, obj, p, opts...)
		}}).Build()
	policy := config.Default()
	r := &Reconciler{Client: c, Recorder: events.NewFakeRecorder(16), Policy: policy,
		Audit:     audit.New(funcr.NewJSON(func(line string) { *lines = append(*lines, line) }, funcr.Options{})),
		Incidents: &incidentwriter.Writer{Client: c, Policy: lifecycle.DefaultPolicy, ClusterNamespace: "itops-cluster"},
		Clock:     clocktesting.NewFakePassiveClock(t0.Add(time.Minute))}
	return r, c
}

// A transition is written to the audit trail exactly once, also when the status patch
// conflicts and is retried; the conflict is no error (issue 11).
func TestReconcileAuditsATransitionOnceAcrossConflicts(t *testing.T) {
	var lines []string
	conflicts := 1
	r, _ := reconcilerWith(t, &lines, func(context.Context, client.Client, client.Object) error {
		if conflicts > 0 {
			conflicts--
			return apierrors.NewConflict(schema.GroupResource{Group: "itops.dev", Resource: "changerequests"}, "web-v2", errors.New("the object has been modified"))
		}
		return nil
	})
	req := ctrl.Request{NamespacedName: client.ObjectKey{Namespace: "shop", Name: "web-v2"}}
	for i := range 3 {
		res, err := r.Reconcile(context.Background(), req)
		if err != nil {
			t.Fatalf("reconcile %d: %v (a conflict is retried quietly)", i, err)
		}
		// The conflict may be on another object (an incident), whose update brings no event
		// for the change: it must come back by itself (a stalled change stayed InProgress).
		if i == 0 && res.RequeueAfter == 0 {
			t.Fatalf("reconcile %d lost a conflict and asked for no retry", i)
		}
	}
	approved := 0
	for _, l := range lines {
		if strings.Contains(l, `"transition":"Approved"`) {
			approved++
		}
	}
	if approved != 1 {
		t.Errorf("the Approved transition was audited %d times, want once:\n%s", approved, strings.Join(lines, "\n"))
	}
}

// A reconcile that keeps failing shows it: Ready=False, reason ReconcileError, the error as
// message (issue 11).
func TestReconcileShowsItsError(t *testing.T) {
	var lines []string
	r, c := reconcilerWith(t, &lines, func(_ context.Context, _ client.Client, obj client.Object) error {
		cr := obj.(*itopsv1alpha1.ChangeRequest)
		if c := meta.FindStatusCondition(cr.Status.Conditions, itopsv1alpha1.ConditionReady); c != nil && c.Reason == itopsv1alpha1.ChangeReasonReconcileError {
			return nil // the error report itself goes through
		}
		return apierrors.NewInternalError(errors.New("etcdserver: request timed out"))
	})
	req := ctrl.Request{NamespacedName: client.ObjectKey{Namespace: "shop", Name: "web-v2"}}
	if _, err := r.Reconcile(context.Background(), req); err == nil {
		t.Fatal("want the error returned for backoff")
	}
	cr := &itopsv1alpha1.ChangeRequest{}
	if err := c.Get(context.Background(), req.NamespacedName, cr); err != nil {
		t.Fatal(err)
	}
	ready := meta.FindStatusCondition(cr.Status.Conditions, itopsv1alpha1.ConditionReady)
	if ready == nil || ready.Status != metav1.ConditionFalse || ready.Reason != itopsv1alpha1.ChangeReasonReconcileError ||
		!strings.Contains(ready.Message, "etcdserver: request timed out") {
		t.Errorf("Ready = %+v, want False/ReconcileError with the error", ready)
	}
	for _, l := range lines {
		if strings.Contains(l, `"transition":"Approved"`) {
			t.Errorf("a transition whose status was never written was audited: %s", l)
		}
	}
}

package servicelevel

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
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
	"github.com/itops-dev/itops-operator/test/cluster"
)

func failingReconciler(t *testing.T, funcs interceptor.Funcs) (*Reconciler, client.Client, ctrl.Request) {
	t.Helper()
	now := time.Date(2027, 1, 1, 12, 0, 0, 0, time.UTC)
	sl := &itopsv1alpha1.ServiceLevel{
		ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: "shop", Generation: 1},
		Spec: itopsv1alpha1.ServiceLevelSpec{Selector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Objectives: &itopsv1alpha1.Objectives{Availability: "99.9"}},
	}
	c := fake.NewClientBuilder().WithScheme(cluster.Scheme()).WithObjects(sl).WithStatusSubresource(sl).WithInterceptorFuncs(funcs).Build()
	clk := clocktesting.NewFakePassiveClock(now)
	r := &Reconciler{Client: c, Recorder: events.NewFakeRecorder(10), Audit: audit.New(logr.Discard()), Clock: clk,
		Incidents: &incidentwriter.Writer{Client: c, Clock: clk}, ClusterNamespace: "itops-cluster"}
	return r, c, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(sl)}
}

// TestFailureShowsAsReadyFalse: a reconcile that keeps failing says so in Ready=False with the
// error, for kstatus, Flux and Argo CD.
func TestFailureShowsAsReadyFalse(t *testing.T) {
	r, c, req := failingReconciler(t, interceptor.Funcs{
		List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			if _, ok := list.(*appsv1.DeploymentList); ok {
				return errors.New("the cache is not reachable")
			}
			return c.List(ctx, list, opts...)
		},
	})
	if _, err := r.Reconcile(context.Background(), req); err == nil {
		t.Fatal("reconcile succeeded, want the error (retried with backoff)")
	}
	sl := &itopsv1alpha1.ServiceLevel{}
	if err := c.Get(context.Background(), req.NamespacedName, sl); err != nil {
		t.Fatal(err)
	}
	ready := meta.FindStatusCondition(sl.Status.Conditions, itopsv1alpha1.ConditionReady)
	if ready == nil || ready.Status != metav1.ConditionFalse || ready.Reason != reasonReconcileFailed ||
		!strings.Contains(ready.Message, "the cache is not reachable") {
		t.Fatalf("Ready = %+v, want False/ReconcileFailed with the error", ready)
	}
}

// TestConflictRetriedQuietly: a status patch that conflicts is no error (no error log), and
// is retried soon.
func TestConflictRetriedQuietly(t *testing.T) {
	r, _, req := failingReconciler(t, interceptor.Funcs{
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			return apierrors.NewConflict(schema.GroupResource{Group: "itops.dev", Resource: "servicelevels"}, obj.GetName(), nil)
		},
	})
	res, err := r.Reconcile(context.Background(), req)
	if err != nil || res.RequeueAfter != conflictRetryAfter {
		t.Fatalf("Reconcile = %+v, %v; want a quiet retry after %s", res, err, conflictRetryAfter)
	}
}

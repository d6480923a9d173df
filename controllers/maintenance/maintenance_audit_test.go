package maintenance

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/audit"
	"github.com/itops-dev/itops-operator/test/cluster"
)

// TestTransitionAuditedOnceAcrossConflicts: a window opening whose first status patch
// conflicts is audited once, after the retried patch succeeded, and the conflict is no error.
func TestTransitionAuditedOnceAcrossConflicts(t *testing.T) {
	now := time.Date(2027, 1, 1, 12, 0, 0, 0, time.UTC)
	mw := &itopsv1alpha1.MaintenanceWindow{
		ObjectMeta: metav1.ObjectMeta{Name: "night", Namespace: "shop", Generation: 1},
		Spec: itopsv1alpha1.MaintenanceWindowSpec{Type: itopsv1alpha1.WindowMaintenance, TimeZone: "UTC",
			Schedules: []itopsv1alpha1.WindowSchedule{{Start: &metav1.Time{Time: now.Add(-time.Minute)}, End: &metav1.Time{Time: now.Add(time.Hour)}}}},
	}
	conflicts := 1
	c := fake.NewClientBuilder().WithScheme(cluster.Scheme()).WithObjects(mw).WithStatusSubresource(mw).
		WithInterceptorFuncs(interceptor.Funcs{
			SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
				if conflicts > 0 {
					conflicts--
					return apierrors.NewConflict(schema.GroupResource{Group: "itops.dev", Resource: "maintenancewindows"}, obj.GetName(), nil)
				}
				return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
			},
		}).Build()
	var records []string
	log := funcr.New(func(prefix, args string) {
		if strings.Contains(args, `"audit"=true`) {
			records = append(records, args)
		}
	}, funcr.Options{})
	r := &Reconciler{Client: c, Recorder: events.NewFakeRecorder(10), Audit: audit.New(log), Clock: clocktesting.NewFakePassiveClock(now)}
	req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(mw)}
	for i := range 3 {
		if _, err := r.Reconcile(context.Background(), req); err != nil {
			t.Fatalf("reconcile %d: %v (a conflict is retried quietly, not an error)", i, err)
		}
	}
	if len(records) != 1 || !strings.Contains(records[0], `"transition"="Active"`) {
		t.Fatalf("audit records = %q, want exactly one Active transition", records)
	}
	got := &itopsv1alpha1.MaintenanceWindow{}
	if err := c.Get(context.Background(), req.NamespacedName, got); err != nil || got.Status.Phase != itopsv1alpha1.WindowActive {
		t.Fatalf("phase = %s (%v), want Active", got.Status.Phase, err)
	}
}

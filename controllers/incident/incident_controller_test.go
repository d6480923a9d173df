package incident

import (
	"context"
	"errors"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/test/cluster"
)

// A reconcile that fails says so in Ready, with the error, and returns it for a retry.
func TestFailedReconcileShowsInReady(t *testing.T) {
	ctx := context.Background()
	inc := &itopsv1alpha1.Incident{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "shop"},
		Spec: itopsv1alpha1.IncidentSpec{Title: "x"}}
	c := fake.NewClientBuilder().WithScheme(cluster.Scheme()).WithStatusSubresource(&itopsv1alpha1.Incident{}).WithObjects(inc).Build()
	r := &Reconciler{Client: c}
	cause := errors.New(`listing maintenance windows: the server is currently unable to handle the request`)
	if _, err := r.failed(ctx, inc, now, cause); !errors.Is(err, cause) {
		t.Fatalf("err = %v, want the cause returned for a retry", err)
	}
	got := &itopsv1alpha1.Incident{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(inc), got); err != nil {
		t.Fatal(err)
	}
	ready := meta.FindStatusCondition(got.Status.Conditions, itopsv1alpha1.ConditionReady)
	if ready == nil || ready.Status != metav1.ConditionFalse || ready.Reason != itopsv1alpha1.ReasonReconcileError ||
		ready.Message != "reconcile failed, retrying: "+cause.Error() {
		t.Errorf("Ready = %+v, want False with the error", ready)
	}
}

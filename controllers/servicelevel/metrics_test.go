package servicelevel

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/test/cluster"
)

// TestScrapeReadsOnlyServiceLevels: a metrics scrape computes the figures from the books in
// status and the clock; it lists ServiceLevels and nothing else (no workloads, no
// MaintenanceWindows, so no calendar is evaluated) and never writes (issue 13: the scrape
// redid the books per selected workload on every replica). A Maintenance window that covers
// the booked outage is in the client: the scrape does not book it (the reconciler does, at the
// window's boundaries), so the availability is the one the books give.
func TestScrapeReadsOnlyServiceLevels(t *testing.T) {
	now := t0
	sl := newSL(tracked)
	sl.Status.Outages = []itopsv1alpha1.Outage{{Start: metav1.Time{Time: now.Add(-3 * time.Hour)}, End: &metav1.Time{Time: now.Add(-2 * time.Hour)}}}
	mw := &itopsv1alpha1.MaintenanceWindow{
		ObjectMeta: metav1.ObjectMeta{Namespace: sl.Namespace, Name: "every-minute", Generation: 1, CreationTimestamp: metav1.NewTime(now.Add(-24 * time.Hour))},
		Spec: itopsv1alpha1.MaintenanceWindowSpec{Type: itopsv1alpha1.WindowMaintenance, TimeZone: "UTC",
			Schedules: []itopsv1alpha1.WindowSchedule{{Cron: "* * * * *", Duration: &metav1.Duration{Duration: time.Minute}}}},
	}
	deploy := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: sl.Namespace, Name: "shop", Labels: map[string]string{"app": "shop"}}}

	var reads []string
	record := func(kind string) { reads = append(reads, kind) }
	c := fake.NewClientBuilder().WithScheme(cluster.Scheme()).WithObjects(sl, mw, deploy).
		WithInterceptorFuncs(interceptor.Funcs{
			List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
				record(fmt.Sprintf("list %T", list))
				return c.List(ctx, list, opts...)
			},
			Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
				record(fmt.Sprintf("get %T", obj))
				return c.Get(ctx, key, obj, opts...)
			},
			Create: func(context.Context, client.WithWatch, client.Object, ...client.CreateOption) error {
				record("create")
				return nil
			},
			Patch: func(context.Context, client.WithWatch, client.Object, client.Patch, ...client.PatchOption) error {
				record("patch")
				return nil
			},
			Update: func(context.Context, client.WithWatch, client.Object, ...client.UpdateOption) error {
				record("update")
				return nil
			},
			SubResourcePatch: func(context.Context, client.Client, string, client.Object, client.Patch, ...client.SubResourcePatchOption) error {
				record("status patch")
				return nil
			},
			SubResourceUpdate: func(context.Context, client.Client, string, client.Object, ...client.SubResourceUpdateOption) error {
				record("status update")
				return nil
			},
		}).Build()

	registry := prometheus.NewRegistry()
	registry.MustRegister(collector{r: &Reconciler{Client: c, Clock: clocktesting.NewFakePassiveClock(now)}})
	want, _, err := measure(sl, now)
	if err != nil || want.Availability == nil {
		t.Fatalf("measure: %v, availability %v", err, want.Availability)
	}
	var got float64
	found := false
	for scrape := range 2 {
		reads = nil
		families, err := registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		if len(reads) != 1 || reads[0] != "list *v1alpha1.ServiceLevelList" {
			t.Fatalf("scrape %d read or wrote %q, want only the ServiceLevel list", scrape, reads)
		}
		for _, f := range families {
			if f.GetName() == "itops_servicelevel_availability_ratio" && len(f.GetMetric()) == 1 {
				got, found = f.GetMetric()[0].GetGauge().GetValue(), true
			}
		}
	}
	if wantF := float(want.Availability); !found || got != wantF || got >= 1 {
		t.Errorf("availability = %v (exported: %t), want %v from the books (the booked outage counts: below 1)", got, found, wantF)
	}
}

package capacity

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/controllers/incidentwriter"
	"github.com/itops-dev/itops-operator/internal/capacity"
	"github.com/itops-dev/itops-operator/internal/lifecycle"
	"github.com/itops-dev/itops-operator/test/cluster"
)

var start = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func setup(t *testing.T, objs ...client.Object) (client.Client, *incidentwriter.Writer, *clocktesting.FakePassiveClock) {
	t.Helper()
	clock := clocktesting.NewFakePassiveClock(start)
	c := fake.NewClientBuilder().WithScheme(cluster.Scheme()).WithStatusSubresource(&itopsv1alpha1.Incident{}).WithObjects(objs...).Build()
	return c, &incidentwriter.Writer{Client: c, Policy: lifecycle.DefaultPolicy, ClusterNamespace: "itops-cluster", Clock: clock}, clock
}

// incidentOf returns the only incident in ns (nil for none) and fails on more.
func incidentOf(t *testing.T, c client.Client, ns string) *itopsv1alpha1.Incident {
	t.Helper()
	list := &itopsv1alpha1.IncidentList{}
	if err := c.List(context.Background(), list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	switch len(list.Items) {
	case 0:
		return nil
	case 1:
		return &list.Items[0]
	}
	t.Fatalf("want at most one incident in %s, got %d", ns, len(list.Items))
	return nil
}

func signal(inc *itopsv1alpha1.Incident, reason string) *itopsv1alpha1.Signal {
	if inc == nil {
		return nil
	}
	for i := range inc.Status.Signals {
		if inc.Status.Signals[i].Reason == reason {
			return &inc.Status.Signals[i]
		}
	}
	return nil
}

func reconcileOK(t *testing.T, r reconcile.Reconciler, ns, name string) reconcile.Result {
	t.Helper()
	res, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestAutoscalerLimited: an HPA without metrics (ScalingActive=False, FailedGetResourceMetric)
// waits its grace period, then opens the incident of its Deployment, listing the HPA, with the
// HPA's own message; deleting the HPA clears the signal.
func TestAutoscalerLimited(t *testing.T) {
	h := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-hpa"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MaxReplicas: 5,
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"}},
		Status: autoscalingv2.HorizontalPodAutoscalerStatus{CurrentReplicas: 1, DesiredReplicas: 1, Conditions: []autoscalingv2.HorizontalPodAutoscalerCondition{
			{Type: autoscalingv2.ScalingActive, Status: corev1.ConditionFalse, Reason: "FailedGetResourceMetric", LastTransitionTime: metav1.NewTime(start),
				Message: "the HPA was unable to compute the replica count: failed to get cpu utilization: unable to get metrics for resource cpu"}}},
	}
	c, w, clock := setup(t, h)
	r := &AutoscalerReconciler{Client: c, Writer: w, Clock: clock, Log: logr.Discard(),
		Policy: capacity.AutoscalerPolicy{Grace: 10 * time.Minute, SaturatedFor: 15 * time.Minute}}

	if res := reconcileOK(t, r, "shop", "web-hpa"); res.RequeueAfter != 10*time.Minute || incidentOf(t, c, "shop") != nil {
		t.Fatalf("within grace: requeue %s, incident %v", res.RequeueAfter, incidentOf(t, c, "shop"))
	}
	clock.SetTime(start.Add(10 * time.Minute))
	if res := reconcileOK(t, r, "shop", "web-hpa"); res.RequeueAfter != 0 {
		t.Fatalf("firing: requeue %s", res.RequeueAfter)
	}
	inc := incidentOf(t, c, "shop")
	s := signal(inc, itopsv1alpha1.ReasonAutoscalerLimited)
	if inc == nil || s == nil || !s.Active || s.Priority != itopsv1alpha1.PriorityP3 || inc.Spec.Reason != itopsv1alpha1.ReasonAutoscalerLimited ||
		inc.Spec.Affected[0].Kind != "Deployment" || inc.Spec.Affected[0].Name != "web" ||
		inc.Spec.Affected[1].Kind != "HorizontalPodAutoscaler" || inc.Spec.Affected[1].Name != "web-hpa" ||
		!strings.Contains(s.Message, "since 2026-12-01T10:00:00Z: the HPA was unable") || !s.Since.Time.Equal(start.Add(10*time.Minute)) {
		t.Fatalf("incident %+v signal %+v", inc, s)
	}
	if err := c.Delete(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	reconcileOK(t, r, "shop", "web-hpa")
	if s := signal(incidentOf(t, c, "shop"), itopsv1alpha1.ReasonAutoscalerLimited); s == nil || s.Active {
		t.Fatalf("deleted HPA: the signal must clear, got %+v", s)
	}
}

// TestAutoscalerPinned: an HPA resting at maxReplicas (the controller clamps desiredReplicas,
// so current == desired == max) with ScalingLimited=False never fires; ScalingLimited=True
// with TooManyReplicas fires after saturatedFor from when it was first seen (not from the
// condition's older transition time); after a restart the first-seen time comes back from the
// incident; scaling back below max clears.
func TestAutoscalerPinned(t *testing.T) {
	limited := func(status corev1.ConditionStatus, reason string, at time.Time) []autoscalingv2.HorizontalPodAutoscalerCondition {
		return []autoscalingv2.HorizontalPodAutoscalerCondition{{Type: autoscalingv2.ScalingLimited, Status: status, Reason: reason,
			Message: "the desired replica count is more than the maximum replica count", LastTransitionTime: metav1.NewTime(at)}}
	}
	h := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "api"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: ptr.To[int32](2), MaxReplicas: 4,
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "StatefulSet", Name: "api"}},
		Status: autoscalingv2.HorizontalPodAutoscalerStatus{CurrentReplicas: 4, DesiredReplicas: 4,
			Conditions: limited(corev1.ConditionFalse, "DesiredWithinRange", start.Add(-time.Hour))},
	}
	c, w, clock := setup(t, h)
	policy := capacity.AutoscalerPolicy{Grace: time.Minute, SaturatedFor: 15 * time.Minute}
	r := &AutoscalerReconciler{Client: c, Writer: w, Clock: clock, Log: logr.Discard(), Policy: policy}
	if res := reconcileOK(t, r, "shop", "api"); res.RequeueAfter != 0 || incidentOf(t, c, "shop") != nil {
		t.Fatalf("at max within range: requeue %s, incident %v", res.RequeueAfter, incidentOf(t, c, "shop"))
	}
	clock.SetTime(start.Add(time.Hour))
	if reconcileOK(t, r, "shop", "api"); incidentOf(t, c, "shop") != nil {
		t.Fatal("an hour at max within range: nothing to report")
	}
	// ScalingLimited was True (ScaleUpLimit) since 10:00; only its reason turns TooManyReplicas at 11:00.
	setStatus := func(current, desired int32, conds []autoscalingv2.HorizontalPodAutoscalerCondition) {
		t.Helper()
		h := &autoscalingv2.HorizontalPodAutoscaler{}
		if err := c.Get(context.Background(), types.NamespacedName{Namespace: "shop", Name: "api"}, h); err != nil {
			t.Fatal(err)
		}
		h.Status.CurrentReplicas, h.Status.DesiredReplicas, h.Status.Conditions = current, desired, conds
		if err := c.Update(context.Background(), h); err != nil {
			t.Fatal(err)
		}
	}
	setStatus(4, 4, limited(corev1.ConditionTrue, capacity.ReasonTooManyReplicas, start))
	if res := reconcileOK(t, r, "shop", "api"); res.RequeueAfter != 15*time.Minute || incidentOf(t, c, "shop") != nil {
		t.Fatalf("first seen TooManyReplicas: requeue %s, want 15m", res.RequeueAfter)
	}
	clock.SetTime(start.Add(time.Hour + 15*time.Minute))
	reconcileOK(t, r, "shop", "api")
	inc := incidentOf(t, c, "shop")
	s := signal(inc, itopsv1alpha1.ReasonAutoscalerLimited)
	if s == nil || !s.Active || inc.Spec.Affected[0].APIVersion != "apps/v1" ||
		!strings.Contains(s.Message, "at maxReplicas (4) and wants more since 2026-12-01T11:00:00Z: ScalingLimited=True (TooManyReplicas)") {
		t.Fatalf("pinned: %+v %+v", inc, s)
	}
	// A restart: a new reconciler takes the first-seen time back from the incident's signal.
	r = &AutoscalerReconciler{Client: c, Writer: w, Clock: clock, Log: logr.Discard(), Policy: policy}
	clock.SetTime(start.Add(time.Hour + 20*time.Minute))
	reconcileOK(t, r, "shop", "api")
	if s := signal(incidentOf(t, c, "shop"), itopsv1alpha1.ReasonAutoscalerLimited); s == nil || !s.Active ||
		!strings.Contains(s.Message, "wants more since 2026-12-01T11:00:00Z") {
		t.Fatalf("after a restart: %+v", s)
	}
	setStatus(3, 2, limited(corev1.ConditionFalse, "DesiredWithinRange", start.Add(90*time.Minute)))
	reconcileOK(t, r, "shop", "api")
	if s := signal(incidentOf(t, c, "shop"), itopsv1alpha1.ReasonAutoscalerLimited); s == nil || s.Active {
		t.Fatalf("scaled down: the signal must clear, got %+v", s)
	}
}

// TestAutoscalerSweepsOnlyWhenNeeded: incidents are listed at the first reconcile (the sweep
// over every namespace) and when an HPA is retargeted or gone, not on each status write; a
// retargeted HPA clears the signal of its old target.
func TestAutoscalerSweepsOnlyWhenNeeded(t *testing.T) {
	h := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MaxReplicas: 5,
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"}},
		Status: autoscalingv2.HorizontalPodAutoscalerStatus{CurrentReplicas: 1, DesiredReplicas: 1, Conditions: []autoscalingv2.HorizontalPodAutoscalerCondition{
			{Type: autoscalingv2.ScalingActive, Status: corev1.ConditionFalse, Reason: "FailedGetResourceMetric", LastTransitionTime: metav1.NewTime(start.Add(-time.Hour))}}},
	}
	listed := 0
	clock := clocktesting.NewFakePassiveClock(start)
	c := fake.NewClientBuilder().WithScheme(cluster.Scheme()).WithStatusSubresource(&itopsv1alpha1.Incident{}).WithObjects(h).
		WithInterceptorFuncs(interceptor.Funcs{List: func(ctx context.Context, cl client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			if _, ok := list.(*itopsv1alpha1.IncidentList); ok {
				listed++
			}
			return cl.List(ctx, list, opts...)
		}}).Build()
	w := &incidentwriter.Writer{Client: c, Policy: lifecycle.DefaultPolicy, ClusterNamespace: "itops-cluster", Clock: clock}
	r := &AutoscalerReconciler{Client: c, Writer: w, Clock: clock, Log: logr.Discard(),
		Policy: capacity.AutoscalerPolicy{Grace: 10 * time.Minute, SaturatedFor: 15 * time.Minute}}
	reconcileOK(t, r, "shop", "web")
	if s := signal(incidentOf(t, c, "shop"), itopsv1alpha1.ReasonAutoscalerLimited); s == nil || !s.Active {
		t.Fatalf("firing: %+v", s)
	}
	listed = 0
	for range 5 {
		reconcileOK(t, r, "shop", "web")
	}
	if listed != 5 { // the writer's own label-selected lookup per write, no namespace sweep on top
		t.Fatalf("unchanged HPA: %d incident lists for 5 reconciles, want 5", listed)
	}
	h = &autoscalingv2.HorizontalPodAutoscaler{}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "shop", Name: "web"}, h); err != nil {
		t.Fatal(err)
	}
	h.Spec.ScaleTargetRef.Name = "web-v2"
	if err := c.Update(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	reconcileOK(t, r, "shop", "web")
	list := &itopsv1alpha1.IncidentList{}
	if err := c.List(context.Background(), list, client.InNamespace("shop")); err != nil {
		t.Fatal(err)
	}
	for _, inc := range list.Items {
		s := signal(&inc, itopsv1alpha1.ReasonAutoscalerLimited)
		if inc.Spec.Affected[0].Name == "web" && (s == nil || s.Active) {
			t.Fatalf("the old target's signal must clear: %+v", s)
		}
		if inc.Spec.Affected[0].Name == "web-v2" && (s == nil || !s.Active) {
			t.Fatalf("the new target fires: %+v", s)
		}
	}
}

// TestDisruptionBlocked: minAvailable 1 over one pod blocks drains: P4 after the grace period
// (from the DisruptionAllowed condition); a second replica clears it.
func TestDisruptionBlocked(t *testing.T) {
	one := intstr.FromInt32(1)
	p := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: "db", Name: "pg", Generation: 1},
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: &one},
		Status: policyv1.PodDisruptionBudgetStatus{ObservedGeneration: 1, ExpectedPods: 1, DesiredHealthy: 1, CurrentHealthy: 1,
			Conditions: []metav1.Condition{{Type: policyv1.DisruptionAllowedCondition, Status: metav1.ConditionFalse,
				Reason: policyv1.InsufficientPodsReason, LastTransitionTime: metav1.NewTime(start.Add(-30 * time.Minute))}}},
	}
	c, w, clock := setup(t, p)
	r := &DisruptionReconciler{Client: c, Writer: w, Clock: clock, Log: logr.Discard(), Grace: time.Hour}
	if res := reconcileOK(t, r, "db", "pg"); res.RequeueAfter != 30*time.Minute || incidentOf(t, c, "db") != nil {
		t.Fatalf("within grace: requeue %s", res.RequeueAfter)
	}
	clock.SetTime(start.Add(30 * time.Minute))
	reconcileOK(t, r, "db", "pg")
	inc := incidentOf(t, c, "db")
	s := signal(inc, itopsv1alpha1.ReasonDisruptionBlocked)
	if s == nil || !s.Active || s.Priority != itopsv1alpha1.PriorityP4 || inc.Spec.Affected[0].Kind != "PodDisruptionBudget" ||
		!strings.Contains(s.Message, "a node drain") {
		t.Fatalf("blocked: %+v %+v", inc, s)
	}
	p.Status.ExpectedPods, p.Status.CurrentHealthy, p.Status.DisruptionsAllowed = 2, 2, 1
	if err := c.Status().Update(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	reconcileOK(t, r, "db", "pg")
	if s := signal(incidentOf(t, c, "db"), itopsv1alpha1.ReasonDisruptionBlocked); s == nil || s.Active {
		t.Fatalf("a disruption allowed: the signal must clear, got %+v", s)
	}
}

// TestDisruptionBlockedByOverlap: two budgets selecting the same running pods block their
// eviction (the eviction API refuses a pod under more than one budget): each budget's incident
// says so, naming both, even though each allows a disruption; deleting one clears the other.
func TestDisruptionBlockedByOverlap(t *testing.T) {
	one := intstr.FromInt32(1)
	budget := func(name string, sel map[string]string) *policyv1.PodDisruptionBudget {
		return &policyv1.PodDisruptionBudget{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, Generation: 1, CreationTimestamp: metav1.NewTime(start.Add(-2 * time.Hour))},
			Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: &one, Selector: &metav1.LabelSelector{MatchLabels: sel}},
			Status:     policyv1.PodDisruptionBudgetStatus{ObservedGeneration: 1, ExpectedPods: 3, DesiredHealthy: 1, CurrentHealthy: 3, DisruptionsAllowed: 2},
		}
	}
	pod := func(name string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, Labels: map[string]string{"app": "web", "tier": "front"}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	}
	web, front := budget("web", map[string]string{"app": "web"}), budget("front", map[string]string{"tier": "front"})
	c, w, clock := setup(t, web, front, pod("web-1"), pod("web-2"), pod("web-3"))
	r := &DisruptionReconciler{Client: c, Writer: w, Clock: clock, Log: logr.Discard(), Grace: time.Hour}
	reconcileOK(t, r, "shop", "web")
	list := &itopsv1alpha1.IncidentList{}
	if err := c.List(context.Background(), list, client.InNamespace("shop")); err != nil || len(list.Items) != 1 {
		t.Fatalf("one incident for the budget web: %v %+v", err, list.Items)
	}
	s := signal(&list.Items[0], itopsv1alpha1.ReasonDisruptionBlocked)
	if s == nil || !s.Active || s.Priority != itopsv1alpha1.PriorityP4 || list.Items[0].Spec.Affected[0].Name != "web" ||
		!strings.Contains(s.Message, "PodDisruptionBudgets web and front select the same pods (3, web-1 first)") {
		t.Fatalf("overlap: %+v", s)
	}
	if err := c.Delete(context.Background(), front); err != nil {
		t.Fatal(err)
	}
	reconcileOK(t, r, "shop", "web")
	if err := c.List(context.Background(), list, client.InNamespace("shop")); err != nil {
		t.Fatal(err)
	}
	if s := signal(&list.Items[0], itopsv1alpha1.ReasonDisruptionBlocked); s == nil || s.Active {
		t.Fatalf("one budget left: the signal must clear, got %+v", s)
	}
}

// TestCronJobMissedSchedule: exact requeue until the run is missed, then the signal; a new
// run clears it; an invalid schedule fires at once.
func TestCronJobMissedSchedule(t *testing.T) {
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Namespace: "batch", Name: "report", CreationTimestamp: metav1.NewTime(start.Add(-time.Hour))},
		Spec:       batchv1.CronJobSpec{Schedule: "*/15 * * * *", TimeZone: ptr.To("Europe/Berlin")},
		Status:     batchv1.CronJobStatus{LastScheduleTime: ptr.To(metav1.NewTime(start))},
	}
	bad := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Namespace: "batch2", Name: "broken"},
		Spec:       batchv1.CronJobSpec{Schedule: "0 25 * * *"},
	}
	c, w, clock := setup(t, cj, bad)
	r := &CronJobReconciler{Client: c, Writer: w, Clock: clock, Log: logr.Discard(), Grace: 5 * time.Minute}
	if res := reconcileOK(t, r, "batch", "report"); res.RequeueAfter != 20*time.Minute {
		t.Fatalf("on time: requeue %s, want 20m (the 10:15 run plus 5m)", res.RequeueAfter)
	}
	clock.SetTime(start.Add(20 * time.Minute))
	reconcileOK(t, r, "batch", "report")
	inc := incidentOf(t, c, "batch")
	s := signal(inc, itopsv1alpha1.ReasonCronJobMissedSchedule)
	if s == nil || !s.Active || inc.Spec.Affected[0].Kind != "CronJob" || !s.Since.Time.Equal(start.Add(20*time.Minute)) ||
		!strings.Contains(s.Message, "did not start the run due at 2026-12-01T10:15:00Z") {
		t.Fatalf("missed: %+v %+v", inc, s)
	}
	cj.Status.LastScheduleTime = ptr.To(metav1.NewTime(start.Add(15 * time.Minute)))
	if err := c.Status().Update(context.Background(), cj); err != nil {
		t.Fatal(err)
	}
	if res := reconcileOK(t, r, "batch", "report"); res.RequeueAfter != 15*time.Minute {
		t.Fatalf("ran: requeue %s, want 15m (the 10:30 run plus 5m)", res.RequeueAfter)
	}
	if s := signal(incidentOf(t, c, "batch"), itopsv1alpha1.ReasonCronJobMissedSchedule); s == nil || s.Active {
		t.Fatalf("ran: the signal must clear, got %+v", s)
	}
	reconcileOK(t, r, "batch2", "broken")
	if s := signal(incidentOf(t, c, "batch2"), itopsv1alpha1.ReasonCronJobMissedSchedule); s == nil || !s.Active || !strings.Contains(s.Message, "invalid schedule") {
		t.Fatalf("invalid schedule: %+v", s)
	}
	if err := c.Delete(context.Background(), bad); err != nil {
		t.Fatal(err)
	}
	reconcileOK(t, r, "batch2", "broken")
	if s := signal(incidentOf(t, c, "batch2"), itopsv1alpha1.ReasonCronJobMissedSchedule); s == nil || s.Active {
		t.Fatalf("deleted: the signal must clear, got %+v", s)
	}
}

type fakeMetrics struct {
	served bool
	usage  []PodUsage
	err    error
}

func (f *fakeMetrics) Served(context.Context) (bool, error) { return f.served, nil }
func (f *fakeMetrics) PodMetrics(context.Context) ([]PodUsage, error) {
	if f.err != nil {
		return nil, f.err
	}
	return f.usage, nil
}

// TestMemoryNearLimit: nothing while metrics.k8s.io is not served; a container at 95% of its
// limit for the duration opens its Deployment's incident (pod -> ReplicaSet -> Deployment);
// dropping below clears.
func TestMemoryNearLimit(t *testing.T) {
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", UID: "d1"}}
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-abc", UID: "r1",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: "d1", Controller: ptr.To(true)}}}}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-abc-1",
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-abc", UID: "r1", Controller: ptr.To(true)}}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "app", Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("100Mi")}}},
			{Name: "sidecar"}}},
	}
	c, w, clock := setup(t, dep, rs, pod)
	m := &fakeMetrics{}
	d := &MemoryDetector{Client: c, Writer: w, Metrics: m, Clock: clock, Log: logr.Discard(), Interval: time.Minute,
		Policy: capacity.MemoryPolicy{ThresholdPercent: 90, For: 5 * time.Minute}}
	ctx := context.Background()
	poll := func() {
		t.Helper()
		if err := d.Poll(ctx); err != nil {
			t.Fatal(err)
		}
	}
	poll()
	if !d.waiting || incidentOf(t, c, "shop") != nil {
		t.Fatal("not served: the detector waits and opens nothing")
	}
	m.served = true
	m.usage = []PodUsage{{Namespace: "shop", Name: "web-abc-1", Containers: []ContainerUsage{{Name: "app", WorkingSet: 95 << 20}, {Name: "sidecar", WorkingSet: 900 << 20}}}}
	poll()
	if d.waiting || incidentOf(t, c, "shop") != nil {
		t.Fatal("near for less than the duration: nothing yet")
	}
	clock.SetTime(start.Add(5 * time.Minute))
	poll()
	inc := incidentOf(t, c, "shop")
	s := signal(inc, itopsv1alpha1.ReasonMemoryNearLimit)
	if s == nil || !s.Active || inc.Spec.Affected[0].Kind != "Deployment" || inc.Spec.Affected[0].Name != "web" ||
		!strings.Contains(s.Message, "container app of pod web-abc-1 is near its 100Mi memory limit since 2026-12-01T10:00:00Z (95Mi, 95% when first seen; threshold 90%)") || !s.Since.Time.Equal(start.Add(5*time.Minute)) {
		t.Fatalf("firing: %+v %+v", inc, s)
	}
	// The live figure moves; the message (and so the incident) does not.
	m.usage[0].Containers[0].WorkingSet = 97 << 20
	rv := inc.ResourceVersion
	clock.SetTime(start.Add(5*time.Minute + 30*time.Second))
	poll()
	if inc := incidentOf(t, c, "shop"); inc.ResourceVersion != rv {
		t.Fatalf("a new figure rewrote the incident: %+v", signal(inc, itopsv1alpha1.ReasonMemoryNearLimit))
	}
	m.usage[0].Containers[0].WorkingSet = 50 << 20
	clock.SetTime(start.Add(6 * time.Minute))
	poll()
	if s := signal(incidentOf(t, c, "shop"), itopsv1alpha1.ReasonMemoryNearLimit); s == nil || s.Active {
		t.Fatalf("below the threshold: the signal must clear, got %+v", s)
	}
	if len(d.nearSince) != 0 {
		t.Fatalf("first-seen times must be forgotten: %v", d.nearSince)
	}
}

// memoryPod is a Deployment's pod (through its ReplicaSet) with the given containers and init
// containers.
func memoryPod(ns, name string, containers, initContainers []corev1.Container) []client.Object {
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(name + "-d")}}
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-abc", UID: types.UID(name + "-r"),
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: name, UID: dep.UID, Controller: ptr.To(true)}}}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-abc-1",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: ptr.To(true)}}},
		Spec: corev1.PodSpec{Containers: containers, InitContainers: initContainers}}
	return []client.Object{dep, rs, pod}
}

func limited(name, limit string) corev1.Container {
	return corev1.Container{Name: name, Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(limit)}}}
}

// TestMemoryNearLimitSidecarsAndOutage: a native sidecar near its limit fires; when
// metrics.k8s.io stops answering (failing, then not served) the signal stays until StaleAfter,
// then clears instead of staying active forever.
func TestMemoryNearLimitSidecarsAndOutage(t *testing.T) {
	sidecar := limited("proxy", "100Mi")
	sidecar.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
	c, w, clock := setup(t, memoryPod("shop", "web", []corev1.Container{limited("app", "1Gi")}, []corev1.Container{limited("migrate", "10Mi"), sidecar})...)
	m := &fakeMetrics{served: true, usage: []PodUsage{{Namespace: "shop", Name: "web-abc-1",
		Containers: []ContainerUsage{{Name: "app", WorkingSet: 10 << 20}, {Name: "proxy", WorkingSet: 96 << 20}, {Name: "migrate", WorkingSet: 10 << 20}}}}}
	d := &MemoryDetector{Client: c, Writer: w, Metrics: m, Clock: clock, Log: logr.Discard(), Interval: time.Minute,
		Policy: capacity.MemoryPolicy{ThresholdPercent: 90, For: 5 * time.Minute}}
	ctx := context.Background()
	if err := d.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	clock.SetTime(start.Add(5 * time.Minute))
	if err := d.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	s := signal(incidentOf(t, c, "shop"), itopsv1alpha1.ReasonMemoryNearLimit)
	if s == nil || !s.Active || !strings.Contains(s.Message, "container proxy of pod web-abc-1 is near its 100Mi memory limit") {
		t.Fatalf("the sidecar near its limit: %+v", s)
	}
	if d.StaleAfter() != 5*time.Minute {
		t.Fatalf("StaleAfter %s, want 5m (the longer of for and three intervals)", d.StaleAfter())
	}
	m.err = errors.New("the server is currently unable to handle the request (get pods.metrics.k8s.io)")
	clock.SetTime(start.Add(6 * time.Minute))
	if err := d.Poll(ctx); err == nil {
		t.Fatal("a failing metrics API is an error of the poll")
	}
	m.err, m.served = nil, false
	clock.SetTime(start.Add(10*time.Minute + 59*time.Second))
	if err := d.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if s := signal(incidentOf(t, c, "shop"), itopsv1alpha1.ReasonMemoryNearLimit); s == nil || !s.Active {
		t.Fatalf("metrics gone for less than StaleAfter: the signal stays, got %+v", s)
	}
	clock.SetTime(start.Add(11 * time.Minute))
	if err := d.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if s := signal(incidentOf(t, c, "shop"), itopsv1alpha1.ReasonMemoryNearLimit); s == nil || s.Active {
		t.Fatalf("metrics gone for StaleAfter: the signal must clear, got %+v", s)
	}
	// A restarted detector with metrics still gone clears a signal left active (from the incidents).
	m.served = true
	d2 := &MemoryDetector{Client: c, Writer: w, Metrics: m, Clock: clock, Log: logr.Discard(), Interval: time.Minute,
		Policy: capacity.MemoryPolicy{ThresholdPercent: 90, For: 5 * time.Minute}}
	clock.SetTime(start.Add(20 * time.Minute))
	for _, at := range []time.Duration{20 * time.Minute, 25 * time.Minute} {
		clock.SetTime(start.Add(at))
		if err := d2.Poll(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if s := signal(incidentOf(t, c, "shop"), itopsv1alpha1.ReasonMemoryNearLimit); s == nil || !s.Active {
		t.Fatalf("near again for 5m after the restart: %+v", s)
	}
	m.served = false
	d3 := &MemoryDetector{Client: c, Writer: w, Metrics: m, Clock: clock, Log: logr.Discard(), Interval: time.Minute,
		Policy: capacity.MemoryPolicy{ThresholdPercent: 90, For: 5 * time.Minute}}
	for _, at := range []time.Duration{26 * time.Minute, 31 * time.Minute} {
		clock.SetTime(start.Add(at))
		if err := d3.Poll(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if s := signal(incidentOf(t, c, "shop"), itopsv1alpha1.ReasonMemoryNearLimit); s == nil || s.Active {
		t.Fatalf("restarted with metrics gone for StaleAfter: the signal must clear, got %+v", s)
	}
}

// TestMemoryNearLimitWriteErrorsDoNotAbort: one workload's failing write leaves the others
// written; the next poll writes it.
func TestMemoryNearLimitWriteErrorsDoNotAbort(t *testing.T) {
	objs := append(memoryPod("a", "alpha", []corev1.Container{limited("app", "100Mi")}, nil),
		memoryPod("b", "beta", []corev1.Container{limited("app", "100Mi")}, nil)...)
	failing := true
	clock := clocktesting.NewFakePassiveClock(start)
	c := fake.NewClientBuilder().WithScheme(cluster.Scheme()).WithStatusSubresource(&itopsv1alpha1.Incident{}).WithObjects(objs...).
		WithInterceptorFuncs(interceptor.Funcs{Create: func(ctx context.Context, cl client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if _, ok := obj.(*itopsv1alpha1.Incident); ok && failing && obj.GetNamespace() == "a" {
				return errors.New("etcdserver: request timed out")
			}
			return cl.Create(ctx, obj, opts...)
		}}).Build()
	w := &incidentwriter.Writer{Client: c, Policy: lifecycle.DefaultPolicy, ClusterNamespace: "itops-cluster", Clock: clock}
	m := &fakeMetrics{served: true, usage: []PodUsage{
		{Namespace: "a", Name: "alpha-abc-1", Containers: []ContainerUsage{{Name: "app", WorkingSet: 95 << 20}}},
		{Namespace: "b", Name: "beta-abc-1", Containers: []ContainerUsage{{Name: "app", WorkingSet: 95 << 20}}}}}
	d := &MemoryDetector{Client: c, Writer: w, Metrics: m, Clock: clock, Log: logr.Discard(), Interval: time.Minute,
		Policy: capacity.MemoryPolicy{ThresholdPercent: 90, For: 0}}
	if err := d.Poll(context.Background()); err == nil || !strings.Contains(err.Error(), "request timed out") {
		t.Fatalf("the failed write is reported: %v", err)
	}
	if s := signal(incidentOf(t, c, "b"), itopsv1alpha1.ReasonMemoryNearLimit); s == nil || !s.Active {
		t.Fatalf("the other workload is written despite the failure: %+v", s)
	}
	failing = false
	clock.SetTime(start.Add(time.Minute))
	if err := d.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := signal(incidentOf(t, c, "a"), itopsv1alpha1.ReasonMemoryNearLimit); s == nil || !s.Active {
		t.Fatalf("retried at the next poll: %+v", s)
	}
}

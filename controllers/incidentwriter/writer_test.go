package incidentwriter

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/health"
	"github.com/itops-dev/itops-operator/internal/lifecycle"
	"github.com/itops-dev/itops-operator/test/cluster"
)

var podReasons = []string{itopsv1alpha1.ReasonCrashLoopBackOff, itopsv1alpha1.ReasonOOMKilled}

func newWriter(t *testing.T, clock *clocktesting.FakePassiveClock) (*Writer, client.Client) {
	t.Helper()
	c := fake.NewClientBuilder().WithScheme(cluster.Scheme()).WithStatusSubresource(&itopsv1alpha1.Incident{}).Build()
	return &Writer{Client: c, Policy: lifecycle.DefaultPolicy, ClusterNamespace: "itops-cluster", Clock: clock}, c
}

func incidents(t *testing.T, c client.Client) []itopsv1alpha1.Incident {
	t.Helper()
	list := &itopsv1alpha1.IncidentList{}
	if err := c.List(context.Background(), list); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// One subject, several problems: one incident named after the subject, one signal per
// problem, the title and reason on the most specific active one.
func TestSyncOneIncidentPerSubject(t *testing.T) {
	ctx := context.Background()
	clock := clocktesting.NewFakePassiveClock(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	w, c := newWriter(t, clock)
	web := health.Subject{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "shop", Name: "web"}
	crash := health.Problem{Reason: itopsv1alpha1.ReasonCrashLoopBackOff, Message: "3 of 3 pods crash"}
	oom := health.Problem{Reason: itopsv1alpha1.ReasonOOMKilled, Message: "OOMKilled"}
	steps := []struct {
		name       string
		problems   []health.Problem
		wantReason string
		wantActive map[string]bool
	}{
		{"a crash loop opens the incident", []health.Problem{crash}, "CrashLoopBackOff", map[string]bool{"CrashLoopBackOff": true}},
		{"an OOM kill joins it and names it", []health.Problem{crash, oom}, "OOMKilled", map[string]bool{"CrashLoopBackOff": true, "OOMKilled": true}},
		{"the OOM signal clears and is kept", []health.Problem{crash}, "CrashLoopBackOff", map[string]bool{"CrashLoopBackOff": true, "OOMKilled": false}},
		{"all clear: recovered, still one incident", nil, "CrashLoopBackOff", map[string]bool{"CrashLoopBackOff": false, "OOMKilled": false}},
	}
	for _, s := range steps {
		clock.SetTime(clock.Now().Add(10 * time.Second))
		if err := w.Sync(ctx, Observation{Subject: web, Judged: podReasons, Problems: s.problems}); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		incs := incidents(t, c)
		if len(incs) != 1 {
			t.Fatalf("%s: %d incidents, want 1", s.name, len(incs))
		}
		inc := incs[0]
		if inc.Name != "deployment-web" || inc.Spec.Reason != s.wantReason || inc.Labels[itopsv1alpha1.LabelReason] != s.wantReason ||
			inc.Spec.Title != "Deployment web: "+s.wantReason {
			t.Errorf("%s: name %s reason %s label %s title %q", s.name, inc.Name, inc.Spec.Reason, inc.Labels[itopsv1alpha1.LabelReason], inc.Spec.Title)
		}
		if len(inc.Status.Signals) != len(s.wantActive) {
			t.Errorf("%s: signals %+v", s.name, inc.Status.Signals)
		}
		for _, sig := range inc.Status.Signals {
			if sig.Active != s.wantActive[sig.Reason] {
				t.Errorf("%s: signal %s active=%v", s.name, sig.Reason, sig.Active)
			}
		}
		present := lifecycle.ProblemPresent(&inc)
		if present == nil || (present.Status == metav1.ConditionTrue) != health.AnyActive(inc.Status.Signals) {
			t.Errorf("%s: ProblemPresent %+v disagrees with the signals", s.name, present)
		}
	}
}

func TestSyncKeepsAPersonsTitle(t *testing.T) {
	ctx := context.Background()
	clock := clocktesting.NewFakePassiveClock(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	w, c := newWriter(t, clock)
	web := health.Subject{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "shop", Name: "web"}
	if err := w.Sync(ctx, Observation{Subject: web, Judged: podReasons, Problems: []health.Problem{{Reason: "CrashLoopBackOff"}}}); err != nil {
		t.Fatal(err)
	}
	inc := incidents(t, c)[0]
	base := inc.DeepCopy()
	inc.Spec.Title = "checkout down for EU customers"
	if err := c.Patch(ctx, &inc, client.MergeFrom(base)); err != nil {
		t.Fatal(err)
	}
	if err := w.Sync(ctx, Observation{Subject: web, Judged: podReasons, Problems: []health.Problem{{Reason: "CrashLoopBackOff"}, {Reason: "OOMKilled"}}}); err != nil {
		t.Fatal(err)
	}
	if got := incidents(t, c)[0]; got.Spec.Title != "checkout down for EU customers" || got.Spec.Reason != "OOMKilled" {
		t.Errorf("title %q reason %s: want the person's title kept and the reason updated", got.Spec.Title, got.Spec.Reason)
	}
}

func TestSyncCauseLinks(t *testing.T) {
	ctx := context.Background()
	clock := clocktesting.NewFakePassiveClock(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	w, c := newWriter(t, clock)
	ds := health.Subject{APIVersion: "apps/v1", Kind: "DaemonSet", Namespace: "infra", Name: "agent"}
	node := &itopsv1alpha1.IncidentReference{Kind: "Incident", Namespace: "itops-cluster", Name: "node-n1"}
	change := &itopsv1alpha1.IncidentReference{Kind: "ChangeRequest", Namespace: "infra", Name: "agent-v2"}
	unavailable := []health.Problem{{Reason: "WorkloadUnavailable"}}
	judged := []string{"WorkloadUnavailable"}
	tests := []struct {
		name    string
		current *itopsv1alpha1.IncidentReference
		judged  *itopsv1alpha1.IncidentReference
		want    *itopsv1alpha1.IncidentReference
	}{
		{"a node explains it", nil, node, node},
		{"the node recovered: no cause", node, nil, nil},
		{"a change's link is kept when no incident explains it", change, nil, change},
		{"an incident cause wins over a change's link", change, node, node},
	}
	for _, tt := range tests {
		if got := linkCause(tt.current, tt.judged); (got == nil) != (tt.want == nil) || (got != nil && *got != *tt.want) {
			t.Errorf("%s: linkCause = %+v, want %+v", tt.name, got, tt.want)
		}
	}
	if err := w.Sync(ctx, Observation{Subject: ds, Judged: judged, Problems: unavailable, CauseJudged: true, Cause: node}); err != nil {
		t.Fatal(err)
	}
	if got := incidents(t, c)[0].Status.CausedBy; got == nil || *got != *node {
		t.Errorf("causedBy = %+v, want the node's incident", got)
	}
}

// A generated name taken by another subject's incident (the second incident of Deployment web
// and the first of Deployment web-2 are both deployment-web-2) or by a person's does not stop
// the subject's incident from opening: it takes its deterministic collision name.
func TestSyncNameTakenByAnotherSubject(t *testing.T) {
	ctx := context.Background()
	clock := clocktesting.NewFakePassiveClock(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	w, c := newWriter(t, clock)
	squatter := &itopsv1alpha1.Incident{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "deployment-web-2"},
		Spec: itopsv1alpha1.IncidentSpec{Title: "a person's incident", Source: itopsv1alpha1.SourceManual}}
	if err := c.Create(ctx, squatter); err != nil {
		t.Fatal(err)
	}
	web2 := health.Subject{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "shop", Name: "web-2"}
	crash := health.Problem{Reason: itopsv1alpha1.ReasonCrashLoopBackOff, Message: "3 of 3 pods crash"}
	if err := w.Sync(ctx, Observation{Subject: web2, Judged: podReasons, Problems: []health.Problem{crash}}); err != nil {
		t.Fatalf("sync: %v", err)
	}
	want := health.CollisionName(web2, 1)
	inc := &itopsv1alpha1.Incident{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "shop", Name: want}, inc); err != nil {
		t.Fatalf("incident %s: %v", want, err)
	}
	if inc.Spec.Fingerprint != health.Fingerprint(web2) || inc.Spec.Reason != itopsv1alpha1.ReasonCrashLoopBackOff {
		t.Errorf("incident %s: fingerprint %s reason %s", want, inc.Spec.Fingerprint, inc.Spec.Reason)
	}
	// Judged again (a resync, a restart): the same incident, found by its fingerprint.
	if err := w.Sync(ctx, Observation{Subject: web2, Judged: podReasons, Problems: []health.Problem{crash}}); err != nil {
		t.Fatalf("resync: %v", err)
	}
	if n := len(incidents(t, c)); n != 2 {
		t.Errorf("%d incidents, want the person's and the subject's", n)
	}
}

// Evidence is captured at detection: written when the incident opens and when a signal
// starts, not rewritten while the problem lasts, and kept once it recovers.
func TestSyncEvidence(t *testing.T) {
	ctx := context.Background()
	clock := clocktesting.NewFakePassiveClock(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	w, c := newWriter(t, clock)
	web := health.Subject{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "shop", Name: "web"}
	crash := health.Problem{Reason: itopsv1alpha1.ReasonCrashLoopBackOff, Message: "crash"}
	oom := health.Problem{Reason: itopsv1alpha1.ReasonOOMKilled, Message: "oom"}
	evidence := func(pod string) *itopsv1alpha1.IncidentEvidence {
		return &itopsv1alpha1.IncidentEvidence{Pod: pod, Node: "worker-1", Image: "web:1"}
	}
	steps := []struct {
		name     string
		problems []health.Problem
		evidence *itopsv1alpha1.IncidentEvidence
		wantPod  string
	}{
		{"opening captures it", []health.Problem{crash}, evidence("web-a"), "web-a"},
		{"the same problem lasting keeps it", []health.Problem{crash}, evidence("web-b"), "web-a"},
		{"a new signal recaptures it", []health.Problem{crash, oom}, evidence("web-c"), "web-c"},
		{"recovery keeps the record", nil, nil, "web-c"},
	}
	for _, s := range steps {
		clock.SetTime(clock.Now().Add(10 * time.Second))
		if err := w.Sync(ctx, Observation{Subject: web, Judged: podReasons, Problems: s.problems, Evidence: s.evidence}); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		incs := incidents(t, c)
		if len(incs) != 1 || incs[0].Status.Evidence == nil || incs[0].Status.Evidence.Pod != s.wantPod {
			t.Fatalf("%s: evidence %+v, want pod %s", s.name, incs[0].Status.Evidence, s.wantPod)
		}
	}
}

// The status patch after create lost a race, and the problem was gone before the retry: the
// detector that judges the reason the incident opened with still ends it (ProblemPresent=False)
// instead of leaving an open incident with nothing to clear; one that does not judge that
// reason leaves it alone.
func TestSyncEndsAnIncidentWhoseFirstSignalsNeverLanded(t *testing.T) {
	ctx := context.Background()
	clock := clocktesting.NewFakePassiveClock(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	w, c := newWriter(t, clock)
	node := health.Subject{APIVersion: "v1", Kind: "Node", Name: "worker-1"}
	notReady := health.Problem{Reason: itopsv1alpha1.ReasonNodeNotReady, Message: "Kubelet stopped posting node status."}
	judged := []string{itopsv1alpha1.ReasonNodeNotReady, itopsv1alpha1.ReasonNodePressure}
	if err := w.Sync(ctx, Observation{Subject: node, Judged: judged, Problems: []health.Problem{notReady}}); err != nil {
		t.Fatal(err)
	}
	inc := incidents(t, c)[0]
	inc.Status = itopsv1alpha1.IncidentStatus{} // as if the first status patch never landed
	if err := c.Status().Update(ctx, &inc); err != nil {
		t.Fatal(err)
	}

	clock.SetTime(clock.Now().Add(time.Second))
	if err := w.Sync(ctx, Observation{Subject: node, Judged: []string{itopsv1alpha1.ReasonVolumeClaimPending}}); err != nil {
		t.Fatal(err)
	}
	if present := lifecycle.ProblemPresent(&incidents(t, c)[0]); present != nil {
		t.Fatalf("a detector that does not judge NodeNotReady set ProblemPresent: %+v", present)
	}
	if err := w.Sync(ctx, Observation{Subject: node, Judged: judged}); err != nil {
		t.Fatal(err)
	}
	present := lifecycle.ProblemPresent(&incidents(t, c)[0])
	if present == nil || present.Status != metav1.ConditionFalse {
		t.Fatalf("ProblemPresent %+v, want False: the problem the incident opened for is gone", present)
	}
}

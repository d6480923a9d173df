package alertmanager

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

const staleIn3h = "alertmanager: {enabled: true, tokenSecretRef: {name: itops-alertmanager, key: token}, staleAfter: 3h}\n"

func reconcileStale(t *testing.T, r *StaleReconciler, name string) ctrl.Result {
	t.Helper()
	res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKey{Namespace: "shop", Name: name}})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// The review's example on the fake API: the resolved notification of a firing alert is lost
// (Alertmanager restarted without persistence). The alert was re-sent once; staleAfter (3h)
// after that re-send, without any new POST, the signal clears and the incident's problem is no
// longer present, so the lifecycle auto-resolves it.
func TestStaleAlertClearsWithoutANotification(t *testing.T) {
	rcv, c := newReceiver(t, staleIn3h)
	clock := rcv.Clock.(*clocktesting.FakePassiveClock)
	sweep := &StaleReconciler{Client: c, Writer: rcv.Writer, StaleAfter: rcv.Policy.StaleAfter.Duration, Clock: clock}
	auth := "Bearer " + token
	firing := payload("firing", alert("firing", "s1", map[string]string{"alertname": "HighLatency", "namespace": "shop", "deployment": "checkout"}))
	expired0 := testutil.ToFloat64(alertsTotal.WithLabelValues(OutcomeExpired))
	accepted0 := testutil.ToFloat64(alertsTotal.WithLabelValues(OutcomeAccepted))
	ok0 := testutil.ToFloat64(requestsTotal.WithLabelValues("200"))

	if rec, _ := post(rcv, http.MethodPost, auth, firing); rec.Code != 200 {
		t.Fatal(rec.Code)
	}
	if res := reconcileStale(t, sweep, "deployment-checkout"); res.RequeueAfter != 3*time.Hour {
		t.Fatalf("requeue %v, want exactly staleAfter", res.RequeueAfter)
	}
	// Re-sent at its repeat_interval (2h): the expiry moves to 2h+3h.
	t0 := clock.Now()
	clock.SetTime(t0.Add(2 * time.Hour))
	if rec, _ := post(rcv, http.MethodPost, auth, firing); rec.Code != 200 {
		t.Fatal(rec.Code)
	}
	if a := signal(incidentOf(t, c, "shop", "deployment-checkout"), "HighLatency").Alerts[0]; a.LastSeenAt == nil || !a.LastSeenAt.Equal(&metav1.Time{Time: t0.Add(2 * time.Hour)}) {
		t.Fatalf("alert %+v: lastSeenAt not refreshed by the re-send", a)
	}
	clock.SetTime(t0.Add(4 * time.Hour))
	if res := reconcileStale(t, sweep, "deployment-checkout"); res.RequeueAfter != time.Hour {
		t.Fatalf("requeue %v, want 1h (the expiry of the re-sent alert)", res.RequeueAfter)
	}
	if s := signal(incidentOf(t, c, "shop", "deployment-checkout"), "HighLatency"); !s.Active {
		t.Fatal("cleared before staleAfter")
	}
	// The resolution never comes: at 2h+3h the sweep clears the signal.
	clock.SetTime(t0.Add(5 * time.Hour))
	if res := reconcileStale(t, sweep, "deployment-checkout"); res.RequeueAfter != 0 {
		t.Fatalf("requeue %v after the last alert expired", res.RequeueAfter)
	}
	inc := incidentOf(t, c, "shop", "deployment-checkout")
	if s := signal(inc, "HighLatency"); s.Active || len(s.Alerts) != 0 {
		t.Fatalf("signal %+v still active", s)
	}
	if cond := meta.FindStatusCondition(inc.Status.Conditions, itopsv1alpha1.IncidentConditionProblemPresent); cond == nil || cond.Status != metav1.ConditionFalse {
		t.Fatalf("ProblemPresent %+v", cond)
	}
	if d := testutil.ToFloat64(alertsTotal.WithLabelValues(OutcomeExpired)) - expired0; d != 1 {
		t.Errorf("expired alerts counted %v, want 1", d)
	}
	if d := testutil.ToFloat64(alertsTotal.WithLabelValues(OutcomeAccepted)) - accepted0; d != 2 {
		t.Errorf("accepted alerts counted %v, want 2", d)
	}
	if d := testutil.ToFloat64(requestsTotal.WithLabelValues("200")) - ok0; d != 2 {
		t.Errorf("200 answers counted %v, want 2", d)
	}
	// Nothing left: a second pass writes nothing.
	rv := inc.ResourceVersion
	reconcileStale(t, sweep, "deployment-checkout")
	if incidentOf(t, c, "shop", "deployment-checkout").ResourceVersion != rv {
		t.Error("a pass with nothing stale wrote the incident")
	}
}

// An alert's own endsAt: one already passed is a resolution (it opens nothing); one ahead
// expires the alert then, before staleAfter.
func TestAlertEndsAt(t *testing.T) {
	rcv, c := newReceiver(t, staleIn3h)
	clock := rcv.Clock.(*clocktesting.FakePassiveClock)
	sweep := &StaleReconciler{Client: c, Writer: rcv.Writer, StaleAfter: rcv.Policy.StaleAfter.Duration, Clock: clock}
	auth := "Bearer " + token
	withEnd := func(fp, endsAt string) string {
		a := alert("firing", fp, map[string]string{"alertname": "QuotaNearlyFull", "namespace": "shop", "deployment": "cart"})
		return strings.Replace(a, `"startsAt"`, `"endsAt":"`+endsAt+`","startsAt"`, 1)
	}
	// The receiver's clock is 2026-12-01T04:00:00Z.
	if rec, _ := post(rcv, http.MethodPost, auth, payload("firing", withEnd("e1", "2026-12-01T03:59:30Z"))); rec.Code != 200 {
		t.Fatal(rec.Code)
	}
	list := &itopsv1alpha1.IncidentList{}
	if err := c.List(context.Background(), list); err != nil || len(list.Items) != 0 {
		t.Fatalf("an alert past its endsAt opened %d incidents (%v)", len(list.Items), err)
	}
	if rec, _ := post(rcv, http.MethodPost, auth, payload("firing", withEnd("e2", "2026-12-01T04:10:00Z"))); rec.Code != 200 {
		t.Fatal(rec.Code)
	}
	if res := reconcileStale(t, sweep, "deployment-cart"); res.RequeueAfter != 10*time.Minute {
		t.Fatalf("requeue %v, want 10m (endsAt)", res.RequeueAfter)
	}
	clock.SetTime(clock.Now().Add(10 * time.Minute))
	reconcileStale(t, sweep, "deployment-cart")
	if s := signal(incidentOf(t, c, "shop", "deployment-cart"), "QuotaNearlyFull"); s.Active {
		t.Fatalf("signal %+v active after its alert's endsAt", s)
	}
}

package notify

import (
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/config"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func policy() *config.NotificationPolicy {
	return &config.NotificationPolicy{
		Receivers: []config.Receiver{{Name: "pd"}, {Name: "slack"}, {Name: "mail"}, {Name: "leads"}},
		Routes: []config.Route{
			{Name: "pages", Match: config.RouteMatch{Priorities: []itopsv1alpha1.Priority{"P1", "P2"}}, Receivers: []string{"pd", "slack"},
				RepeatInterval: metav1.Duration{Duration: 30 * time.Minute}, Escalation: "leads"},
			{Name: "shop", Match: config.RouteMatch{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "shop"}},
				Teams: []string{"checkout"}}, Receivers: []string{"mail", "slack"}, RepeatInterval: metav1.Duration{Duration: 10 * time.Minute}},
			{Name: "alerts", Match: config.RouteMatch{Sources: []itopsv1alpha1.IncidentSource{"Alertmanager"}, Reasons: []string{"HighLatency"}},
				Receivers: []string{"mail"}},
		},
	}
}

func incidentWith(mut ...func(*itopsv1alpha1.Incident)) *itopsv1alpha1.Incident {
	d := metav1.NewTime(t0)
	inc := &itopsv1alpha1.Incident{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "checkout-crashloop", UID: "uid-1"},
		Spec:       itopsv1alpha1.IncidentSpec{Title: "Deployment checkout: CrashLoopBackOff", Source: itopsv1alpha1.SourceHealthCheck, Reason: "CrashLoopBackOff", Team: "checkout", Service: "checkout"},
		Status: itopsv1alpha1.IncidentStatus{Phase: itopsv1alpha1.IncidentOpen, Priority: "P2", DetectedAt: &d,
			Signals: []itopsv1alpha1.Signal{{Reason: "CrashLoopBackOff", Active: true, Count: 1, Message: "container app restarts"}}},
	}
	for _, m := range mut {
		m(inc)
	}
	return inc
}

func names(ts []Target) []string {
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		out = append(out, t.Receiver+"/"+t.Repeat.String())
	}
	return out
}

func TestRoute(t *testing.T) {
	shop := map[string]string{"team": "shop"}
	cases := []struct {
		name       string
		inc        *itopsv1alpha1.Incident
		ns         map[string]string
		want       []string
		escalation []string
	}{
		{"every matching route delivers; shortest repeat wins", incidentWith(), shop, []string{"mail/10m0s", "pd/30m0s", "slack/10m0s"}, []string{"leads"}},
		{"priority outside the page route", incidentWith(func(i *itopsv1alpha1.Incident) { i.Status.Priority = "P4" }), shop, []string{"mail/10m0s", "slack/10m0s"}, nil},
		{"namespace selector", incidentWith(), map[string]string{"team": "other"}, []string{"pd/30m0s", "slack/30m0s"}, []string{"leads"}},
		{"team", incidentWith(func(i *itopsv1alpha1.Incident) { i.Spec.Team = "payments"; i.Status.Priority = "P3" }), shop, nil, nil},
		{"source and reason", incidentWith(func(i *itopsv1alpha1.Incident) {
			i.Spec.Source, i.Spec.Reason, i.Status.Priority, i.Spec.Team = "Alertmanager", "HighLatency", "P3", ""
		}), nil, []string{"mail/0s"}, nil},
		{"owner escalation names a receiver", incidentWith(func(i *itopsv1alpha1.Incident) { i.Status.Escalation = "mail" }), nil,
			[]string{"pd/30m0s", "slack/30m0s"}, []string{"mail"}},
		{"owner escalation names a route", incidentWith(func(i *itopsv1alpha1.Incident) { i.Status.Escalation = "shop" }), nil,
			[]string{"pd/30m0s", "slack/30m0s"}, []string{"mail", "slack"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := Route(policy(), c.inc, c.ns)
			if got := names(r.Targets); !equal(got, c.want) {
				t.Errorf("targets = %v, want %v", got, c.want)
			}
			if !equal(r.Escalation, c.escalation) {
				t.Errorf("escalation = %v, want %v", r.Escalation, c.escalation)
			}
		})
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func delivered(receiver, transition string, seq int32, at time.Time) itopsv1alpha1.Notification {
	return itopsv1alpha1.Notification{Receiver: receiver, Transition: transition, Sequence: seq, Key: Key("uid-1", receiver, transition, seq),
		State: itopsv1alpha1.NotificationDelivered, Attempts: 1, At: metav1.NewTime(at)}
}

func wants(p Plan) []string {
	out := make([]string, 0, len(p.New))
	for _, w := range p.New {
		out = append(out, w.Receiver+":"+w.Transition+"#"+strconv.Itoa(int(w.Sequence)))
	}
	return out
}

func cond(typ string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: metav1.ConditionTrue, Reason: "x", LastTransitionTime: metav1.NewTime(t0)}
}

func TestDue(t *testing.T) {
	routing := Routing{Targets: []Target{{Receiver: "pd", Repeat: 30 * time.Minute}, {Receiver: "slack"}}, Escalation: []string{"leads"}}
	opened := make([]itopsv1alpha1.Notification, 0, 3)
	opened = append(opened, delivered("pd", "Opened", 0, t0), delivered("slack", "Opened", 0, t0))
	cases := []struct {
		name     string
		inc      *itopsv1alpha1.Incident
		recorded []itopsv1alpha1.Notification
		now      time.Time
		want     []string
		next     time.Time
	}{
		{"opened pages every routed receiver once", incidentWith(), nil, t0, []string{"pd:Opened#0", "slack:Opened#0"}, time.Time{}},
		{"nothing twice", incidentWith(), opened, t0.Add(time.Minute), nil, t0.Add(30 * time.Minute)},
		{"bare create is not judged yet", incidentWith(func(i *itopsv1alpha1.Incident) { i.Status = itopsv1alpha1.IncidentStatus{} }), nil, t0, nil, time.Time{}},
		{"health check incident before its signals", incidentWith(func(i *itopsv1alpha1.Incident) { i.Status.Signals = nil }), nil, t0, nil, time.Time{}},
		{"manual incident without signals pages", incidentWith(func(i *itopsv1alpha1.Incident) { i.Status.Signals = nil; i.Spec.Source = "Manual" }), nil, t0,
			[]string{"pd:Opened#0", "slack:Opened#0"}, time.Time{}},
		{"suppressed never notifies", incidentWith(func(i *itopsv1alpha1.Incident) {
			i.Status.Conditions = []metav1.Condition{cond(itopsv1alpha1.IncidentConditionSuppressed)}
		}), nil, t0, nil, time.Time{}},
		{"symptom never pages on its own", incidentWith(func(i *itopsv1alpha1.Incident) {
			i.Status.CausedBy = &itopsv1alpha1.IncidentReference{Kind: "Incident", Namespace: "shop", Name: "node"}
			i.Status.Conditions = []metav1.Condition{cond(itopsv1alpha1.IncidentConditionSymptom)}
		}), nil, t0, nil, time.Time{}},
		{"causedBy before the Symptom condition is judged", incidentWith(func(i *itopsv1alpha1.Incident) {
			i.Status.CausedBy = &itopsv1alpha1.IncidentReference{Kind: "Incident", Namespace: "shop", Name: "node"}
		}), nil, t0, nil, time.Time{}},
		{"caused by a change still pages", incidentWith(func(i *itopsv1alpha1.Incident) {
			i.Status.CausedBy = &itopsv1alpha1.IncidentReference{Kind: "ChangeRequest", Namespace: "shop", Name: "deploy-1"}
		}), nil, t0, []string{"pd:Opened#0", "slack:Opened#0"}, time.Time{}},
		{"repeat at the interval, unacknowledged", incidentWith(), opened, t0.Add(30 * time.Minute), []string{"pd:Repeated#1"}, time.Time{}},
		{"second repeat counts on", incidentWith(), append(opened, delivered("pd", "Repeated", 1, t0.Add(30*time.Minute))), t0.Add(61 * time.Minute),
			[]string{"pd:Repeated#2"}, time.Time{}},
		{"no repeat once acknowledged; ack follows", incidentWith(func(i *itopsv1alpha1.Incident) {
			a := metav1.NewTime(t0.Add(5 * time.Minute))
			i.Status.AcknowledgedAt, i.Status.Phase = &a, itopsv1alpha1.IncidentAcknowledged
		}), opened, t0.Add(31 * time.Minute), []string{"pd:Acknowledged#0", "slack:Acknowledged#0"}, time.Time{}},
		{"escalation when the response SLA passes unacknowledged", incidentWith(func(i *itopsv1alpha1.Incident) {
			i.Status.Conditions = []metav1.Condition{cond(itopsv1alpha1.IncidentConditionResponseSLABreached)}
		}), opened, t0.Add(10 * time.Minute), []string{"leads:Escalated#0", "leads:SLABreached#0", "pd:SLABreached#0", "slack:SLABreached#0"}, t0.Add(30 * time.Minute)},
		{"resolved follows only where paged", incidentWith(func(i *itopsv1alpha1.Incident) { i.Status.Phase = itopsv1alpha1.IncidentResolved }),
			opened[:1], t0, []string{"pd:Resolved#0"}, time.Time{}},
		{"resolved during maintenance, never paged: nothing", incidentWith(func(i *itopsv1alpha1.Incident) {
			i.Status.Phase = itopsv1alpha1.IncidentResolved
			i.Status.Conditions = []metav1.Condition{cond(itopsv1alpha1.IncidentConditionSuppressed)}
		}), nil, t0, nil, time.Time{}},
		{"a paged incident later suppressed still resolves", incidentWith(func(i *itopsv1alpha1.Incident) {
			i.Status.Phase = itopsv1alpha1.IncidentResolved
			i.Status.Conditions = []metav1.Condition{cond(itopsv1alpha1.IncidentConditionSuppressed)}
		}), opened, t0, []string{"pd:Resolved#0", "slack:Resolved#0"}, time.Time{}},
		{"acknowledged before any page: no page", incidentWith(func(i *itopsv1alpha1.Incident) {
			a := metav1.NewTime(t0)
			i.Status.AcknowledgedAt = &a
		}), nil, t0, nil, time.Time{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := Due(c.inc, routing, c.recorded, c.now)
			if got := wants(p); !equal(got, c.want) {
				t.Errorf("due = %v, want %v", got, c.want)
			}
			if !p.Next.Equal(c.next) {
				t.Errorf("next = %v, want %v", p.Next, c.next)
			}
		})
	}
}

func TestKeyIsStableAndDistinct(t *testing.T) {
	a := Key("uid", "pd", "Opened", 0)
	if a != Key("uid", "pd", "Opened", 0) || len(a) != 32 {
		t.Fatalf("key %q not stable or not 32 hex digits", a)
	}
	seen := map[string]bool{}
	for _, k := range []string{a, Key("uid", "pd", "Opened", 1), Key("uid", "slack", "Opened", 0), Key("uid2", "pd", "Opened", 0), Key("uid", "pd", "Resolved", 0)} {
		if seen[k] {
			t.Fatalf("duplicate key %s", k)
		}
		seen[k] = true
	}
}

func TestSendableKeepsOrderPerReceiver(t *testing.T) {
	later := metav1.NewTime(t0.Add(time.Minute))
	list := []itopsv1alpha1.Notification{
		{Receiver: "pd", Transition: "Opened", State: "Delivered"},
		{Receiver: "pd", Transition: "Acknowledged", State: "Pending", NextAttemptAt: &later},
		{Receiver: "pd", Transition: "Resolved", State: "Pending"},
		{Receiver: "slack", Transition: "Opened", State: "Pending"},
	}
	idx, next := Sendable(list, t0)
	if len(idx) != 1 || idx[0] != 3 {
		t.Fatalf("sendable = %v, want [3] (pd's Resolved waits behind its Acknowledged)", idx)
	}
	if !next.Equal(later.Time) {
		t.Fatalf("next = %v", next)
	}
	idx, _ = Sendable(list, t0.Add(time.Minute))
	if len(idx) != 2 || idx[0] != 1 {
		t.Fatalf("after the backoff sendable = %v, want [1 3]", idx)
	}
}

func TestBoundDropsSupersededRepeatsFirstAndNeverPending(t *testing.T) {
	var list []itopsv1alpha1.Notification
	list = append(list, delivered("pd", "Opened", 0, t0))
	for i := int32(1); i <= 60; i++ {
		list = append(list, delivered("pd", "Repeated", i, t0.Add(time.Duration(i)*time.Minute)))
	}
	list = append(list, itopsv1alpha1.Notification{Receiver: "pd", Transition: "Resolved", State: "Pending"})
	out := Bound(list)
	if len(out) != itopsv1alpha1.MaxNotifications {
		t.Fatalf("len = %d", len(out))
	}
	if out[0].Transition != "Opened" || out[len(out)-1].State != "Pending" || out[len(out)-2].Sequence != 60 {
		t.Fatalf("kept the wrong entries: first %v, last %v", out[0], out[len(out)-1])
	}
}

func TestBackoff(t *testing.T) {
	cases := []struct {
		attempts int32
		jitter   float64
		want     time.Duration
	}{
		{1, 0, 2500 * time.Millisecond}, {1, 0.999999, 5 * time.Second},
		{2, 0, 5 * time.Second}, {3, 0.5, 15 * time.Second},
		{7, 0, 150 * time.Second}, {8, 0, 150 * time.Second}, {30, 0.999999, 5 * time.Minute},
	}
	for _, c := range cases {
		got := Backoff(c.attempts, c.jitter)
		if got.Round(time.Millisecond) != c.want {
			t.Errorf("Backoff(%d, %v) = %v, want %v", c.attempts, c.jitter, got, c.want)
		}
	}
}

func TestSignAndVerify(t *testing.T) {
	key := []byte("s3cret")
	body := []byte(`{"transition":"Opened","timestamp":1764583200}`)
	sig := Sign(key, body)
	if !strings.HasPrefix(sig, "sha256=") || len(sig) != len("sha256=")+64 || sig != Sign(key, body) {
		t.Fatalf("signature %q", sig)
	}
	now := time.Unix(1764583200, 0)
	cases := []struct {
		name, sig, ts string
		bodyTS        int64
		now           time.Time
		want          string
	}{
		{"valid", sig, "1764583200", 1764583200, now, ""},
		{"tampered body", Sign(key, []byte("{}")), "1764583200", 1764583200, now, "signature mismatch"},
		{"wrong key", Sign([]byte("other"), body), "1764583200", 1764583200, now, "signature mismatch"},
		{"header timestamp swapped", sig, "1764583900", 1764583200, now.Add(700 * time.Second), "timestamp header differs from the signed body"},
		{"replayed after the tolerance", sig, "1764583200", 1764583200, now.Add(6 * time.Minute), "timestamp outside the tolerance (replayed or clock skew)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Verify(key, body, c.sig, c.ts, c.bodyTS, c.now, 5*time.Minute); got != c.want {
				t.Errorf("Verify = %q, want %q", got, c.want)
			}
		})
	}
}

func TestOwnerOf(t *testing.T) {
	ns := map[string]string{itopsv1alpha1.AnnotationOwnerTeam: "platform", itopsv1alpha1.AnnotationRunbookURL: "https://runbooks/ns",
		itopsv1alpha1.AnnotationEscalation: "leads"}
	got := OwnerOf(&itopsv1alpha1.ServiceOwner{Team: "checkout"}, ns)
	if got.Team != "checkout" || got.RunbookURL != "https://runbooks/ns" || got.Escalation != "leads" {
		t.Fatalf("OwnerOf = %+v", got)
	}
	if got := OwnerOf(nil, nil); got != (itopsv1alpha1.ServiceOwner{}) {
		t.Fatalf("OwnerOf(nil) = %+v", got)
	}
}

func TestPagerDutyMapping(t *testing.T) {
	for p, want := range map[itopsv1alpha1.Priority]string{"P1": "critical", "P2": "error", "P3": "warning", "P4": "info", "P5": "info"} {
		if got := PagerDutySeverity(p); got != want {
			t.Errorf("severity(%s) = %s, want %s", p, got, want)
		}
	}
	for tr, want := range map[string]string{"Opened": "trigger", "Repeated": "trigger", "Escalated": "trigger", "SLABreached": "trigger",
		"Acknowledged": "acknowledge", "Resolved": "resolve"} {
		if got := PagerDutyAction(tr); got != want {
			t.Errorf("action(%s) = %s, want %s", tr, got, want)
		}
	}
}

func withPriority(n itopsv1alpha1.Notification, p itopsv1alpha1.Priority) itopsv1alpha1.Notification {
	n.Priority = p
	return n
}

// TestDueReopenPagesAgain: an incident that auto-resolves (Resolved delivered) and reopens
// pages again with a new sequence, and its next resolution is sent again (review finding:
// PagerDuty stayed resolved while the outage ran).
func TestDueReopenPagesAgain(t *testing.T) {
	routing := Routing{Targets: []Target{{Receiver: "pd", Repeat: 30 * time.Minute}, {Receiver: "slack"}}}
	ep0 := []itopsv1alpha1.Notification{
		delivered("pd", "Opened", 0, t0), delivered("slack", "Opened", 0, t0),
		delivered("pd", "Resolved", 0, t0.Add(10*time.Minute)), delivered("slack", "Resolved", 0, t0.Add(10*time.Minute)),
	}
	reopened := incidentWith()
	resolvedInc := incidentWith(func(i *itopsv1alpha1.Incident) { i.Status.Phase = itopsv1alpha1.IncidentResolved })
	acked := incidentWith(func(i *itopsv1alpha1.Incident) {
		a := metav1.NewTime(t0.Add(time.Minute))
		i.Status.AcknowledgedAt, i.Status.Phase = &a, itopsv1alpha1.IncidentAcknowledged
	})
	ep1 := append(append([]itopsv1alpha1.Notification(nil), ep0...),
		delivered("pd", "Opened", 1, t0.Add(20*time.Minute)), delivered("slack", "Opened", 1, t0.Add(20*time.Minute)))
	cases := []struct {
		name     string
		inc      *itopsv1alpha1.Incident
		recorded []itopsv1alpha1.Notification
		now      time.Time
		want     []string
	}{
		{"resolved episode: nothing more", resolvedInc, ep0, t0.Add(15 * time.Minute), nil},
		{"reopened: a second trigger to every receiver told resolved", reopened, ep0, t0.Add(20 * time.Minute),
			[]string{"pd:Opened#1", "slack:Opened#1"}},
		{"reopened while acknowledged: opened again, then the acknowledgement", acked, ep0, t0.Add(20 * time.Minute),
			[]string{"pd:Opened#1", "slack:Opened#1", "pd:Acknowledged#1", "slack:Acknowledged#1"}},
		{"the reopening is sent once", reopened, ep1, t0.Add(21 * time.Minute), nil},
		{"second episode resolves again", resolvedInc, ep1, t0.Add(40 * time.Minute), []string{"pd:Resolved#1", "slack:Resolved#1"}},
		{"second episode repeats from its own opening", reopened, ep1, t0.Add(50 * time.Minute), []string{"pd:Repeated#1"}},
		{"third episode", reopened, append(append([]itopsv1alpha1.Notification(nil), ep1...),
			delivered("pd", "Resolved", 1, t0.Add(40*time.Minute)), delivered("slack", "Resolved", 1, t0.Add(40*time.Minute))),
			t0.Add(50 * time.Minute), []string{"pd:Opened#2", "slack:Opened#2"}},
		{"a suppressed reopening pages nobody", incidentWith(func(i *itopsv1alpha1.Incident) {
			i.Status.Conditions = []metav1.Condition{cond(itopsv1alpha1.IncidentConditionSuppressed)}
		}), ep0, t0.Add(20 * time.Minute), nil},
		{"resolved not yet recorded: no reopening", reopened, ep0[:2], t0.Add(20 * time.Minute), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := wants(Due(c.inc, routing, c.recorded, c.now)); !equal(got, c.want) {
				t.Errorf("due = %v, want %v", got, c.want)
			}
		})
	}
	// The keys of the two episodes differ (a receiver that deduplicates by key takes both);
	// PagerDuty's dedup_key is the incident's fingerprint either way.
	if Key("uid-1", "pd", "Opened", 0) == Key("uid-1", "pd", "Opened", 1) {
		t.Fatal("the reopening has the first opening's key")
	}
}

// TestDueReprioritized: a raised priority re-triggers every receiver already paged, once per
// priority (review finding: PagerDuty's severity stayed at the first trigger's).
func TestDueReprioritized(t *testing.T) {
	routing := Routing{Targets: []Target{{Receiver: "pd"}, {Receiver: "slack"}}}
	p2 := []itopsv1alpha1.Notification{
		withPriority(delivered("pd", "Opened", 0, t0), "P2"), withPriority(delivered("slack", "Opened", 0, t0), "P2"),
	}
	raised := incidentWith(func(i *itopsv1alpha1.Incident) { i.Status.Priority = "P1" })
	cases := []struct {
		name     string
		inc      *itopsv1alpha1.Incident
		recorded []itopsv1alpha1.Notification
		want     []string
	}{
		{"same priority: nothing", incidentWith(), p2, nil},
		{"lowered priority: nothing", incidentWith(func(i *itopsv1alpha1.Incident) { i.Status.Priority = "P3" }), p2, nil},
		{"raised to P1: each paged receiver, keyed by the priority", raised, p2, []string{"pd:Reprioritized#1", "slack:Reprioritized#1"}},
		{"raised once only", raised, append(append([]itopsv1alpha1.Notification(nil), p2...),
			withPriority(delivered("pd", "Reprioritized", 1, t0), "P1"), withPriority(delivered("slack", "Reprioritized", 1, t0), "P1")), nil},
		{"acknowledged and raised: still told", incidentWith(func(i *itopsv1alpha1.Incident) {
			a := metav1.NewTime(t0)
			i.Status.AcknowledgedAt, i.Status.Priority = &a, "P1"
		}), append(append([]itopsv1alpha1.Notification(nil), p2...), delivered("pd", "Acknowledged", 0, t0), delivered("slack", "Acknowledged", 0, t0)),
			[]string{"pd:Reprioritized#1", "slack:Reprioritized#1"}},
		{"the opening not yet sent carries the priority itself", raised, nil, []string{"pd:Opened#0", "slack:Opened#0"}},
		{"suppressed: nothing", incidentWith(func(i *itopsv1alpha1.Incident) {
			i.Status.Priority = "P1"
			i.Status.Conditions = []metav1.Condition{cond(itopsv1alpha1.IncidentConditionSuppressed)}
		}), p2, nil},
		{"a new episode counts from its own opening", raised, append(append([]itopsv1alpha1.Notification(nil), p2...),
			withPriority(delivered("pd", "Reprioritized", 1, t0), "P1"), delivered("pd", "Resolved", 0, t0),
			withPriority(delivered("pd", "Opened", 1, t0), "P3")), []string{"pd:Reprioritized#11", "slack:Reprioritized#1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := wants(Due(c.inc, routing, c.recorded, t0.Add(time.Minute))); !equal(got, c.want) {
				t.Errorf("due = %v, want %v", got, c.want)
			}
		})
	}
}

// TestRouteUnknownEscalation: an owner escalation naming nothing in the policy is reported,
// not silently ignored (review finding).
func TestRouteUnknownEscalation(t *testing.T) {
	r := Route(policy(), incidentWith(func(i *itopsv1alpha1.Incident) { i.Status.Escalation = "team-leads" }), nil)
	if r.UnknownEscalation != "team-leads" || !equal(r.Escalation, []string{"leads"}) {
		t.Fatalf("routing = %+v", r)
	}
	if r := Route(policy(), incidentWith(func(i *itopsv1alpha1.Incident) { i.Status.Escalation = "leads" }), nil); r.UnknownEscalation != "" {
		t.Fatalf("known escalation reported unknown: %+v", r)
	}
	if msg := UnknownEscalationMessage("team-leads", ""); !strings.Contains(msg, `"team-leads"`) || !strings.Contains(msg, "nobody is escalated to") {
		t.Fatalf("message %q", msg)
	}
}

package notification

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	smtpserver "github.com/emersion/go-smtp"
	"github.com/slack-go/slack"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/config"
	"github.com/itops-dev/itops-operator/internal/notify"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func secrets(values map[string]string) SecretFunc {
	return func(_ context.Context, ref config.SecretKeyRef) ([]byte, error) {
		v, ok := values[ref.Name+"/"+ref.Key]
		if !ok {
			return nil, errors.New("no such secret")
		}
		return []byte(v), nil
	}
}

func testIncident() *itopsv1alpha1.Incident {
	d := metav1.NewTime(t0)
	return &itopsv1alpha1.Incident{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "checkout-crashloopbackoff", UID: "0b7d7f5e-uid"},
		Spec: itopsv1alpha1.IncidentSpec{Title: "Deployment checkout: CrashLoopBackOff", Source: itopsv1alpha1.SourceHealthCheck,
			Reason: "CrashLoopBackOff", Fingerprint: "shop/Deployment/checkout", Service: "checkout", Team: "checkout", Assignee: "checkout"},
		Status: itopsv1alpha1.IncidentStatus{Phase: itopsv1alpha1.IncidentOpen, Priority: "P1", DetectedAt: &d, RunbookURL: "https://runbooks.example/checkout",
			Signals: []itopsv1alpha1.Signal{{Reason: "CrashLoopBackOff", Active: true, Count: 1, Message: "container app keeps crashing (exit 1)"}}},
	}
}

func message(inc *itopsv1alpha1.Incident, transition string) notify.Message {
	return notify.NewMessage(inc, itopsv1alpha1.Notification{Receiver: "r", Transition: transition,
		Key: notify.Key(string(inc.UID), "r", transition, 0), State: itopsv1alpha1.NotificationPending, At: metav1.NewTime(t0)})
}

// TestWebhookSignedDelivery: a receiver verifying the HMAC the way docs/notifications.md says.
func TestWebhookSignedDelivery(t *testing.T) {
	key := []byte("hmac-key")
	var got WebhookPayload
	var verdict, delivery string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &got)
		verdict = notify.Verify(key, body, r.Header.Get(notify.HeaderSignature), r.Header.Get(notify.HeaderTimestamp), got.Timestamp, time.Now(), 5*time.Minute)
		delivery = r.Header.Get(notify.HeaderDelivery)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	s := NewSender(config.Receiver{Name: "hook", Webhook: &config.WebhookReceiver{URL: srv.URL, SecretRef: &config.SecretKeyRef{Name: "hook", Key: "key"}}},
		secrets(map[string]string{"hook/key": string(key)}), srv.Client(), time.Now)
	m := message(testIncident(), itopsv1alpha1.NotifyOpened)
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if verdict != "" {
		t.Fatalf("the receiver rejects the signature: %s", verdict)
	}
	if delivery != m.Key || got.Delivery != m.Key || got.Transition != "Opened" || got.Incident.Name != "checkout-crashloopbackoff" ||
		got.Incident.Priority != "P1" || got.Incident.Phase != "Open" || got.Incident.Reason != "CrashLoopBackOff" || got.Incident.Title == "" || got.At.IsZero() {
		t.Fatalf("payload %+v, delivery header %q", got, delivery)
	}
}

func TestWebhookErrors(t *testing.T) {
	for code, permanent := range map[int]bool{400: true, 404: true, 408: false, 429: false, 500: false, 503: false} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }))
		s := NewSender(config.Receiver{Webhook: &config.WebhookReceiver{URL: srv.URL}}, secrets(nil), srv.Client(), time.Now)
		err := s.Send(context.Background(), message(testIncident(), "Opened"))
		srv.Close()
		if err == nil || IsPermanent(err) != permanent {
			t.Errorf("HTTP %d: err %v, permanent %v, want permanent %v", code, err, IsPermanent(err), permanent)
		}
	}
}

// pagerDutyStandIn checks every event against the Events API v2 schema and records them.
type pagerDutyStandIn struct {
	mu       sync.Mutex
	events   []map[string]any
	changes  []map[string]any
	problems []string
}

func (p *pagerDutyStandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var ev map[string]any
	if err := json.NewDecoder(r.Body).Decode(&ev); err != nil || r.Header.Get("Content-Type") != "application/json" {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	bad := func(why string) {
		p.problems = append(p.problems, why)
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"status":"invalid event","message":"` + why + `"}`))
	}
	if ev["routing_key"] != "R0UTINGKEY" {
		bad("routing_key")
		return
	}
	switch r.URL.Path {
	case "/v2/enqueue":
		action, _ := ev["event_action"].(string)
		dedup, _ := ev["dedup_key"].(string)
		if action != "trigger" && action != "acknowledge" && action != "resolve" {
			bad("event_action")
			return
		}
		if action != "trigger" && dedup == "" {
			bad("dedup_key required to " + action)
			return
		}
		if action == "trigger" {
			pl, _ := ev["payload"].(map[string]any)
			sev, _ := pl["severity"].(string)
			if pl == nil || pl["summary"] == "" || pl["source"] == "" || (sev != "critical" && sev != "error" && sev != "warning" && sev != "info") {
				bad("payload summary, source, severity")
				return
			}
		}
		p.events = append(p.events, ev)
	case "/v2/change/enqueue":
		pl, _ := ev["payload"].(map[string]any)
		if pl == nil || pl["summary"] == "" {
			bad("change payload summary")
			return
		}
		p.changes = append(p.changes, ev)
	default:
		w.WriteHeader(http.StatusNotFound)
		return
	}
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write([]byte(`{"status":"success","message":"Event processed","dedup_key":"x"}`))
}

func TestPagerDutyEventsV2(t *testing.T) {
	pd := &pagerDutyStandIn{}
	srv := httptest.NewServer(pd)
	defer srv.Close()
	s := NewSender(config.Receiver{PagerDuty: &config.PagerDutyReceiver{URL: srv.URL, RoutingKeySecretRef: config.SecretKeyRef{Name: "pd", Key: "routingKey"}}},
		secrets(map[string]string{"pd/routingKey": "R0UTINGKEY\n"}), srv.Client(), time.Now)
	inc := testIncident()
	for _, tr := range []string{"Opened", "Acknowledged", "Resolved"} {
		if err := s.Send(context.Background(), message(inc, tr)); err != nil {
			t.Fatalf("%s: %v", tr, err)
		}
	}
	if err := s.(*pagerDutySender).SendChange(context.Background(), "change deploy-1 started", "shop/deploy-1", t0, map[string]any{"phase": "InProgress"}); err != nil {
		t.Fatal(err)
	}
	if len(pd.problems) > 0 || len(pd.events) != 3 || len(pd.changes) != 1 {
		t.Fatalf("problems %v, events %d, changes %d", pd.problems, len(pd.events), len(pd.changes))
	}
	for i, want := range []string{"trigger", "acknowledge", "resolve"} {
		if pd.events[i]["event_action"] != want || pd.events[i]["dedup_key"] != "shop/Deployment/checkout" {
			t.Errorf("event %d: %v", i, pd.events[i])
		}
	}
	if sev := pd.events[0]["payload"].(map[string]any)["severity"]; sev != "critical" {
		t.Errorf("P1 severity %v", sev)
	}
	// A wrong routing key is refused by PagerDuty: permanent, not retried.
	bad := NewSender(config.Receiver{PagerDuty: &config.PagerDutyReceiver{URL: srv.URL, RoutingKeySecretRef: config.SecretKeyRef{Name: "pd", Key: "k"}}},
		secrets(map[string]string{"pd/k": "wrong"}), srv.Client(), time.Now)
	if err := bad.Send(context.Background(), message(inc, "Opened")); !IsPermanent(err) {
		t.Fatalf("refused event: %v", err)
	}
}

func TestSlackBlockKit(t *testing.T) {
	var got slack.WebhookMessage
	var raw string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		raw = string(b)
		if err := json.Unmarshal(b, &got); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	s := NewSender(config.Receiver{Slack: &config.SlackReceiver{WebhookURLSecretRef: config.SecretKeyRef{Name: "slack", Key: "url"}}},
		secrets(map[string]string{"slack/url": srv.URL + "/services/T000/B000/XXXX"}), srv.Client(), time.Now)
	if err := s.Send(context.Background(), message(testIncident(), "Opened")); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"[P1] Opened", "checkout", "container app keeps crashing", "2026-12-01T10:00:00Z",
		"https://runbooks.example/checkout", "kubectl itops ack checkout-crashloopbackoff -n shop", `"type":"header"`, `"type":"section"`} {
		if !strings.Contains(raw, want) {
			t.Errorf("the Slack message lacks %q: %s", want, raw)
		}
	}
	if got.Blocks == nil || len(got.Blocks.BlockSet) != 3 {
		t.Fatalf("blocks: %+v", got.Blocks)
	}
	// The webhook URL is the credential: it never reaches an error (and so never a status).
	srv.Close()
	err := s.Send(context.Background(), message(testIncident(), "Opened"))
	if err == nil || strings.Contains(err.Error(), "XXXX") {
		t.Fatalf("error %v leaks the webhook URL", err)
	}
}

// smtpBackend is a real SMTP server (go-smtp) keeping what it receives.
type smtpBackend struct {
	mu   sync.Mutex
	msgs []*mail.Message
	rcpt [][]string
}

type smtpSession struct {
	be *smtpBackend
	to []string
}

func (b *smtpBackend) NewSession(*smtpserver.Conn) (smtpserver.Session, error) {
	return &smtpSession{be: b}, nil
}
func (s *smtpSession) Reset()                                     { s.to = nil }
func (s *smtpSession) Logout() error                              { return nil }
func (s *smtpSession) Mail(string, *smtpserver.MailOptions) error { return nil }
func (s *smtpSession) Rcpt(to string, _ *smtpserver.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *smtpSession) Data(r io.Reader) error {
	m, err := mail.ReadMessage(bufio.NewReader(r))
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(m.Body)
	m.Body = strings.NewReader(string(body))
	s.be.mu.Lock()
	defer s.be.mu.Unlock()
	s.be.msgs = append(s.be.msgs, m)
	s.be.rcpt = append(s.be.rcpt, s.to)
	return nil
}

func startSMTP(t *testing.T) (*smtpBackend, string, int32) {
	be := &smtpBackend{}
	srv := smtpserver.NewServer(be)
	srv.Domain = "localhost"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return be, "127.0.0.1", int32(l.Addr().(*net.TCPAddr).Port)
}

func TestEmailThreadsPerIncident(t *testing.T) {
	be, host, port := startSMTP(t)
	s := NewSender(config.Receiver{Email: &config.EmailReceiver{SMTP: config.SMTPServer{Host: host, Port: port}, From: "itops@example.com",
		To: []string{"oncall@example.com", "otrs@example.com"}}}, secrets(nil), nil, time.Now)
	inc := testIncident()
	for _, tr := range []string{"Opened", "Acknowledged", "Resolved"} {
		if err := s.Send(context.Background(), message(inc, tr)); err != nil {
			t.Fatalf("%s: %v", tr, err)
		}
	}
	if len(be.msgs) != 3 {
		t.Fatalf("received %d mails", len(be.msgs))
	}
	root := be.msgs[0].Header.Get("Message-ID")
	if root != "<incident-0b7d7f5e-uid@itops.dev>" || be.msgs[0].Header.Get("In-Reply-To") != "" {
		t.Fatalf("first mail Message-ID %q", root)
	}
	for _, m := range be.msgs[1:] {
		if m.Header.Get("In-Reply-To") != root || m.Header.Get("References") != root || m.Header.Get("Message-ID") == root {
			t.Errorf("later mail not threaded: %v", m.Header)
		}
	}
	if subj := be.msgs[0].Header.Get("Subject"); !strings.HasPrefix(subj, "[P1] Opened: ") {
		t.Errorf("subject %q", subj)
	}
	body, _ := io.ReadAll(be.msgs[0].Body)
	if !strings.Contains(string(body), "kubectl itops ack checkout-crashloopbackoff -n shop") || len(be.rcpt[0]) != 2 {
		t.Errorf("body %q, recipients %v", body, be.rcpt[0])
	}
	// A resend (crash between send and record) carries the same Message-ID: receivers that
	// deduplicate by it see one message.
	if MessageID(message(inc, "Resolved")) != be.msgs[2].Header.Get("Message-ID") {
		t.Error("Message-ID not stable across resends")
	}
}

// countingServer answers with the codes in order (then 200), counting requests.
func countingServer(codes ...int) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		i := int(n.Add(1)) - 1
		if i < len(codes) {
			w.WriteHeader(codes[i])
			return
		}
		w.WriteHeader(http.StatusOK)
	})), &n
}

func reconcilerFor(receivers []config.Receiver, clk *clocktesting.FakeClock) *Reconciler {
	p := &config.NotificationPolicy{Receivers: receivers}
	for i := range p.Receivers {
		r := &p.Receivers[i]
		if r.Timeout.Duration == 0 {
			r.Timeout.Duration = config.DefaultReceiverTimeout
		}
		if r.MaxAttempts == 0 {
			r.MaxAttempts = config.DefaultMaxAttempts
		}
	}
	return &Reconciler{Policy: p, Clock: clk, Jitter: func() float64 { return 0 }}
}

func pending(inc *itopsv1alpha1.Incident, receivers ...string) {
	w := make([]notify.Want, 0, len(receivers))
	for _, r := range receivers {
		w = append(w, notify.Want{Receiver: r, Transition: itopsv1alpha1.NotifyOpened})
	}
	inc.Status.Notifications = notify.Record(string(inc.UID), inc.Status.Notifications, w, t0)
}

func apply(inc *itopsv1alpha1.Incident, results []result) {
	for _, res := range results {
		for i := range inc.Status.Notifications {
			if inc.Status.Notifications[i].Key == res.n.Key {
				inc.Status.Notifications[i] = res.n
			}
		}
	}
}

// TestFault500ThenRecovery: a receiver answering 500 twice, then 200. Figures: attempted 3,
// delivered 1, duplicated 0, lost 0.
func TestFault500ThenRecovery(t *testing.T) {
	srv, hits := countingServer(500, 500)
	defer srv.Close()
	clk := clocktesting.NewFakeClock(t0)
	r := reconcilerFor([]config.Receiver{{Name: "hook", Webhook: &config.WebhookReceiver{URL: srv.URL}}}, clk)
	r.HTTPClient = srv.Client()
	inc := testIncident()
	pending(inc, "hook")
	for step := 0; step < 10; step++ {
		idx, next := notify.Sendable(inc.Status.Notifications, clk.Now())
		if len(idx) == 0 {
			if next.IsZero() {
				break
			}
			clk.SetTime(next)
			continue
		}
		res, _, _ := r.send(context.Background(), inc, idx, nil)
		apply(inc, res)
	}
	n := inc.Status.Notifications[0]
	t.Logf("500 then recovery: attempted %d, delivered %d, duplicated %d, lost %d", hits.Load(), boolInt(n.State == "Delivered"), 0, boolInt(n.State != "Delivered"))
	if hits.Load() != 3 || n.State != itopsv1alpha1.NotificationDelivered || n.Attempts != 3 || n.LastError != "" {
		t.Fatalf("hits %d, entry %+v", hits.Load(), n)
	}
	// The backoff doubled: 2.5s then 5s (jitter 0) after t0.
	if got := clk.Now().Sub(t0); got != 7500*time.Millisecond {
		t.Fatalf("retried after %v in all, want 7.5s", got)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestFaultHangingReceiver: a receiver that never answers times out and is retried later;
// a healthy receiver of the same incident is delivered in the same round, without waiting
// longer than the hanging one's timeout, and other incidents' deliveries to the hanging
// receiver do not hold more than its slots.
func TestFaultHangingReceiver(t *testing.T) {
	release := make(chan struct{})
	var hung atomic.Int32
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hung.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hang.Close()
	defer close(release)
	ok, okHits := countingServer()
	defer ok.Close()
	clk := clocktesting.NewFakeClock(t0)
	r := reconcilerFor([]config.Receiver{
		{Name: "hang", Webhook: &config.WebhookReceiver{URL: hang.URL}, Timeout: metav1.Duration{Duration: 300 * time.Millisecond}},
		{Name: "ok", Webhook: &config.WebhookReceiver{URL: ok.URL}},
	}, clk)
	r.SlotsPerReceiver = 1
	inc := testIncident()
	pending(inc, "hang", "ok")
	idx, _ := notify.Sendable(inc.Status.Notifications, clk.Now())
	start := time.Now()
	res, _, _ := r.send(context.Background(), inc, idx, nil)
	took := time.Since(start)
	apply(inc, res)
	byReceiver := map[string]itopsv1alpha1.Notification{}
	for _, n := range inc.Status.Notifications {
		byReceiver[n.Receiver] = n
	}
	if h := byReceiver["hang"]; h.State != itopsv1alpha1.NotificationPending || h.NextAttemptAt == nil || !strings.Contains(h.LastError, "no answer within 300ms") {
		t.Fatalf("hanging receiver entry %+v", h)
	}
	if o := byReceiver["ok"]; o.State != itopsv1alpha1.NotificationDelivered || okHits.Load() != 1 {
		t.Fatalf("healthy receiver entry %+v, hits %d", o, okHits.Load())
	}
	if took > 5*time.Second {
		t.Fatalf("the round took %v: the timeout did not bound the hanging receiver", took)
	}
	// While one send to the hanging receiver holds its only slot, another incident's delivery
	// to it is not started (requeued), and one to the healthy receiver goes through.
	other := testIncident()
	other.UID, other.Name = "uid-other", "other"
	pending(other, "hang", "ok")
	r.lanes["hang"].slots <- struct{}{} // a send in flight
	idx, _ = notify.Sendable(other.Status.Notifications, clk.Now())
	res, wait, _ := r.send(context.Background(), other, idx, nil)
	<-r.lanes["hang"].slots
	if len(res) != 1 || res[0].n.Receiver != "ok" || res[0].n.State != itopsv1alpha1.NotificationDelivered || wait != retryBusy {
		t.Fatalf("results %+v, wait %v", res, wait)
	}
	t.Logf("hanging receiver: attempted %d (timed out, retry scheduled), healthy receiver delivered %d, duplicated 0, lost 0", hung.Load(), okHits.Load())
}

// TestFaultFlood: 1,000 incidents opened within a minute against a receiver limited to 300
// messages a minute (burst 20): every one is delivered exactly once, and no minute sees more
// than the limit allows.
func TestFaultFlood(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	var times []time.Time
	clk := clocktesting.NewFakeClock(t0)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p WebhookPayload
		_ = json.NewDecoder(r.Body).Decode(&p)
		mu.Lock()
		seen[p.Delivery]++
		times = append(times, clk.Now())
		mu.Unlock()
	}))
	defer srv.Close()
	r := reconcilerFor([]config.Receiver{{Name: "hook", Webhook: &config.WebhookReceiver{URL: srv.URL}, RateLimit: &config.RateLimit{PerMinute: 300, Burst: 20}}}, clk)
	r.HTTPClient = srv.Client()
	const n = 1000
	incs := make([]*itopsv1alpha1.Incident, n)
	due := make([]time.Time, n) // when each incident's reconcile runs next
	for i := range incs {
		inc := testIncident()
		inc.UID = types.UID("uid-" + strconv.Itoa(i))
		inc.Name = "flood-" + strconv.Itoa(i)
		pending(inc, "hook")
		incs[i] = inc
		due[i] = t0.Add(time.Duration(i) * 60 * time.Millisecond) // 1,000 within a minute
	}
	for {
		// The earliest reconcile due.
		k := -1
		for i := range due {
			if !due[i].IsZero() && (k < 0 || due[i].Before(due[k])) {
				k = i
			}
		}
		if k < 0 {
			break
		}
		if due[k].After(clk.Now()) {
			clk.SetTime(due[k])
		}
		idx, next := notify.Sendable(incs[k].Status.Notifications, clk.Now())
		res, wait, _ := r.send(context.Background(), incs[k], idx, nil)
		apply(incs[k], res)
		switch {
		case wait > 0:
			due[k] = clk.Now().Add(wait)
		case !next.IsZero():
			due[k] = next
		default:
			if more, _ := notify.Sendable(incs[k].Status.Notifications, clk.Now()); len(more) > 0 {
				due[k] = clk.Now()
			} else {
				due[k] = time.Time{}
			}
		}
	}
	delivered, duplicated := 0, 0
	for _, inc := range incs {
		if inc.Status.Notifications[0].State == itopsv1alpha1.NotificationDelivered {
			delivered++
		}
		if c := seen[inc.Status.Notifications[0].Key]; c > 1 {
			duplicated += c - 1
		}
	}
	peak := 0
	for i := range times {
		j := i
		for j < len(times) && times[j].Sub(times[i]) < time.Minute {
			j++
		}
		peak = max(peak, j-i)
	}
	t.Logf("flood: attempted %d, delivered %d, duplicated %d, lost %d, peak per minute %d (limit 300 + burst 20), last delivery after %v",
		len(times), delivered, duplicated, n-delivered, peak, times[len(times)-1].Sub(t0).Round(time.Second))
	if delivered != n || duplicated != 0 || len(times) != n {
		t.Fatalf("delivered %d of %d, duplicated %d", delivered, n, duplicated)
	}
	if peak > 320 {
		t.Fatalf("peak %d messages in a minute exceeds the limit", peak)
	}
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// The on-call stand-ins: a PagerDuty Events API v2 endpoint and a Slack incoming webhook on
// loopback, printing what they receive.
var (
	pagerDuty = &receiverStandIn{name: "PagerDuty"}
	slackHook = &receiverStandIn{name: "Slack"}
	slackURL  string
)

// receiverStandIn records the JSON bodies it receives.
type receiverStandIn struct {
	name   string
	mu     sync.Mutex
	bodies []map[string]any
}

func (s *receiverStandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.bodies = append(s.bodies, body)
	s.mu.Unlock()
	if s.name == "Slack" {
		_, _ = w.Write([]byte("ok")) // Slack answers 200 ok; anything else is a failed post
		return
	}
	w.WriteHeader(http.StatusAccepted) // PagerDuty answers 202
}

// about returns one line per message about namespace ns: Slack messages naming it, PagerDuty
// events whose dedup_key a trigger from it carried (acknowledge and resolve carry only the key).
func (s *receiverStandIn) about(ns string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := map[any]bool{}
	for _, b := range s.bodies {
		if p, ok := b["payload"].(map[string]any); ok && strings.HasPrefix(fmt.Sprint(p["source"]), ns+"/") {
			keys[b["dedup_key"]] = true
		}
	}
	var out []string
	for _, b := range s.bodies {
		if action, ok := b["event_action"].(string); ok {
			if !keys[b["dedup_key"]] {
				continue
			}
			line := action + " dedup_key=" + fmt.Sprint(b["dedup_key"])
			if p, ok := b["payload"].(map[string]any); ok {
				line += fmt.Sprintf(" severity=%v summary=%q", p["severity"], p["summary"])
			}
			out = append(out, line)
			continue
		}
		if text := fmt.Sprint(b["text"]); strings.Contains(text, "("+ns+"/") {
			out = append(out, text)
		}
	}
	return out
}

// notificationsPolicy starts the stand-ins and returns the policy's notifications key: every
// incident of a namespace labelled itops.dev/demo-oncall=orders goes to both.
func notificationsPolicy() string {
	pd := httptest.NewServer(pagerDuty)
	sl := httptest.NewServer(slackHook)
	slackURL = sl.URL + "/services/T0/B0/demo"
	return fmt.Sprintf(`notifications:
  receivers:
  - name: orders-pagerduty
    pagerduty: {routingKeySecretRef: {name: orders-pagerduty, key: routingKey}, url: %s}
  - name: orders-slack
    slack: {webhookURLSecretRef: {name: orders-slack, key: url}}
  routes:
  - match: {teams: [orders], namespaceSelector: {matchLabels: {itops.dev/demo-oncall: orders}}}
    receivers: [orders-pagerduty, orders-slack]
`, pd.URL)
}

func (d *demo) ordersNamespace(ctx context.Context, name string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"itops.dev/demo-oncall": "orders"}}}
	if err := d.c.Client.Create(ctx, ns); err != nil {
		return err
	}
	labels := map[string]string{"app": "orders-api"}
	sl := &itopsv1alpha1.ServiceLevel{
		ObjectMeta: metav1.ObjectMeta{Name: "orders", Namespace: name},
		Spec: itopsv1alpha1.ServiceLevelSpec{Selector: metav1.LabelSelector{MatchLabels: labels},
			Owner: &itopsv1alpha1.ServiceOwner{Team: "orders", RunbookURL: "https://runbooks.example.com/orders-api"}},
	}
	if err := d.c.Client.Create(ctx, sl); err != nil {
		return err
	}
	return d.c.Client.Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "orders-api", Namespace: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "api", Image: "registry.example.com/orders/api:3.1.0"}}}}},
	})
}

func (d *demo) setOrdersCrashing(ctx context.Context, ns string, crashing bool) error {
	deploy := &appsv1.Deployment{}
	if err := d.c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "orders-api"}, deploy); err != nil {
		return err
	}
	patch := client.MergeFrom(deploy.DeepCopy())
	if crashing {
		deploy.Spec.Template.Labels["itops.dev/chaos"] = "crashloop"
	} else {
		delete(deploy.Spec.Template.Labels, "itops.dev/chaos")
	}
	return d.c.Client.Patch(ctx, deploy, patch)
}

// received waits until the incident in namespace orders records the transition as Delivered to
// receiver (its delivery has settled, the stand-in has answered), then requires the stand-in
// to hold exactly n messages about the namespace: "once", not "at least once".
func (d *demo) received(ctx context.Context, s *receiverStandIn, receiver, transition string, n int) error {
	const ns = "orders"
	if err := d.waitFor(ctx, fmt.Sprintf("%s's %s delivery to be recorded", s.name, transition), 2*time.Minute, func(ctx context.Context) (bool, error) {
		inc := &itopsv1alpha1.Incident{}
		if err := d.c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "deployment-orders-api"}, inc); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		done := false
		for _, e := range inc.Status.Notifications {
			if e.Receiver != receiver {
				continue
			}
			if e.State == itopsv1alpha1.NotificationPending {
				return false, nil
			}
			done = done || (e.Transition == transition && e.State == itopsv1alpha1.NotificationDelivered)
		}
		return done, nil
	}); err != nil {
		return err
	}
	if got := s.about(ns); len(got) != n {
		return fmt.Errorf("%s received %d message(s) about %s, want exactly %d: %q", s.name, len(got), ns, n, got)
	}
	return nil
}

func (d *demo) showReceived(ns string) {
	for _, s := range []*receiverStandIn{pagerDuty, slackHook} {
		d.n.say("  %s received:", s.name)
		for _, line := range s.about(ns) {
			d.n.say("    %s", line)
		}
	}
}

// notificationsStory: a crash pages the owning team once; acknowledgement and resolution
// follow; a maintenance window pages nobody.
func notificationsStory(ctx context.Context, d *demo) error {
	c := d.c.Client
	const ns, planned = "orders", "orders-maint"
	d.n.say("The administrator's policy routes the orders team's incidents to its PagerDuty service and")
	d.n.say("Slack channel (stand-ins on loopback here). Credentials live in Secrets in itops-system:")
	for name, data := range map[string]map[string][]byte{
		"orders-pagerduty": {"routingKey": []byte("demo-routing-key")}, "orders-slack": {"url": []byte(slackURL)},
	} {
		if err := c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "itops-system"}, Data: data}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	if err := d.ordersNamespace(ctx, ns); err != nil {
		return err
	}
	d.n.say("The orders ServiceLevel names its owner: team orders, runbook https://runbooks.example.com/orders-api.")

	d.n.say("\norders-api starts crash-looping.")
	if err := d.setOrdersCrashing(ctx, ns, true); err != nil {
		return err
	}
	if err := d.received(ctx, pagerDuty, "orders-pagerduty", itopsv1alpha1.NotifyOpened, 1); err != nil {
		return err
	}
	if err := d.received(ctx, slackHook, "orders-slack", itopsv1alpha1.NotifyOpened, 1); err != nil {
		return err
	}
	d.showReceived(ns)
	d.n.say("\nThe incident knows its owner and records each delivery:")
	if err := d.kubectl("get", "incident", "deployment-orders-api", "-n", ns, "-o",
		"custom-columns=TEAM:.spec.team,ASSIGNEE:.spec.assignee,RUNBOOK:.status.runbookURL,DELIVERIES:.status.notifications[*].receiver,STATES:.status.notifications[*].state"); err != nil {
		return err
	}

	d.n.say("\nalice acknowledges; the webhook stamps her name and PagerDuty hears of it:")
	if err := d.itops(asAlice, "ack", "deployment-orders-api", "-n", ns, "--note", "rolling back"); err != nil {
		return err
	}
	if err := d.received(ctx, pagerDuty, "orders-pagerduty", itopsv1alpha1.NotifyAcknowledged, 2); err != nil {
		return err
	}
	d.n.say("\nThe rollback works: the crash stops and the incident resolves itself after 10s of health.")
	if err := d.setOrdersCrashing(ctx, ns, false); err != nil {
		return err
	}
	if err := d.received(ctx, pagerDuty, "orders-pagerduty", itopsv1alpha1.NotifyResolved, 3); err != nil {
		return err
	}
	if err := d.received(ctx, slackHook, "orders-slack", itopsv1alpha1.NotifyResolved, 3); err != nil {
		return err
	}
	d.showReceived(ns)

	d.n.say("\nA second orders namespace announces maintenance, then the same crash happens there:")
	if err := d.ordersNamespace(ctx, planned); err != nil {
		return err
	}
	start := time.Now().UTC().Truncate(time.Second)
	if err := c.Create(ctx, &itopsv1alpha1.MaintenanceWindow{
		ObjectMeta: metav1.ObjectMeta{Name: "orders-upgrade", Namespace: planned},
		Spec: itopsv1alpha1.MaintenanceWindowSpec{Type: itopsv1alpha1.WindowMaintenance,
			Schedules: []itopsv1alpha1.WindowSchedule{{Start: &metav1.Time{Time: start}, End: &metav1.Time{Time: start.Add(10 * time.Minute)}}}},
	}); err != nil {
		return err
	}
	if err := d.windowPhase(ctx, planned, "orders-upgrade", itopsv1alpha1.WindowActive, 30*time.Second); err != nil {
		return err
	}
	if err := d.setOrdersCrashing(ctx, planned, true); err != nil {
		return err
	}
	inc := &itopsv1alpha1.Incident{}
	if err := d.waitFor(ctx, "the suppressed incident", time.Minute, func(ctx context.Context) (bool, error) {
		err := c.Get(ctx, client.ObjectKey{Namespace: planned, Name: "deployment-orders-api"}, inc)
		return err == nil && meta.IsStatusConditionTrue(inc.Status.Conditions, itopsv1alpha1.IncidentConditionSuppressed), client.IgnoreNotFound(err)
	}); err != nil {
		return err
	}
	// Give a page every chance to go out before saying none did.
	deadline := time.Now().Add(5 * time.Second)
	_ = d.waitFor(ctx, "a quiet 5 seconds", 10*time.Second, func(context.Context) (bool, error) { return time.Now().After(deadline), nil })
	if n := len(pagerDuty.about(planned)) + len(slackHook.about(planned)); n != 0 {
		return fmt.Errorf("a suppressed incident paged: %d messages", n)
	}
	if err := d.kubectl("get", "incident", "deployment-orders-api", "-n", planned, "-o",
		"custom-columns=PHASE:.status.phase,SUPPRESSED-BY:.status.suppressedBy,DELIVERIES:.status.notifications[*].receiver"); err != nil {
		return err
	}
	d.n.say("Suppressed by the window: PagerDuty and Slack received nothing about %s.", planned)
	return nil
}

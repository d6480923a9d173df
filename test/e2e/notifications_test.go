package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/test/testenv"
)

// The receivers' stand-ins the suite's operator delivers to (notificationsPolicy).
var (
	standInPagerDuty = &pagerDutyStandIn{}
	standInSlack     = &slackStandIn{}
	standInsOnce     sync.Once
	standInsPolicy   string
)

// notifyLabel routes a namespace's incidents to the stand-ins.
const notifyLabel = "itops-e2e-notify"

// notificationsPolicy starts the PagerDuty and Slack stand-ins (once) and returns the policy's
// notifications key routing incidents of namespaces labelled itops-e2e-notify=yes to both.
func notificationsPolicy() string {
	standInsOnce.Do(func() {
		pd := httptest.NewServer(standInPagerDuty)
		slack := httptest.NewServer(standInSlack)
		standInSlack.url = slack.URL + "/services/T0/B0/e2e"
		DeferCleanup(pd.Close)
		DeferCleanup(slack.Close)
		standInsPolicy = fmt.Sprintf(`notifications:
  receivers:
  - name: pagerduty
    pagerduty: {routingKeySecretRef: {name: e2e-pagerduty, key: routingKey}, url: %s}
    timeout: 20s
  - name: slack
    slack: {webhookURLSecretRef: {name: e2e-slack, key: url}}
  routes:
  - match: {namespaceSelector: {matchLabels: {%s: "yes"}}}
    receivers: [pagerduty, slack]
`, pd.URL, notifyLabel)
	})
	return standInsPolicy
}

// pagerDutyStandIn checks each Events API v2 event against the schema, records it, and can
// hold the requests for one source until released (to kill the operator mid-request).
type pagerDutyStandIn struct {
	mu       sync.Mutex
	events   []map[string]any
	problems []string
	holdFor  string        // hold the next trigger whose payload source (namespace/name) starts with this
	held     chan struct{} // closed when a request is being held
	release  chan struct{}
}

func (p *pagerDutyStandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var ev map[string]any
	if r.URL.Path != "/v2/enqueue" || json.NewDecoder(r.Body).Decode(&ev) != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	action, _ := ev["event_action"].(string)
	dedup, _ := ev["dedup_key"].(string)
	p.mu.Lock()
	problem := ""
	switch {
	case ev["routing_key"] != "e2e-routing-key":
		problem = "routing_key"
	case action != "trigger" && action != "acknowledge" && action != "resolve":
		problem = "event_action " + action
	case dedup == "":
		problem = "dedup_key"
	case action == "trigger":
		pl, _ := ev["payload"].(map[string]any)
		if pl == nil || pl["summary"] == "" || pl["source"] == "" || pl["severity"] == "" {
			problem = "payload"
		}
	}
	if problem != "" {
		p.problems = append(p.problems, problem)
		p.mu.Unlock()
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	p.events = append(p.events, ev)
	source := ""
	if pl, ok := ev["payload"].(map[string]any); ok {
		source, _ = pl["source"].(string)
	}
	hold := p.holdFor != "" && strings.HasPrefix(source, p.holdFor)
	held, release := p.held, p.release
	if hold {
		p.holdFor = ""
	}
	p.mu.Unlock()
	if hold {
		close(held)
		<-release
	}
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write([]byte(`{"status":"success","message":"Event processed"}`))
}

// actions returns the event actions received for dedup key.
func (p *pagerDutyStandIn) actions(key string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, e := range p.events {
		if e["dedup_key"] == key {
			out = append(out, e["event_action"].(string))
		}
	}
	return out
}

// slackStandIn records the incoming-webhook messages.
type slackStandIn struct {
	url  string
	mu   sync.Mutex
	msgs []string
}

func (s *slackStandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var m map[string]any
	if r.URL.Path != "/services/T0/B0/e2e" || json.NewDecoder(r.Body).Decode(&m) != nil || m["blocks"] == nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	b, _ := json.Marshal(m)
	s.mu.Lock()
	s.msgs = append(s.msgs, string(b))
	s.mu.Unlock()
	_, _ = w.Write([]byte("ok"))
}

// about returns the Slack messages naming namespace ns.
func (s *slackStandIn) about(ns string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, m := range s.msgs {
		if strings.Contains(m, "-n "+ns) || strings.Contains(m, "("+ns+"/") {
			out = append(out, m)
		}
	}
	return out
}

// ensureReceiverSecrets creates the stand-ins' Secrets in the operator namespace.
func ensureReceiverSecrets() {
	GinkgoHelper()
	Expect(testenv.EnsureNamespace(ctx, k8s, "itops-system")).To(Succeed())
	for name, data := range map[string]map[string][]byte{
		"e2e-pagerduty": {"routingKey": []byte("e2e-routing-key")},
		"e2e-slack":     {"url": []byte(standInSlack.url)},
	} {
		err := k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "itops-system"}, Data: data})
		if !apierrors.IsAlreadyExists(err) {
			Expect(err).NotTo(HaveOccurred())
		}
	}
}

// notifiedNamespace is a fresh namespace routed to the stand-ins.
func notifiedNamespace() string {
	GinkgoHelper()
	ns := newNamespace()
	n := &corev1.Namespace{}
	Expect(k8s.Get(ctx, client.ObjectKey{Name: ns}, n)).To(Succeed())
	patch := client.MergeFrom(n.DeepCopy())
	if n.Labels == nil {
		n.Labels = map[string]string{}
	}
	n.Labels[notifyLabel] = "yes"
	n.Annotations = map[string]string{itopsv1alpha1.AnnotationOwnerTeam: "shop", itopsv1alpha1.AnnotationRunbookURL: "https://runbooks.example/api"}
	Expect(k8s.Patch(ctx, n, patch)).To(Succeed())
	return ns
}

// openedFor is the Opened delivery to receiver recorded on the incident, or nil.
func openedFor(inc *itopsv1alpha1.Incident, receiver string) *itopsv1alpha1.Notification {
	for i := range inc.Status.Notifications {
		if n := &inc.Status.Notifications[i]; n.Receiver == receiver && n.Transition == itopsv1alpha1.NotifyOpened {
			return n
		}
	}
	return nil
}

var _ = Describe("Notifications", func() {
	BeforeEach(ensureReceiverSecrets)

	It("page PagerDuty and Slack once for a crash-looping workload; the acknowledgement and the resolution follow; a reopening pages again", func() {
		ns := notifiedNamespace()
		api := apiDeployment(ns, "crashloop")
		Expect(k8s.Create(ctx, api)).To(Succeed())

		By("one trigger and one Slack message, recorded on the incident")
		var inc *itopsv1alpha1.Incident
		Eventually(func(g Gomega) {
			inc = crashIncident(ns)(g)
			g.Expect(inc.Spec.Team).To(Equal("shop"), "the namespace's owner team inherits the incident")
			g.Expect(inc.Status.RunbookURL).To(Equal("https://runbooks.example/api"))
			for _, r := range []string{"pagerduty", "slack"} {
				n := openedFor(inc, r)
				g.Expect(n).NotTo(BeNil(), r)
				g.Expect(n.State).To(Equal(itopsv1alpha1.NotificationDelivered), r)
			}
		}).WithTimeout(90 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())
		Expect(standInPagerDuty.actions(inc.Spec.Fingerprint)).To(Equal([]string{"trigger"}))
		Expect(standInSlack.about(ns)).To(HaveLen(1))
		Expect(standInSlack.about(ns)[0]).To(And(ContainSubstring("kubectl itops ack deployment-api -n "+ns), ContainSubstring("runbooks.example/api")))

		By("a person acknowledging")
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(inc), inc)).To(Succeed())
		patch := client.MergeFrom(inc.DeepCopy())
		inc.Spec.Acknowledgement = &itopsv1alpha1.Acknowledgement{Note: "on it"}
		Expect(k8s.Patch(ctx, inc, patch)).To(Succeed())
		Eventually(func() []string { return standInPagerDuty.actions(inc.Spec.Fingerprint) }).
			WithTimeout(30 * time.Second).Should(Equal([]string{"trigger", "acknowledge"}))
		Eventually(func() []string { return standInSlack.about(ns) }).WithTimeout(30 * time.Second).Should(HaveLen(2))

		By("the crash ending: auto-resolution resolves the page")
		setCrashing(api, false)
		Eventually(func() []string { return standInPagerDuty.actions(inc.Spec.Fingerprint) }).
			WithTimeout(2 * time.Minute).Should(Equal([]string{"trigger", "acknowledge", "resolve"}))
		Eventually(func() []string { return standInSlack.about(ns) }).WithTimeout(30 * time.Second).Should(HaveLen(3))
		msgs := standInSlack.about(ns)
		Expect(msgs[0]).To(ContainSubstring("] Opened: "))
		Expect(msgs[1]).To(ContainSubstring("Acknowledged by "))
		Expect(msgs[2]).To(ContainSubstring("Resolved by "))
		Consistently(func() []string { return standInPagerDuty.actions(inc.Spec.Fingerprint) }).
			WithTimeout(3*time.Second).Should(HaveLen(3), "nothing twice")

		By("the crash returning: the reopened incident pages again under the same dedup_key, acknowledged as it still is")
		setCrashing(api, true)
		Eventually(func(g Gomega) {
			inc = crashIncident(ns)(g)
			g.Expect(inc.Status.Notifications).To(ContainElement(And(HaveField("Receiver", "pagerduty"),
				HaveField("Transition", itopsv1alpha1.NotifyAcknowledged), HaveField("Sequence", int32(1)),
				HaveField("State", itopsv1alpha1.NotificationDelivered))))
		}).WithTimeout(2 * time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())
		Expect(standInPagerDuty.actions(inc.Spec.Fingerprint)).To(Equal([]string{"trigger", "acknowledge", "resolve", "trigger", "acknowledge"}))
		Eventually(func() []string { return standInSlack.about(ns) }).WithTimeout(30 * time.Second).Should(HaveLen(5))
		Expect(standInSlack.about(ns)[3]).To(ContainSubstring("] Reopened: "))
		Consistently(func() []string { return standInPagerDuty.actions(inc.Spec.Fingerprint) }).
			WithTimeout(3*time.Second).Should(HaveLen(5), "the reopening pages once")
		Expect(standInPagerDuty.problems).To(BeEmpty())
	})

	It("page nobody for an incident a maintenance window suppresses", func() {
		ns := notifiedNamespace()
		mw := oneOffWindow(ns, "upgrade", itopsv1alpha1.WindowMaintenance, time.Now(), 10*time.Minute, "api")
		Expect(k8s.Create(ctx, mw)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(mw), mw)).To(Succeed())
			g.Expect(mw.Status.Phase).To(Equal(itopsv1alpha1.WindowActive))
			g.Expect(mw.Status.CoverageFrom).NotTo(BeNil())
			g.Expect(time.Now().After(mw.Status.CoverageFrom.Time)).To(BeTrue())
		}).WithTimeout(20 * time.Second).WithPolling(100 * time.Millisecond).Should(Succeed())
		Expect(k8s.Create(ctx, apiDeployment(ns, "crashloop"))).To(Succeed())
		var inc *itopsv1alpha1.Incident
		Eventually(func(g Gomega) {
			inc = crashIncident(ns)(g)
			g.Expect(meta.IsStatusConditionTrue(inc.Status.Conditions, itopsv1alpha1.IncidentConditionSuppressed)).To(BeTrue())
			g.Expect(inc.Status.Signals).NotTo(BeEmpty())
		}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())
		Consistently(func(g Gomega) {
			inc = crashIncident(ns)(g)
			g.Expect(inc.Status.Notifications).To(BeEmpty())
			g.Expect(standInPagerDuty.actions(inc.Spec.Fingerprint)).To(BeEmpty())
			g.Expect(standInSlack.about(ns)).To(BeEmpty())
		}).WithTimeout(5 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())
	})

	It("lose nothing when the operator is killed between sending and recording; the resend is deduplicated by PagerDuty", func() {
		ns := notifiedNamespace()
		held, release := make(chan struct{}), make(chan struct{})
		standInPagerDuty.mu.Lock()
		standInPagerDuty.holdFor, standInPagerDuty.held, standInPagerDuty.release = ns+"/", held, release
		standInPagerDuty.mu.Unlock()
		Expect(k8s.Create(ctx, apiDeployment(ns, "crashloop"))).To(Succeed())

		By("PagerDuty holding the trigger: the operator has sent it, not yet recorded it")
		Eventually(held).WithTimeout(90 * time.Second).Should(BeClosed())
		var inc *itopsv1alpha1.Incident
		Eventually(func(g Gomega) {
			// Slack answered at once: its record is written while PagerDuty still holds.
			inc = crashIncident(ns)(g)
			g.Expect(openedFor(inc, "slack")).To(HaveField("State", itopsv1alpha1.NotificationDelivered))
		}).WithTimeout(10 * time.Second).WithPolling(100 * time.Millisecond).Should(Succeed())
		Expect(openedFor(inc, "pagerduty")).To(HaveField("State", itopsv1alpha1.NotificationPending))

		By("kill -9")
		Expect(syscall.Kill(operator.PID(), syscall.SIGKILL)).To(Succeed())
		Eventually(operator.Exited()).WithTimeout(10 * time.Second).Should(BeClosed())
		operator.Stop()
		close(release)
		var err error
		operator, err = local.StartOperator(ctx, operatorBinary(), operatorArgs...)
		Expect(err).NotTo(HaveOccurred())

		By("the restarted operator resends with the same dedup_key and records it")
		Eventually(func(g Gomega) {
			inc = crashIncident(ns)(g)
			n := openedFor(inc, "pagerduty")
			g.Expect(n).NotTo(BeNil())
			g.Expect(n.State).To(Equal(itopsv1alpha1.NotificationDelivered))
			g.Expect(openedFor(inc, "slack")).To(HaveField("State", itopsv1alpha1.NotificationDelivered))
		}).WithTimeout(90 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())
		triggers := standInPagerDuty.actions(inc.Spec.Fingerprint)
		slack := standInSlack.about(ns)
		GinkgoWriter.Printf("kill between send and record: PagerDuty attempted %d (dedup_key %s), delivered 1 alert, duplicated %d (deduplicated), lost 0; Slack %d\n",
			len(triggers), inc.Spec.Fingerprint, len(triggers)-1, len(slack))
		Expect(triggers).To(Equal([]string{"trigger", "trigger"}), "one resend, same dedup_key: one alert in PagerDuty")
		Expect(slack).To(HaveLen(1), "Slack's delivery was recorded before the kill: not resent")
	})
})

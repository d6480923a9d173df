package notification

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/controllers/incident"
	"github.com/itops-dev/itops-operator/controllers/maintenance"
	"github.com/itops-dev/itops-operator/internal/audit"
	"github.com/itops-dev/itops-operator/internal/config"
	"github.com/itops-dev/itops-operator/internal/lifecycle"
	"github.com/itops-dev/itops-operator/test/cluster"
	"github.com/itops-dev/itops-operator/test/testenv"
)

var (
	env    *testenv.Env
	ctx    context.Context
	cancel context.CancelFunc
	pd     *pagerDutyStandIn
	// leadsGot records "namespace/name transition" of the deliveries to the escalation
	// receiver.
	leadsMu  sync.Mutex
	leadsGot []string
)

func leadsFor(ns string) []string {
	leadsMu.Lock()
	defer leadsMu.Unlock()
	var out []string
	for _, l := range leadsGot {
		if strings.HasPrefix(l, ns+"/") {
			out = append(out, l)
		}
	}
	return out
}

const operatorNamespace = "itops-system"

func TestNotificationController(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Notification controller suite")
}

var _ = BeforeSuite(func() {
	ctrl.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	var err error
	env, err = testenv.Start()
	Expect(err).NotTo(HaveOccurred())
	ctx, cancel = context.WithCancel(context.Background())
	pd = &pagerDutyStandIn{}
	srv := httptest.NewServer(pd)
	DeferCleanup(srv.Close)
	leads := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p WebhookPayload
		_ = json.NewDecoder(r.Body).Decode(&p)
		leadsMu.Lock()
		leadsGot = append(leadsGot, p.Incident.Namespace+"/"+p.Incident.Name+" "+p.Transition)
		leadsMu.Unlock()
	}))
	DeferCleanup(leads.Close)

	Expect(testenv.EnsureNamespace(ctx, env.Client, operatorNamespace)).To(Succeed())
	Expect(env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "pd", Namespace: operatorNamespace},
		Data: map[string][]byte{"routingKey": []byte("R0UTINGKEY")}})).To(Succeed())
	policy, err := config.Parse([]byte(`
notifications:
  receivers:
  - name: pagerduty
    pagerduty: {routingKeySecretRef: {name: pd, key: routingKey}, url: ` + srv.URL + `}
  - name: leads
    webhook: {url: ` + leads.URL + `}
  routes:
  - match: {priorities: [P1], namespaceSelector: {matchLabels: {notify: "yes"}}}
    receivers: [pagerduty]
  - match: {namespaceSelector: {matchLabels: {notify: "every-priority"}}}
    receivers: [pagerduty]
`))
	Expect(err).NotTo(HaveOccurred())

	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{Scheme: cluster.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"}})
	Expect(err).NotTo(HaveOccurred())
	Expect((&incident.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("itops-operator"), Audit: audit.New(GinkgoLogr),
		Policy: lifecycle.DefaultPolicy, ClusterNamespace: "itops-cluster"}).SetupWithManager(mgr)).To(Succeed())
	Expect((&maintenance.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("itops-operator"), Audit: audit.New(GinkgoLogr)}).
		SetupWithManager(mgr)).To(Succeed())
	Expect((&Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), OperatorNamespace: operatorNamespace,
		Policy: &policy.Notifications, Recorder: mgr.GetEventRecorder("itops-notifier")}).SetupWithManager(mgr)).To(Succeed())
	go func() {
		defer GinkgoRecover()
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
	DeferCleanup(func() {
		cancel()
		Expect(env.Stop()).To(Succeed())
	})
})

// routedNamespace is a fresh namespace the PagerDuty route matches.
func routedNamespace() string {
	ns := testenv.NewNamespace(ctx, env.Client, "notify")
	n := &corev1.Namespace{}
	Expect(env.Client.Get(ctx, client.ObjectKey{Name: ns}, n)).To(Succeed())
	patch := client.MergeFrom(n.DeepCopy())
	n.Labels = map[string]string{"notify": "yes"}
	Expect(env.Client.Patch(ctx, n, patch)).To(Succeed())
	return ns
}

// eventsFor returns the PagerDuty actions received for dedup key, in order.
func eventsFor(key string) []string {
	pd.mu.Lock()
	defer pd.mu.Unlock()
	var out []string
	for _, e := range pd.events {
		if e["dedup_key"] == key {
			out = append(out, e["event_action"].(string))
		}
	}
	return out
}

var _ = Describe("Notification controller", func() {
	It("pages once on opening, then follows acknowledgement and resolution, recording each delivery", func() {
		ns := routedNamespace()
		inc := &itopsv1alpha1.Incident{
			ObjectMeta: metav1.ObjectMeta{Name: "api-down", Namespace: ns},
			Spec:       itopsv1alpha1.IncidentSpec{Title: "API down", Impact: "High", Urgency: "High"},
		}
		Expect(env.Client.Create(ctx, inc)).To(Succeed())
		key := ns + "/api-down"
		Eventually(func(g Gomega) {
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(inc), inc)).To(Succeed())
			g.Expect(inc.Status.Notifications).To(HaveLen(1))
			n := inc.Status.Notifications[0]
			g.Expect(n.Receiver).To(Equal("pagerduty"))
			g.Expect(n.Transition).To(Equal("Opened"))
			g.Expect(n.State).To(Equal(itopsv1alpha1.NotificationDelivered))
			g.Expect(n.Attempts).To(Equal(int32(1)))
			g.Expect(n.Key).To(HaveLen(32))
			g.Expect(eventsFor(key)).To(Equal([]string{"trigger"}))
			g.Expect(timelineTypes(inc)).To(ContainElement("Notified"))
		}).WithTimeout(20 * time.Second).Should(Succeed())

		By("acknowledging")
		patch := client.MergeFrom(inc.DeepCopy())
		at := metav1.Now()
		inc.Spec.Acknowledgement = &itopsv1alpha1.Acknowledgement{By: "alice", At: &at}
		Expect(env.Client.Patch(ctx, inc, patch)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(eventsFor(key)).To(Equal([]string{"trigger", "acknowledge"}))
		}).WithTimeout(20 * time.Second).Should(Succeed())

		By("resolving")
		Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(inc), inc)).To(Succeed())
		patch = client.MergeFrom(inc.DeepCopy())
		inc.Spec.Resolution = &itopsv1alpha1.Resolution{By: "alice", At: &at, Code: itopsv1alpha1.ResolutionFixed}
		Expect(env.Client.Patch(ctx, inc, patch)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(inc), inc)).To(Succeed())
			g.Expect(eventsFor(key)).To(Equal([]string{"trigger", "acknowledge", "resolve"}))
			g.Expect(inc.Status.Notifications).To(HaveLen(3))
			for _, n := range inc.Status.Notifications {
				g.Expect(n.State).To(Equal(itopsv1alpha1.NotificationDelivered))
			}
		}).WithTimeout(20 * time.Second).Should(Succeed())
		// The incident controller's own status writes kept the notification record.
		Expect(inc.Status.Phase).To(Equal(itopsv1alpha1.IncidentResolved))
		Consistently(func() []string { return eventsFor(key) }).WithTimeout(2 * time.Second).Should(HaveLen(3))

		By("withdrawing the resolution: the incident is open again, and so is the page")
		Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(inc), inc)).To(Succeed())
		patch = client.MergeFrom(inc.DeepCopy())
		inc.Spec.Resolution = nil
		Expect(env.Client.Patch(ctx, inc, patch)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(inc), inc)).To(Succeed())
			g.Expect(eventsFor(key)).To(Equal([]string{"trigger", "acknowledge", "resolve", "trigger", "acknowledge"}),
				"a second trigger under the same dedup_key, then the acknowledgement that still holds")
			g.Expect(inc.Status.Notifications).To(HaveLen(5))
			for _, n := range inc.Status.Notifications {
				g.Expect(n.State).To(Equal(itopsv1alpha1.NotificationDelivered))
			}
		}).WithTimeout(20 * time.Second).Should(Succeed())
		Consistently(func() []string { return eventsFor(key) }).WithTimeout(2 * time.Second).Should(HaveLen(5))
	})

	It("re-triggers a paged receiver when the priority rises, with the new severity", func() {
		ns := testenv.NewNamespace(ctx, env.Client, "notify")
		n := &corev1.Namespace{}
		Expect(env.Client.Get(ctx, client.ObjectKey{Name: ns}, n)).To(Succeed())
		patch := client.MergeFrom(n.DeepCopy())
		n.Labels = map[string]string{"notify": "every-priority"}
		Expect(env.Client.Patch(ctx, n, patch)).To(Succeed())
		inc := &itopsv1alpha1.Incident{
			ObjectMeta: metav1.ObjectMeta{Name: "slow", Namespace: ns},
			Spec:       itopsv1alpha1.IncidentSpec{Title: "checkout slow", Impact: "Medium", Urgency: "Medium"},
		}
		Expect(env.Client.Create(ctx, inc)).To(Succeed())
		key := ns + "/slow"
		Eventually(func(g Gomega) {
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(inc), inc)).To(Succeed())
			g.Expect(inc.Status.Notifications).To(ConsistOf(And(HaveField("Transition", itopsv1alpha1.NotifyOpened),
				HaveField("State", itopsv1alpha1.NotificationDelivered), HaveField("Priority", itopsv1alpha1.PriorityP3))))
		}).WithTimeout(20 * time.Second).Should(Succeed())
		Expect(severitiesFor(key)).To(Equal([]string{"trigger/warning"}))

		By("raising impact and urgency: P1")
		patch = client.MergeFrom(inc.DeepCopy())
		inc.Spec.Impact, inc.Spec.Urgency = "High", "High"
		Expect(env.Client.Patch(ctx, inc, patch)).To(Succeed())
		Eventually(func() []string { return severitiesFor(key) }).WithTimeout(20*time.Second).
			Should(Equal([]string{"trigger/warning", "trigger/critical"}), "a second trigger under the same dedup_key, now critical")
		Consistently(func() []string { return severitiesFor(key) }).WithTimeout(2 * time.Second).Should(HaveLen(2))
	})

	It("says on the timeline, once, that the owner's escalation names nothing in the policy", func() {
		ns := routedNamespace()
		Expect(env.Client.Create(ctx, &itopsv1alpha1.ServiceLevel{
			ObjectMeta: metav1.ObjectMeta{Name: "search", Namespace: ns},
			Spec: itopsv1alpha1.ServiceLevelSpec{Selector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "search"}},
				Owner: &itopsv1alpha1.ServiceOwner{Team: "search", Escalation: "team-leads"}},
		})).To(Succeed())
		inc := &itopsv1alpha1.Incident{
			ObjectMeta: metav1.ObjectMeta{Name: "search-down", Namespace: ns},
			Spec:       itopsv1alpha1.IncidentSpec{Title: "search down", Impact: "High", Urgency: "High", Service: "search"},
		}
		Expect(env.Client.Create(ctx, inc)).To(Succeed())
		unknown := func(g Gomega) []string {
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(inc), inc)).To(Succeed())
			var out []string
			for _, e := range inc.Status.Timeline {
				if e.Type == TimelineEscalationUnknown {
					out = append(out, e.Message)
				}
			}
			return out
		}
		Eventually(unknown).WithTimeout(20 * time.Second).Should(ConsistOf(ContainSubstring(`escalation "team-leads"`)))
		Consistently(unknown).WithTimeout(2 * time.Second).Should(HaveLen(1))
	})

	It("escalates to the service owner's escalation when the response SLA passes unacknowledged", func() {
		ns := routedNamespace()
		respond := metav1.Duration{Duration: 2 * time.Second}
		Expect(env.Client.Create(ctx, &itopsv1alpha1.ServiceLevel{
			ObjectMeta: metav1.ObjectMeta{Name: "checkout", Namespace: ns},
			Spec: itopsv1alpha1.ServiceLevelSpec{Selector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "checkout"}},
				SLA:   []itopsv1alpha1.SLATarget{{Priority: itopsv1alpha1.PriorityP1, RespondWithin: &respond}},
				Owner: &itopsv1alpha1.ServiceOwner{Team: "checkout", Escalation: "leads", RunbookURL: "https://runbooks.example/checkout"}},
		})).To(Succeed())
		inc := &itopsv1alpha1.Incident{
			ObjectMeta: metav1.ObjectMeta{Name: "checkout-down", Namespace: ns},
			Spec:       itopsv1alpha1.IncidentSpec{Title: "checkout down", Impact: "High", Urgency: "High", Service: "checkout"},
		}
		Expect(env.Client.Create(ctx, inc)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(inc), inc)).To(Succeed())
			g.Expect(inc.Status.RunbookURL).To(Equal("https://runbooks.example/checkout"))
			g.Expect(inc.Status.Escalation).To(Equal("leads"))
			// In order per receiver: the escalation, then the breach it was paged for.
			g.Expect(leadsFor(ns)).To(Equal([]string{ns + "/checkout-down Escalated", ns + "/checkout-down SLABreached"}))
			g.Expect(eventsFor(ns+"/checkout-down")).To(Equal([]string{"trigger", "trigger"}), "Opened, then SLABreached")
			transitions := make([]string, 0, len(inc.Status.Notifications))
			for _, n := range inc.Status.Notifications {
				g.Expect(n.State).To(Equal(itopsv1alpha1.NotificationDelivered))
				transitions = append(transitions, n.Receiver+":"+n.Transition)
			}
			g.Expect(transitions).To(ConsistOf("pagerduty:Opened", "leads:Escalated", "pagerduty:SLABreached", "leads:SLABreached"))
		}).WithTimeout(30 * time.Second).Should(Succeed())
	})

	It("pages nobody for an incident a maintenance window suppresses", func() {
		ns := routedNamespace()
		Expect(env.Client.Create(ctx, &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns, Labels: map[string]string{"app": "web"}},
			Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx"}}}}},
		})).To(Succeed())
		start, end := metav1.NewTime(time.Now().Add(-time.Minute)), metav1.NewTime(time.Now().Add(time.Hour))
		mw := &itopsv1alpha1.MaintenanceWindow{
			ObjectMeta: metav1.ObjectMeta{Name: "upgrade", Namespace: ns},
			Spec: itopsv1alpha1.MaintenanceWindowSpec{Type: itopsv1alpha1.WindowMaintenance,
				Schedules: []itopsv1alpha1.WindowSchedule{{Start: &start, End: &end}}},
		}
		Expect(env.Client.Create(ctx, mw)).To(Succeed())
		// The window counts from its creation (never retroactively): open the incident once
		// it is active and covering.
		Eventually(func(g Gomega) {
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(mw), mw)).To(Succeed())
			g.Expect(mw.Status.Phase).To(Equal(itopsv1alpha1.WindowActive))
			g.Expect(mw.Status.CoverageFrom).NotTo(BeNil())
			g.Expect(time.Now().After(mw.Status.CoverageFrom.Time)).To(BeTrue())
		}).WithTimeout(20 * time.Second).Should(Succeed())
		inc := &itopsv1alpha1.Incident{
			ObjectMeta: metav1.ObjectMeta{Name: "web-down", Namespace: ns},
			Spec: itopsv1alpha1.IncidentSpec{Title: "web down", Impact: "High", Urgency: "High",
				Affected: []itopsv1alpha1.ObjectReference{{APIVersion: "apps/v1", Kind: "Deployment", Namespace: ns, Name: "web"}}},
		}
		Expect(env.Client.Create(ctx, inc)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(inc), inc)).To(Succeed())
			g.Expect(meta.IsStatusConditionTrue(inc.Status.Conditions, itopsv1alpha1.IncidentConditionSuppressed)).To(BeTrue())
		}).WithTimeout(20 * time.Second).Should(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(inc), inc)).To(Succeed())
			g.Expect(inc.Status.Notifications).To(BeEmpty())
			g.Expect(eventsFor(ns + "/web-down")).To(BeEmpty())
		}).WithTimeout(3 * time.Second).Should(Succeed())
	})
})

// severitiesFor returns "action/severity" of the PagerDuty events received for dedup key.
func severitiesFor(key string) []string {
	pd.mu.Lock()
	defer pd.mu.Unlock()
	var out []string
	for _, e := range pd.events {
		if e["dedup_key"] == key {
			sev := ""
			if p, ok := e["payload"].(map[string]any); ok {
				sev, _ = p["severity"].(string)
			}
			out = append(out, e["event_action"].(string)+"/"+sev)
		}
	}
	return out
}

func timelineTypes(inc *itopsv1alpha1.Incident) []string {
	out := make([]string, 0, len(inc.Status.Timeline))
	for _, e := range inc.Status.Timeline {
		out = append(out, e.Type)
	}
	return out
}

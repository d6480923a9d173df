package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/test/testenv"
)

// alertmanagerTokenSecret holds the bearer token the suite's operator expects (suite_test.go).
const alertmanagerTokenSecret = "itops-alertmanager"

// alertmanagerVersion is the release `make alertmanager` builds (hack/alertmanager.sh).
const alertmanagerVersion = "0.35.0"

// alertmanagerBinary is $ITOPS_ALERTMANAGER_BINARY, or what `make alertmanager` built.
func alertmanagerBinary() string {
	if b := os.Getenv("ITOPS_ALERTMANAGER_BINARY"); b != "" {
		return b
	}
	return filepath.Join(testenv.RepoRoot(), "bin", "alertmanager",
		fmt.Sprintf("%s-%s-%s", alertmanagerVersion, runtime.GOOS, runtime.GOARCH), "alertmanager")
}

func loopbackPort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// startAlertmanager runs the real Alertmanager on loopback, its one webhook receiver pointed
// at the operator's /alertmanager/v4 over HTTPS (the bearer token, and the CA of the
// operator's serving certificate as ca_file), with short group timings. It returns its URL.
func startAlertmanager(token string) string {
	bin := alertmanagerBinary()
	_, err := os.Stat(bin)
	Expect(err).NotTo(HaveOccurred(), "the Alertmanager binary: run `make alertmanager` (make test-e2e does)")
	host, port, ca := local.WebhookServing()
	dir := GinkgoT().TempDir()
	caFile := filepath.Join(dir, "operator-ca.crt")
	Expect(os.WriteFile(caFile, ca, 0o600)).To(Succeed())
	cfg := fmt.Sprintf(`route:
  receiver: itops
  group_by: [namespace]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
- name: itops
  webhook_configs:
  - url: https://%s/alertmanager/v4
    send_resolved: true
    http_config:
      authorization: {credentials: %q}
      tls_config: {ca_file: %q}
`, net.JoinHostPort(host, strconv.Itoa(port)), token, caFile)
	cfgFile := filepath.Join(dir, "alertmanager.yml")
	Expect(os.WriteFile(cfgFile, []byte(cfg), 0o600)).To(Succeed())
	amPort := loopbackPort()
	logPath := filepath.Join(testenv.RepoRoot(), "bin", "e2e", "alertmanager.log")
	logFile, err := os.Create(logPath)
	Expect(err).NotTo(HaveOccurred())
	cmd := exec.Command(bin, "--config.file="+cfgFile, "--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address=127.0.0.1:"+strconv.Itoa(amPort), "--cluster.listen-address=", "--log.level=debug")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	Expect(cmd.Start()).To(Succeed())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	DeferCleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		_ = logFile.Close()
	})
	url := "http://127.0.0.1:" + strconv.Itoa(amPort)
	Eventually(func() (int, error) {
		resp, err := http.Get(url + "/-/ready") //nolint:noctx // loopback readiness probe
		if err != nil {
			return 0, err
		}
		_ = resp.Body.Close()
		return resp.StatusCode, nil
	}).WithTimeout(30*time.Second).WithPolling(200*time.Millisecond).Should(Equal(http.StatusOK), "Alertmanager did not get ready; see %s", logPath)
	return url
}

// amAlert is an alert as Alertmanager's API v2 takes it (POST /api/v2/alerts).
type amAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt,omitzero"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

func postAlerts(amURL string, alerts ...amAlert) {
	body, err := json.Marshal(alerts)
	Expect(err).NotTo(HaveOccurred())
	resp, err := http.Post(amURL+"/api/v2/alerts", "application/json", bytes.NewReader(body)) //nolint:noctx // loopback
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = resp.Body.Close() }()
	Expect(resp.StatusCode).To(Equal(http.StatusOK))
}

func resolved(a amAlert) amAlert {
	a.EndsAt = time.Now().Add(-time.Second)
	return a
}

func incidentsIn(ns string) func(g Gomega) []itopsv1alpha1.Incident {
	return func(g Gomega) []itopsv1alpha1.Incident {
		list := &itopsv1alpha1.IncidentList{}
		g.Expect(k8s.List(ctx, list, client.InNamespace(ns))).To(Succeed())
		return list.Items
	}
}

func getIncident(g Gomega, ns, name string) *itopsv1alpha1.Incident {
	inc := &itopsv1alpha1.Incident{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, inc)).To(Succeed())
	return inc
}

// operatorEndpoint posts body to the operator's /alertmanager/v4 directly, trusting its CA.
func operatorEndpoint(auth, body string) (int, string) {
	host, port, ca := local.WebhookServing()
	pool := x509.NewCertPool()
	Expect(pool.AppendCertsFromPEM(ca)).To(BeTrue())
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	req, err := http.NewRequest(http.MethodPost, "https://"+net.JoinHostPort(host, strconv.Itoa(port))+"/alertmanager/v4", bytes.NewBufferString(body)) //nolint:noctx
	Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := c.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = resp.Body.Close() }()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

var _ = Describe("Alertmanager in", Ordered, func() {
	const token = "e2e-alertmanager-token"
	var amURL string

	BeforeAll(func() {
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "itops-system", Name: alertmanagerTokenSecret},
			Data: map[string][]byte{"token": []byte(token)}}
		if err := k8s.Create(ctx, secret); err != nil {
			Expect(apierrors.IsAlreadyExists(err)).To(BeTrue(), "%v", err)
		}
		amURL = startAlertmanager(token)
	})

	It("refuses a wrong token (401) and a bad payload (400), and names the supported version (422)", func() {
		code, body := operatorEndpoint("Bearer wrong", `{"version":"4","alerts":[]}`)
		Expect(code).To(Equal(http.StatusUnauthorized), body)
		Expect(body).NotTo(ContainSubstring(token))
		code, body = operatorEndpoint("", `{"version":"4","alerts":[]}`)
		Expect(code).To(Equal(http.StatusUnauthorized), body)
		code, body = operatorEndpoint("Bearer "+token, `{"version":"4","alerts":[`)
		Expect(code).To(Equal(http.StatusBadRequest), body)
		Expect(body).To(ContainSubstring("not Alertmanager's JSON webhook payload"))
		code, body = operatorEndpoint("Bearer "+token, `{"version":"3","alerts":[]}`)
		Expect(code).To(Equal(http.StatusUnprocessableEntity), body)
		Expect(body).To(ContainSubstring(`accepts version \"4\"`))
	})

	It("turns a real Alertmanager's alerts into signals: one incident per deployment, joined by a second alert and by an alert about a workload the operator already has an incident for, resolved with them", func() {
		ns := newNamespace()
		// The operator detects a crash loop on cart by itself.
		Expect(k8s.Create(ctx, crashingDeployment(ns, "cart", "crashloop", 1))).To(Succeed())
		Eventually(func(g Gomega) {
			inc := getIncident(g, ns, "deployment-cart")
			g.Expect(inc.Spec.Source).To(Equal(itopsv1alpha1.SourceHealthCheck))
		}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())

		By("a critical alert about Deployment checkout opens one incident, source Alertmanager, P1")
		errorsAlert := amAlert{
			Labels:       map[string]string{"alertname": "CheckoutErrorRate", "severity": "critical", "namespace": ns, "deployment": "checkout"},
			Annotations:  map[string]string{"summary": "checkout fails 12% of requests", "runbook_url": "https://runbooks.example/checkout-errors"},
			GeneratorURL: "http://prometheus.example/graph?g0.expr=errors",
		}
		postAlerts(amURL, errorsAlert)
		Eventually(func(g Gomega) {
			inc := getIncident(g, ns, "deployment-checkout")
			g.Expect(inc.Spec.Source).To(Equal(itopsv1alpha1.SourceAlertmanager))
			g.Expect(inc.Labels).To(HaveKeyWithValue(itopsv1alpha1.LabelSource, "Alertmanager"))
			g.Expect(inc.Status.Priority).To(Equal(itopsv1alpha1.Priority("P1")))
			g.Expect(inc.Status.Signals).To(ConsistOf(And(HaveField("Reason", "CheckoutErrorRate"), HaveField("Active", true),
				HaveField("Source", itopsv1alpha1.SourceAlertmanager), HaveField("Message", "checkout fails 12% of requests"),
				HaveField("RunbookURL", "https://runbooks.example/checkout-errors"), HaveField("GeneratorURL", errorsAlert.GeneratorURL),
				HaveField("Alerts", HaveLen(1)))))
		}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())

		By("a second alert about checkout joins that incident")
		latency := amAlert{Labels: map[string]string{"alertname": "CheckoutLatencyHigh", "severity": "warning", "namespace": ns, "deployment": "checkout"},
			Annotations: map[string]string{"summary": "p99 above 2s"}}
		postAlerts(amURL, latency)
		Eventually(func(g Gomega) {
			inc := getIncident(g, ns, "deployment-checkout")
			g.Expect(inc.Status.Signals).To(ContainElement(And(HaveField("Reason", "CheckoutLatencyHigh"), HaveField("Active", true), HaveField("Priority", itopsv1alpha1.Priority("P3")))))
			g.Expect(inc.Status.Priority).To(Equal(itopsv1alpha1.Priority("P1")), "the highest signal's")
		}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())

		By("an alert about a pod of cart joins the operator's own incident of Deployment cart")
		pods := &corev1.PodList{}
		Expect(k8s.List(ctx, pods, client.InNamespace(ns), client.MatchingLabels{"app": "cart"})).To(Succeed())
		Expect(pods.Items).NotTo(BeEmpty())
		cartAlert := amAlert{Labels: map[string]string{"alertname": "KubePodCrashLooping", "severity": "warning", "namespace": ns,
			"pod": pods.Items[0].Name, "service": "kube-state-metrics"}}
		postAlerts(amURL, cartAlert)
		Eventually(func(g Gomega) {
			inc := getIncident(g, ns, "deployment-cart")
			g.Expect(inc.Spec.Source).To(Equal(itopsv1alpha1.SourceHealthCheck))
			g.Expect(inc.Status.Signals).To(ContainElements(
				And(HaveField("Reason", "KubePodCrashLooping"), HaveField("Active", true), HaveField("Source", itopsv1alpha1.SourceAlertmanager)),
				And(HaveField("Reason", itopsv1alpha1.ReasonCrashLoopBackOff), HaveField("Active", true))))
		}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())
		Expect(incidentsIn(ns)(Default)).To(HaveLen(2), "one incident per affected thing: checkout and cart")

		By("resolving the alerts clears their signals, and checkout's incident resolves")
		postAlerts(amURL, resolved(errorsAlert), resolved(latency), resolved(cartAlert))
		Eventually(func(g Gomega) {
			inc := getIncident(g, ns, "deployment-checkout")
			for _, s := range inc.Status.Signals {
				g.Expect(s.Active).To(BeFalse(), "signal %s", s.Reason)
			}
			g.Expect(inc.Status.Phase).To(Equal(itopsv1alpha1.IncidentResolved))
			g.Expect(inc.Status.ResolvedBy).To(Equal(itopsv1alpha1.ResolvedByOperator))
		}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())
		Eventually(func(g Gomega) {
			inc := getIncident(g, ns, "deployment-cart")
			g.Expect(inc.Status.Signals).To(ContainElements(
				And(HaveField("Reason", "KubePodCrashLooping"), HaveField("Active", false)),
				And(HaveField("Reason", itopsv1alpha1.ReasonCrashLoopBackOff), HaveField("Active", true))))
			g.Expect(inc.Status.Phase).NotTo(Equal(itopsv1alpha1.IncidentResolved), "the crash loop is still there")
		}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())
		Expect(incidentsIn(ns)(Default)).To(HaveLen(2))
	})

	It("records a flood of 1,000 alerts (50 deployments, 4 alert names, 5 instances each) with nothing lost, and clears them all", func() {
		ns := newNamespace()
		var alerts []amAlert
		for d := 0; d < 50; d++ {
			for n := 0; n < 4; n++ {
				for i := 0; i < 5; i++ {
					alerts = append(alerts, amAlert{Labels: map[string]string{
						"alertname": fmt.Sprintf("FloodAlert%d", n), "severity": "warning", "namespace": ns,
						"deployment": fmt.Sprintf("app-%02d", d), "instance": fmt.Sprintf("10.0.0.%d:8080", i)}})
				}
			}
		}
		start := time.Now()
		postAlerts(amURL, alerts...)
		Eventually(func(g Gomega) {
			incs := incidentsIn(ns)(g)
			g.Expect(incs).To(HaveLen(50))
			for _, inc := range incs {
				g.Expect(inc.Status.Signals).To(HaveLen(4), inc.Name)
				for _, sig := range inc.Status.Signals {
					g.Expect(sig.Active).To(BeTrue())
					g.Expect(sig.Alerts).To(HaveLen(5), "%s %s", inc.Name, sig.Reason)
				}
			}
		}).WithTimeout(3 * time.Minute).WithPolling(time.Second).Should(Succeed())
		recorded := time.Since(start)
		resolvedAlerts := make([]amAlert, 0, len(alerts))
		for _, a := range alerts {
			resolvedAlerts = append(resolvedAlerts, resolved(a))
		}
		start = time.Now()
		postAlerts(amURL, resolvedAlerts...)
		Eventually(func(g Gomega) {
			incs := incidentsIn(ns)(g)
			g.Expect(incs).To(HaveLen(50))
			for _, inc := range incs {
				for _, sig := range inc.Status.Signals {
					g.Expect(sig.Active).To(BeFalse(), "%s %s", inc.Name, sig.Reason)
					g.Expect(sig.Alerts).To(BeEmpty())
				}
			}
		}).WithTimeout(3 * time.Minute).WithPolling(time.Second).Should(Succeed())
		AddReportEntry("alertmanager flood", fmt.Sprintf("1000 alerts -> 50 incidents x 4 signals x 5 alerts recorded in %s; all cleared in %s",
			recorded.Round(100*time.Millisecond), time.Since(start).Round(100*time.Millisecond)))
	})

	It("puts an alert that names nothing in the cluster on its Alertmanager group's incident in the cluster namespace", func() {
		// group_by [namespace] and no namespace label: the group of all such alerts.
		etcd := amAlert{Labels: map[string]string{"alertname": "etcd_no_leader", "severity": "critical", "cluster": "e2e"},
			Annotations: map[string]string{"summary": "etcd has no leader", "description": "member e2e-0 reports no leader"}}
		postAlerts(amURL, etcd)
		Eventually(func(g Gomega) {
			inc := getIncident(g, clusterNamespace, "alertgroup-all")
			g.Expect(inc.Spec.Source).To(Equal(itopsv1alpha1.SourceAlertmanager))
			g.Expect(inc.Spec.Affected).To(ConsistOf(HaveField("Kind", "AlertGroup")))
			g.Expect(inc.Status.Priority).To(Equal(itopsv1alpha1.Priority("P1")))
			g.Expect(inc.Status.Signals).To(ConsistOf(And(HaveField("Reason", "EtcdNoLeader"), HaveField("Active", true),
				HaveField("Message", "etcd has no leader — member e2e-0 reports no leader"))))
		}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())
		postAlerts(amURL, resolved(etcd))
		Eventually(func(g Gomega) {
			inc := getIncident(g, clusterNamespace, "alertgroup-all")
			g.Expect(inc.Status.Phase).To(Equal(itopsv1alpha1.IncidentResolved))
			g.Expect(inc.Status.Conditions).To(ContainElement(And(HaveField("Type", "Ready"), HaveField("Status", metav1.ConditionTrue))))
		}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())
	})
})

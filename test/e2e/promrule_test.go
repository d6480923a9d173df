package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/test/testenv"
)

// rulesPrometheusVersion is the module version of the Prometheus the generated rules are
// checked with (v0.316.0 is Prometheus 3.16.0, what `make prometheus` builds).
const rulesPrometheusVersion = "0.316.0"

// rulesPrometheusBinary is $ITOPS_PROMETHEUS_BINARY, or what `make prometheus` built.
func rulesPrometheusBinary() string {
	if b := os.Getenv("ITOPS_PROMETHEUS_BINARY"); b != "" {
		return b
	}
	return filepath.Join(testenv.RepoRoot(), "bin", "prometheus",
		fmt.Sprintf("%s-%s-%s", rulesPrometheusVersion, runtime.GOOS, runtime.GOARCH), "prometheus")
}

var prometheusRuleGVK = schema.GroupVersionKind{Group: "monitoring.coreos.com", Version: "v1", Kind: "PrometheusRule"}

// sloExporter serves, on every scrape, counters that grew by 10 requests since the last one: 9
// good and 1 failed (error ratio 0.1), 8 of them within 0.3s and 9 within 1s (latency error
// ratios 0.2 and 0.1).
func sloExporter() string {
	var scrapes atomic.Int64
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n := scrapes.Add(1)
		_, _ = fmt.Fprintf(w, "# TYPE http_requests_total counter\n"+
			"http_requests_total{code=\"200\",path=\"/a\\\"b\"} %d\nhttp_requests_total{code=\"500\",path=\"/a\\\"b\"} %d\n"+
			"# TYPE http_request_duration_seconds histogram\n"+
			"http_request_duration_seconds_bucket{le=\"0.3\"} %d\nhttp_request_duration_seconds_bucket{le=\"1\"} %d\n"+
			"http_request_duration_seconds_bucket{le=\"+Inf\"} %d\nhttp_request_duration_seconds_sum 0\nhttp_request_duration_seconds_count %d\n",
			9*n, n, 8*n, 9*n, 10*n, 10*n)
	})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	go func() { _ = srv.Serve(l) }()
	DeferCleanup(func() { _ = srv.Close() })
	return l.Addr().String()
}

// startRulesPrometheus runs the real Prometheus on loopback with the rule file, scraping the
// exporter at target every second, evaluating every second. It returns its URL.
func startRulesPrometheus(ruleFile, target string) string {
	bin := rulesPrometheusBinary()
	_, err := os.Stat(bin)
	Expect(err).NotTo(HaveOccurred(), "the Prometheus binary: set ITOPS_PROMETHEUS_BINARY or run `make prometheus`")
	dir := GinkgoT().TempDir()
	cfg := fmt.Sprintf("global: {scrape_interval: 1s, evaluation_interval: 1s}\nrule_files: [%q]\n"+
		"scrape_configs:\n- job_name: api\n  static_configs: [{targets: [%q]}]\n", ruleFile, target)
	cfgFile := filepath.Join(dir, "prometheus.yml")
	Expect(os.WriteFile(cfgFile, []byte(cfg), 0o600)).To(Succeed())
	port := loopbackPort()
	logPath := filepath.Join(testenv.RepoRoot(), "bin", "e2e", "prometheus-rules.log")
	logFile, err := os.Create(logPath)
	Expect(err).NotTo(HaveOccurred())
	cmd := exec.Command(bin, "--config.file="+cfgFile, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address=127.0.0.1:"+strconv.Itoa(port))
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
	promURL := "http://127.0.0.1:" + strconv.Itoa(port)
	Eventually(func() (int, error) {
		select {
		case <-done:
			return 0, StopTrying("Prometheus exited (a rule file it cannot load?); see " + logPath)
		default:
		}
		resp, err := http.Get(promURL + "/-/ready") //nolint:noctx // loopback readiness probe
		if err != nil {
			return 0, err
		}
		_ = resp.Body.Close()
		return resp.StatusCode, nil
	}).WithTimeout(60*time.Second).WithPolling(200*time.Millisecond).Should(Equal(http.StatusOK), "Prometheus did not get ready; see %s", logPath)
	return promURL
}

// rulesPromGet decodes the data of a Prometheus API answer.
func rulesPromGet(g Gomega, u string, data any) {
	resp, err := http.Get(u) //nolint:noctx // loopback
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = resp.Body.Close() }()
	var body struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	g.Expect(json.NewDecoder(resp.Body).Decode(&body)).To(Succeed())
	g.Expect(body.Status).To(Equal("success"), body.Error)
	g.Expect(json.Unmarshal(body.Data, data)).To(Succeed())
}

// rulesPromValue is the value of the single series a PromQL query returns.
func rulesPromValue(promURL, query string) func(g Gomega) float64 {
	return func(g Gomega) float64 {
		var data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		}
		rulesPromGet(g, promURL+"/api/v1/query?query="+url.QueryEscape(query), &data)
		g.Expect(data.Result).To(HaveLen(1), query)
		v, err := strconv.ParseFloat(data.Result[0].Value[1].(string), 64)
		g.Expect(err).NotTo(HaveOccurred())
		return v
	}
}

var _ = Describe("Generated PrometheusRules", func() {
	It("writes each ServiceLevel's rules as a PrometheusRule that a real Prometheus loads, evaluates without error and alerts from", func() {
		ns := newNamespace()
		alerts := []itopsv1alpha1.BurnRateAlert{
			{LongWindow: metav1.Duration{Duration: time.Hour}, ShortWindow: metav1.Duration{Duration: 5 * time.Minute}, Factor: "14.4"},
			{LongWindow: metav1.Duration{Duration: 90 * time.Minute}, ShortWindow: metav1.Duration{Duration: 10 * time.Minute}, Factor: "1"},
		}
		ruleGen := &itopsv1alpha1.PrometheusRuleGeneration{Labels: []itopsv1alpha1.RuleLabel{
			{Name: "team", Value: `checkout "core"`}, {Name: "note", Value: `{{ not a template`}}}
		sls := []*itopsv1alpha1.ServiceLevel{
			{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "checkout"}, Spec: itopsv1alpha1.ServiceLevelSpec{
				Selector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "checkout"}},
				Owner:    &itopsv1alpha1.ServiceOwner{RunbookURL: "https://runbooks.example/{{checkout}}"},
				Objectives: &itopsv1alpha1.Objectives{Availability: "99.9", SLI: &itopsv1alpha1.SLI{Type: itopsv1alpha1.SLIPrometheusRatio,
					Good:           `sum(rate(http_requests_total{path="/a\"b",code!~"5.."}[{{.window}}]))`,
					Total:          `sum(rate(http_requests_total{path="/a\"b"}[{{.window}}]))`,
					PrometheusRule: ruleGen}},
				BurnRateAlerts: alerts}},
			{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "latency"}, Spec: itopsv1alpha1.ServiceLevelSpec{
				Selector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "latency"}},
				Objectives: &itopsv1alpha1.Objectives{Availability: "99.5",
					Window: &itopsv1alpha1.SLOWindow{Calendar: &itopsv1alpha1.CalendarWindow{Period: itopsv1alpha1.CalendarMonth, TimeZone: "Europe/Berlin"}},
					SLI: &itopsv1alpha1.SLI{Type: itopsv1alpha1.SLIPrometheusLatency, PrometheusRule: &itopsv1alpha1.PrometheusRuleGeneration{},
						Latency: &itopsv1alpha1.LatencySLI{Bucket: `http_request_duration_seconds_bucket{job="api"}`, Threshold: metav1.Duration{Duration: 300 * time.Millisecond}}}}}},
			{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "latency-1s"}, Spec: itopsv1alpha1.ServiceLevelSpec{
				Selector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "latency"}},
				Objectives: &itopsv1alpha1.Objectives{Availability: "95", Window: itopsv1alpha1.RollingWindow(7 * 24 * time.Hour),
					SLI: &itopsv1alpha1.SLI{Type: itopsv1alpha1.SLIPrometheusLatency, PrometheusRule: &itopsv1alpha1.PrometheusRuleGeneration{},
						Latency: &itopsv1alpha1.LatencySLI{Bucket: `http_request_duration_seconds_bucket`, Threshold: metav1.Duration{Duration: time.Second}}}},
				BurnRateAlerts: alerts}},
		}
		groups := make([]any, 0, 3*len(sls))
		for _, sl := range sls {
			Expect(k8s.Create(ctx, sl)).To(Succeed())
		}
		for _, sl := range sls {
			pr := &unstructured.Unstructured{}
			pr.SetGroupVersionKind(prometheusRuleGVK)
			Eventually(func(g Gomega) {
				g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(sl), pr)).To(Succeed())
				got := &itopsv1alpha1.ServiceLevel{}
				g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(sl), got)).To(Succeed())
				c := meta.FindStatusCondition(got.Status.Conditions, itopsv1alpha1.SLConditionRulesGenerated)
				g.Expect(c).NotTo(BeNil())
				g.Expect(c.Status).To(Equal(metav1.ConditionTrue), c.Message)
				g.Expect(pr.GetOwnerReferences()).To(ContainElement(HaveField("UID", got.UID)))
			}).WithTimeout(30 * time.Second).WithPolling(250 * time.Millisecond).Should(Succeed())
			g, found, err := unstructured.NestedSlice(pr.Object, "spec", "groups")
			Expect(err).NotTo(HaveOccurred())
			Expect(found).To(BeTrue())
			groups = append(groups, g...)
		}
		data, err := yaml.Marshal(map[string]any{"groups": groups})
		Expect(err).NotTo(HaveOccurred())
		ruleFile := filepath.Join(GinkgoT().TempDir(), "itops-rules.yaml")
		Expect(os.WriteFile(ruleFile, data, 0o600)).To(Succeed())
		AddReportEntry("generated rules", string(data))

		promURL := startRulesPrometheus(ruleFile, sloExporter())

		By("every group loaded and every rule evaluated healthy")
		Eventually(func(g Gomega) {
			var rules struct {
				Groups []struct {
					Name  string `json:"name"`
					Rules []struct {
						Name      string `json:"name"`
						Health    string `json:"health"`
						LastError string `json:"lastError"`
					} `json:"rules"`
				} `json:"groups"`
			}
			rulesPromGet(g, promURL+"/api/v1/rules", &rules)
			g.Expect(rules.Groups).To(HaveLen(len(groups)))
			for _, grp := range rules.Groups {
				for _, r := range grp.Rules {
					g.Expect(r.LastError).To(BeEmpty(), "%s %s", grp.Name, r.Name)
					g.Expect(r.Health).To(Equal("ok"), "%s %s", grp.Name, r.Name)
				}
			}
		}).WithTimeout(60 * time.Second).WithPolling(time.Second).Should(Succeed())

		By("the recorded error ratios are the exporter's: 0.1 of requests failed, 0.2 slower than 300ms, 0.1 slower than 1s")
		sel := func(name string) string { return fmt.Sprintf(`{namespace=%q,servicelevel=%q}`, ns, name) }
		for _, tc := range []struct {
			query string
			want  float64
		}{
			{"itops:sli_error:ratio_rate5m" + sel("checkout"), 0.1},
			{"itops:sli_error:ratio_rate1h30m" + sel("checkout"), 0.1},
			{"itops:sli_error:ratio_rate30d" + sel("checkout"), 0.1},
			{"itops:error_budget:ratio" + sel("checkout"), 0.001},
			{"itops:sli_error:ratio_rate5m" + sel("latency"), 0.2},
			{"itops:sli_error:ratio_rate30d" + sel("latency"), 0.2},
			{"itops:sli_error:ratio_rate1h" + sel("latency-1s"), 0.1},
			{"itops:sli_error:ratio_rate7d" + sel("latency-1s"), 0.1},
		} {
			Eventually(rulesPromValue(promURL, tc.query)).WithTimeout(60*time.Second).WithPolling(time.Second).
				Should(BeNumerically("~", tc.want, 1e-9), tc.query)
		}

		By("the burn-rate alerts fire with their severities and labels, literal where they looked like templates")
		for _, tc := range []struct {
			long, severity string
		}{{"1h", "page"}, {"1h30m", "ticket"}} {
			q := fmt.Sprintf(`ALERTS{alertname="ItopsErrorBudgetBurn",alertstate="firing",namespace=%q,servicelevel="checkout",long_window=%q,severity=%q,team="checkout \"core\"",note="{{ not a template"}`,
				ns, tc.long, tc.severity)
			Eventually(rulesPromValue(promURL, q)).WithTimeout(60*time.Second).WithPolling(time.Second).Should(BeNumerically("==", 1), q)
		}
		Eventually(func(g Gomega) string {
			var alertsData struct {
				Alerts []struct {
					Labels      map[string]string `json:"labels"`
					Annotations map[string]string `json:"annotations"`
				} `json:"alerts"`
			}
			rulesPromGet(g, promURL+"/api/v1/alerts", &alertsData)
			for _, a := range alertsData.Alerts {
				if a.Labels["servicelevel"] == "checkout" && a.Labels["long_window"] == "1h" {
					g.Expect(a.Annotations["description"]).To(ContainSubstring("Error ratio over 1h: 10%"))
					return a.Annotations["runbook_url"]
				}
			}
			return ""
		}).WithTimeout(60 * time.Second).WithPolling(time.Second).Should(Equal("https://runbooks.example/{{checkout}}"))

		By("deleting a ServiceLevel deletes its PrometheusRule (owner reference, garbage collector)")
		Expect(k8s.Delete(ctx, sls[0])).To(Succeed())
		Eventually(func() bool {
			pr := &unstructured.Unstructured{}
			pr.SetGroupVersionKind(prometheusRuleGVK)
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(sls[0]), pr))
		}).WithTimeout(60 * time.Second).WithPolling(250 * time.Millisecond).Should(BeTrue())
	})
})

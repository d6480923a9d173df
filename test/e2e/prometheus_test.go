package e2e

import (
	"context"
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
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/promsli"
	"github.com/itops-dev/itops-operator/test/testenv"
)

// prometheusVersion is the module version `make prometheus` builds (hack/prometheus.sh):
// Prometheus 3.16.0.
const prometheusVersion = "0.316.0"

// prometheusPort is where the specs run the real Prometheus; the operator's policy points at
// it from the start (prometheusPolicy), so a spec starts and stops Prometheus under a running
// operator.
var prometheusPort int

// prometheusBinary is $ITOPS_PROMETHEUS_BINARY, or what `make prometheus` built.
func prometheusBinary() string {
	if b := os.Getenv("ITOPS_PROMETHEUS_BINARY"); b != "" {
		return b
	}
	return filepath.Join(testenv.RepoRoot(), "bin", "prometheus",
		fmt.Sprintf("%s-%s-%s", prometheusVersion, runtime.GOOS, runtime.GOARCH), "prometheus")
}

// prometheusPolicy is the operator policy's prometheus key: the loopback port the specs run
// Prometheus on, evaluated every 10s (the policy's lower bound).
func prometheusPolicy() string {
	prometheusPort = loopbackPort()
	return fmt.Sprintf("prometheus: {url: 'http://127.0.0.1:%d', interval: 10s, timeout: 2s}\n", prometheusPort)
}

// startPrometheus runs the real Prometheus on prometheusPort, scraping target every second,
// with its TSDB in a temporary directory. It returns a function that stops it.
func startPrometheus(target string) (stop func()) {
	bin := prometheusBinary()
	_, err := os.Stat(bin)
	Expect(err).NotTo(HaveOccurred(), "the Prometheus binary: run `make prometheus` (make test-e2e does)")
	dir := GinkgoT().TempDir()
	cfg := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
- job_name: shop
  static_configs: [{targets: [%q]}]
`, target)
	cfgFile := filepath.Join(dir, "prometheus.yml")
	Expect(os.WriteFile(cfgFile, []byte(cfg), 0o600)).To(Succeed())
	logPath := filepath.Join(testenv.RepoRoot(), "bin", "e2e", "prometheus.log")
	logFile, err := os.Create(logPath)
	Expect(err).NotTo(HaveOccurred())
	cmd := exec.Command(bin, "--config.file="+cfgFile, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address=127.0.0.1:"+strconv.Itoa(prometheusPort))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	Expect(cmd.Start()).To(Succeed())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		_ = logFile.Close()
	}
	DeferCleanup(stop)
	Eventually(func() (int, error) {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/-/ready", prometheusPort)) //nolint:noctx // loopback readiness probe
		if err != nil {
			return 0, err
		}
		_ = resp.Body.Close()
		return resp.StatusCode, nil
	}).WithTimeout(60*time.Second).WithPolling(200*time.Millisecond).Should(Equal(http.StatusOK), "Prometheus did not get ready; see %s", logPath)
	return stop
}

// startExporter serves reg's metrics on loopback; it returns host:port.
func startExporter(reg *prometheus.Registry) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	srv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	DeferCleanup(func() { _ = srv.Close() })
	return l.Addr().String()
}

// promValue is the value of an instant query on the spec's Prometheus (-1 without series).
func promValue(g Gomega, query string) float64 {
	q, err := promsli.NewQuerier(promsli.Endpoint{URL: fmt.Sprintf("http://127.0.0.1:%d", prometheusPort), Timeout: 5 * time.Second})
	g.Expect(err).NotTo(HaveOccurred())
	v, err := q.Query(context.Background(), query, time.Now())
	g.Expect(err).NotTo(HaveOccurred())
	f, ok, err := promsli.Interpret(v)
	g.Expect(err).NotTo(HaveOccurred())
	if !ok {
		return -1
	}
	return f
}

var _ = Describe("SLIs from Prometheus", func() {
	It("keep the books from a real Prometheus with exactly known good and bad requests, burn, recover, and never claim a Prometheus that is gone", func() {
		ns := newNamespace()
		By("an exporter the test controls, scraped every second by a real Prometheus")
		reg := prometheus.NewRegistry()
		requests := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "shop_requests_total", Help: "Requests by outcome."}, []string{"code"})
		reg.MustRegister(requests)
		good, bad := requests.WithLabelValues("ok"), requests.WithLabelValues("error")
		latency := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "shop_request_duration_seconds", Help: "Request latency.",
			Buckets: []float64{0.1, 0.3, 1}})
		reg.MustRegister(latency)
		stopPrometheus := startPrometheus(startExporter(reg))
		// Both series are scraped from 0 on, at the same instants: Prometheus' rate()
		// extrapolates both by the same factor (none to the range's start: a counter first
		// seen at 0 is not extrapolated before it), so good/total is exact whatever the
		// factor, and each count is the exact count times it (1 to 1 + 1.1 s / the time
		// scraped: at most 6 % after the 20 scrapes waited for below).
		Eventually(func(g Gomega) {
			g.Expect(promValue(g, `count_over_time(shop_requests_total{code="error"}[1m])`)).To(BeNumerically(">=", 20))
		}).WithTimeout(90 * time.Second).WithPolling(time.Second).Should(Succeed())

		sl := &itopsv1alpha1.ServiceLevel{
			ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: ns},
			Spec: itopsv1alpha1.ServiceLevelSpec{
				Selector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "shop"}},
				Objectives: &itopsv1alpha1.Objectives{Availability: "99", Window: itopsv1alpha1.RollingWindow(time.Hour),
					SLI: &itopsv1alpha1.SLI{Type: itopsv1alpha1.SLIPrometheusRatio,
						Good:  `sum(rate(shop_requests_total{code="ok"}[{{.window}}]))`,
						Total: `sum(rate(shop_requests_total[{{.window}}]))`}},
				// The short window catches the burst within the operator's 10s interval, and
				// forgets it about 30s later.
				BurnRateAlerts: []itopsv1alpha1.BurnRateAlert{{LongWindow: metav1.Duration{Duration: time.Hour},
					ShortWindow: metav1.Duration{Duration: 30 * time.Second}, Factor: "2"}},
				BudgetPolicy: itopsv1alpha1.BudgetPolicyFreezeChanges,
			},
		}
		Expect(k8s.Create(ctx, sl)).To(Succeed())
		// The latency form: within 300ms (le="0.3") and within 1s, a whole second that
		// Prometheus 3 stores as le="1.0" although the exporter writes le="1".
		latencySLs := map[string]*itopsv1alpha1.ServiceLevel{}
		for name, threshold := range map[string]time.Duration{"fast": 300 * time.Millisecond, "second": time.Second} {
			l := &itopsv1alpha1.ServiceLevel{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: itopsv1alpha1.ServiceLevelSpec{
				Selector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "shop"}},
				// 80 %: met by both, so that the only burn incident is shop's.
				Objectives: &itopsv1alpha1.Objectives{Availability: "80", Window: itopsv1alpha1.RollingWindow(time.Hour),
					SLI: &itopsv1alpha1.SLI{Type: itopsv1alpha1.SLIPrometheusLatency, Latency: &itopsv1alpha1.LatencySLI{
						Bucket: `shop_request_duration_seconds_bucket{job="shop"}`, Threshold: metav1.Duration{Duration: threshold}}}},
				BudgetPolicy: itopsv1alpha1.BudgetPolicyWarn}}
			Expect(k8s.Create(ctx, l)).To(Succeed())
			latencySLs[name] = l
		}

		By("no requests yet: no data, never 100 %")
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(sl), sl)).To(Succeed())
			c := meta.FindStatusCondition(sl.Status.Conditions, itopsv1alpha1.SLConditionObjectiveMet)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Status).To(Equal(metav1.ConditionUnknown))
			g.Expect(c.Reason).To(Equal(itopsv1alpha1.SLReasonNoData))
		}).WithTimeout(30 * time.Second).WithPolling(time.Second).Should(Succeed())
		Expect(sl.Status.Availability).To(BeEmpty())

		By("900 good and 100 bad requests: 90 % against 99 %, budget exhausted, the burn alert firing, an ErrorBudgetBurn incident")
		good.Add(900)
		bad.Add(100)
		for i := range 100 {
			if i < 90 {
				latency.Observe(0.05) // within 300ms
			} else {
				latency.Observe(0.5) // within 1s, not 300ms
			}
		}
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(sl), sl)).To(Succeed())
			g.Expect(sl.Status.Availability).To(Equal("90"))
			g.Expect(sl.Status.ErrorBudgetRemaining).To(Equal("-900"))
			g.Expect(sl.Status.BurnRateAlerts).To(ConsistOf(HaveField("State", itopsv1alpha1.AlertFiring)))
			g.Expect(meta.IsStatusConditionTrue(sl.Status.Conditions, itopsv1alpha1.SLConditionBudgetExhausted)).To(BeTrue())
			g.Expect(meta.IsStatusConditionFalse(sl.Status.Conditions, itopsv1alpha1.SLConditionObjectiveMet)).To(BeTrue())
			g.Expect(meta.IsStatusConditionTrue(sl.Status.Conditions, itopsv1alpha1.ConditionReady)).To(BeTrue())
		}).WithTimeout(60 * time.Second).WithPolling(time.Second).Should(Succeed())
		Expect(sl.Status.SLI).NotTo(BeNil())
		Expect(sl.Status.SLI.LastError).To(BeEmpty())
		goodEvents, err := strconv.ParseFloat(sl.Status.SLI.Good, 64)
		Expect(err).NotTo(HaveOccurred())
		totalEvents, err := strconv.ParseFloat(sl.Status.SLI.Total, 64)
		Expect(err).NotTo(HaveOccurred())
		GinkgoWriter.Printf("status.sli: good %s, total %s events over %s (exactly 900 and 1000 scraped)\n", sl.Status.SLI.Good, sl.Status.SLI.Total, time.Hour)
		Expect(goodEvents).To(And(BeNumerically(">=", 900), BeNumerically("<=", 900*1.06)), "rate() x range: 900 good, extrapolated")
		Expect(totalEvents).To(And(BeNumerically(">=", 1000), BeNumerically("<=", 1000*1.06)), "rate() x range: 1000 events, extrapolated")
		inc := &itopsv1alpha1.Incident{}
		Eventually(func(g Gomega) {
			list := &itopsv1alpha1.IncidentList{}
			g.Expect(k8s.List(ctx, list, client.InNamespace(ns), client.MatchingLabels{itopsv1alpha1.LabelReason: itopsv1alpha1.ReasonErrorBudgetBurn})).To(Succeed())
			g.Expect(list.Items).To(HaveLen(1))
			inc = &list.Items[0]
		}).WithTimeout(30 * time.Second).WithPolling(time.Second).Should(Succeed())
		Expect(inc.Spec.Description).To(ContainSubstring("ServiceLevel shop burns its error budget too fast"))

		By("the latency SLIs: 90 of 100 requests within 300ms, all within 1s (le=\"1.0\" in Prometheus 3)")
		for name, want := range map[string]string{"fast": "90", "second": "100"} {
			l := latencySLs[name]
			Eventually(func(g Gomega) string {
				g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(l), l)).To(Succeed())
				return l.Status.Availability
			}).WithTimeout(60*time.Second).WithPolling(time.Second).Should(Equal(want), name)
		}

		By("only good requests from now on: the short window clears, the burn stops and the incident's problem is gone")
		Eventually(func(g Gomega) {
			good.Add(100)
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(sl), sl)).To(Succeed())
			g.Expect(sl.Status.BurnRateAlerts).To(ConsistOf(HaveField("State", itopsv1alpha1.AlertOK)))
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(inc), inc)).To(Succeed())
			g.Expect(meta.IsStatusConditionFalse(inc.Status.Conditions, itopsv1alpha1.IncidentConditionProblemPresent)).To(BeTrue())
		}).WithTimeout(120 * time.Second).WithPolling(2 * time.Second).Should(Succeed())

		By("Prometheus stopped: ObjectiveMet Unknown/PrometheusUnavailable and Ready=False, never met; the last books stay, marked stale")
		stopPrometheus()
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(sl), sl)).To(Succeed())
			c := meta.FindStatusCondition(sl.Status.Conditions, itopsv1alpha1.SLConditionObjectiveMet)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Status).To(Equal(metav1.ConditionUnknown))
			g.Expect(c.Reason).To(Equal(itopsv1alpha1.SLReasonPrometheusUnavailable))
			r := meta.FindStatusCondition(sl.Status.Conditions, itopsv1alpha1.ConditionReady)
			g.Expect(r.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(r.Message).To(ContainSubstring("stale"))
			g.Expect(sl.Status.SLI.LastError).NotTo(BeEmpty())
		}).WithTimeout(60 * time.Second).WithPolling(time.Second).Should(Succeed())
		Expect(sl.Status.Availability).NotTo(BeEmpty(), "the last good books are kept")
	})
})

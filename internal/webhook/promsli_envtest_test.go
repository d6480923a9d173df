package webhook

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

var _ = Describe("ServiceLevel SLIs from Prometheus (issue 13)", func() {
	sl := func(ns, name string, sli *itopsv1alpha1.SLI) *itopsv1alpha1.ServiceLevel {
		return &itopsv1alpha1.ServiceLevel{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: itopsv1alpha1.ServiceLevelSpec{
			Objectives: &itopsv1alpha1.Objectives{Availability: "99.9", SLI: sli}}}
	}

	It("refuse queries Prometheus could not run, naming the field, and admit valid ones", func() {
		ns := newNamespace()
		for _, tc := range []struct {
			name string
			sli  *itopsv1alpha1.SLI
			want string
		}{
			{"unbalanced", &itopsv1alpha1.SLI{Type: itopsv1alpha1.SLIPrometheusRatio,
				Good: `sum(rate(http_requests_total{code!~"5.."}[{{.window}}])`, Total: `sum(rate(http_requests_total[{{.window}}]))`},
				`spec.objectives.sli.good: Invalid value`},
			{"placeholder-outside-range", &itopsv1alpha1.SLI{Type: itopsv1alpha1.SLIPrometheusRatio,
				Good: `sum(rate(x[{{.window}}]))`, Total: `sum(increase(x[1h])) / {{.window}}`},
				`spec.objectives.sli.total: Invalid value`},
			{"bucket-le", &itopsv1alpha1.SLI{Type: itopsv1alpha1.SLIPrometheusLatency,
				Latency: &itopsv1alpha1.LatencySLI{Bucket: `h_bucket{le="0.3"}`, Threshold: metav1.Duration{Duration: time.Second}}},
				`spec.objectives.sli.latency.bucket: Invalid value`},
		} {
			Expect(env.Client.Create(ctx, sl(ns, tc.name, tc.sli))).To(MatchError(ContainSubstring(tc.want)), tc.name)
		}
		Expect(env.Client.Create(ctx, sl(ns, "ratio", &itopsv1alpha1.SLI{Type: itopsv1alpha1.SLIPrometheusRatio,
			Good: `sum(rate(http_requests_total{code!~"5.."}[{{.window}}]))`, Total: `sum(rate(http_requests_total[{{.window}}]))`}))).To(Succeed())
		Expect(env.Client.Create(ctx, sl(ns, "latency", &itopsv1alpha1.SLI{Type: itopsv1alpha1.SLIPrometheusLatency,
			Latency: &itopsv1alpha1.LatencySLI{Bucket: `http_request_duration_seconds_bucket{job="api"}`, Threshold: metav1.Duration{Duration: 300 * time.Millisecond}}}))).To(Succeed())
	})
})

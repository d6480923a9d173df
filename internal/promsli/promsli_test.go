package promsli

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

func ratio(good, total string) *itopsv1alpha1.SLI {
	return &itopsv1alpha1.SLI{Type: itopsv1alpha1.SLIPrometheusRatio, Good: good, Total: total}
}

func latency(bucket string, threshold time.Duration) *itopsv1alpha1.SLI {
	return &itopsv1alpha1.SLI{Type: itopsv1alpha1.SLIPrometheusLatency,
		Latency: &itopsv1alpha1.LatencySLI{Bucket: bucket, Threshold: metav1.Duration{Duration: threshold}}}
}

func TestRangeAndLe(t *testing.T) {
	for d, want := range map[time.Duration]string{
		5 * time.Minute: "5m", time.Hour: "1h", 720 * time.Hour: "30d", 90 * time.Second: "1m30s",
		1500 * time.Millisecond: "1s500ms", 10 * time.Second: "10s", 8784 * time.Hour: "366d", 168 * time.Hour: "1w",
	} {
		if got := Range(d); got != want {
			t.Errorf("Range(%s) = %q, want %q", d, got, want)
		}
	}
	for d, want := range map[time.Duration]string{
		300 * time.Millisecond: "0.3", time.Second: "1", 2500 * time.Millisecond: "2.5", 10 * time.Second: "10",
		5 * time.Millisecond: "0.005", 10 * time.Microsecond: "1e-05",
	} {
		if got := LeValue(d); got != want {
			t.Errorf("LeValue(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestQueries(t *testing.T) {
	for _, tc := range []struct {
		name        string
		sli         *itopsv1alpha1.SLI
		d           time.Duration
		good, total string
	}{
		{"ratio", ratio(`sum(rate(http_requests_total{code!~"5.."}[{{.window}}]))`, `sum(rate(http_requests_total[{{.window}}]))`), time.Hour,
			`sum(rate(http_requests_total{code!~"5.."}[1h]))`, `sum(rate(http_requests_total[1h]))`},
		{"ratio, placeholder twice", ratio(`sum(rate(a[{{.window}}])) + sum(rate(b[{{.window}}]))`, `sum(rate(c[{{.window}}]))`), 5 * time.Minute,
			`sum(rate(a[5m])) + sum(rate(b[5m]))`, `sum(rate(c[5m]))`},
		{"latency with matchers", latency(`http_request_duration_seconds_bucket{job="api"}`, 300*time.Millisecond), 30 * time.Minute,
			`sum(rate(http_request_duration_seconds_bucket{job="api",le="0.3"}[30m]))`, `sum(rate(http_request_duration_seconds_bucket{job="api",le="+Inf"}[30m]))`},
		{"latency, integral bound matches 1 and 1.0", latency(`lat_bucket`, time.Second), time.Hour,
			`sum(rate(lat_bucket{le=~"1|1\\.0"}[1h]))`, `sum(rate(lat_bucket{le="+Inf"}[1h]))`},
		{"latency, empty braces", latency(`lat_bucket{}`, 250*time.Millisecond), time.Hour,
			`sum(rate(lat_bucket{le="0.25"}[1h]))`, `sum(rate(lat_bucket{le="+Inf"}[1h]))`},
		{"latency, trailing comma", latency(`lat_bucket{a="b",}`, 250*time.Millisecond), time.Hour,
			`sum(rate(lat_bucket{a="b",le="0.25"}[1h]))`, `sum(rate(lat_bucket{a="b",le="+Inf"}[1h]))`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, tot, err := Queries(tc.sli, tc.d)
			if err != nil || g != tc.good || tot != tc.total {
				t.Fatalf("Queries = %q, %q, %v\nwant      %q, %q", g, tot, err, tc.good, tc.total)
			}
		})
	}
	if _, _, err := Queries(&itopsv1alpha1.SLI{Type: itopsv1alpha1.SLIAvailability}, time.Hour); err == nil {
		t.Fatal("an Availability SLI has no queries")
	}
}

func TestValidate(t *testing.T) {
	p := field.NewPath("spec", "objectives", "sli")
	for _, tc := range []struct {
		name string
		sli  *itopsv1alpha1.SLI
		want string // substring of the error, with its field path; empty: valid
	}{
		{"valid ratio", ratio(`sum(rate(x{code!~"5.."}[{{.window}}]))`, `sum(rate(x[{{.window}}]))`), ""},
		{"subquery", ratio(`sum(rate(x[{{.window}}:1m]))`, `sum(rate(x[ {{.window}} ]))`), ""},
		{"or vector(0)", ratio(`sum(rate(x{code="200"}[{{.window}}])) or vector(0)`, `sum(rate(x[{{.window}}]))`), ""},
		{"brackets in strings are fine", ratio(`sum(rate(x{path=~"/a(b|c)\\["}[{{.window}}]))`, `sum(rate(x[{{.window}}]))`), ""},
		{"valid latency", latency(`h_bucket{job="api"}`, 300*time.Millisecond), ""},
		{"availability is not checked", &itopsv1alpha1.SLI{Type: itopsv1alpha1.SLIAvailability}, ""},
		{"no placeholder", ratio(`sum(rate(x[5m]))`, `sum(rate(x[{{.window}}]))`), "spec.objectives.sli.good"},
		{"placeholder outside a range", ratio(`sum(rate(x[{{.window}}]))`, `sum(x) / {{.window}}`), "spec.objectives.sli.total"},
		{"other template", ratio(`sum(rate(x[{{.window}}])) / {{.Window}}`, `sum(rate(x[{{.window}}]))`), "{{.Window}} is not a placeholder"},
		{"unbalanced paren", ratio(`sum(rate(x[{{.window}}])`, `sum(rate(x[{{.window}}]))`), "spec.objectives.sli.good"},
		{"unterminated string", ratio(`sum(rate(x{a="b}[{{.window}}]))`, `sum(rate(x[{{.window}}]))`), "unterminated string"},
		{"latency bucket is a function", latency(`rate(h_bucket[5m])`, time.Second), "spec.objectives.sli.latency.bucket"},
		{"latency bucket matches le", latency(`h_bucket{le="0.3"}`, time.Second), "must not match le"},
		{"latency bucket unbalanced", latency(`h_bucket{a="b"`, time.Second), "spec.objectives.sli.latency.bucket"},
		{"latency missing", &itopsv1alpha1.SLI{Type: itopsv1alpha1.SLIPrometheusLatency}, "spec.objectives.sli.latency"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := Validate(tc.sli, p)
			if tc.want == "" {
				if len(errs) > 0 {
					t.Fatalf("unexpected errors: %v", errs)
				}
				return
			}
			if len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), tc.want) {
				t.Fatalf("errors %v, want one with %q", errs, tc.want)
			}
		})
	}
}

func TestInterpret(t *testing.T) {
	sample := func(v float64, n int) model.Vector {
		out := make(model.Vector, 0, n)
		for range n {
			out = append(out, &model.Sample{Value: model.SampleValue(v)})
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		v       model.Value
		want    float64
		ok, err bool
	}{
		{"one sample", sample(2.5, 1), 2.5, true, false},
		{"scalar", &model.Scalar{Value: 3}, 3, true, false},
		{"zero is a number", sample(0, 1), 0, true, false},
		{"no series: no data", sample(0, 0), 0, false, false},
		{"nil: no data", nil, 0, false, false},
		{"several series", sample(1, 2), 0, false, true},
		{"NaN", sample(math.NaN(), 1), 0, false, true},
		{"+Inf", sample(math.Inf(1), 1), 0, false, true},
		{"-Inf", &model.Scalar{Value: model.SampleValue(math.Inf(-1))}, 0, false, true},
		{"negative", sample(-1, 1), 0, false, true},
		{"matrix", model.Matrix{}, 0, false, true},
		{"string", &model.String{Value: "x"}, 0, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := Interpret(tc.v)
			if got != tc.want || ok != tc.ok || (err != nil) != tc.err {
				t.Fatalf("Interpret = %v, %v, %v; want %v, %v, error %v", got, ok, err, tc.want, tc.ok, tc.err)
			}
		})
	}
}

// fakeQuerier answers queries from a map (query -> value or error).
type fakeQuerier map[string]any

func (f fakeQuerier) Query(_ context.Context, q string, _ time.Time) (model.Value, error) {
	switch v := f[q].(type) {
	case error:
		return nil, v
	case model.Value:
		return v, nil
	}
	return model.Vector{}, nil
}

func TestMeasure(t *testing.T) {
	sli := ratio(`good[{{.window}}]`, `total[{{.window}}]`)
	one := func(v float64) model.Vector { return model.Vector{&model.Sample{Value: model.SampleValue(v)}} }
	at := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name         string
		q            fakeQuerier
		reason       string
		good, total  float64
		availability string
	}{
		{"900 of 1000 over 100s", fakeQuerier{"good[1m40s]": one(9), "total[1m40s]": one(10)}, "", 900, 1000, "9/10"},
		{"rates with float noise", fakeQuerier{"good[1m40s]": one(0.9 * 10.000000001), "total[1m40s]": one(10.000000001)}, "", 0, 0, "9/10"},
		{"good above total is 100 %", fakeQuerier{"good[1m40s]": one(10.0000001), "total[1m40s]": one(10)}, "", 0, 0, "1"},
		{"no total series", fakeQuerier{"good[1m40s]": one(1)}, NoData, 0, 0, ""},
		{"no good series", fakeQuerier{"total[1m40s]": one(1)}, NoData, 0, 0, ""},
		{"no events", fakeQuerier{"good[1m40s]": one(0), "total[1m40s]": one(0)}, NoData, 0, 0, ""},
		{"NaN", fakeQuerier{"good[1m40s]": one(math.NaN()), "total[1m40s]": one(1)}, QueryFailed, 0, 0, ""},
		{"bad query", fakeQuerier{"total[1m40s]": &promv1.Error{Type: promv1.ErrBadData, Msg: "parse error"}}, QueryFailed, 0, 0, ""},
		{"unreachable", fakeQuerier{"total[1m40s]": errors.New("dial tcp 127.0.0.1:9: connection refused")}, Unavailable, 0, 0, ""},
		{"401", fakeQuerier{"total[1m40s]": &promv1.Error{Type: promv1.ErrClient, Msg: "client error: 401"}}, Unavailable, 0, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Measure(context.Background(), tc.q, sli, 100*time.Second, at)
			if tc.reason != "" {
				var e *Error
				if !errors.As(err, &e) || e.Reason != tc.reason {
					t.Fatalf("Measure error %v, want reason %s", err, tc.reason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.total != 0 && (s.Good != tc.good || s.Total != tc.total) {
				t.Fatalf("good %v total %v, want %v %v", s.Good, s.Total, tc.good, tc.total)
			}
			if got := s.Availability().RatString(); got != tc.availability {
				t.Fatalf("availability %s, want %s", got, tc.availability)
			}
		})
	}
}

func TestEvents(t *testing.T) {
	for v, want := range map[float64]string{900: "900", 899.99999: "900", 918.4567: "918.457", 0: "0"} {
		if got := Events(v); got != want {
			t.Errorf("Events(%v) = %q, want %q", v, got, want)
		}
	}
}

// FuzzValidate: whatever a user writes, the admission check neither panics nor admits a query
// whose brackets do not balance, and what it admits builds queries without a placeholder left.
func FuzzValidate(f *testing.F) {
	for _, s := range []string{`sum(rate(x[{{.window}}]))`, `sum(rate(x{a="b"}[{{.window}}:1m]))`, `{{.window}}`, `x{`, `"`, "`", `[{{.window}}`} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, good, bucket string) {
		p := field.NewPath("sli")
		sli := ratio(good, `sum(rate(x[{{.window}}]))`)
		if len(Validate(sli, p)) == 0 {
			g, _, err := Queries(sli, time.Hour)
			if err != nil || strings.Contains(g, "{{") {
				t.Fatalf("admitted %q: built %q, %v", good, g, err)
			}
		}
		lat := latency(bucket, time.Second)
		if len(Validate(lat, p)) == 0 {
			if _, _, err := Queries(lat, time.Hour); err != nil {
				t.Fatalf("admitted bucket %q: %v", bucket, err)
			}
		}
	})
}

// FuzzLatencyTemplates: any bucket is either refused by Validate or gives two queries over the
// same selector, each with the range placeholder once, differing only in the le matcher (the
// generated PrometheusRules and the operator's own queries come from these templates).
func FuzzLatencyTemplates(f *testing.F) {
	for _, s := range []string{`http_request_duration_seconds_bucket{job="api"}`, `x_bucket`, `{__name__="x"}`, `x{`, `{}`,
		`sum(x)`, ` x_bucket{a="b",} `, `x{le="0.3"}`, `x{{.window}}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, bucket string) {
		sli := latency(bucket, 300*time.Millisecond)
		if errs := Validate(sli, field.NewPath("sli")); len(errs) > 0 {
			return
		}
		good, total, err := Templates(sli)
		if err != nil {
			t.Fatalf("valid SLI %q: %v", bucket, err)
		}
		for _, q := range []string{good, total} {
			if strings.Count(q, itopsv1alpha1.SLIWindowPlaceholder) != 1 || !strings.HasPrefix(q, "sum(rate(") {
				t.Fatalf("query %q", q)
			}
		}
		if !strings.Contains(good, `le="0.3"}[`) || !strings.Contains(total, `le="+Inf"}[`) {
			t.Fatalf("queries %q %q", good, total)
		}
		if strings.Replace(good, `le="0.3"`, `le="+Inf"`, 1) != total {
			t.Fatalf("good %q and total %q select different series", good, total)
		}
	})
}

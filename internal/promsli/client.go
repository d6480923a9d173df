package promsli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// Querier runs one PromQL instant query at ts. The real one is NewQuerier's; tests use fakes.
type Querier interface {
	Query(ctx context.Context, query string, ts time.Time) (model.Value, error)
}

// Endpoint is where and how Prometheus is queried (from the policy's prometheus key, its
// Secrets read by the caller).
type Endpoint struct {
	// URL of Prometheus' HTTP API (without /api/v1).
	URL string
	// Token, when set, is sent as Authorization: Bearer <token>.
	Token string
	// CA, when set, is a PEM bundle that verifies the server's certificate instead of the
	// system roots.
	CA []byte
	// Timeout bounds each query (sent to Prometheus as its timeout parameter too).
	Timeout time.Duration
}

// NewQuerier returns a Querier over client_golang's api/v1. Errors: a URL the client refuses,
// a CA bundle without a certificate.
func NewQuerier(e Endpoint) (Querier, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if len(e.CA) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(e.CA) {
			return nil, fmt.Errorf("the CA bundle (caSecretRef) holds no PEM certificate")
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	var rt http.RoundTripper = tr
	if e.Token != "" {
		rt = bearer{token: e.Token, next: tr}
	}
	c, err := api.NewClient(api.Config{Address: e.URL, RoundTripper: rt})
	if err != nil {
		return nil, fmt.Errorf("prometheus url %q: %w", e.URL, err)
	}
	return &querier{api: promv1.NewAPI(c), timeout: e.Timeout}, nil
}

type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

type querier struct {
	api     promv1.API
	timeout time.Duration
}

func (q *querier) Query(ctx context.Context, query string, ts time.Time) (model.Value, error) {
	var opts []promv1.Option
	if q.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, q.timeout)
		defer cancel()
		opts = append(opts, promv1.WithTimeout(q.timeout))
	}
	v, _, err := q.api.Query(ctx, query, ts, opts...)
	return v, err
}

// Classify tells why a query failed: QueryFailed when Prometheus answered that the query is
// wrong or could not be executed (bad_data, execution, its own timeout), else Unavailable
// (connection refused, DNS, TLS, the client's deadline, 4xx/5xx such as 401 Unauthorized).
func Classify(err error) string {
	var apiErr *promv1.Error
	if errors.As(err, &apiErr) {
		switch apiErr.Type {
		case promv1.ErrBadData, promv1.ErrExec, promv1.ErrTimeout:
			return QueryFailed
		}
	}
	return Unavailable
}

// Sample is a Prometheus SLI measured over a range.
type Sample struct {
	// Range the events were counted over, and At the instant of the queries.
	Range time.Duration
	At    time.Time
	// Good and Total are the events in the range: each query's rate per second times the
	// range's seconds (what increase() returns, with Prometheus' extrapolation).
	Good, Total float64
}

// Availability is Good/Total as a fraction, rounded to 12 decimals (float noise in
// Prometheus' rates, 1e-16, must not turn 900/1000 into 89.9999 %), at most 1 (good may
// exceed total by extrapolation noise when the two queries select differently scraped
// series).
func (s Sample) Availability() *big.Rat {
	a := s.Good / s.Total
	if a > 1 {
		a = 1
	}
	r, _ := new(big.Rat).SetString(strconv.FormatFloat(a, 'f', 12, 64))
	return r
}

// Events formats a count of events: whole numbers as integers, others with up to 3 decimals
// (Prometheus' extrapolation makes counts over a range estimates).
func Events(v float64) string {
	return strconv.FormatFloat(float64(int64(v*1000+0.5))/1000, 'f', -1, 64)
}

// Measure evaluates the SLI s over the range d ending at at: its good and total queries, two
// instant queries at time at. Errors are *Error: Unavailable or QueryFailed (Classify), or
// NoData when either query returns no series or the range holds no events (total 0), so an
// unmeasured SLI is never read as 100 % (nor a mistyped good query as 0 %).
func Measure(ctx context.Context, q Querier, s *itopsv1alpha1.SLI, d time.Duration, at time.Time) (Sample, error) {
	good, total, err := Queries(s, d)
	if err != nil {
		return Sample{}, &Error{Reason: QueryFailed, Err: err}
	}
	out := Sample{Range: d, At: at}
	for _, x := range []struct {
		name, query string
		into        *float64
	}{{"total", total, &out.Total}, {"good", good, &out.Good}} {
		v, err := q.Query(ctx, x.query, at)
		if err != nil {
			return Sample{}, &Error{Reason: Classify(err), Err: fmt.Errorf("querying %s over %s: %w", x.name, Range(d), err)}
		}
		f, ok, err := Interpret(v)
		if err != nil {
			return Sample{}, &Error{Reason: QueryFailed, Err: fmt.Errorf("%s over %s (%s): %w", x.name, Range(d), x.query, err)}
		}
		if !ok {
			// Also for good while total has events: a mistyped good query must not read as
			// 0 % and burn the budget. A good query that can lack series (no good event
			// ever) ends in "or vector(0)".
			return Sample{}, &Error{Reason: NoData, Err: fmt.Errorf("no data: %s over %s (%s) returned no series", x.name, Range(d), x.query)}
		}
		*x.into = f * d.Seconds()
	}
	if out.Total == 0 {
		return Sample{}, &Error{Reason: NoData, Err: fmt.Errorf("no data: no events over %s", Range(d))}
	}
	return out, nil
}

// Package promsli evaluates the service level indicators of ServiceLevels of type
// PrometheusRatio and PrometheusLatency: it builds their good and total PromQL queries for a
// range, checks them at admission, queries Prometheus' HTTP API (through client_golang's
// api/v1) and interprets the answers, telling an unreachable Prometheus, a failed query and
// no data apart (docs/servicelevels.md, "SLIs from Prometheus").
//
// Admission checks the queries lightly (the {{.window}} placeholder, balanced brackets and
// string literals, no other template action, a series selector for a latency bucket) instead
// of with Prometheus's own parser (github.com/prometheus/prometheus/promql/parser): that
// package lives in the Prometheus server module, whose dependency tree would move about 50
// lines of go.mod into the operator for a check Prometheus repeats at query time, where a
// failure is reported as QueryFailed with the query.
package promsli

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"k8s.io/apimachinery/pkg/util/validation/field"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// Range formats d in Prometheus' duration syntax (model.Duration: "5m", "1h", "30d"),
// truncated to the millisecond, Prometheus' resolution. d must be positive.
func Range(d time.Duration) string {
	return model.Duration(d.Truncate(time.Millisecond)).String()
}

// Substitute replaces every {{.window}} in query with the range d (Sloth's placeholder).
func Substitute(query string, d time.Duration) string {
	return strings.ReplaceAll(query, itopsv1alpha1.SLIWindowPlaceholder, Range(d))
}

// LeValue formats a latency threshold as a histogram bucket bound in seconds, as Prometheus
// formats floats (strconv 'g', shortest): 300ms is "0.3", 2.5s "2.5", 1s "1".
func LeValue(threshold time.Duration) string {
	return strconv.FormatFloat(threshold.Seconds(), 'g', -1, 64)
}

// leMatcher matches the bucket of threshold whether its le label is written as clients
// expose it ("1", client_golang) or as Prometheus 3 normalizes classic histograms on
// ingestion ("1.0"): le="0.3" for a fractional bound, le=~"1|1\\.0" for an integral one.
func leMatcher(threshold time.Duration) string {
	v := LeValue(threshold)
	if strings.ContainsAny(v, ".eE") {
		return `le="` + v + `"`
	}
	return `le=~"` + v + `|` + v + `\\.0"`
}

// withMatcher adds a label matcher to a series selector: metric{a="b"} becomes
// metric{a="b",m}, metric becomes metric{m}.
func withMatcher(selector, matcher string) string {
	s := strings.TrimSpace(selector)
	if i := strings.Index(s, "{"); i >= 0 && strings.HasSuffix(s, "}") {
		inner := strings.TrimSpace(s[i+1 : len(s)-1])
		head := s[:i]
		if inner == "" {
			return head + "{" + matcher + "}"
		}
		return head + "{" + strings.TrimSuffix(inner, ",") + "," + matcher + "}"
	}
	return s + "{" + matcher + "}"
}

// Templates returns the good and total PromQL of a Prometheus SLI with the range placeholder
// {{.window}} where the range goes; it is the one source of the SLI's queries, for the
// operator's own measurement (Queries) and for the generated PrometheusRules
// (internal/promrule), so the rules select exactly what the operator queries:
//   - PrometheusRatio: good and total as written;
//   - PrometheusLatency: good = sum(rate(<bucket with le=threshold>[{{.window}}])), total =
//     sum(rate(<bucket with le="+Inf">[{{.window}}])); the threshold in seconds as
//     Prometheus formats floats (LeValue), a whole number of seconds matching both "1" and
//     "1.0" (leMatcher).
//
// The SLI is assumed valid (Validate). Errors: an SLI that is not of a Prometheus type, a
// latency SLI without latency.
func Templates(s *itopsv1alpha1.SLI) (good, total string, err error) {
	if s == nil {
		return "", "", fmt.Errorf("no SLI")
	}
	switch s.Type {
	case itopsv1alpha1.SLIPrometheusRatio:
		return s.Good, s.Total, nil
	case itopsv1alpha1.SLIPrometheusLatency:
		if s.Latency == nil {
			return "", "", fmt.Errorf("a PrometheusLatency SLI needs latency")
		}
		w := itopsv1alpha1.SLIWindowPlaceholder
		good = fmt.Sprintf("sum(rate(%s[%s]))", withMatcher(s.Latency.Bucket, leMatcher(s.Latency.Threshold.Duration)), w)
		total = fmt.Sprintf("sum(rate(%s[%s]))", withMatcher(s.Latency.Bucket, `le="+Inf"`), w)
		return good, total, nil
	}
	return "", "", fmt.Errorf("SLI type %q is not measured from Prometheus", s.Type)
}

// Queries returns the good and total PromQL queries of a Prometheus SLI over the range d: its
// Templates with {{.window}} replaced by d (Substitute). Both are rates per second; multiplied
// by d's seconds they are the events in the range (what increase() returns). Errors: those of
// Templates.
func Queries(s *itopsv1alpha1.SLI, d time.Duration) (good, total string, err error) {
	good, total, err = Templates(s)
	if err != nil {
		return "", "", err
	}
	return Substitute(good, d), Substitute(total, d), nil
}

// IsPrometheus reports whether s is measured from Prometheus.
func IsPrometheus(s *itopsv1alpha1.SLI) bool {
	return s != nil && (s.Type == itopsv1alpha1.SLIPrometheusRatio || s.Type == itopsv1alpha1.SLIPrometheusLatency)
}

var (
	// seriesSelector is a metric name with optional matchers, or matchers alone.
	seriesSelector = regexp.MustCompile(`^\s*([a-zA-Z_:][a-zA-Z0-9_:]*\s*(\{.*\})?|\{.*\})\s*$`)
	// template is anything written like a Go template action.
	template = regexp.MustCompile(`\{\{[^}]*\}\}`)
)

// Validate checks a Prometheus SLI at admission, with field paths under path
// (spec.objectives.sli). It is a lighter check than Prometheus' parser (whose module would
// bring Prometheus' whole dependency tree into the operator): after {{.window}} is replaced
// by a range, each query must be non-empty, have balanced (), [] and {} outside string
// literals, closed string literals, no other template action ({{.Window}}, {{ .window }}),
// and {{.window}} only where a range goes ([{{.window}}] or [{{.window}}:step]); a latency
// bucket must be a series selector (metric{matchers}) without an le matcher. What passes but
// Prometheus refuses shows as ObjectiveMet=Unknown, reason QueryFailed, with Prometheus'
// message.
func Validate(s *itopsv1alpha1.SLI, path *field.Path) field.ErrorList {
	if !IsPrometheus(s) {
		return nil
	}
	var errs field.ErrorList
	switch s.Type {
	case itopsv1alpha1.SLIPrometheusRatio:
		errs = append(errs, validateQuery(path.Child("good"), s.Good)...)
		errs = append(errs, validateQuery(path.Child("total"), s.Total)...)
	case itopsv1alpha1.SLIPrometheusLatency:
		if s.Latency == nil {
			return append(errs, field.Required(path.Child("latency"), "a PrometheusLatency SLI needs latency: {bucket, threshold}"))
		}
		bp := path.Child("latency", "bucket")
		b := s.Latency.Bucket
		switch {
		case !seriesSelector.MatchString(b):
			errs = append(errs, field.Invalid(bp, b, `must be a series selector such as http_request_duration_seconds_bucket{job="api"} (no function, range or operator)`))
		case template.MatchString(b):
			errs = append(errs, field.Invalid(bp, b, "must not contain a template action such as {{.window}}: the operator adds the range"))
		case regexp.MustCompile(`[{,]\s*le\s*(=|!=|=~|!~)`).MatchString(b):
			errs = append(errs, field.Invalid(bp, b, "must not match le: the operator selects the threshold's bucket and the +Inf bucket"))
		default:
			errs = append(errs, balanced(bp, b)...)
		}
		if s.Latency.Threshold.Duration <= 0 {
			errs = append(errs, field.Invalid(path.Child("latency", "threshold"), s.Latency.Threshold.Duration.String(), "must be more than 0"))
		}
	}
	return errs
}

func validateQuery(p *field.Path, q string) field.ErrorList {
	if strings.TrimSpace(q) == "" {
		return field.ErrorList{field.Required(p, "a PromQL expression with the range placeholder {{.window}}")}
	}
	if !strings.Contains(q, itopsv1alpha1.SLIWindowPlaceholder) {
		return field.ErrorList{field.Invalid(p, q, "must contain the range placeholder {{.window}}, for example sum(rate(http_requests_total[{{.window}}]))")}
	}
	for rest := q; ; {
		i := strings.Index(rest, itopsv1alpha1.SLIWindowPlaceholder)
		if i < 0 {
			break
		}
		before := strings.TrimRight(rest[:i], " ")
		after := strings.TrimLeft(rest[i+len(itopsv1alpha1.SLIWindowPlaceholder):], " ")
		if !strings.HasSuffix(before, "[") || (!strings.HasPrefix(after, "]") && !strings.HasPrefix(after, ":")) {
			return field.ErrorList{field.Invalid(p, q, "{{.window}} stands for a range: write it inside brackets, as in rate(x[{{.window}}])")}
		}
		rest = after
	}
	substituted := Substitute(q, time.Hour)
	if m := template.FindString(substituted); m != "" {
		return field.ErrorList{field.Invalid(p, q, fmt.Sprintf("%s is not a placeholder the operator knows: write {{.window}}", m))}
	}
	return balanced(p, substituted)
}

// balanced checks brackets and string literals of a PromQL expression.
func balanced(p *field.Path, q string) field.ErrorList {
	var stack []rune
	closing := map[rune]rune{')': '(', ']': '[', '}': '{'}
	var quote rune
	escaped := false
	for _, c := range q {
		if quote != 0 {
			switch {
			case escaped:
				escaped = false
			case c == '\\' && quote != '`':
				escaped = true
			case c == quote:
				quote = 0
			}
			continue
		}
		switch c {
		case '"', '\'', '`':
			quote = c
		case '(', '[', '{':
			stack = append(stack, c)
		case ')', ']', '}':
			if len(stack) == 0 || stack[len(stack)-1] != closing[c] {
				return field.ErrorList{field.Invalid(p, q, fmt.Sprintf("unbalanced %q", c))}
			}
			stack = stack[:len(stack)-1]
		}
	}
	if quote != 0 {
		return field.ErrorList{field.Invalid(p, q, fmt.Sprintf("unterminated string literal (%c)", quote))}
	}
	if len(stack) > 0 {
		return field.ErrorList{field.Invalid(p, q, fmt.Sprintf("unclosed %q", stack[len(stack)-1]))}
	}
	return nil
}

// Failure kinds of an evaluation, as the ServiceLevel's ObjectiveMet reasons name them.
const (
	// Unavailable: Prometheus could not be queried (unreachable, refused, timed out, answered
	// 4xx/5xx, no endpoint configured).
	Unavailable = itopsv1alpha1.SLReasonPrometheusUnavailable
	// QueryFailed: Prometheus refused or could not execute the query, or its result is not a
	// single number.
	QueryFailed = itopsv1alpha1.SLReasonQueryFailed
	// NoData: the query returned no series, or no events in the range.
	NoData = itopsv1alpha1.SLReasonNoData
)

// Error is a failed evaluation: Reason is Unavailable, QueryFailed or NoData.
type Error struct {
	Reason string
	Err    error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Interpret reads an instant query's result as one number: a scalar, or a vector of exactly
// one sample. ok is false for an empty vector (no series: no data, never 0 or 100 %). Errors
// (QueryFailed): several series (aggregate with sum()), a matrix or string, NaN or ±Inf.
func Interpret(v model.Value) (value float64, ok bool, err error) {
	switch r := v.(type) {
	case *model.Scalar:
		value = float64(r.Value)
	case model.Vector:
		switch len(r) {
		case 0:
			return 0, false, nil
		case 1:
			value = float64(r[0].Value)
		default:
			return 0, false, fmt.Errorf("the query returned %d series, not one number: aggregate it, for example with sum(...)", len(r))
		}
	case nil:
		return 0, false, nil
	default:
		return 0, false, fmt.Errorf("the query returned a %s, not one number", v.Type())
	}
	if math.IsNaN(value) || math.IsInf(value, 0) {
		return 0, false, fmt.Errorf("the query returned %v, not a number of events", value)
	}
	if value < 0 {
		return 0, false, fmt.Errorf("the query returned %v: a rate of events is never negative", value)
	}
	return value, true, nil
}

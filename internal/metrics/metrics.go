// Package metrics defines the operator's Prometheus metrics, served on the manager's metrics
// endpoint.
package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/lifecycle"
)

var (
	// Detections counts problems detected: new incidents and recurrences, by reason.
	Detections = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "itops_incident_detections_total",
		Help: "Problems detected by health detection (new incidents and recurrences), by reason.",
	}, []string{"reason"})

	// GateDecisions counts the change gate's decisions on requests it applies to: admitted
	// (under a change), exempt (scale, metadata, restart, rollback), denied, and dry runs that
	// would have been denied.
	GateDecisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "itops_change_gate_decisions_total",
		Help: "Change gate decisions in change-controlled namespaces, by decision (admitted, exempt, denied, dryrun_denied) and kind.",
	}, []string{"decision", "kind"})

	// TimeToAcknowledge observes detection-to-acknowledgement times, by priority.
	TimeToAcknowledge = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "itops_incident_time_to_acknowledge_seconds",
		Help:    "Time from detection to acknowledgement of incidents, by priority.",
		Buckets: []float64{60, 300, 900, 1800, 3600, 4 * 3600, 8 * 3600, 24 * 3600},
	}, []string{"priority"})

	// TimeToResolve observes detection-to-resolution times, by priority and by whom
	// (person or operator).
	TimeToResolve = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "itops_incident_time_to_resolve_seconds",
		Help:    "Time from detection to resolution of incidents, by priority and resolver (person or operator).",
		Buckets: []float64{300, 900, 1800, 3600, 4 * 3600, 8 * 3600, 24 * 3600, 72 * 3600},
	}, []string{"priority", "resolver"})
)

var openDesc = prometheus.NewDesc("itops_incidents_open",
	"Incidents not yet resolved (Open or Acknowledged), by priority, reason and source.",
	[]string{"priority", "reason", "source"}, nil)

// openIncidents computes itops_incidents_open from the informer cache at scrape time, so the
// figure is exact and survives restarts without bookkeeping.
type openIncidents struct{ reader client.Reader }

func (c openIncidents) Describe(ch chan<- *prometheus.Desc) { ch <- openDesc }

func (c openIncidents) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	list := &itopsv1alpha1.IncidentList{}
	if err := c.reader.List(ctx, list); err != nil {
		ch <- prometheus.NewInvalidMetric(openDesc, err)
		return
	}
	type key struct{ priority, reason, source string }
	counts := map[key]int{}
	for i := range list.Items {
		inc := &list.Items[i]
		if !lifecycle.IsOpen(inc) {
			continue
		}
		counts[key{string(inc.Status.Priority), inc.Spec.Reason, string(inc.Spec.Source)}]++
	}
	openBaseline(ch, func(priority, source string) bool { return counts[key{priority, "", source}] > 0 })
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(openDesc, prometheus.GaugeValue, float64(n), k.priority, k.reason, k.source)
	}
}

// Register registers the metrics with controller-runtime's registry; reader is the
// manager's cached client.
func Register(reader client.Reader) {
	crmetrics.Registry.MustRegister(Detections, GateDecisions, TimeToAcknowledge, TimeToResolve, openIncidents{reader: reader})
}

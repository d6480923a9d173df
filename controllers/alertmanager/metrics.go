package alertmanager

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Outcomes of itops_alertmanager_alerts_total.
const (
	// OutcomeAccepted: an alert of a notification answered 200, recorded on its incident.
	OutcomeAccepted = "accepted"
	// OutcomeIgnored: an alert of an ignored severity (the built-in "none": Watchdog,
	// InfoInhibitor) in a notification answered 200.
	OutcomeIgnored = "ignored"
	// OutcomeRefused: an alert of a well-formed notification the operator could not record
	// (answered 503; Alertmanager retries the notification, and the alert counts again).
	OutcomeRefused = "refused"
	// OutcomeExpired: a recorded firing alert treated as resolved without a notification (its
	// endsAt passed, or it was not sent again within alertmanager.staleAfter).
	OutcomeExpired = "expired"
)

var (
	// alertsTotal counts alerts by what became of them.
	alertsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "itops_alertmanager_alerts_total",
		Help: "Alerts received from Alertmanager by outcome (accepted, ignored, refused), and recorded alerts expired without a resolved notification (expired).",
	}, []string{"outcome"})
	// requestsTotal counts requests to the endpoint by HTTP status code (a refused
	// notification's alerts are not counted in alertsTotal when its body was not understood).
	requestsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "itops_alertmanager_requests_total",
		Help: "Requests to the Alertmanager endpoint (POST /alertmanager/v4) by HTTP status code.",
	}, []string{"code"})
)

func init() {
	metrics.Registry.MustRegister(alertsTotal, requestsTotal)
	// Zero-valued series from the start, so that rate() and absent() tell "none" from "not
	// scraped".
	for _, o := range []string{OutcomeAccepted, OutcomeIgnored, OutcomeRefused, OutcomeExpired} {
		alertsTotal.WithLabelValues(o)
	}
	for _, c := range []string{"200", "400", "401", "404", "413", "422", "503"} {
		requestsTotal.WithLabelValues(c)
	}
}

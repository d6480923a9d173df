package notification

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// NotificationsTotal counts delivery attempts by receiver, transition and result (delivered,
// retry: failed and will be retried, failed: given up or refused).
var NotificationsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "itops_notifications_total",
	Help: "Notification delivery attempts, by receiver, transition and result (delivered, retry, failed).",
}, []string{"receiver", "transition", "result"})

var registerOnce sync.Once

// RegisterMetrics registers the notification metrics with the manager's registry, once.
func RegisterMetrics() {
	registerOnce.Do(func() { crmetrics.Registry.MustRegister(NotificationsTotal) })
}

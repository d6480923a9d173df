package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// Zero series. Prometheus cannot tell a series that is 0 from one that was never scraped, so
// dashboards (`sum by (priority)`) and `absent()` alerts need every bounded, known label
// combination present from the first scrape on, as kube-state-metrics does for phases. The sets
// below are the API's enums; free-form values (a manual incident's reason, a ServiceLevel's
// name) get series when they occur.

// Priorities are the incident priorities (api/v1alpha1 PriorityP1..P5).
var Priorities = []itopsv1alpha1.Priority{itopsv1alpha1.PriorityP1, itopsv1alpha1.PriorityP2,
	itopsv1alpha1.PriorityP3, itopsv1alpha1.PriorityP4, itopsv1alpha1.PriorityP5}

// Sources are the incident sources (spec.source).
var Sources = []itopsv1alpha1.IncidentSource{itopsv1alpha1.SourceManual, itopsv1alpha1.SourceHealthCheck,
	itopsv1alpha1.SourceServiceLevel, itopsv1alpha1.SourceChangeGate, itopsv1alpha1.SourceAlertmanager}

// DetectionReasons are the reasons health detection opens incidents with.
var DetectionReasons = []string{itopsv1alpha1.ReasonCrashLoopBackOff, itopsv1alpha1.ReasonImagePullBackOff,
	itopsv1alpha1.ReasonCreateContainerConfigError, itopsv1alpha1.ReasonOOMKilled, itopsv1alpha1.ReasonNodeNotReady,
	itopsv1alpha1.ReasonNodePressure, itopsv1alpha1.ReasonWorkloadUnavailable, itopsv1alpha1.ReasonRolloutStuck,
	itopsv1alpha1.ReasonJobFailed, itopsv1alpha1.ReasonVolumeClaimPending, itopsv1alpha1.ReasonVolumeClaimLost}

// GateDecisionValues are the decision label values of itops_change_gate_decisions_total.
var GateDecisionValues = []string{"admitted", "exempt", "denied", "dryrun_denied"}

// GatedKinds are the kinds the change gate counts decisions for (ChangeRequest target kinds and
// the Pods, ReplicaSets and ReplicationControllers it also guards).
var GatedKinds = []string{string(itopsv1alpha1.TargetDeployment), string(itopsv1alpha1.TargetStatefulSet),
	string(itopsv1alpha1.TargetDaemonSet), string(itopsv1alpha1.TargetCronJob), string(itopsv1alpha1.TargetJob),
	"Pod", "ReplicaSet", "ReplicationController"}

// Resolvers are the resolver label values of itops_incident_time_to_resolve_seconds.
var Resolvers = []string{"person", "operator"}

// initZeroSeries creates every bounded label combination of the vectors, at 0.
func initZeroSeries() {
	for _, r := range DetectionReasons {
		Detections.WithLabelValues(r)
	}
	for _, d := range GateDecisionValues {
		for _, k := range GatedKinds {
			GateDecisions.WithLabelValues(d, k)
		}
	}
	for _, p := range Priorities {
		TimeToAcknowledge.WithLabelValues(string(p))
		for _, r := range Resolvers {
			TimeToResolve.WithLabelValues(string(p), r)
		}
	}
}

func init() { initZeroSeries() }

// openBaseline is the zero of itops_incidents_open: one series per priority and source with an
// empty reason (which Prometheus stores as no reason label), always 0, so that
// `sum by (priority) (itops_incidents_open)` shows 0 for a priority with nothing open and
// `absent(itops_incidents_open)` fires only when the operator is not scraped. counted reports
// whether the collector emits that (priority, "", source) series itself (open incidents
// without a reason), which then replaces the zero.
func openBaseline(ch chan<- prometheus.Metric, counted func(priority, source string) bool) {
	for _, p := range Priorities {
		for _, s := range Sources {
			if counted(string(p), string(s)) {
				continue
			}
			ch <- prometheus.MustNewConstMetric(openDesc, prometheus.GaugeValue, 0, string(p), "", string(s))
		}
	}
}

var buildInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Name: "itops_build_info",
	Help: "Always 1; the operator's version, the source commit (revision) and the Go version that built it.",
}, []string{"version", "revision", "goversion"})

// RegisterBuildInfo registers itops_build_info{version,revision,goversion} 1 with
// controller-runtime's registry (the values come from internal/version).
func RegisterBuildInfo(version, revision, goVersion string) {
	registerBuildInfo(crmetrics.Registry, version, revision, goVersion)
}

func registerBuildInfo(reg prometheus.Registerer, version, revision, goVersion string) {
	buildInfo.WithLabelValues(version, revision, goVersion).Set(1)
	reg.MustRegister(buildInfo)
}

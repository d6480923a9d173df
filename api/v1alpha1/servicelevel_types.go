package v1alpha1

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BudgetPolicy says what happens when the error budget is spent.
// +kubebuilder:validation:Enum=None;Warn;FreezeChanges
type BudgetPolicy string

// Budget policies.
const (
	// BudgetPolicyNone only reports the budget.
	BudgetPolicyNone BudgetPolicy = "None"
	// BudgetPolicyWarn reports the budget and opens an ErrorBudgetBurn incident when it burns fast.
	BudgetPolicyWarn BudgetPolicy = "Warn"
	// BudgetPolicyFreezeChanges also makes the change gate deny non-emergency changes to the
	// service's workloads while the budget is exhausted.
	BudgetPolicyFreezeChanges BudgetPolicy = "FreezeChanges"
)

// DriftPolicy says what the operator does about workloads outside the scaling bounds.
// +kubebuilder:validation:Enum=Report;Correct
type DriftPolicy string

// Drift policies.
const (
	// DriftReport reports drift (condition, Event, metric) and leaves the workload alone.
	DriftReport DriftPolicy = "Report"
	// DriftCorrect scales a drifted workload back into bounds through its scale subresource.
	DriftCorrect DriftPolicy = "Correct"
)

// ServiceLevel condition types (besides Ready, Reconciling and Stalled).
const (
	// SLConditionObjectiveMet is True while availability over the window meets the objective
	// (normal polarity).
	SLConditionObjectiveMet = "ObjectiveMet"
	// SLConditionBudgetExhausted is True while no error budget is left (abnormal polarity).
	SLConditionBudgetExhausted = "BudgetExhausted"
	// SLConditionScalingConflict is True when the scaling bounds of the ServiceLevels selecting
	// one workload do not intersect (abnormal polarity).
	SLConditionScalingConflict = "ScalingConflict"
	// SLConditionScalingDrift is True while a selected workload's replicas are outside the
	// scaling bounds (abnormal polarity).
	SLConditionScalingDrift = "ScalingDrift"
	// SLConditionRulesGenerated is True while the PrometheusRule asked for by
	// spec.objectives.sli.prometheusRule holds the ServiceLevel's current rules (normal
	// polarity); absent when no rules are asked for. Written only by the PrometheusRule
	// controller (server-side apply, field manager itops-operator-promrule); reasons Applied,
	// PrometheusRuleNotServed, PrometheusRuleNotOwned, InvalidSpec, ApplyFailed.
	SLConditionRulesGenerated = "RulesGenerated"
)

// ServiceLevel condition reasons.
const (
	// SLReasonObjectiveMet: ObjectiveMet=True.
	SLReasonObjectiveMet = "ObjectiveMet"
	// SLReasonObjectiveMissed: ObjectiveMet=False.
	SLReasonObjectiveMissed = "ObjectiveMissed"
	// SLReasonNoData: ObjectiveMet=Unknown, nothing observed yet.
	SLReasonNoData = "NoData"
	// SLReasonPrometheusUnavailable: ObjectiveMet=Unknown, the Prometheus of a Prometheus SLI
	// could not be queried (unreachable, refused, timed out, no endpoint configured).
	SLReasonPrometheusUnavailable = "PrometheusUnavailable"
	// SLReasonQueryFailed: ObjectiveMet=Unknown, Prometheus answered with an error or a result
	// the SLI cannot use (not a single number).
	SLReasonQueryFailed = "QueryFailed"
	// SLReasonBudgetExhausted: BudgetExhausted=True.
	SLReasonBudgetExhausted = "BudgetExhausted"
	// SLReasonBudgetRemaining: BudgetExhausted=False.
	SLReasonBudgetRemaining = "BudgetRemaining"
	// SLReasonMeasured: Ready=True, the books are current.
	SLReasonMeasured = "Measured"
	// SLReasonNoObjectives: Ready=True, the ServiceLevel sets SLA deadlines or scaling only.
	SLReasonNoObjectives = "NoObjectives"
	// SLReasonBoundsConflict: ScalingConflict=True.
	SLReasonBoundsConflict = "BoundsDoNotIntersect"
	// SLReasonBoundsIntersect: ScalingConflict=False.
	SLReasonBoundsIntersect = "BoundsIntersect"
	// SLReasonOutOfBounds: ScalingDrift=True.
	SLReasonOutOfBounds = "OutOfBounds"
	// SLReasonWithinBounds: ScalingDrift=False.
	SLReasonWithinBounds = "WithinBounds"
	// SLReasonRulesApplied: RulesGenerated=True, the PrometheusRule holds the current rules.
	SLReasonRulesApplied = "Applied"
	// SLReasonPrometheusRuleNotServed: RulesGenerated=False, the API server does not serve
	// monitoring.coreos.com/v1 PrometheusRule (prometheus-operator's CRD is not installed);
	// the operator writes the rules once it is.
	SLReasonPrometheusRuleNotServed = "PrometheusRuleNotServed"
	// SLReasonPrometheusRuleNotOwned: RulesGenerated=False, a PrometheusRule of the
	// ServiceLevel's name exists and is not controlled by it; the operator leaves it alone.
	SLReasonPrometheusRuleNotOwned = "PrometheusRuleNotOwned"
	// SLReasonApplyFailed: RulesGenerated=False, writing the PrometheusRule failed (the
	// message says why); retried with backoff.
	SLReasonApplyFailed = "ApplyFailed"
)

// ServiceLevelSpec describes a service and what it promises.
type ServiceLevelSpec struct {
	// description says what the service is.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	Description string `json:"description,omitempty"`

	// selector selects the service's workloads (Deployments, StatefulSets, DaemonSets) in this
	// namespace.
	// +required
	Selector metav1.LabelSelector `json:"selector"`

	// objectives is the service level objective the service is measured against.
	// +optional
	Objectives *Objectives `json:"objectives,omitempty"`

	// sla sets response and resolution deadlines for the service's incidents, by priority.
	// +optional
	// +listType=map
	// +listMapKey=priority
	// +kubebuilder:validation:MaxItems=5
	SLA []SLATarget `json:"sla,omitempty"`

	// burnRateAlerts are multi-window burn-rate alerts; default the usual 1h/5m at factor 14.4
	// and 6h/30m at factor 6.
	// +optional
	// +listType=atomic
	// +kubebuilder:default={{longWindow:"1h",shortWindow:"5m",factor:"14.4"},{longWindow:"6h",shortWindow:"30m",factor:"6"}}
	// +kubebuilder:validation:MaxItems=8
	BurnRateAlerts []BurnRateAlert `json:"burnRateAlerts,omitempty"`

	// budgetPolicy says what happens when the error budget is spent.
	// +optional
	// +kubebuilder:default=Warn
	BudgetPolicy BudgetPolicy `json:"budgetPolicy,omitempty"`

	// scaling bounds the replicas of the service's workloads and scales out on SLO burn.
	// +optional
	Scaling *ScalingPolicy `json:"scaling,omitempty"`

	// owner names the team that owns the service, where its incidents escalate and the
	// runbook its responders start from. The service's incidents inherit the team (as
	// spec.team and spec.assignee) and the runbook (status.runbookURL). Without it, the
	// namespace annotations itops.dev/owner-team, itops.dev/escalation and
	// itops.dev/runbook-url apply.
	// +optional
	Owner *ServiceOwner `json:"owner,omitempty"`
}

// ServiceOwner is who owns a service and how its incidents reach them.
type ServiceOwner struct {
	// team is the owning team's name, as the notification routes of the administrator policy
	// match it (match.teams).
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9._]*[a-z0-9])?$`
	Team string `json:"team,omitempty"`

	// escalation names the route (by its name) or the receiver of the administrator policy
	// that is notified when an incident of the service is not acknowledged by its response
	// SLA deadline (transition Escalated).
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9._]*[a-z0-9])?$`
	Escalation string `json:"escalation,omitempty"`

	// runbookURL is the runbook responders start from (http or https).
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^https?://\S+$`
	RunbookURL string `json:"runbookURL,omitempty"`
}

// Objectives is a service level objective.
type Objectives struct {
	// availability is the objective as a percent string in (0, 100), for example "99.9".
	// +required
	// +kubebuilder:validation:MaxLength=12
	// +kubebuilder:validation:XValidation:rule="self.matches('^[0-9]{1,2}(\\\\.[0-9]{1,8})?$') && !self.matches('^0+(\\\\.0+)?$')",message="availability must be a decimal percent string greater than 0 and less than 100, for example \"99.9\""
	Availability string `json:"availability"`

	// window is what the objective is measured over: a rolling window written as a duration
	// string, at least 1h and at most 8784h (default "720h", 30 days), or a calendar period
	// written as an object, {calendar: {period: Month, timeZone: Europe/Berlin}}, that starts
	// again at each period's start (SLO reports read per month or week).
	// +optional
	// +kubebuilder:default="720h"
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:pruning:PreserveUnknownFields
	Window *SLOWindow `json:"window,omitempty"`

	// sli is the service level indicator the objective is measured on: Availability (default,
	// from the selected workloads' health) or the ratio of good to total events from
	// Prometheus (PrometheusRatio, PrometheusLatency), queried at the endpoint the
	// administrator policy names (key prometheus); never credentials here.
	// +optional
	SLI *SLI `json:"sli,omitempty"`
}

// CalendarPeriod is the length of a calendar window.
// +kubebuilder:validation:Enum=Month;Week
type CalendarPeriod string

// Calendar periods.
const (
	// CalendarMonth runs from the first of a month 00:00 to the first of the next, in the
	// window's time zone.
	CalendarMonth CalendarPeriod = "Month"
	// CalendarWeek runs from Monday 00:00 to the next Monday 00:00 (ISO 8601 weeks), in the
	// window's time zone.
	CalendarWeek CalendarPeriod = "Week"
)

// CalendarWindow is a calendar period: the objective is measured from the start of the
// current period, and each period ends with a report in status.periods. It lives inside the
// schemaless SLOWindow, so its markers never reach the CRD: the ServiceLevel webhook and the
// controller enforce the same bounds (internal/slo.ValidateObjectives, field paths under
// spec.objectives.window.calendar).
type CalendarWindow struct {
	// period is Month or Week (validated by the webhook: the window is schemaless).
	// +required
	Period CalendarPeriod `json:"period"`

	// timeZone is the IANA time zone the periods start in, for example Europe/Berlin;
	// default UTC. At most 64 bytes, a name the IANA database knows, not Local (validated
	// by the webhook: the window is schemaless).
	// +optional
	// +kubebuilder:validation:MaxLength=64
	TimeZone string `json:"timeZone,omitempty"`
}

// SLOWindow is the window of an objective, a union written by type: a JSON string is a
// rolling window ("720h"), an object {calendar: {...}} a calendar window. The schema keeps the
// field untyped (a string or an object; CEL cannot see untyped fields), so the ServiceLevel
// webhook validates it with field paths (internal/slo.ValidateObjectives) and the controller
// reports a stored invalid one as Stalled. Decoding never fails: a value that is neither form
// is kept as written in Invalid, so no object becomes unreadable and nothing is lost.
type SLOWindow struct {
	// Rolling is the rolling window, written as a duration string.
	Rolling *metav1.Duration `json:"-"`

	// Calendar is the calendar window, written as {calendar: {period, timeZone}}.
	Calendar *CalendarWindow `json:"calendar,omitempty"`

	// Invalid holds a value that is neither a duration string nor {calendar: {...}}, as
	// written (JSON); validation reports it.
	Invalid []byte `json:"-"`
}

// RollingWindow returns the rolling window d.
func RollingWindow(d time.Duration) *SLOWindow {
	return &SLOWindow{Rolling: &metav1.Duration{Duration: d}}
}

// MarshalJSON writes a rolling window as its duration string, a calendar window as
// {"calendar": {...}}, an invalid one as it was written, a zero SLOWindow as null.
func (w SLOWindow) MarshalJSON() ([]byte, error) {
	switch {
	case w.Invalid != nil:
		return w.Invalid, nil
	case w.Calendar != nil:
		type calendarOnly struct {
			Calendar *CalendarWindow `json:"calendar"`
		}
		return json.Marshal(calendarOnly{Calendar: w.Calendar})
	case w.Rolling != nil:
		return json.Marshal(w.Rolling.Duration.String())
	default:
		return []byte("null"), nil
	}
}

// UnmarshalJSON reads a duration string (time.ParseDuration) or an object with the only key
// calendar; anything else (including a string that is not a duration, or unknown keys) is
// kept in Invalid. It never returns an error for valid JSON.
func (w *SLOWindow) UnmarshalJSON(b []byte) error {
	*w = SLOWindow{}
	trimmed := bytes.TrimSpace(b)
	if bytes.Equal(trimmed, []byte("null")) {
		return nil
	}
	if !json.Valid(trimmed) {
		return fmt.Errorf("window: invalid JSON")
	}
	if len(trimmed) > 0 && trimmed[0] == '"' {
		var s string
		if err := json.Unmarshal(trimmed, &s); err == nil {
			if d, err := time.ParseDuration(s); err == nil {
				w.Rolling = &metav1.Duration{Duration: d}
				return nil
			}
		}
	}
	if len(trimmed) > 0 && trimmed[0] == '{' {
		var obj struct {
			Calendar *CalendarWindow `json:"calendar"`
		}
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&obj); err == nil && obj.Calendar != nil {
			w.Calendar = obj.Calendar
			return nil
		}
	}
	w.Invalid = append([]byte(nil), trimmed...)
	return nil
}

// SLIType is the kind of service level indicator.
// +kubebuilder:validation:Enum=Availability;PrometheusRatio;PrometheusLatency
type SLIType string

// SLI types.
const (
	// SLIAvailability: the share of time the selected workloads were available (wave 1).
	SLIAvailability SLIType = "Availability"
	// SLIPrometheusRatio: good events / total events, two PromQL queries.
	SLIPrometheusRatio SLIType = "PrometheusRatio"
	// SLIPrometheusLatency: requests served within a threshold / all requests, from a
	// Prometheus histogram's buckets.
	SLIPrometheusLatency SLIType = "PrometheusLatency"
)

// SLIWindowPlaceholder is the text in good and total queries the operator replaces with the
// range it evaluates (5m, 1h, the objective's window ...), as Sloth's {{.window}}.
const SLIWindowPlaceholder = "{{.window}}"

// SLI is a service level indicator.
// +kubebuilder:validation:XValidation:rule="self.type == 'PrometheusRatio' ? (has(self.good) && has(self.total) && !has(self.latency)) : true",message="a PrometheusRatio SLI needs good and total and no latency"
// +kubebuilder:validation:XValidation:rule="self.type == 'PrometheusLatency' ? (has(self.latency) && !has(self.good) && !has(self.total)) : true",message="a PrometheusLatency SLI needs latency and no good or total"
// +kubebuilder:validation:XValidation:rule="self.type == 'Availability' ? (!has(self.good) && !has(self.total) && !has(self.latency) && !has(self.prometheusRule)) : true",message="an Availability SLI takes no good, total, latency or prometheusRule"
type SLI struct {
	// type is Availability (default), PrometheusRatio or PrometheusLatency.
	// +optional
	// +kubebuilder:default=Availability
	Type SLIType `json:"type,omitempty"`

	// good is a PromQL expression for the rate of good events over the range written
	// {{.window}}, for example sum(rate(http_requests_total{job="api",code!~"5.."}[{{.window}}])).
	// At most 4096 characters.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	// +kubebuilder:validation:XValidation:rule="self.contains('{{.window}}')",message="good must contain the range placeholder {{.window}}, for example sum(rate(http_requests_total{code!~\"5..\"}[{{.window}}]))"
	Good string `json:"good,omitempty"`

	// total is a PromQL expression for the rate of all events over {{.window}}, for example
	// sum(rate(http_requests_total{job="api"}[{{.window}}])). At most 4096 characters.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	// +kubebuilder:validation:XValidation:rule="self.contains('{{.window}}')",message="total must contain the range placeholder {{.window}}, for example sum(rate(http_requests_total[{{.window}}]))"
	Total string `json:"total,omitempty"`

	// latency is the latency form: requests served within threshold are good.
	// +optional
	Latency *LatencySLI `json:"latency,omitempty"`

	// prometheusRule, when set, makes the operator write a PrometheusRule
	// (monitoring.coreos.com/v1, owned by this ServiceLevel, same name) with the SLI's
	// recording rules and multi-window multi-burn-rate alerts from spec.burnRateAlerts, as
	// Sloth generates them, for teams that alert from Prometheus. Needs the CRD installed.
	// +optional
	PrometheusRule *PrometheusRuleGeneration `json:"prometheusRule,omitempty"`
}

// LatencySLI measures requests served within a threshold from a Prometheus histogram.
type LatencySLI struct {
	// bucket selects the histogram's bucket series, for example
	// http_request_duration_seconds_bucket{job="api"}; good = rate of the bucket le=threshold,
	// total = rate of the bucket le="+Inf". At most 1024 characters.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Bucket string `json:"bucket"`

	// threshold is the latency requests must be served within; it must be one of the
	// histogram's bucket bounds (le label), for example 300ms for le="0.3".
	// +required
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$') && duration(self) > duration('0s')",message="threshold must be more than 0 (a duration such as 300ms or 1s)"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	Threshold metav1.Duration `json:"threshold"`
}

// PrometheusRuleGeneration configures the generated PrometheusRule.
type PrometheusRuleGeneration struct {
	// labels are added to every generated alert (routing in Alertmanager: team, severity
	// overrides); at most 16.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	Labels []RuleLabel `json:"labels,omitempty"`
}

// RuleLabel is one Prometheus label.
type RuleLabel struct {
	// name of the label (Prometheus label name syntax). Not one the generated alerts own
	// (alertname, namespace, servicelevel, long_window, short_window) nor one starting with __
	// (reserved by Prometheus); severity may be overridden.
	// +required
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-zA-Z_][a-zA-Z0-9_]*$`
	// +kubebuilder:validation:XValidation:rule="!(self in ['alertname', 'namespace', 'servicelevel', 'long_window', 'short_window']) && !self.startsWith('__')",message="name must not be alertname, namespace, servicelevel, long_window, short_window (the generated alerts own them) or start with __ (reserved by Prometheus)"
	Name string `json:"name"`

	// value of the label.
	// +required
	// +kubebuilder:validation:MaxLength=256
	Value string `json:"value"`
}

// SLATarget is the response and resolution deadline for incidents of one priority.
// +kubebuilder:validation:XValidation:rule="!has(self.respondWithin) || !has(self.resolveWithin) || duration(self.resolveWithin) >= duration(self.respondWithin)",message="resolveWithin must not be shorter than respondWithin"
type SLATarget struct {
	// priority of the incidents this target applies to.
	// +required
	Priority Priority `json:"priority"`

	// respondWithin is the time allowed before an incident must be acknowledged.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.matches('^-?([0-9]+(\\\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$') && duration(self) > duration('0s')",message="respondWithin must be more than 0 (a duration such as 90s, 15m or 2h)"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	RespondWithin *metav1.Duration `json:"respondWithin,omitempty"`

	// resolveWithin is the time allowed before an incident must be resolved.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.matches('^-?([0-9]+(\\\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$') && duration(self) > duration('0s')",message="resolveWithin must be more than 0 (a duration such as 90s, 15m or 2h)"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	ResolveWithin *metav1.Duration `json:"resolveWithin,omitempty"`
}

// BurnRateAlert fires when the error budget burns faster than factor over both windows.
// +kubebuilder:validation:XValidation:rule="duration(self.shortWindow) < duration(self.longWindow)",message="shortWindow must be shorter than longWindow"
type BurnRateAlert struct {
	// longWindow is the longer look-back window, for example 1h.
	// +required
	// +kubebuilder:validation:XValidation:rule="self.matches('^-?([0-9]+(\\\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$') && duration(self) > duration('0s') && duration(self) <= duration('720h')",message="longWindow must be more than 0 and at most 720h (a duration such as 90s, 15m or 2h)"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	LongWindow metav1.Duration `json:"longWindow"`

	// shortWindow is the shorter look-back window that confirms the burn is still happening,
	// for example 5m.
	// +required
	// +kubebuilder:validation:XValidation:rule="self.matches('^-?([0-9]+(\\\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$') && duration(self) > duration('0s')",message="shortWindow must be more than 0 (a duration such as 90s, 15m or 2h)"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	ShortWindow metav1.Duration `json:"shortWindow"`

	// factor is the burn rate, as a decimal string, above which the alert fires, for example "14.4".
	// +required
	// +kubebuilder:validation:MaxLength=12
	// +kubebuilder:validation:XValidation:rule="self.matches('^[0-9]{1,6}(\\\\.[0-9]{1,4})?$') && !self.matches('^0+(\\\\.0+)?$')",message="factor must be a positive decimal string, for example \"14.4\""
	Factor string `json:"factor"`
}

// ScalingPolicy bounds replicas and scales out on SLO burn.
// +kubebuilder:validation:XValidation:rule="!has(self.minReplicas) || !has(self.maxReplicas) || self.minReplicas <= self.maxReplicas",message="minReplicas must be less than or equal to maxReplicas"
type ScalingPolicy struct {
	// minReplicas is the lowest replica count allowed for each selected workload.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10000
	MinReplicas *int32 `json:"minReplicas,omitempty"`

	// maxReplicas is the highest replica count allowed for each selected workload.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	MaxReplicas *int32 `json:"maxReplicas,omitempty"`

	// scaleOutOnBurn raises replicas while the burn-rate alert fires because pods run but are
	// not ready, and returns to the previous level once the burn has stopped.
	// +optional
	ScaleOutOnBurn *ScaleOutOnBurn `json:"scaleOutOnBurn,omitempty"`

	// drift says what to do about workloads outside the bounds: Report (default) or Correct
	// (scale into bounds through the scale subresource, as an HPA would).
	// +optional
	// +kubebuilder:default=Report
	Drift DriftPolicy `json:"drift,omitempty"`
}

// ScaleOutOnBurn is the automatic scale-out policy.
type ScaleOutOnBurn struct {
	// step is how many replicas to add at a time.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	Step int32 `json:"step,omitempty"`

	// cooldown is the minimum time between two automatic steps, and how long the burn must
	// have stopped before replicas return to their previous level.
	// +optional
	// +kubebuilder:default="5m"
	// +kubebuilder:validation:XValidation:rule="self.matches('^-?([0-9]+(\\\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$') && duration(self) >= duration('30s') && duration(self) <= duration('24h')",message="cooldown must be between 30s and 24h (a duration such as 90s, 15m or 2h)"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	Cooldown *metav1.Duration `json:"cooldown,omitempty"`
}

// DailyDowntime is the downtime booked on one day: a UTC day for a rolling window, a day of the
// calendar window's time zone for a calendar window (so that every day lies in one period).
type DailyDowntime struct {
	// date is the day, YYYY-MM-DD: in UTC for a rolling window, in the calendar window's time
	// zone for a calendar window.
	// +required
	// +kubebuilder:validation:Pattern=`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`
	Date string `json:"date"`

	// downtime is the unplanned downtime on that day.
	// +optional
	Downtime metav1.Duration `json:"downtime,omitempty"`

	// planned is the time Maintenance windows covered the service on that day, down or not;
	// it does not count against the objective.
	// +optional
	Planned metav1.Duration `json:"planned,omitempty"`

	// unobserved is the time on that day during which the service's state could not be known
	// (the operator was not running and the workloads' conditions cannot tell); it counts
	// neither as up nor as down.
	// +optional
	Unobserved metav1.Duration `json:"unobserved,omitempty"`
}

// Period is an interval of time.
type Period struct {
	// start of the period.
	// +required
	Start metav1.Time `json:"start"`

	// end of the period.
	// +required
	End metav1.Time `json:"end"`
}

// BurnRateAlertStatus is the evaluation of one burn-rate alert.
type BurnRateAlertStatus struct {
	// longWindow of the alert.
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	LongWindow metav1.Duration `json:"longWindow"`

	// shortWindow of the alert.
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	ShortWindow metav1.Duration `json:"shortWindow"`

	// factor of the alert.
	// +required
	// +kubebuilder:validation:MaxLength=16
	Factor string `json:"factor"`

	// longBurnRate is the burn rate over the long window, as a decimal string.
	// +required
	// +kubebuilder:validation:MaxLength=32
	LongBurnRate string `json:"longBurnRate"`

	// shortBurnRate is the burn rate over the short window, as a decimal string.
	// +required
	// +kubebuilder:validation:MaxLength=32
	ShortBurnRate string `json:"shortBurnRate"`

	// state is Firing while both rates exceed the factor, else OK.
	// +required
	// +kubebuilder:validation:Enum=OK;Firing
	State string `json:"state"`

	// since is when the alert entered its state.
	// +optional
	Since *metav1.Time `json:"since,omitempty"`
}

// Burn-rate alert states.
const (
	AlertOK     = "OK"
	AlertFiring = "Firing"
)

// Outage is an exact interval during which the service was down.
type Outage struct {
	// start of the outage.
	// +required
	Start metav1.Time `json:"start"`

	// end of the outage; absent while it goes on.
	// +optional
	End *metav1.Time `json:"end,omitempty"`

	// planned is true when Maintenance windows covered the whole outage.
	// +optional
	Planned bool `json:"planned,omitempty"`
}

// PeriodResult is a period report's verdict.
// +kubebuilder:validation:Enum=Met;Missed;NoData
type PeriodResult string

const (
	// PeriodMet means availability was measured and meets the objective.
	PeriodMet PeriodResult = "Met"
	// PeriodMissed means availability was measured and is below the objective.
	PeriodMissed PeriodResult = "Missed"
	// PeriodNoData means nothing was measured in the period; it claims neither met nor missed.
	PeriodNoData PeriodResult = "NoData"
)

// PeriodReport is the compliance of one calendar period.
type PeriodReport struct {
	// start of the period (inclusive).
	// +required
	Start metav1.Time `json:"start"`

	// end of the period (exclusive); for the current period, its scheduled end.
	// +required
	End metav1.Time `json:"end"`

	// availability over the period (so far, for the current one), as a percent string.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	Availability string `json:"availability,omitempty"`

	// budgetSpent is the share of the period's error budget spent, as a percent string; over
	// 100 when overspent.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	BudgetSpent string `json:"budgetSpent,omitempty"`

	// met is true when availability was measured and meets the objective (so far, for the
	// current period). It is false both for a missed objective and for a period in which
	// nothing was measured: result tells them apart.
	// +optional
	Met bool `json:"met"`

	// result is the period's verdict: Met (availability measured and meets the objective),
	// Missed (measured and below it) or NoData (nothing measured: the operator or the SLI
	// source was not observing; availability is empty). So far, for the current period.
	// Empty on reports written before the field existed: read met then.
	// +optional
	Result PeriodResult `json:"result,omitempty"`

	// complete is true once the period has ended; its figures no longer change.
	// +optional
	Complete bool `json:"complete,omitempty"`
}

// SLIStatus is the last evaluation of a Prometheus SLI.
type SLIStatus struct {
	// type of the SLI.
	// +required
	Type SLIType `json:"type"`

	// good is the number of good events over the window, as a decimal string.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	Good string `json:"good,omitempty"`

	// total is the number of events over the window, as a decimal string.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	Total string `json:"total,omitempty"`

	// lastQueryTime is when Prometheus was last queried.
	// +optional
	LastQueryTime *metav1.Time `json:"lastQueryTime,omitempty"`

	// lastError is why the last query failed (Prometheus unreachable, a query error, no
	// data); empty when it succeeded.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	LastError string `json:"lastError,omitempty"`
}

// WorkloadStatus is the observed health of one selected workload.
type WorkloadStatus struct {
	// kind of the workload.
	// +required
	Kind string `json:"kind"`

	// name of the workload.
	// +required
	Name string `json:"name"`

	// readyReplicas is the number of ready replicas.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas"`

	// replicas is the number of desired replicas.
	// +optional
	Replicas int32 `json:"replicas"`

	// unavailable says why the workload counts as down; empty while it is available.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Unavailable string `json:"unavailable,omitempty"`

	// scaling says where the workload stands against the scaling policy: drift outside the
	// bounds, an HorizontalPodAutoscaler it is left to, a cooldown; empty when nothing applies.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Scaling string `json:"scaling,omitempty"`

	// drifted is true while the workload's replicas are outside the scaling bounds.
	// +optional
	Drifted bool `json:"drifted,omitempty"`
}

// ScalingEvent records one automatic scaling step.
type ScalingEvent struct {
	// at is when the step was taken.
	// +required
	At metav1.Time `json:"at"`

	// kind of the workload.
	// +required
	Kind string `json:"kind"`

	// name of the workload.
	// +required
	Name string `json:"name"`

	// from is the replica count before the step.
	// +required
	From int32 `json:"from"`

	// to is the replica count after the step.
	// +required
	To int32 `json:"to"`

	// reason says why, for example ScaleOutOnBurn, ScaleBack or DriftCorrected.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Reason string `json:"reason"`
}

// ServiceLevelStatus holds the service's books: availability, budget, outages, scaling.
type ServiceLevelStatus struct {
	// availability over the window, as a percent string, for example "99.95".
	// +optional
	// +kubebuilder:validation:MaxLength=32
	Availability string `json:"availability,omitempty"`

	// errorBudgetRemaining is the share of the error budget left, as a percent string; negative
	// when overspent.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	ErrorBudgetRemaining string `json:"errorBudgetRemaining,omitempty"`

	// downtime is the unplanned downtime within the window.
	// +optional
	Downtime *metav1.Duration `json:"downtime,omitempty"`

	// downtimeByDay holds bounded daily totals that keep the books exact over the whole window.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=367
	DowntimeByDay []DailyDowntime `json:"downtimeByDay,omitempty"`

	// outages holds exact intervals for the recent burn-rate windows.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=200
	Outages []Outage `json:"outages,omitempty"`

	// unobservedPeriods holds exact intervals, within the recent burn-rate windows, during which
	// the service's state could not be known.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=50
	UnobservedPeriods []Period `json:"unobservedPeriods,omitempty"`

	// plannedPeriods holds exact intervals, within the recent burn-rate windows, during which
	// Maintenance windows covered the service, booked as they happened.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=50
	PlannedPeriods []Period `json:"plannedPeriods,omitempty"`

	// plannedDowntime is the time within the window Maintenance windows covered the service.
	// +optional
	PlannedDowntime *metav1.Duration `json:"plannedDowntime,omitempty"`

	// unobserved is the time within the window during which the service's state could not be
	// known; it counts neither as up nor as down.
	// +optional
	Unobserved *metav1.Duration `json:"unobserved,omitempty"`

	// trackingSince is when the books began; nothing before counts.
	// +optional
	TrackingSince *metav1.Time `json:"trackingSince,omitempty"`

	// lastObservedAt is the last time the operator observed the service's state.
	// +optional
	LastObservedAt *metav1.Time `json:"lastObservedAt,omitempty"`

	// foldedUntil: time before it is booked in downtimeByDay, time from it on in outages and
	// unobservedPeriods.
	// +optional
	FoldedUntil *metav1.Time `json:"foldedUntil,omitempty"`

	// periods are the calendar window's reports, the current period last: at most 13 (a
	// year of months, a quarter of weeks, and the current one). Set only for calendar windows.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=13
	Periods []PeriodReport `json:"periods,omitempty"`

	// sli reports the last Prometheus query of a PrometheusRatio or PrometheusLatency SLI.
	// +optional
	SLI *SLIStatus `json:"sli,omitempty"`

	// burnRate is the current burn rate over the shortest alert window, as a decimal string.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	BurnRate string `json:"burnRate,omitempty"`

	// burnRateAlerts are the evaluations of spec.burnRateAlerts.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=8
	BurnRateAlerts []BurnRateAlertStatus `json:"burnRateAlerts,omitempty"`

	// workloads lists the selected workloads and their health.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	Workloads []WorkloadStatus `json:"workloads,omitempty"`

	// scalingHistory records the latest automatic scaling steps, newest last.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=20
	ScalingHistory []ScalingEvent `json:"scalingHistory,omitempty"`

	// observedGeneration is the generation of the spec that the status reflects.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: ObjectiveMet, BudgetExhausted, ScalingConflict, ScalingDrift, RulesGenerated,
	// Ready, Reconciling, Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// ServiceLevel describes a service's SLOs and SLA targets and the scaling policies it enforces.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=sl,categories=itops
// +kubebuilder:printcolumn:name="Objective",type=string,JSONPath=`.spec.objectives.availability`
// +kubebuilder:printcolumn:name="Availability",type=string,JSONPath=`.status.availability`
// +kubebuilder:printcolumn:name="Budget-Left",type=string,JSONPath=`.status.errorBudgetRemaining`
// +kubebuilder:printcolumn:name="Burn-Rate",type=string,JSONPath=`.status.burnRate`,priority=1
// +kubebuilder:printcolumn:name="Policy",type=string,JSONPath=`.spec.budgetPolicy`,priority=1
// +kubebuilder:printcolumn:name="Last-Period",type=string,JSONPath=`.status.periods[-2].result`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ServiceLevel struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is what the service promises.
	// +required
	Spec ServiceLevelSpec `json:"spec"`

	// status is what the operator measured.
	// It defaults to observedGeneration 0, so kstatus (Flux health checks, kubectl wait)
	// reads a new object as in progress until the operator has evaluated it.
	// +kubebuilder:default={observedGeneration: 0}
	// +optional
	Status ServiceLevelStatus `json:"status,omitempty"`
}

// ServiceLevelList contains a list of ServiceLevel.
//
// +kubebuilder:object:root=true
type ServiceLevelList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ServiceLevel `json:"items"`
}

func init() {
	objectTypes = append(objectTypes, &ServiceLevel{}, &ServiceLevelList{})
}

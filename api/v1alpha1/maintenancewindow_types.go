package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// WindowType says what a MaintenanceWindow does while it is active.
// +kubebuilder:validation:Enum=Maintenance;Freeze
type WindowType string

// Window types.
const (
	// WindowMaintenance suppresses incidents on covered resources and counts as planned downtime.
	WindowMaintenance WindowType = "Maintenance"
	// WindowFreeze makes the change gate deny all but emergency changes to covered workloads.
	WindowFreeze WindowType = "Freeze"
)

// WindowPhase is where a window is in its calendar.
// +kubebuilder:validation:Enum=Scheduled;Active;Expired
type WindowPhase string

// Window phases.
const (
	WindowScheduled WindowPhase = "Scheduled"
	WindowActive    WindowPhase = "Active"
	WindowExpired   WindowPhase = "Expired"
)

// MaintenanceWindowSpec describes when a window is active and what it covers.
type MaintenanceWindowSpec struct {
	// type is Maintenance (suppress incidents, planned downtime) or Freeze (block changes).
	// +required
	Type WindowType `json:"type"`

	// description says what the window is for.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	Description string `json:"description,omitempty"`

	// timeZone is the IANA time zone in which cron schedules are evaluated, for example
	// Europe/Berlin.
	// +optional
	// +kubebuilder:default=UTC
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9_+./-]*$`
	TimeZone string `json:"timeZone,omitempty"`

	// schedules are the periods in which the window is active: one-off {start, end} or
	// recurring {cron, duration}. Several one-off dates in one window make holiday freezes easy.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	Schedules []WindowSchedule `json:"schedules"`

	// selector selects the workloads (and Nodes, for windows in the cluster namespace) the
	// window covers; empty or absent selects everything in scope.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`

	// namespaceSelector selects namespaces; honoured only for windows in the cluster namespace
	// (cluster-wide windows). Absent selects every namespace.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`
}

// WindowSchedule is either a one-off period {start, end} or a recurring one: {cron, duration}
// or {recurrence, duration}, exactly one of cron and recurrence.
// +kubebuilder:validation:XValidation:rule="(has(self.start) && has(self.end) && !has(self.cron) && !has(self.recurrence) && !has(self.duration)) || (!has(self.start) && !has(self.end) && (has(self.cron) != has(self.recurrence)) && has(self.duration))",message="a schedule is either one-off {start, end} or recurring {cron, duration} (or {recurrence, duration}; exactly one of cron and recurrence), not both and not a part of one"
// +kubebuilder:validation:XValidation:rule="!has(self.start) || !has(self.end) || self.end > self.start",message="end must be after start"
type WindowSchedule struct {
	// start of a one-off window (RFC 3339).
	// +optional
	Start *metav1.Time `json:"start,omitempty"`

	// end of a one-off window (RFC 3339), after start.
	// +optional
	End *metav1.Time `json:"end,omitempty"`

	// cron is a standard 5-field cron expression (minute hour day-of-month month day-of-week)
	// evaluated in the window's timeZone; each match opens the window for `duration`.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.matches('^\\\\s*\\\\S+(\\\\s+\\\\S+){4}\\\\s*$')",message="cron must have exactly 5 fields: minute hour day-of-month month day-of-week"
	Cron string `json:"cron,omitempty"`

	// recurrence is an RFC 5545 recurrence rule (the subset calendars use for maintenance),
	// evaluated in the window's timeZone; each start opens the window for `duration`. It says
	// what cron cannot: "the second Tuesday of the month at 02:00" is
	// FREQ=MONTHLY;BYDAY=2TU;BYHOUR=2;BYMINUTE=0 (cron's `0 2 8-14 * 2` means the 8th to the 14th
	// OR any Tuesday). Supported: FREQ=DAILY|WEEKLY|MONTHLY (INTERVAL=1 only), BYMONTH,
	// BYMONTHDAY (1 to 31, -1 to -31 from the end; MONTHLY), BYDAY (MO..SU; with an ordinal 1 to
	// 5 or -1 to -5 for MONTHLY, e.g. -1FR the last Friday), BYHOUR and BYMINUTE (lists; default
	// 0). No COUNT or UNTIL (use one-off periods), no BYSETPOS. Exactly one of cron and
	// recurrence.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:XValidation:rule="self.matches('^(RRULE:)?FREQ=')",message="recurrence must be an RFC 5545 rule starting with FREQ=, e.g. FREQ=MONTHLY;BYDAY=2TU;BYHOUR=2;BYMINUTE=0"
	Recurrence string `json:"recurrence,omitempty"`

	// duration of each recurring window, for example 2h; more than 0, at most 8760h, and at
	// most the shortest time between two starts of the schedule (a longer one would overlap
	// itself and never close; the webhook refuses it with that gap).
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.matches('^-?([0-9]+(\\\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$') && duration(self) > duration('0s') && duration(self) <= duration('8760h')",message="duration must be more than 0 and at most 8760h (a duration such as 90s, 15m or 2h)"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	Duration *metav1.Duration `json:"duration,omitempty"`
}

// MaintenanceWindowStatus is where the window is in its calendar.
type MaintenanceWindowStatus struct {
	// phase is Scheduled (a period is still to come), Active or Expired (no period left).
	// +optional
	Phase WindowPhase `json:"phase,omitempty"`

	// currentStart is when the active period started.
	// +optional
	CurrentStart *metav1.Time `json:"currentStart,omitempty"`

	// currentEnd is when the active period ends.
	// +optional
	CurrentEnd *metav1.Time `json:"currentEnd,omitempty"`

	// nextStart is when the next period starts.
	// +optional
	NextStart *metav1.Time `json:"nextStart,omitempty"`

	// nextEnd is when the next period ends.
	// +optional
	NextEnd *metav1.Time `json:"nextEnd,omitempty"`

	// coverageFrom is when the current spec took effect: the creation time for the first
	// generation, otherwise when the operator first observed the current generation. Incident
	// suppression and ServiceLevel planned downtime count only from here on, so creating or
	// editing a window never rewrites the past.
	// +optional
	CoverageFrom *metav1.Time `json:"coverageFrom,omitempty"`

	// observedGeneration is the generation of the spec that the status reflects.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, Reconciling, Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// MaintenanceWindow is a planned period of maintenance (incidents suppressed, SLO budgets
// untouched) or a change freeze (only emergency changes pass the gate).
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=mw,categories=itops
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Current-End",type=string,JSONPath=`.status.currentEnd`
// +kubebuilder:printcolumn:name="Next-Start",type=string,JSONPath=`.status.nextStart`
// +kubebuilder:printcolumn:name="Time-Zone",type=string,JSONPath=`.spec.timeZone`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type MaintenanceWindow struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the window's calendar and scope.
	// +required
	Spec MaintenanceWindowSpec `json:"spec"`

	// status is where the window is in its calendar.
	// It defaults to observedGeneration 0, so kstatus (Flux health checks, kubectl wait)
	// reads a new object as in progress until the operator has evaluated it.
	// +kubebuilder:default={observedGeneration: 0}
	// +optional
	Status MaintenanceWindowStatus `json:"status,omitempty"`
}

// MaintenanceWindowList contains a list of MaintenanceWindow.
//
// +kubebuilder:object:root=true
type MaintenanceWindowList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []MaintenanceWindow `json:"items"`
}

func init() {
	objectTypes = append(objectTypes, &MaintenanceWindow{}, &MaintenanceWindowList{})
}

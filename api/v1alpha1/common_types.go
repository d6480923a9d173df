package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Labels and annotations that are part of the public contract.
const (
	// LabelChangeControl on a Namespace puts it under change control when set to ChangeControlEnforced.
	// Removing the label is the documented break-glass procedure.
	LabelChangeControl = "itops.dev/change-control"
	// ChangeControlEnforced is the value of LabelChangeControl that enables the change gate.
	ChangeControlEnforced = "enforced"
	// LabelReason carries the automated reason of an incident the operator opened.
	LabelReason = "itops.dev/reason"
	// LabelSource carries the source of an incident the operator opened.
	LabelSource = "itops.dev/source"
	// LabelFingerprint carries spec.fingerprint of an automated incident, so that all
	// incidents of one problem are found with one label selector.
	LabelFingerprint = "itops.dev/fingerprint"
	// LabelSequence numbers the incidents of one fingerprint: 1, 2, ... (a recurrence after a
	// person resolved the previous one opens the next).
	LabelSequence = "itops.dev/sequence"
	// AnnotationPrevious, set by health detection on an incident it opens, names the incident
	// this one recurs after; the incident controller copies it into status.previous.
	AnnotationPrevious = "itops.dev/previous"
	// AnnotationDetectedAt, set by health detection on an incident it opens, is when the
	// problem started as far as the object tells (RFC 3339); it becomes status.detectedAt.
	AnnotationDetectedAt = "itops.dev/detected-at"
	// AuditFinalizer keeps an incident until its final state is in the audit trail.
	AuditFinalizer = "itops.dev/audit"

	// AnnotationOwnerTeam on a Namespace names the team that owns the incidents of services
	// without spec.owner (and of incidents without a service).
	AnnotationOwnerTeam = "itops.dev/owner-team"
	// AnnotationRunbookURL on a Namespace is the runbook of its incidents, when their
	// ServiceLevel names none.
	AnnotationRunbookURL = "itops.dev/runbook-url"
	// AnnotationEscalation on a Namespace names the route or receiver its incidents escalate
	// to, when their ServiceLevel names none.
	AnnotationEscalation = "itops.dev/escalation"

	// AnnotationPagerDutyChangeEvents on a ChangeRequest records the PagerDuty change events
	// the operator sent for it, per receiver: a comma-separated list of event/receiver
	// ("started/pd-a,started/pd-b,failed/pd-a"). Only the operator may set, change or remove
	// it (the ChangeRequest webhook refuses anyone else), so nobody can silence or repeat an
	// event by editing it.
	AnnotationPagerDutyChangeEvents = "itops.dev/pagerduty-change-events"
)

// Condition types shared by all kinds. They follow kstatus so that Flux health checks,
// Argo CD and `kubectl wait` read them as they are.
const (
	// ConditionReady is True when the object's desired state has been fully reconciled
	// (normal polarity: True is good).
	ConditionReady = "Ready"
	// ConditionReconciling is True while the controller is working towards the desired
	// state (abnormal polarity: present only while work is under way).
	ConditionReconciling = "Reconciling"
	// ConditionStalled is True when reconciliation cannot make progress without a change
	// from a person: invalid configuration, a rejected, expired or failed change
	// (abnormal polarity: True is bad).
	ConditionStalled = "Stalled"
)

// Condition reasons shared by all kinds.
const (
	// ReasonReconciled means the object was fully reconciled.
	ReasonReconciled = "Reconciled"
	// ReasonProgressing means reconciliation is under way.
	ReasonProgressing = "Progressing"
	// ReasonInvalidSpec means the spec cannot be acted upon; see the condition message.
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonInvalidSelector means a label selector of the spec is invalid (admitted while the
	// webhook was down): Stalled=True, Ready=False; the selector selects nothing.
	ReasonInvalidSelector = "InvalidSelector"
)

// Level is a three-step scale used for impact, urgency and risk.
// +kubebuilder:validation:Enum=High;Medium;Low
type Level string

// Levels.
const (
	LevelHigh   Level = "High"
	LevelMedium Level = "Medium"
	LevelLow    Level = "Low"
)

// Priority is an ITIL priority, P1 (most urgent) to P5.
// +kubebuilder:validation:Enum=P1;P2;P3;P4;P5
type Priority string

// Priorities.
const (
	PriorityP1 Priority = "P1"
	PriorityP2 Priority = "P2"
	PriorityP3 Priority = "P3"
	PriorityP4 Priority = "P4"
	PriorityP5 Priority = "P5"
)

// ObjectReference points at any Kubernetes object, namespaced or cluster-scoped.
type ObjectReference struct {
	// apiVersion of the referent, for example "apps/v1" or "v1".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	APIVersion string `json:"apiVersion"`

	// kind of the referent, for example "Deployment" or "Node".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Kind string `json:"kind"`

	// namespace of the referent; empty for cluster-scoped objects.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`

	// name of the referent.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// TimeInterval is a closed-open interval of time [start, end).
type TimeInterval struct {
	// start of the interval.
	// +required
	Start metav1.Time `json:"start"`

	// end of the interval; absent while the interval is still open.
	// +optional
	End *metav1.Time `json:"end,omitempty"`
}

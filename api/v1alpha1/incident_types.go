package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// IncidentSource says who opened an incident.
// +kubebuilder:validation:Enum=Manual;HealthCheck;ServiceLevel;ChangeGate;Alertmanager
type IncidentSource string

// Incident sources.
const (
	// SourceManual is an incident a person opened.
	SourceManual IncidentSource = "Manual"
	// SourceHealthCheck is an incident the operator opened from observed cluster health.
	SourceHealthCheck IncidentSource = "HealthCheck"
	// SourceServiceLevel is an incident opened by a ServiceLevel (error budget burn).
	SourceServiceLevel IncidentSource = "ServiceLevel"
	// SourceChangeGate is an incident opened by change management (failed or unreviewed changes,
	// change control disabled).
	SourceChangeGate IncidentSource = "ChangeGate"
	// SourceAlertmanager is an incident (or signal) from an alert Alertmanager delivered to the
	// operator's /alertmanager/v4 endpoint (docs/alertmanager.md).
	SourceAlertmanager IncidentSource = "Alertmanager"
)

// Automated incident reasons (spec.reason and the itops.dev/reason label).
const (
	ReasonCrashLoopBackOff           = "CrashLoopBackOff"
	ReasonImagePullBackOff           = "ImagePullBackOff"
	ReasonCreateContainerConfigError = "CreateContainerConfigError"
	ReasonOOMKilled                  = "OOMKilled"
	ReasonNodeNotReady               = "NodeNotReady"
	ReasonNodePressure               = "NodePressure"
	ReasonWorkloadUnavailable        = "WorkloadUnavailable"
	ReasonRolloutStuck               = "RolloutStuck"
	ReasonJobFailed                  = "JobFailed"
	ReasonVolumeClaimPending         = "VolumeClaimPending"
	ReasonVolumeClaimLost            = "VolumeClaimLost"
	ReasonErrorBudgetBurn            = "ErrorBudgetBurn"
	ReasonChangeFailed               = "ChangeFailed"
	ReasonEmergencyChangeUnreviewed  = "EmergencyChangeUnreviewed"
	ReasonChangeControlDisabled      = "ChangeControlDisabled"

	// ReasonPodUnschedulable: a pod Pending with PodScheduled=False, reason Unschedulable,
	// beyond the grace period; the message is the scheduler's. Also a pod Pending beyond the
	// grace period that nothing more specific explains: bound by no scheduler (a
	// spec.schedulerName nobody serves), or bound to a node with no container started.
	ReasonPodUnschedulable = "PodUnschedulable"
	// ReasonPodCreationFailed: a workload controller cannot create pods (FailedCreate: quota
	// exceeded, Pod Security admission, a policy engine); the message is the controller's.
	ReasonPodCreationFailed = "PodCreationFailed"
	// ReasonVolumeMountFailed: a pod stuck in ContainerCreating with FailedMount,
	// FailedAttachVolume, FailedMapVolume or FailedCreatePodSandBox Warning events.
	ReasonVolumeMountFailed = "VolumeMountFailed"
	// ReasonProbeFailing: a running pod not Ready, with readiness probe failures (Unhealthy
	// Warning events), beyond the grace period.
	ReasonProbeFailing = "ProbeFailing"
	// ReasonContainerRestarting: a container killed by the kubelet for failing its liveness
	// probe (exit 137, not OOMKilled) repeatedly, or whose restart count rose by at least N
	// within the last M minutes (detection.containerRestarting), before (or besides)
	// CrashLoopBackOff.
	ReasonContainerRestarting = "ContainerRestarting"
	// ReasonCreateContainerError: a container waiting in CreateContainerError (the runtime
	// could not create it: a name conflict, a missing mount source, a bad command).
	ReasonCreateContainerError = "CreateContainerError"
	// ReasonRunContainerError: a container waiting in RunContainerError (the runtime could not
	// start it: executable not found, permission denied).
	ReasonRunContainerError = "RunContainerError"
	// ReasonPreStartHookError: a container waiting in PreStartHookError (its runtime's
	// pre-start hook failed, e.g. a device plugin or NVIDIA hook).
	ReasonPreStartHookError = "PreStartHookError"
	// ReasonNodeCondition: a Node condition other than Ready and the memory, disk and PID
	// pressure ones reports a fault: NetworkUnavailable=True, or a Node Problem Detector
	// condition (KernelDeadlock, ReadonlyFilesystem, ...) True.
	ReasonNodeCondition = "NodeCondition"
	// ReasonCustom: an administrator-defined detector (docs/detectors.md) found its subject
	// unhealthy; the detector's own reason names the signal (status.signals[].reason).
	ReasonCustom = "Custom"
	// ReasonCertificateExpiring: a TLS Secret's leaf certificate expires within the policy's
	// detection.certificateExpiry.warnBefore, or has expired.
	ReasonCertificateExpiring = "CertificateExpiring"
	// ReasonAutoscalerLimited: a HorizontalPodAutoscaler cannot scale its target
	// (ScalingActive=False or AbleToScale=False) beyond the grace period, or has been pinned at
	// maxReplicas under load for detection.autoscalerLimited.saturatedFor. The signal is on the
	// scale target workload's incident; the message is the HPA's own condition message.
	ReasonAutoscalerLimited = "AutoscalerLimited"
	// ReasonDisruptionBlocked: a PodDisruptionBudget's configuration allows no voluntary
	// disruption (disruptionsAllowed 0 with every expected pod healthy) for
	// detection.disruptionBlocked.gracePeriod: a node drain would hang.
	ReasonDisruptionBlocked = "DisruptionBlocked"
	// ReasonCronJobMissedSchedule: a CronJob that is not suspended has a schedule or time zone
	// that does not parse, or did not start a run that was due more than its
	// startingDeadlineSeconds (else detection.cronJobMissedSchedule.gracePeriod) ago.
	ReasonCronJobMissedSchedule = "CronJobMissedSchedule"
	// ReasonMemoryNearLimit: a container's working set (metrics.k8s.io) has stayed at or above
	// detection.memoryNearLimit.thresholdPercent of its memory limit for its duration: an OOM
	// kill is near.
	ReasonMemoryNearLimit = "MemoryNearLimit"
	// ReasonServiceWithoutEndpoints: a Service with a selector (not ExternalName) whose
	// EndpointSlices list no ready endpoint for the policy's grace period
	// (detection.servicesWithoutEndpoints).
	ReasonServiceWithoutEndpoints = "ServiceWithoutEndpoints"
	// ReasonRouteBackendMissing: an Ingress, a Gateway API HTTPRoute or GRPCRoute, or a
	// Gateway refers to a backend Service or a TLS Secret that does not exist (the message
	// names each, with its field path), for the policy's grace period
	// (detection.routeBackends).
	ReasonRouteBackendMissing = "RouteBackendMissing"
	// ReasonWebhookUnavailable: a Validating- or MutatingWebhookConfiguration calls a Service
	// that does not exist, lacks the webhook's port or has no ready endpoint; with
	// failurePolicy Fail the API server rejects every request the webhook intercepts
	// (detection.webhooks).
	ReasonWebhookUnavailable = "WebhookUnavailable"
)

// IncidentReasons lists every automated incident reason above (the built-in detectors' and
// change management's signals, Custom and CertificateExpiring included). A custom detector may
// not use one (internal/config): it would rank as a built-in in the signal specificity and a
// built-in detector could clear it. Keep it complete when adding a reason; a unit test in
// internal/config checks it against every Reason* constant of this package.
var IncidentReasons = []string{
	ReasonCrashLoopBackOff, ReasonImagePullBackOff, ReasonCreateContainerConfigError, ReasonOOMKilled,
	ReasonNodeNotReady, ReasonNodePressure, ReasonWorkloadUnavailable, ReasonRolloutStuck, ReasonJobFailed,
	ReasonVolumeClaimPending, ReasonVolumeClaimLost, ReasonErrorBudgetBurn, ReasonChangeFailed,
	ReasonEmergencyChangeUnreviewed, ReasonChangeControlDisabled, ReasonPodUnschedulable,
	ReasonPodCreationFailed, ReasonVolumeMountFailed, ReasonProbeFailing, ReasonContainerRestarting,
	ReasonCreateContainerError, ReasonRunContainerError, ReasonPreStartHookError, ReasonNodeCondition,
	ReasonCustom, ReasonCertificateExpiring, ReasonAutoscalerLimited, ReasonDisruptionBlocked,
	ReasonCronJobMissedSchedule, ReasonMemoryNearLimit, ReasonServiceWithoutEndpoints,
	ReasonRouteBackendMissing, ReasonWebhookUnavailable,
}

// ConditionReasons lists the reasons of the conditions the operator sets (an incident's
// Suppressed, AutoResolved and Symptom, and the Ready and Stalled shared by all kinds). They
// are not incident reasons, but a custom detector may not use one either, so that no reason
// the operator writes is ambiguous.
var ConditionReasons = []string{
	ReasonMaintenanceWindow, ReasonWindowEnded, ReasonHealthy, ReasonCausedByIncident,
	ReasonCauseResolved, ReasonReconcileError, ReasonReconciled, ReasonProgressing,
	ReasonInvalidSpec, ReasonInvalidSelector,
}

// Suppressed condition reasons.
const (
	// ReasonMaintenanceWindow: Suppressed=True, a Maintenance window covers the incident.
	ReasonMaintenanceWindow = "MaintenanceWindow"
	// ReasonWindowEnded: Suppressed=False, the covering window ended with the problem present.
	ReasonWindowEnded = "WindowEnded"
)

// Incident condition types.
const (
	// IncidentConditionSuppressed is True while a Maintenance window covers the incident
	// (abnormal polarity: True means no SLA clock runs and no one is notified).
	IncidentConditionSuppressed = "Suppressed"
	// IncidentConditionResponseSLABreached is True once the incident was not acknowledged
	// before status.responseDueAt (abnormal polarity).
	IncidentConditionResponseSLABreached = "ResponseSLABreached"
	// IncidentConditionProblemPresent is True while health detection observes the problem of an
	// automated incident, and False (since its lastTransitionTime) once it has recovered; the
	// incident auto-resolves after it has stayed False for --resolve-after (abnormal polarity).
	IncidentConditionProblemPresent = "ProblemPresent"
	// IncidentConditionResolutionSLABreached is True once the incident was not resolved
	// before status.resolutionDueAt (abnormal polarity).
	IncidentConditionResolutionSLABreached = "ResolutionSLABreached"
)

// ResolutionCode says how an incident was resolved.
// +kubebuilder:validation:Enum=Fixed;Workaround;NoAction;Duplicate;FalsePositive
type ResolutionCode string

// Resolution codes.
const (
	ResolutionFixed         ResolutionCode = "Fixed"
	ResolutionWorkaround    ResolutionCode = "Workaround"
	ResolutionNoAction      ResolutionCode = "NoAction"
	ResolutionDuplicate     ResolutionCode = "Duplicate"
	ResolutionFalsePositive ResolutionCode = "FalsePositive"
)

// IncidentPhase is the lifecycle phase of an incident.
// +kubebuilder:validation:Enum=Open;Acknowledged;Resolved;Closed
type IncidentPhase string

// Incident phases.
const (
	IncidentOpen         IncidentPhase = "Open"
	IncidentAcknowledged IncidentPhase = "Acknowledged"
	IncidentResolved     IncidentPhase = "Resolved"
	IncidentClosed       IncidentPhase = "Closed"
)

// ResolvedByOperator is status.resolvedBy for incidents the operator resolved itself. It is
// for display only: "operator" is also a legal user name, so whether the operator resolved an
// incident is told by the AutoResolved condition, which only the incident controller sets.
const ResolvedByOperator = "operator"

// More incident condition types (wave 2).
const (
	// IncidentConditionAutoResolved is True while the incident is resolved because its problem
	// stayed healthy for --resolve-after. Only the incident controller sets it (people resolve
	// through spec.resolution), so it cannot be confused with a person whose user name is
	// "operator" (abnormal polarity: present only on auto-resolved incidents).
	IncidentConditionAutoResolved = "AutoResolved"
	// IncidentConditionSymptom is True while status.causedBy names another open Incident that
	// explains this one: a notifier never pages on a symptom on its own, and its priority is
	// capped at its cause's (abnormal polarity).
	IncidentConditionSymptom = "Symptom"
)

// Reasons of the AutoResolved, Symptom and Ready conditions.
const (
	// ReasonHealthy: AutoResolved=True, the problem stayed healthy for --resolve-after.
	ReasonHealthy = "Healthy"
	// ReasonCausedByIncident: Symptom=True, another open incident explains this one.
	ReasonCausedByIncident = "CausedByIncident"
	// ReasonCauseResolved: Symptom=False, the cause is no longer open.
	ReasonCauseResolved = "CauseResolved"
	// ReasonReconcileError: Ready=False, the last reconcile failed; the message has the error.
	ReasonReconcileError = "ReconcileError"
)

// Signal is one problem detected on an incident's subject. An incident has one signal per
// reason; a signal that clears stays listed with active=false until the incident resolves.
type Signal struct {
	// reason is the machine-readable problem, one of the automated reasons (CrashLoopBackOff,
	// OOMKilled, ...) or a custom detector's own reason.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[A-Z][A-Za-z0-9]*$`
	Reason string `json:"reason"`

	// since is when the problem was first observed (this occurrence of it).
	// +required
	Since metav1.Time `json:"since"`

	// lastSeenAt is when the problem was last observed (refreshed at most once a minute while
	// it lasts).
	// +required
	LastSeenAt metav1.Time `json:"lastSeenAt"`

	// count is how often the problem was observed to start: 1 when first seen, one more each
	// time it returns after it cleared.
	// +required
	// +kubebuilder:validation:Minimum=1
	Count int32 `json:"count"`

	// message says what is wrong, for a person.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`

	// active is true while the problem is observed.
	// +required
	Active bool `json:"active"`

	// priority is the ITIL priority of this problem alone (from its default impact and
	// urgency); the incident's priority is the highest among its active signals.
	// +optional
	Priority Priority `json:"priority,omitempty"`

	// source is where the signal comes from: HealthCheck (the operator's detectors; also when
	// empty), ServiceLevel, ChangeGate or Alertmanager (an alert received from Alertmanager,
	// see docs/alertmanager.md). An incident's spec.source says who opened it; its signals may
	// come from several sources.
	// +optional
	Source IncidentSource `json:"source,omitempty"`

	// alerts are the Alertmanager alerts that keep this signal active (source Alertmanager),
	// by fingerprint: a firing alert is added, its resolution removes it, and the signal clears
	// when none is left. Re-sent alerts are idempotent. The signal's priority is the highest of
	// its alerts'.
	// +optional
	// +listType=map
	// +listMapKey=fingerprint
	// +kubebuilder:validation:MaxItems=32
	Alerts []SignalAlert `json:"alerts,omitempty"`

	// generatorURL links to what produced the signal: the alert's generatorURL (its
	// Prometheus expression) for source Alertmanager.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	GeneratorURL string `json:"generatorURL,omitempty"`

	// runbookURL is the runbook of the signal: the alert's runbook_url annotation.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	RunbookURL string `json:"runbookURL,omitempty"`
}

// SignalAlert is one firing Alertmanager alert behind a signal.
type SignalAlert struct {
	// fingerprint is Alertmanager's fingerprint of the alert (a hash of its labels).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	Fingerprint string `json:"fingerprint"`

	// priority of the alert, from its severity label (docs/alertmanager.md).
	// +optional
	Priority Priority `json:"priority,omitempty"`

	// lastSeenAt is when Alertmanager last sent this alert firing (refreshed at most once a
	// minute). An alert not sent again within the policy's alertmanager.staleAfter is treated
	// as resolved, as Alertmanager resolves an alert its source stopped sending. Absent on
	// records written before it existed: the signal's lastSeenAt stands in.
	// +optional
	LastSeenAt *metav1.Time `json:"lastSeenAt,omitempty"`

	// endsAt is the alert's own end time, when its sender set one in the future (Alertmanager
	// itself leaves it out of firing alerts): once it has passed, the alert is resolved.
	// +optional
	EndsAt *metav1.Time `json:"endsAt,omitempty"`
}

// MaxSignalAlerts bounds a signal's alerts (fingerprints of firing Alertmanager alerts).
const MaxSignalAlerts = 32

// MaxSignals bounds status.signals: one entry per reason, so this is far more than any subject
// shows at once.
const MaxSignals = 16

// IncidentReference names an Incident, or the ChangeRequest, that explains another incident.
type IncidentReference struct {
	// kind is Incident or ChangeRequest.
	// +required
	// +kubebuilder:validation:Enum=Incident;ChangeRequest
	Kind string `json:"kind"`

	// name of the referent.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// namespace of the referent (incidents about nodes live in the cluster namespace).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`
}

// MaxEvidenceEvents bounds status.evidence.events.
const MaxEvidenceEvents = 10

// MaxEvidenceMessage bounds every message of status.evidence, in bytes.
const MaxEvidenceMessage = 512

// IncidentEvidence is what an SRE looks at first, captured when a problem is detected on the
// incident's subject (the pod that showed it first, its workload and node). It is bounded and
// holds no secrets: messages come from container terminations and Warning Events (truncated to
// 512 bytes), never environment values or Secret data; log lines only where the namespace opted
// in, redacted (previousLogs).
type IncidentEvidence struct {
	// capturedAt is when the evidence was captured (a signal started).
	// +optional
	CapturedAt *metav1.Time `json:"capturedAt,omitempty"`

	// pod is the pod the evidence was taken from (in the incident's namespace).
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Pod string `json:"pod,omitempty"`

	// lastTermination is the most recent termination of the failing container.
	// +optional
	LastTermination *ContainerTermination `json:"lastTermination,omitempty"`

	// events are the most recent Warning Events of the pod, its workload and its node,
	// deduplicated by object, reason and message, most recent first.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=10
	Events []EvidenceEvent `json:"events,omitempty"`

	// node is the node the pod ran on.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Node string `json:"node,omitempty"`

	// image is the image of the failing container (or the pod's first container).
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Image string `json:"image,omitempty"`

	// previousLogs holds the last lines of the log of the crashed container (lastTermination),
	// read once at detection through the pods/log subresource where the kubelet serves it.
	// Only in namespaces that opt in (annotation itops.dev/evidence-logs: previous, or the
	// policy's detection.evidenceLogs.mode All); bounded and redacted (docs/incidents.md,
	// "Previous container's log").
	// +optional
	PreviousLogs *ContainerLogExcerpt `json:"previousLogs,omitempty"`
}

// AnnotationEvidenceLogs on a Namespace opts its incidents in to (EvidenceLogsPrevious) or
// out of (EvidenceLogsNone) the last lines of a crashed container's log in status.evidence.
const AnnotationEvidenceLogs = "itops.dev/evidence-logs"

// Values of AnnotationEvidenceLogs.
const (
	// EvidenceLogsPrevious opts a namespace in: the previous container's log is captured.
	EvidenceLogsPrevious = "previous"
	// EvidenceLogsNone opts a namespace out, also when the policy captures logs everywhere.
	EvidenceLogsNone = "none"
)

// Bounds of status.evidence.previousLogs.
const (
	// MaxLogExcerptLines bounds previousLogs.lines (the policy's tailLines is at most this).
	MaxLogExcerptLines = 100
	// MaxLogExcerptBytes bounds the bytes of all previousLogs.lines together (the policy's
	// limitBytes is at most this).
	MaxLogExcerptBytes = 16384
	// MaxLogLine bounds each line of previousLogs.lines, in bytes; longer lines are cut.
	MaxLogLine = 512
)

// LogInstance says which instance of a container a log excerpt comes from.
// +kubebuilder:validation:Enum=Previous;Current
type LogInstance string

const (
	// LogInstancePrevious is the container's previous instance (it crashed and was restarted):
	// what `kubectl logs --previous` shows.
	LogInstancePrevious LogInstance = "Previous"
	// LogInstanceCurrent is the container's current instance, terminated and not restarted
	// (restartPolicy Never or OnFailure exhausted: a failed Job's pod).
	LogInstanceCurrent LogInstance = "Current"
)

// ContainerLogExcerpt is the tail of a crashed container's log, bounded and redacted before
// it is stored: at most tailLines lines (100) and limitBytes bytes (16 KiB) in all, each line
// at most 512 bytes; credentials replaced by [REDACTED] by the documented rule set.
type ContainerLogExcerpt struct {
	// container is the container whose log this is.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Container string `json:"container"`

	// instance is the container instance the lines come from: Previous (the one that crashed
	// before the restart) or Current (terminated, not restarted).
	// +optional
	Instance LogInstance `json:"instance,omitempty"`

	// lines are the last lines of the log, oldest first, redacted; each at most 512 bytes.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:MaxLength=512
	Lines []string `json:"lines,omitempty"`

	// truncated is true when the excerpt lost text to its bounds: older lines dropped to stay
	// within limitBytes, a line cut at 512 bytes, or more log than the reader accepts.
	// +optional
	Truncated bool `json:"truncated,omitempty"`

	// redacted counts the values replaced by [REDACTED] (credentials, tokens, keys).
	// +optional
	// +kubebuilder:validation:Minimum=0
	Redacted int32 `json:"redacted,omitempty"`

	// unavailable says why no lines could be read (the kubelet unreachable, the operator
	// forbidden to read pods/log, no previous container, the pod gone); empty when they were.
	// A failure never fails detection.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Unavailable string `json:"unavailable,omitempty"`
}

// ContainerTermination is a container's last termination, as the kubelet reported it.
type ContainerTermination struct {
	// container is the container's name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Container string `json:"container"`

	// reason is the termination reason (Error, OOMKilled, Completed, ...).
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Reason string `json:"reason,omitempty"`

	// exitCode is the container's exit code (137 is SIGKILL).
	// +optional
	ExitCode int32 `json:"exitCode,omitempty"`

	// signal is the signal that ended the container, when the runtime reports it.
	// +optional
	Signal int32 `json:"signal,omitempty"`

	// message is the termination message (the container's terminationMessagePath), at most
	// 512 bytes.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Message string `json:"message,omitempty"`

	// finishedAt is when the container terminated.
	// +optional
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`
}

// EvidenceEvent is one Warning Event (or a series of identical ones).
type EvidenceEvent struct {
	// reason is the Event's reason (FailedMount, Unhealthy, FailedCreate, ...).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	Reason string `json:"reason"`

	// message is the Event's message, at most 512 bytes.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Message string `json:"message,omitempty"`

	// count is how often the Event was seen.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Count int32 `json:"count,omitempty"`

	// lastSeen is when the Event was last seen.
	// +optional
	LastSeen *metav1.Time `json:"lastSeen,omitempty"`

	// object is the Event's object as Kind/name (Pod/web-7d9f-x2x, Node/worker-1).
	// +optional
	// +kubebuilder:validation:MaxLength=320
	Object string `json:"object,omitempty"`
}

// MaxSymptoms bounds status.symptoms.
const MaxSymptoms = 32

// IncidentSpec describes an incident: what is wrong, how bad it is, and what people did about it.
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.fingerprint) || (has(self.fingerprint) && self.fingerprint == oldSelf.fingerprint)",message="spec.fingerprint is immutable once set"
type IncidentSpec struct {
	// title is a one-line summary of the incident.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Title string `json:"title"`

	// description gives details: symptoms, affected pods, links.
	// +optional
	// +kubebuilder:validation:MaxLength=8192
	Description string `json:"description,omitempty"`

	// impact is how much of the service is affected (ITIL impact).
	// +optional
	// +kubebuilder:default=Medium
	Impact Level `json:"impact,omitempty"`

	// urgency is how quickly the business needs a resolution (ITIL urgency).
	// +optional
	// +kubebuilder:default=Medium
	Urgency Level `json:"urgency,omitempty"`

	// source says who opened the incident.
	// +optional
	// +kubebuilder:default=Manual
	Source IncidentSource `json:"source,omitempty"`

	// reason is the machine-readable cause of an automated incident, for example CrashLoopBackOff.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[A-Z][A-Za-z0-9]*$`
	Reason string `json:"reason,omitempty"`

	// fingerprint is the deduplication key of an automated incident; immutable once set.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9._:/-]+$`
	Fingerprint string `json:"fingerprint,omitempty"`

	// service is the name of a ServiceLevel in the same namespace that this incident affects;
	// its SLA sets the response and resolution deadlines.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	Service string `json:"service,omitempty"`

	// affected lists the objects this incident is about.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	Affected []ObjectReference `json:"affected,omitempty"`

	// assignee is the person or team working on the incident.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Assignee string `json:"assignee,omitempty"`

	// team is the team that owns the incident. The operator sets it (and assignee, to the
	// team) from the service's spec.owner.team, or the namespace annotation
	// itops.dev/owner-team, when it opens an incident; people may reassign.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Team string `json:"team,omitempty"`

	// assignment records who last set assignee or team, and when: stamped by the admission
	// webhook from the authenticated user and the clock, never trusted from the request.
	// +optional
	Assignment *Assignment `json:"assignment,omitempty"`

	// acknowledgement is set by a person to acknowledge the incident. `by` and `at` are stamped
	// by the admission webhook from the authenticated user and the clock.
	// +optional
	Acknowledgement *Acknowledgement `json:"acknowledgement,omitempty"`

	// resolution is set by a person to resolve the incident. `by` and `at` are stamped by the
	// admission webhook from the authenticated user and the clock.
	// +optional
	Resolution *Resolution `json:"resolution,omitempty"`
}

// Acknowledgement records who took ownership of an incident, and when.
type Acknowledgement struct {
	// by is the authenticated user who acknowledged; stamped by the webhook, never trusted from the request.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	By string `json:"by,omitempty"`

	// at is when the incident was acknowledged; stamped by the webhook.
	// +optional
	At *metav1.Time `json:"at,omitempty"`

	// note is a free-text comment.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Note string `json:"note,omitempty"`
}

// Assignment records who assigned an incident (spec.assignee, spec.team), and when.
type Assignment struct {
	// by is the authenticated user who set the assignee or team; stamped by the webhook.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	By string `json:"by,omitempty"`

	// at is when; stamped by the webhook.
	// +optional
	At *metav1.Time `json:"at,omitempty"`
}

// Resolution records who resolved an incident, how and when.
type Resolution struct {
	// by is the authenticated user who resolved; stamped by the webhook, never trusted from the request.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	By string `json:"by,omitempty"`

	// at is when the incident was resolved; stamped by the webhook.
	// +optional
	At *metav1.Time `json:"at,omitempty"`

	// code says how the incident was resolved.
	// +required
	Code ResolutionCode `json:"code"`

	// note is a free-text comment.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Note string `json:"note,omitempty"`
}

// TimelineEntry is one event in an incident's history.
type TimelineEntry struct {
	// at is when it happened.
	// +required
	At metav1.Time `json:"at"`

	// type is what happened, for example Detected, Recurred, Acknowledged, Resolved, Reopened,
	// Suppressed, Closed.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=32
	Type string `json:"type"`

	// message says it for a person.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`
}

// NotificationState is where a delivery stands.
// +kubebuilder:validation:Enum=Pending;Delivered;Failed
type NotificationState string

// Notification states.
const (
	// NotificationPending: recorded before sending; sent (again) until it settles.
	NotificationPending NotificationState = "Pending"
	// NotificationDelivered: the receiver accepted the message.
	NotificationDelivered NotificationState = "Delivered"
	// NotificationFailed: the receiver refused the message permanently, or every attempt failed.
	NotificationFailed NotificationState = "Failed"
)

// Notification transitions: the incident transitions that are sent to receivers.
const (
	NotifyOpened       = "Opened"
	NotifyRepeated     = "Repeated"
	NotifyEscalated    = "Escalated"
	NotifySLABreached  = "SLABreached"
	NotifyAcknowledged = "Acknowledged"
	NotifyResolved     = "Resolved"
	// NotifyReprioritized: the priority of a paged incident rose above the priority last sent
	// to a receiver (its sequence is 10 x the episode + the new priority's number, P1 = 1).
	NotifyReprioritized = "Reprioritized"
)

// Notification is the delivery of one incident transition to one receiver.
type Notification struct {
	// receiver is the name of the receiver in the administrator policy.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Receiver string `json:"receiver"`

	// transition is what is notified: Opened, Repeated (an unacknowledged incident, again
	// after the route's repeatInterval), Escalated, SLABreached, Acknowledged, Resolved,
	// Reprioritized (the priority rose above the one last sent to the receiver).
	// +required
	// +kubebuilder:validation:Enum=Opened;Repeated;Escalated;SLABreached;Acknowledged;Resolved;Reprioritized
	Transition string `json:"transition"`

	// sequence tells deliveries of one transition apart (0 for the first): the episode for
	// Opened, Acknowledged and Resolved (an incident that reopens after its Resolved was
	// recorded starts episode 1, 2, ...), the count for Repeated, 0 (response) or 1
	// (resolution) for SLABreached, 10 x episode + the priority's number for Reprioritized.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Sequence int32 `json:"sequence,omitempty"`

	// key is the idempotency key of the delivery, derived from the incident's uid, the
	// receiver, the transition and the sequence; receivers that deduplicate get it (webhook
	// header X-Itops-Delivery, e-mail Message-ID).
	// +required
	// +kubebuilder:validation:MaxLength=64
	Key string `json:"key"`

	// state is Pending, Delivered or Failed.
	// +required
	State NotificationState `json:"state"`

	// attempts counts the sends started.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Attempts int32 `json:"attempts,omitempty"`

	// lastError is the last failure, for a person (never a credential).
	// +optional
	// +kubebuilder:validation:MaxLength=512
	LastError string `json:"lastError,omitempty"`

	// at is when the state was last set.
	// +required
	At metav1.Time `json:"at"`

	// nextAttemptAt is when a Pending delivery is tried again (backoff with jitter).
	// +optional
	NextAttemptAt *metav1.Time `json:"nextAttemptAt,omitempty"`

	// priority is the incident's priority the message carried, set when it is sent (empty
	// while none was sent): a later rise above it is sent as Reprioritized.
	// +optional
	Priority Priority `json:"priority,omitempty"`
}

// MaxNotifications bounds status.notifications.
const MaxNotifications = 50

// MaxTimelineEntries bounds status.timeline; the first and the latest entries are kept.
const MaxTimelineEntries = 50

// IncidentStatus is the observed state of an incident.
type IncidentStatus struct {
	// phase is where the incident is in its lifecycle.
	// +optional
	Phase IncidentPhase `json:"phase,omitempty"`

	// priority is computed from impact and urgency by the ITIL matrix.
	// +optional
	Priority Priority `json:"priority,omitempty"`

	// detectedAt is when the problem was first observed.
	// +optional
	DetectedAt *metav1.Time `json:"detectedAt,omitempty"`

	// lastSeenAt is when the problem was last observed.
	// +optional
	LastSeenAt *metav1.Time `json:"lastSeenAt,omitempty"`

	// acknowledgedAt is when the incident was acknowledged.
	// +optional
	AcknowledgedAt *metav1.Time `json:"acknowledgedAt,omitempty"`

	// resolvedAt is when the incident was resolved.
	// +optional
	ResolvedAt *metav1.Time `json:"resolvedAt,omitempty"`

	// resolvedBy is the person who resolved the incident, or "operator" for auto-resolution.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	ResolvedBy string `json:"resolvedBy,omitempty"`

	// closedAt is when the incident was closed (after the retention of resolved incidents).
	// +optional
	ClosedAt *metav1.Time `json:"closedAt,omitempty"`

	// occurrences counts how often the problem was observed (recurrences while open included).
	// +optional
	// +kubebuilder:validation:Minimum=0
	Occurrences int32 `json:"occurrences,omitempty"`

	// responseDueAt is the deadline for acknowledgement, from the service's SLA.
	// +optional
	ResponseDueAt *metav1.Time `json:"responseDueAt,omitempty"`

	// resolutionDueAt is the deadline for resolution, from the service's SLA.
	// +optional
	ResolutionDueAt *metav1.Time `json:"resolutionDueAt,omitempty"`

	// suppressedBy names the MaintenanceWindow that covered the incident: its name, or
	// namespace/name for a cluster-wide window.
	// +optional
	// +kubebuilder:validation:MaxLength=317
	SuppressedBy string `json:"suppressedBy,omitempty"`

	// relatedChanges lists ChangeRequests (in the same namespace) that touched the affected
	// workloads shortly before detection.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	RelatedChanges []string `json:"relatedChanges,omitempty"`

	// previous is the name of the incident this one recurs after, if any.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Previous string `json:"previous,omitempty"`

	// signals lists every problem detected on the incident's subject, one per reason, in
	// the order first seen. spec.reason and the itops.dev/reason label name the most specific
	// active one (see docs/incidents.md for the specificity order); the incident auto-resolves
	// once none is active for --resolve-after.
	// +optional
	// +listType=map
	// +listMapKey=reason
	// +kubebuilder:validation:MaxItems=16
	Signals []Signal `json:"signals,omitempty"`

	// causedBy names the incident (kind Incident) or the change (kind ChangeRequest) that
	// explains this one; the link outlives the cause, as a record. While the cause is open, an
	// incident caused by another incident is a symptom: its Symptom condition is True, its
	// priority never exceeds its cause's, and it never notifies on its own.
	// +optional
	CausedBy *IncidentReference `json:"causedBy,omitempty"`

	// symptoms lists the incidents whose causedBy names this one (at most 32, by name).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	Symptoms []IncidentReference `json:"symptoms,omitempty"`

	// evidence is what an SRE looks at first, captured when a problem was last detected on
	// the subject (a signal started): the failing container's last termination, recent
	// Warning Events, the node and the image. Bounded; no secrets (docs/incidents.md,
	// "Evidence").
	// +optional
	Evidence *IncidentEvidence `json:"evidence,omitempty"`

	// timeline records every transition, oldest first. It is bounded: the first and the latest
	// entries are kept and timelineOmitted counts those dropped in between.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=50
	Timeline []TimelineEntry `json:"timeline,omitempty"`

	// timelineOmitted counts the timeline entries dropped to keep the timeline bounded.
	// +optional
	// +kubebuilder:validation:Minimum=0
	TimelineOmitted int32 `json:"timelineOmitted,omitempty"`

	// observedGeneration is the generation of the spec that the status reflects.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// runbookURL is the runbook of the incident's service (its ServiceLevel's
	// spec.owner.runbookURL, else the namespace annotation itops.dev/runbook-url).
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	RunbookURL string `json:"runbookURL,omitempty"`

	// escalation is the route or receiver the incident escalates to when its response SLA
	// deadline passes unacknowledged (from the ServiceLevel's spec.owner.escalation, else the
	// namespace annotation itops.dev/escalation).
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Escalation string `json:"escalation,omitempty"`

	// notifications records the deliveries of the incident's transitions to the receivers of
	// the administrator policy, one entry per (receiver, transition, sequence), written only by
	// the notification controller: Pending before a message is sent, Delivered or Failed after.
	// Bounded: the oldest settled entries are dropped first.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=50
	Notifications []Notification `json:"notifications,omitempty"`

	// conditions: Ready, Reconciling, Stalled, ProblemPresent, Suppressed, ResponseSLABreached,
	// ResolutionSLABreached, AutoResolved, Symptom.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Incident is an unplanned interruption or degradation of a service, opened automatically from
// cluster health or by a person, and followed to resolution.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=inc,categories=itops
// +kubebuilder:printcolumn:name="Priority",type=string,JSONPath=`.status.priority`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Title",type=string,JSONPath=`.spec.title`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.spec.reason`
// +kubebuilder:printcolumn:name="Caused-By",type=string,JSONPath=`.status.causedBy.name`
// +kubebuilder:printcolumn:name="Symptoms",type=string,JSONPath=`.status.symptoms[*].name`,priority=1
// +kubebuilder:printcolumn:name="Signals",type=string,JSONPath=`.status.signals[?(@.active==true)].reason`,priority=1
// +kubebuilder:printcolumn:name="Service",type=string,JSONPath=`.spec.service`,priority=1
// +kubebuilder:printcolumn:name="Seen",type=integer,JSONPath=`.status.occurrences`,priority=1
// +kubebuilder:printcolumn:name="Assignee",type=string,JSONPath=`.spec.assignee`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Incident struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is what the incident is about and what people decided.
	// +required
	Spec IncidentSpec `json:"spec"`

	// status is what the operator observed and computed.
	// It defaults to observedGeneration 0, so kstatus (Flux health checks, kubectl wait)
	// reads a new object as in progress until the operator has evaluated it.
	// +kubebuilder:default={observedGeneration: 0}
	// +optional
	Status IncidentStatus `json:"status,omitempty"`
}

// IncidentList contains a list of Incident.
//
// +kubebuilder:object:root=true
type IncidentList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Incident `json:"items"`
}

func init() {
	objectTypes = append(objectTypes, &Incident{}, &IncidentList{})
}

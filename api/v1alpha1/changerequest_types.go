package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ChangeType is the ITIL type of a change.
// +kubebuilder:validation:Enum=Standard;Normal;Emergency
type ChangeType string

// Change types.
const (
	// ChangeStandard is a pre-approved, low-risk change matching an administrator-defined pattern.
	ChangeStandard ChangeType = "Standard"
	// ChangeNormal goes through the approval workflow.
	ChangeNormal ChangeType = "Normal"
	// ChangeEmergency passes the gate and freezes at once and must be reviewed afterwards;
	// only the policy's emergency groups may raise it.
	ChangeEmergency ChangeType = "Emergency"
)

// TargetKind is a workload kind the change gate controls. A Job is a target of its own when it
// is not run from a CronJob's template (a migration, a Helm or Argo CD hook): it needs a fixed
// name, and the change follows it until it succeeds or fails.
// +kubebuilder:validation:Enum=Deployment;StatefulSet;DaemonSet;CronJob;Job
type TargetKind string

// Target kinds.
const (
	TargetDeployment  TargetKind = "Deployment"
	TargetStatefulSet TargetKind = "StatefulSet"
	TargetDaemonSet   TargetKind = "DaemonSet"
	TargetCronJob     TargetKind = "CronJob"
	TargetJob         TargetKind = "Job"
)

// ApprovalDecision is an approver's verdict.
// +kubebuilder:validation:Enum=Approve;Reject
type ApprovalDecision string

// Approval decisions.
const (
	DecisionApprove ApprovalDecision = "Approve"
	DecisionReject  ApprovalDecision = "Reject"
)

// ChangePhase is the lifecycle phase of a change.
// +kubebuilder:validation:Enum=Pending;Approved;Rejected;InProgress;Completed;Failed;Expired
type ChangePhase string

// Change phases.
const (
	ChangePending    ChangePhase = "Pending"
	ChangeApproved   ChangePhase = "Approved"
	ChangeRejected   ChangePhase = "Rejected"
	ChangeInProgress ChangePhase = "InProgress"
	ChangeCompleted  ChangePhase = "Completed"
	ChangeFailed     ChangePhase = "Failed"
	ChangeExpired    ChangePhase = "Expired"
)

// ChangeRequest condition types (besides Ready, Reconciling and Stalled).
const (
	// ChangeConditionApproved is True while the change is authorised (normal polarity): it holds
	// enough valid approvals for its current content, is a Standard change matching a policy
	// pattern, or is an Emergency change; so `kubectl wait --for=condition=Approved` works.
	ChangeConditionApproved = "Approved"
	// ChangeConditionReviewed is present on Emergency changes only: True once approvers have
	// approved the change after the fact (normal polarity).
	ChangeConditionReviewed = "Reviewed"
)

// ChangeRequest condition reasons.
const (
	// ChangeReasonAwaitingApproval: fewer valid approvals than required.
	ChangeReasonAwaitingApproval = "AwaitingApproval"
	// ChangeReasonApproved: enough valid approvals.
	ChangeReasonApproved = "Approved"
	// ChangeReasonStandardChange: pre-approved by a Standard change pattern of the policy.
	ChangeReasonStandardChange = "StandardChange"
	// ChangeReasonEmergency: an Emergency change, authorised at once and reviewed afterwards.
	ChangeReasonEmergency = "Emergency"
	// ChangeReasonAwaitingReview: an Emergency change not yet approved after the fact.
	ChangeReasonAwaitingReview = "AwaitingReview"
	// ChangeReasonRejected: an approver rejected the current content.
	ChangeReasonRejected = "Rejected"
	// ChangeReasonExpired: the approval lapsed or the schedule ended before the change was applied.
	ChangeReasonExpired = "Expired"
	// ChangeReasonRollingOut: a target changed under the change and is rolling out.
	ChangeReasonRollingOut = "RollingOut"
	// ChangeReasonCompleted: every changed target rolled out.
	ChangeReasonCompleted = "Completed"
	// ChangeReasonRolloutFailed: a changed target's rollout failed or stalled.
	ChangeReasonRolloutFailed = "RolloutFailed"
	// ChangeReasonRolledBack: a target was rolled back (kubectl rollout undo) while the change
	// was in progress; the change ends Failed, and its Ready message says by whom and to which
	// revision.
	ChangeReasonRolledBack = "RolledBack"
	// ChangeReasonPartiallyApplied: the schedule or approval lifetime ended with some targets
	// never applied; the applied ones rolled out. status.unapplied lists the others.
	ChangeReasonPartiallyApplied = "PartiallyApplied"
	// ChangeReasonReconcileError: the controller could not evaluate the change (Ready=False, the
	// message is the error); it retries with backoff.
	ChangeReasonReconcileError = "ReconcileError"
)

// Annotations the change gate's mutating webhooks maintain. Both are overwritten at every
// admission, so they cannot be forged through the API while the webhooks run.
const (
	// AnnotationChangeRequest, on a workload: the ChangeRequest under which its latest change
	// was admitted.
	AnnotationChangeRequest = "itops.dev/change-request"
	// AnnotationBudgetWarning, on a workload: the exhausted error budgets (budgetPolicy Warn)
	// its latest change was admitted despite.
	AnnotationBudgetWarning = "itops.dev/error-budget-warning"
	// AnnotationRolledBackChange, on a workload: the ChangeRequest whose change the latest
	// rollback (kubectl rollout undo, admitted without a change) undid. Set with
	// AnnotationRolledBackBy and AnnotationRolledBackRevision by the gate's mutating webhook
	// and kept from the previous object otherwise, so they cannot be forged either.
	AnnotationRolledBackChange = "itops.dev/rolled-back-change"
	// AnnotationRolledBackBy, on a workload: the user who made the latest rollback.
	AnnotationRolledBackBy = "itops.dev/rolled-back-by"
	// AnnotationRolledBackRevision, on a workload: the revision (ReplicaSet or
	// ControllerRevision number) the latest rollback restored, a decimal integer.
	AnnotationRolledBackRevision = "itops.dev/rolled-back-revision"
	// AnnotationRolledBackAt, on a workload: when the latest rollback was admitted (RFC 3339),
	// so that a later change of the same name is not taken for the one rolled back.
	AnnotationRolledBackAt = "itops.dev/rolled-back-at"
	// AnnotationContentGeneration, on a ChangeRequest: the metadata.generation at which its
	// content (spec other than approvals, requestedBy and editedBy) last changed. Approvals given at an
	// older generation no longer count.
	AnnotationContentGeneration = "itops.dev/content-generation"
	// AnnotationRestartedAt is the pod template annotation `kubectl rollout restart` sets.
	AnnotationRestartedAt = "kubectl.kubernetes.io/restartedAt"
)

// ChangeRequestSpec describes a change: what it touches, when, and who approved it.
// +kubebuilder:validation:XValidation:rule="has(self.requestedBy) == has(oldSelf.requestedBy) && (!has(self.requestedBy) || self.requestedBy == oldSelf.requestedBy)",message="spec.requestedBy is immutable: it is stamped at creation"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.approvals) || (has(self.approvals) && oldSelf.approvals.all(o, self.approvals.exists(n, n.approver == o.approver && (has(n.generation) ? n.generation : 0) >= (has(o.generation) ? o.generation : 0) && (n.decision == o.decision || (has(n.generation) ? n.generation : 0) > (has(o.generation) ? o.generation : 0)))))",message="spec.approvals is append-only: an approval cannot be removed, and a decision can only be changed for a newer generation; add your decision with kubectl itops approve|reject"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.editedBy) || (has(self.editedBy) && oldSelf.editedBy.all(o, self.editedBy.exists(n, n.user == o.user && n.generation >= o.generation)))",message="spec.editedBy is the record of who edited this change's content: entries cannot be removed (it is stamped by the admission webhook)"
type ChangeRequestSpec struct {
	// title is a one-line summary of the change.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Title string `json:"title"`

	// description says what changes, why, and how to roll back.
	// +optional
	// +kubebuilder:validation:MaxLength=8192
	Description string `json:"description,omitempty"`

	// type is the ITIL change type.
	// +optional
	// +kubebuilder:default=Normal
	Type ChangeType `json:"type,omitempty"`

	// risk drives the number of approvals the administrator policy requires.
	// +optional
	// +kubebuilder:default=Medium
	Risk Level `json:"risk,omitempty"`

	// targets are the workloads, in this namespace, that the change may modify.
	// +optional
	// +listType=map
	// +listMapKey=kind
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	Targets []ChangeTarget `json:"targets,omitempty"`

	// schedule is the window in which the change may be applied. Without one, approvals lapse
	// after the policy's approval lifetime.
	// +optional
	Schedule *ChangeSchedule `json:"schedule,omitempty"`

	// approvalPolicy can only make the administrator's policy stricter, never looser.
	// +optional
	ApprovalPolicy *ChangeApprovalPolicy `json:"approvalPolicy,omitempty"`

	// requester is the declared author of the change (for example the Git author of a GitOps
	// change). Informational, but separation of duties also refuses it as an approver.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Requester string `json:"requester,omitempty"`

	// approvals is append-only: entries cannot be removed, and an approver's decision can only
	// change together with a newer generation (a new decision on revised content). `approver`,
	// `at` and `generation` are stamped by the admission webhook from the authenticated user,
	// the clock and the object's generation. Add a decision with `kubectl itops approve|reject`,
	// a JSON patch adding to /spec/approvals/-, or a merge patch sending only your own entry
	// (earlier entries are kept). It is a map keyed by approver, so
	// server-side-apply GitOps tools leave entries they do not own alone.
	// +optional
	// +listType=map
	// +listMapKey=approver
	// +kubebuilder:validation:MaxItems=32
	Approvals []Approval `json:"approvals,omitempty"`

	// requestedBy is the authenticated user who created the change; stamped at creation, immutable.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	RequestedBy string `json:"requestedBy,omitempty"`

	// editedBy lists everyone who changed the change's content (spec other than approvals,
	// requestedBy and editedBy) after its creation: one entry per authenticated user, with the
	// generation and time of their latest content edit. Stamped by the mutating webhook from the
	// authenticated user whenever an update changes the content; whatever a request sends here
	// is replaced by the stored record (so an apply from Git that leaves it out keeps it), and
	// entries are never removed. Separation of duties refuses every editor as an approver: who
	// wrote any part of the content does not approve it. At most 16 people (MaxContentEditors)
	// are recorded: a further person's content edit is refused (raise a new ChangeRequest).
	// +optional
	// +listType=map
	// +listMapKey=user
	// +kubebuilder:validation:MaxItems=16
	EditedBy []ContentEdit `json:"editedBy,omitempty"`
}

// MaxContentEditors is the most editors spec.editedBy records (its MaxItems).
const MaxContentEditors = 16

// ContentEdit records that a user changed a ChangeRequest's content.
type ContentEdit struct {
	// user is the authenticated user who changed the content (as the API server authenticated
	// them: a person or a ServiceAccount).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	User string `json:"user"`

	// generation is the metadata.generation the user's latest content edit gave the change.
	// +required
	// +kubebuilder:validation:Minimum=1
	Generation int64 `json:"generation"`

	// at is when the user's latest content edit was admitted.
	// +optional
	At *metav1.Time `json:"at,omitempty"`
}

// ChangeTarget is a workload the change may modify.
type ChangeTarget struct {
	// kind of the workload.
	// +required
	Kind TargetKind `json:"kind"`

	// name of the workload, in the ChangeRequest's namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	Name string `json:"name"`

	// containers pins the content of the change: when set, only a pod template whose
	// containers run exactly these images is admitted under this change.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	Containers []ContainerPin `json:"containers,omitempty"`
}

// ContainerPin names the image a container must run.
type ContainerPin struct {
	// name of the container (init containers included).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// image the container must run, for example registry.example.com/shop/api:1.4.2.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image"`
}

// ChangeSchedule is the window in which a change may be applied.
// +kubebuilder:validation:XValidation:rule="self.end > self.start",message="schedule.end must be after schedule.start"
type ChangeSchedule struct {
	// start of the window (RFC 3339).
	// +required
	Start metav1.Time `json:"start"`

	// end of the window (RFC 3339), after start.
	// +required
	End metav1.Time `json:"end"`
}

// ChangeApprovalPolicy tightens the administrator's approval policy for one change.
type ChangeApprovalPolicy struct {
	// required is the minimum number of approvals; the larger of this and the policy's wins.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10
	Required *int32 `json:"required,omitempty"`

	// approverGroups further restricts who may approve: an approver must belong to one of these
	// groups and to the policy's approver groups.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=256
	ApproverGroups []string `json:"approverGroups,omitempty"`
}

// Approval is one approver's decision.
type Approval struct {
	// approver is the authenticated user who gave the decision. Leave it out (or empty): the
	// mutating webhook stamps it from the authenticated user; a value naming anyone else is
	// refused. Giving a decision requires the RBAC verb `approve` on changerequests.itops.dev
	// in the namespace (ClusterRole itops-approver). Required in the stored object.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Approver string `json:"approver"`

	// decision is Approve or Reject. A single Reject rejects the change.
	// +required
	Decision ApprovalDecision `json:"decision"`

	// comment explains the decision.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Comment string `json:"comment,omitempty"`

	// at is when the decision was given; stamped by the webhook.
	// +optional
	At *metav1.Time `json:"at,omitempty"`

	// generation is the ChangeRequest's metadata.generation when the decision was given;
	// stamped by the webhook. Because approvals live in spec, each one bumps the generation, so
	// an approval counts while no content change (a change to anything in spec other than
	// approvals, requestedBy and editedBy) happened after it: while generation >= status.contentGeneration.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Generation int64 `json:"generation,omitempty"`
}

// AppliedChange records a target that was modified under this change.
type AppliedChange struct {
	// kind of the workload.
	// +required
	Kind TargetKind `json:"kind"`

	// name of the workload.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// generation of the workload after the change.
	// +optional
	Generation int64 `json:"generation,omitempty"`

	// at is when the change was admitted.
	// +optional
	At *metav1.Time `json:"at,omitempty"`

	// budgetWarning names the exhausted error budgets (budgetPolicy Warn) of the services the
	// target belongs to, which the change was admitted despite.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	BudgetWarning string `json:"budgetWarning,omitempty"`

	// outcome is the target's final state under this change, recorded when the controller
	// first sees it, so that it holds when the target is deleted afterwards (a Job removed by
	// ttlSecondsAfterFinished or a Helm hook-succeeded policy): RolledOut, Failed, or Deleted
	// (the target disappeared after it was applied before an outcome was seen, or was deleted
	// while this change authorised it). Empty while the rollout is followed.
	// +optional
	Outcome TargetOutcome `json:"outcome,omitempty"`
}

// TargetOutcome is the final state of a target under a change.
// +kubebuilder:validation:Enum=RolledOut;Failed;Deleted
type TargetOutcome string

// Target outcomes.
const (
	// OutcomeRolledOut: the target rolled out (a Job: succeeded).
	OutcomeRolledOut TargetOutcome = "RolledOut"
	// OutcomeFailed: the target's rollout failed (a Job: failed).
	OutcomeFailed TargetOutcome = "Failed"
	// OutcomeDeleted: the target was deleted under the change, or disappeared after it was
	// applied before its outcome was seen.
	OutcomeDeleted TargetOutcome = "Deleted"
)

// TargetReference names one of a change's targets.
type TargetReference struct {
	// kind of the workload.
	// +required
	Kind TargetKind `json:"kind"`

	// name of the workload.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// ChangeRequestStatus is the observed state of a change.
type ChangeRequestStatus struct {
	// phase is where the change is in its lifecycle.
	// +optional
	Phase ChangePhase `json:"phase,omitempty"`

	// approvalSummary is valid approvals over required ones, for example "1/2".
	// +optional
	// +kubebuilder:validation:MaxLength=16
	ApprovalSummary string `json:"approvalSummary,omitempty"`

	// contentGeneration is the metadata.generation at which the change's content (spec other
	// than approvals, requestedBy and editedBy) last changed; approvals given at an older generation no
	// longer count.
	// +optional
	// +kubebuilder:validation:Minimum=0
	ContentGeneration int64 `json:"contentGeneration,omitempty"`

	// contentHash is a hash of the change's content, by which the controller notices content changes.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	ContentHash string `json:"contentHash,omitempty"`

	// approvedAt is when the change reached its required approvals.
	// +optional
	ApprovedAt *metav1.Time `json:"approvedAt,omitempty"`

	// startedAt is when a target first changed under this change.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`

	// completedAt is when the change completed or failed.
	// +optional
	CompletedAt *metav1.Time `json:"completedAt,omitempty"`

	// applied lists the targets modified under this change.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	Applied []AppliedChange `json:"applied,omitempty"`

	// present lists the targets the controller has seen exist while the change was authorised
	// (approved and within its schedule or approval lifetime), so that a target that then
	// disappears is recorded in applied as deleted under this change (outcome Deleted): the gate
	// admits a person's delete of a target only under a change.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	Present []TargetReference `json:"present,omitempty"`

	// unapplied lists the targets never applied under this change when its schedule or approval
	// lifetime ended (or when it failed) before every target was applied; empty while the
	// change may still apply them, and when every target was applied.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	Unapplied []TargetReference `json:"unapplied,omitempty"`

	// incidents lists incidents (in the same namespace) linked to this change.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	Incidents []string `json:"incidents,omitempty"`

	// observedGeneration is the generation of the spec that the status reflects.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Approved, Ready, Reconciling, Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// ChangeRequest is an ITIL change: approved by people, admitted by the change gate, and
// followed by the operator until its rollout completes or fails.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=chg,categories=itops
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Risk",type=string,JSONPath=`.spec.risk`
// +kubebuilder:printcolumn:name="Approvals",type=string,JSONPath=`.status.approvalSummary`
// +kubebuilder:printcolumn:name="Title",type=string,JSONPath=`.spec.title`
// +kubebuilder:printcolumn:name="Requested-By",type=string,JSONPath=`.spec.requestedBy`,priority=1
// +kubebuilder:printcolumn:name="Start",type=string,JSONPath=`.spec.schedule.start`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ChangeRequest struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the change and its approvals.
	// +required
	Spec ChangeRequestSpec `json:"spec"`

	// status is what the operator observed and computed.
	// It defaults to observedGeneration 0, so kstatus (Flux health checks, kubectl wait)
	// reads a new object as in progress until the operator has evaluated it.
	// +kubebuilder:default={observedGeneration: 0}
	// +optional
	Status ChangeRequestStatus `json:"status,omitempty"`
}

// ChangeRequestList contains a list of ChangeRequest.
//
// +kubebuilder:object:root=true
type ChangeRequestList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ChangeRequest `json:"items"`
}

func init() {
	objectTypes = append(objectTypes, &ChangeRequest{}, &ChangeRequestList{})
}

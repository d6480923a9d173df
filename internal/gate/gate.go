// Package gate is the change gate's decision: may this create, update or delete of a
// Deployment, StatefulSet, DaemonSet or CronJob (or of what else runs an image: a Pod, an
// ephemeral container, a ReplicaSet, a Job) in a change-controlled namespace go ahead, and if
// not, exactly what is missing. It is a pure function of the request, the ChangeRequests
// that target the workload, the administrator policy, active freezes, exhausted error budgets
// and the clock; the admission webhook gathers those from informer caches.
package gate

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/change"
	"github.com/itops-dev/itops-operator/internal/config"
)

// Operation is the admission operation.
type Operation string

// Operations the gate sees.
const (
	Create Operation = "CREATE"
	Update Operation = "UPDATE"
	Delete Operation = "DELETE"
)

// Exemptions: why a request passes without a change. Decision.Exemption holds one of these;
// for operational controls, ExemptOperational followed by the controls made
// ("Operational: Scale+Restart").
const (
	// ExemptRollback: the pod template goes back to one of the workload's own earlier
	// revisions that was not made under a change that failed or was rolled back
	// (failedRevision).
	ExemptRollback = "Rollback"
	// ExemptOperational prefixes the operational controls an update makes (see Operational).
	ExemptOperational = "Operational"
	// ExemptControlPlane: the request comes from the cluster's own controllers (see ControlPlane).
	ExemptControlPlane = "ControlPlane"
	// ExemptNamespaceTerminating: a delete in a namespace being deleted.
	ExemptNamespaceTerminating = "NamespaceTerminating"
	// ExemptRunCronJob: a Job created from a gated CronJob's own job spec (kubectl create job
	// --from=cronjob/...), unless the CronJob is suspended.
	ExemptRunCronJob = "RunCronJob"
	// ExemptMirrorPod: the kubelet's mirror of a static pod (the node's own manifest).
	ExemptMirrorPod = "MirrorPod"
	// ExemptTrustedController: a Pod, ReplicaSet or Job created or changed by a controller the
	// administrator policy trusts (config.ChangePolicy.TrustedControllers).
	ExemptTrustedController = "TrustedController"
	// ExemptNotGated: a delete of a Pod, ReplicaSet or Job: stopping something is not a change.
	ExemptNotGated = "NotGated"
	// ExemptStatus: a write to a workload's status subresource that leaves the gate's change
	// record (RecordedAnnotations) alone. Not recorded in the audit trail.
	ExemptStatus = "Status"
)

// Caller is the authenticated user of a request.
type Caller struct {
	Username string
	Groups   []string
}

// controlPlaneAccounts are the kube-controller-manager's controllers' ServiceAccounts in
// kube-system (with --use-service-account-credentials) whose requests the gate lets through.
var controlPlaneAccounts = []string{
	"namespace-controller", "generic-garbage-collector", "deployment-controller", "replicaset-controller",
	"statefulset-controller", "daemon-set-controller", "job-controller", "cronjob-controller",
	"ttl-after-finished-controller", "disruption-controller", "replication-controller",
}

// ControlPlaneUsers are the identities ControlPlane accepts, for the webhook configuration's
// matchConditions (hack/webhook-selectors.sh keeps the same list).
func ControlPlaneUsers() []string {
	out := make([]string, 0, 1+len(controlPlaneAccounts))
	out = append(out, "system:kube-controller-manager")
	for _, sa := range controlPlaneAccounts {
		out = append(out, "system:serviceaccount:kube-system:"+sa)
	}
	return out
}

// ControlPlane reports whether the caller is the cluster's own machinery: the
// kube-controller-manager (system:kube-controller-manager, or one of its controllers'
// ServiceAccounts in kube-system: the namespace controller, the garbage collector, the workload
// controllers...). Their requests carry out what was already admitted (the pods of an admitted
// Deployment, the deletion of a namespace someone deleted) and pass the gate, recorded in the
// audit trail. Only a cluster administrator can act as these identities.
func ControlPlane(c Caller) bool {
	return slices.Contains(ControlPlaneUsers(), c.Username)
}

// Request is one admission request for a workload.
type Request struct {
	Operation Operation
	Kind      itopsv1alpha1.TargetKind
	Namespace string
	// Name is the object's name, from the object itself (a collection delete's items come
	// with an empty request name).
	Name string
	// SubResource is "", "ephemeralcontainers" (kubectl debug on a Pod) or "status" (a
	// workload's status subresource, which can change its metadata too).
	SubResource string
	// Old and New are the workload before and after (Old nil on create, New nil on delete).
	Old, New *Object
	Caller   Caller
}

// NamespaceState is what the gate knows of the request's namespace.
type NamespaceState struct {
	// Terminating: the namespace has a deletionTimestamp (phase Terminating).
	Terminating bool
}

// Freeze is a Freeze window that covers the workload as it was (Old) or as it will be (New).
type Freeze struct {
	Namespace, Name string
	Until           time.Time
	// Active: the window is active now (only active windows block).
	Active bool
	// Old and New: the window covers the workload's old labels, its new labels.
	Old, New bool
}

// Budget is a ServiceLevel that selects the workload as it was (Old) or will be (New).
type Budget struct {
	Name string
	// Remaining is the budget left, a percent string such as "-12.5".
	Remaining string
	// Exhausted: its BudgetExhausted condition is True.
	Exhausted bool
	// Policy is its budgetPolicy (None, Warn, FreezeChanges).
	Policy itopsv1alpha1.BudgetPolicy
	// Old and New: it selects the workload's old labels, its new labels.
	Old, New bool
}

// Inputs is what the gate decides with.
type Inputs struct {
	// Changes are the ChangeRequests in the namespace that target the workload.
	Changes []itopsv1alpha1.ChangeRequest
	// Policy is the administrator's change policy for the namespace.
	Policy    config.ChangePolicy
	Namespace NamespaceState
	// Freezes are the Freeze windows, and Budgets the ServiceLevels, covering the workload's
	// old or new labels.
	Freezes []Freeze
	Budgets []Budget
	// Revisions are the workload's earlier pod templates, read only for rollback-shaped updates
	// (RollbackShaped).
	Revisions []Revision
	// OwnerCronJob is, for a Job whose controller is a CronJob of the namespace (matched by
	// UID), that CronJob; nil otherwise.
	OwnerCronJob *CronJobOwner
	Now          time.Time
}

// CronJobOwner is what the gate needs of the CronJob a Job names as its controller.
type CronJobOwner struct {
	// JobSpec is the CronJob's spec.jobTemplate.spec as decoded JSON.
	JobSpec map[string]any
	// Suspended: its spec.suspend is true (the documented emergency stop).
	Suspended bool
}

// Rollback is a rollback the gate admitted: of which change (the one the workload was last
// changed under, "" if none) and to which revision.
type Rollback struct {
	Change   string
	Revision int64
}

// Decision is the gate's verdict.
type Decision struct {
	Allowed bool
	// Exemption names why the request needed no change ("" if it did).
	Exemption string
	// Change is the authorising ChangeRequest.
	Change string
	// Emergency is set when the authorising change is an Emergency change.
	Emergency bool
	// RolledBack is set when the request is an admitted rollback.
	RolledBack *Rollback
	// Warnings are the exhausted error budgets under budgetPolicy Warn a change is admitted
	// despite, one sentence each.
	Warnings []string
	// Problems say what is missing, one sentence each (empty when allowed).
	Problems []string
}

// Message is the denial message.
func (d Decision) Message(req Request) string {
	if d.Allowed {
		return ""
	}
	return fmt.Sprintf("itops change control: %s of %s %s/%s denied: %s",
		strings.ToLower(string(req.Operation)), req.Kind, req.Namespace, req.Name, strings.Join(d.Problems, "; "))
}

// Decide is the gate: a pure function of the request and everything it is judged on. In order:
//
//  0. a status write passes unless it changes the gate's change record (decideStatus);
//  1. the cluster's own controllers pass (ControlPlane), and so does any delete in a
//     terminating namespace: the gate never wedges namespace deletion or garbage collection;
//  2. Pods, ReplicaSets and Jobs of the controllers the administrator trusts
//     (TrustedControllers: Argo Rollouts, Tekton...) pass; what else runs an image without a
//     gated workload owning it (bare Pods, ReplicaSets, ephemeral containers) is judged by
//     decideUnowned; a Job run from a CronJob's own job spec passes unless the CronJob is suspended,
//     and any other Job is a target like the workloads (a deleted Job is not gated);
//  3. operational controls (Operational: scale, suspend/resume, pause/resume, restart, label and
//     annotation edits) pass, unless the edit takes the workload out of a Freeze window's or a
//     ServiceLevel's selection: that is a change;
//  4. a rollback to one of the workload's own revisions passes, during freezes too, and undoes
//     the change the workload was last changed under (unless another change authorises the
//     update), unless the revision was made under a change that failed or was rolled back
//     (failedRevision): a second kubectl rollout undo would redeploy the failed change;
//  5. anything else needs a ChangeRequest authorising it now, and, unless it is an Emergency
//     change, no active freeze or exhausted FreezeChanges budget covering the workload as it was
//     or as it will be.
func Decide(req Request, in Inputs) Decision {
	if req.SubResource == "status" {
		return decideStatus(req)
	}
	if ControlPlane(req.Caller) {
		return Decision{Allowed: true, Exemption: ExemptControlPlane}
	}
	if req.Operation == Delete && in.Namespace.Terminating {
		return Decision{Allowed: true, Exemption: ExemptNamespaceTerminating}
	}
	switch {
	case (req.Kind == KindPod || req.Kind == KindReplicaSet || req.Kind == KindJob || req.Kind == KindControllerRevision) && req.SubResource == "" &&
		slices.Contains(in.Policy.TrustedControllers, req.Caller.Username):
		return Decision{Allowed: true, Exemption: ExemptTrustedController}
	case req.Kind == KindPod || req.Kind == KindReplicaSet || req.Kind == KindReplicationController || req.Kind == KindControllerRevision ||
		(req.Kind == KindJob && req.Operation == Delete):
		return decideUnowned(req)
	case req.Kind == KindJob && runsCronJob(req, in) && !in.OwnerCronJob.Suspended:
		return Decision{Allowed: true, Exemption: ExemptRunCronJob}
	}
	var left []string
	if req.Operation == Update {
		left = leaves(in)
	}
	if ops := Operational(req.Operation, req.Old, req.New); ops != nil && len(left) == 0 {
		return Decision{Allowed: true, Exemption: ExemptOperational + ": " + strings.Join(ops, "+")}
	}

	changes := append([]itopsv1alpha1.ChangeRequest(nil), in.Changes...)
	sort.Slice(changes, func(i, j int) bool { return changes[i].Name < changes[j].Name })
	var problems []string
	var authorising *itopsv1alpha1.ChangeRequest
	for i := range changes {
		cr := &changes[i]
		if why := authorises(cr, req, in); why != "" {
			problems = append(problems, why)
			continue
		}
		authorising = cr
		break
	}

	if RollbackShaped(req.Operation, req.Old, req.New) {
		recorded := req.Old.Annotations[itopsv1alpha1.AnnotationChangeRequest]
		// Another approved change that would authorise the update counts instead, unless a
		// freeze or an exhausted budget holds it: then the rollback is what it is, the way back.
		viaChange := authorising != nil && authorising.Name != recorded &&
			(authorising.Spec.Type == itopsv1alpha1.ChangeEmergency || !holds(in))
		if rev, ok := RollbackTo(req.Old, req.New, in.Revisions); ok && len(left) == 0 && !viaChange {
			if why := failedRevision(rev, req.Old, in.Changes); why != "" {
				problems = append(problems, why)
			} else {
				return Decision{Allowed: true, Exemption: ExemptRollback, RolledBack: &Rollback{Change: recorded, Revision: rev.Number}}
			}
		}
	}

	if authorising == nil && req.Kind == KindJob && runsCronJob(req, in) {
		problems = append(problems, fmt.Sprintf("CronJob %s is suspended (its emergency stop), so running it by hand needs a ChangeRequest listing Job %s; or resume the CronJob",
			req.New.Owner.Name, req.Name))
	}
	if authorising == nil && len(changes) == 0 {
		problems = append(problems, fmt.Sprintf("no ChangeRequest in namespace %s targets %s %s: create one listing it in spec.targets and have it approved",
			req.Namespace, req.Kind, req.Name))
	}
	if len(left) > 0 {
		problems = append(problems, fmt.Sprintf("the edit takes the workload out of the selection of %s: that is a change, not a metadata edit",
			strings.Join(left, " and ")))
	}
	emergency := authorising != nil && authorising.Spec.Type == itopsv1alpha1.ChangeEmergency
	var warnings []string
	for _, b := range in.Budgets {
		if b.Exhausted && b.Policy == itopsv1alpha1.BudgetPolicyWarn {
			warnings = append(warnings, fmt.Sprintf("error budget of ServiceLevel %s is exhausted (%s%% left)", b.Name, b.Remaining))
		}
	}
	if !emergency {
		blocked := make([]string, 0, len(in.Freezes)+len(in.Budgets))
		for _, f := range in.Freezes {
			if f.Active {
				blocked = append(blocked, fmt.Sprintf("freeze window %s/%s is active until %s: only Emergency changes pass",
					f.Namespace, f.Name, f.Until.UTC().Format(time.RFC3339)))
			}
		}
		for _, b := range in.Budgets {
			if b.Exhausted && b.Policy == itopsv1alpha1.BudgetPolicyFreezeChanges {
				blocked = append(blocked, fmt.Sprintf("the error budget of service %s is exhausted (%s%% remaining, budgetPolicy FreezeChanges): only Emergency changes pass",
					b.Name, b.Remaining))
			}
		}
		if len(blocked) > 0 {
			sort.Strings(blocked) // the cache lists in no particular order; messages must not flap
			if authorising != nil {
				blocked = append([]string{fmt.Sprintf("ChangeRequest %s is approved, but", authorising.Name)}, blocked...)
				out := []string{strings.Join(blocked, " ")}
				if len(left) > 0 {
					out = append(out, problems[len(problems)-1]) // the selection it leaves
				}
				return Decision{Problems: out}
			}
			problems = append(problems, blocked...)
		}
	}
	if authorising == nil {
		return Decision{Problems: problems}
	}
	return Decision{Allowed: true, Change: authorising.Name, Emergency: emergency, Warnings: warnings}
}

// failedRevision says why restoring rev is no rollback, or "" if it is one: a revision made
// under a change that failed or was rolled back (its ChangeRequest is Failed, or the workload
// records that change as rolled back, before the change controller has seen it) is the failed
// change itself, and "rolling back" to it (a second kubectl rollout undo) redeploys it. Only a
// revision made under no change, or under a change that did not fail, is a known-good state the
// rollback exemption may restore, freezes included (the classic emergency action).
func failedRevision(rev Revision, before *Object, changes []itopsv1alpha1.ChangeRequest) string {
	if rev.Change == "" {
		return ""
	}
	failed := before != nil && before.Annotations[itopsv1alpha1.AnnotationRolledBackChange] == rev.Change
	for _, cr := range changes {
		if cr.Name == rev.Change && cr.Status.Phase == itopsv1alpha1.ChangeFailed {
			failed = true
		}
	}
	if !failed {
		return ""
	}
	return fmt.Sprintf("revision %d was made under ChangeRequest %s, which failed or was rolled back: restoring it redeploys that change, which needs a new ChangeRequest (a rollback may only restore a revision that did not fail)",
		rev.Number, rev.Change)
}

// decideStatus judges a write to a workload's status subresource, which Kubernetes lets change
// the object's metadata too: it may not change the gate's change record
// (RecordedAnnotations), whoever writes it (the control plane's status writers never do), or
// anyone could mark a workload as changed under, or rolled back from, any change.
func decideStatus(req Request) Decision {
	if req.Old != nil && req.New != nil {
		if key := changedRecord(req.Old, req.New); key != "" {
			return Decision{Problems: []string{fmt.Sprintf("annotation %s is the change gate's record and cannot be changed through the status subresource", key)}}
		}
	}
	return Decision{Allowed: true, Exemption: ExemptStatus}
}

// holds reports whether an active freeze or an exhausted FreezeChanges budget covers the
// workload: non-emergency changes are held.
func holds(in Inputs) bool {
	for _, f := range in.Freezes {
		if f.Active {
			return true
		}
	}
	for _, b := range in.Budgets {
		if b.Exhausted && b.Policy == itopsv1alpha1.BudgetPolicyFreezeChanges {
			return true
		}
	}
	return false
}

// leaves names the Freeze windows and ServiceLevels that cover the workload as it was but not
// as it will be (meaningful for updates only).
func leaves(in Inputs) []string {
	var out []string
	for _, f := range in.Freezes {
		if f.Old && !f.New {
			out = append(out, fmt.Sprintf("freeze window %s/%s", f.Namespace, f.Name))
		}
	}
	for _, b := range in.Budgets {
		if b.Old && !b.New {
			out = append(out, "ServiceLevel "+b.Name)
		}
	}
	sort.Strings(out) // the cache lists in no particular order; messages must not flap
	return out
}

// runsCronJob: a Job created from a CronJob of the namespace (its controller, matched by UID)
// with that CronJob's own job spec (kubectl create job --from=cronjob/NAME): the whole
// jobTemplate.spec (parallelism, completions, backoffLimit, deadlines... and the pod template),
// not only the pod template, up to what the API server adds or defaults (jobSpec).
func runsCronJob(req Request, in Inputs) bool {
	return req.Operation == Create && req.New != nil && req.New.Owner != nil && req.New.Owner.Kind == string(itopsv1alpha1.TargetCronJob) &&
		in.OwnerCronJob != nil && apiequality.Semantic.DeepEqual(jobSpec(req.New.Spec), jobSpec(in.OwnerCronJob.JobSpec))
}

// jobDefaults are the values the API server gives a Job's spec fields a CronJob's
// jobTemplate.spec may leave unset (SetDefaults_Job in kubernetes/pkg/apis/batch/v1): such a
// field counts as equal whether unset or at its default.
var jobDefaults = map[string]string{
	"parallelism": "1", "completions": "1", "backoffLimit": "6", "completionMode": "NonIndexed",
	"suspend": "false", "podReplacementPolicy": "TerminatingOrFailed", "manualSelector": "false",
}

// jobSpec is a Job's spec without what the API server adds to a Job it creates: the generated
// selector, the pod template's job labels (jobTemplate), and fields at their defaults.
func jobSpec(spec map[string]any) map[string]any {
	s := runtime.DeepCopyJSON(spec)
	delete(s, "selector")
	for key, def := range jobDefaults {
		if v, ok := s[key]; ok && fmt.Sprint(v) == def {
			delete(s, key)
		}
	}
	if tpl, ok := s["template"].(map[string]any); ok {
		s["template"] = jobTemplate(tpl)
	}
	return s
}

// decideUnowned judges what runs an image outside the gated workload kinds. In a
// change-controlled namespace such things come from the controllers of gated workloads (whose
// requests never reach the gate); a person may only edit their labels and annotations and
// delete them (a Job too). No ChangeRequest can authorise a bare Pod, a ReplicaSet of one's
// own, or an ephemeral container: they are denied, saying how to do it instead.
func decideUnowned(req Request) Decision {
	if req.Operation == Delete {
		return Decision{Allowed: true, Exemption: ExemptNotGated}
	}
	if req.Kind == KindPod && req.Operation == Create && strings.HasPrefix(req.Caller.Username, "system:node:") &&
		req.New != nil && req.New.Annotations[corev1.MirrorPodAnnotationKey] != "" {
		return Decision{Allowed: true, Exemption: ExemptMirrorPod}
	}
	deny := func(what, instead string) Decision {
		return Decision{Problems: []string{fmt.Sprintf("%s in a change-controlled namespace runs an image no ChangeRequest can authorise: %s", what, instead)}}
	}
	if req.SubResource == "ephemeralcontainers" {
		return deny("adding an ephemeral container (kubectl debug) to Pod "+req.Name,
			"debug a copy in a namespace not under change control (kubectl debug --copy-to with -n), or break glass (docs/changes.md)")
	}
	if req.Kind == KindControllerRevision {
		// A revision is what kubectl rollout undo restores, and its change record says whether
		// that is a rollback (failedRevision): only the workload controllers write them.
		return Decision{Problems: []string{fmt.Sprintf("%s of ControllerRevision %s in a change-controlled namespace is refused: only the StatefulSet and DaemonSet controllers write revisions; change the workload under a ChangeRequest",
			strings.ToLower(string(req.Operation)), req.Name)}}
	}
	if req.Operation == Update && req.Old != nil && req.New != nil && apiequality.Semantic.DeepEqual(req.Old.Spec, req.New.Spec) {
		if key := changedRecord(req.Old, req.New); key != "" {
			return Decision{Problems: []string{fmt.Sprintf("annotation %s of %s %s is the change gate's record (copied from its workload by the control plane) and cannot be changed",
				key, req.Kind, req.Name)}}
		}
		return Decision{Allowed: true, Exemption: ExemptOperational + ": " + OpMetadata}
	}
	switch req.Kind {
	case KindReplicaSet:
		return deny("a ReplicaSet not managed by a Deployment", "run it as a Deployment under a ChangeRequest")
	case KindReplicationController:
		return deny("a ReplicationController", "run it as a Deployment under a ChangeRequest (ReplicationControllers are not change-controlled targets)")
	}
	if req.Operation == Update {
		return deny("changing the spec of Pod "+req.Name, "change its workload under a ChangeRequest")
	}
	return deny("a Pod not created by a gated workload's controller (kubectl run)",
		"run it as a Deployment, StatefulSet, DaemonSet or CronJob under a ChangeRequest")
}

// jobLabels are the pod template labels the API server adds to a Job it creates.
var jobLabels = []string{"controller-uid", "job-name", "batch.kubernetes.io/controller-uid", "batch.kubernetes.io/job-name"}

// jobTemplate is a Job's pod template without what the API server adds to it.
func jobTemplate(tpl map[string]any) map[string]any {
	t := normalTemplate(tpl)
	if meta, ok := t["metadata"].(map[string]any); ok {
		if labels, ok := meta["labels"].(map[string]any); ok {
			for _, l := range jobLabels {
				delete(labels, l)
			}
			if len(labels) == 0 {
				delete(meta, "labels")
			}
		}
		if len(meta) == 0 {
			delete(t, "metadata")
		}
	}
	return t
}

// Annotations returns what the gate records on the workload for a decision (the mutating
// webhook writes them): the change the new state is admitted under
// (AnnotationChangeRequest, AnnotationBudgetWarning) and the latest rollback
// (AnnotationRolledBack*). A request no change authorises keeps the previous values, so they
// cannot be forged; a rollback removes the change record (the workload no longer runs that
// change) and says which change it undid, by whom, to which revision. "" means absent.
func Annotations(d Decision, previous map[string]string, caller string, now time.Time) map[string]string {
	out := map[string]string{}
	for _, key := range RecordedAnnotations {
		out[key] = previous[key]
	}
	switch {
	case d.Allowed && d.Change != "":
		out[itopsv1alpha1.AnnotationChangeRequest] = d.Change
		out[itopsv1alpha1.AnnotationBudgetWarning] = ""
		if len(d.Warnings) > 0 {
			out[itopsv1alpha1.AnnotationBudgetWarning] = BudgetWarning(d.Warnings)
		}
	case d.Allowed && d.RolledBack != nil:
		out[itopsv1alpha1.AnnotationChangeRequest] = ""
		out[itopsv1alpha1.AnnotationBudgetWarning] = ""
		out[itopsv1alpha1.AnnotationRolledBackChange] = d.RolledBack.Change
		out[itopsv1alpha1.AnnotationRolledBackBy] = caller
		out[itopsv1alpha1.AnnotationRolledBackRevision] = strconv.FormatInt(d.RolledBack.Revision, 10)
		out[itopsv1alpha1.AnnotationRolledBackAt] = now.UTC().Format(time.RFC3339)
	}
	return out
}

// UnrecordedDecision says why the object a validating call judges does not carry the record
// the mutating call should have written for decision d, or "" when it does (or d records
// nothing: a denial, an exemption, a Pod). The API server calls the gate's mutating webhook
// (which writes the record) and then its validating webhook (which decides and audits) as two
// requests, each judging what it reads then; a ChangeRequest approved, a freeze started or a
// namespace labelled between the two can make them disagree, and a workload admitted under a
// change without its record is one the ChangeRequest controller cannot follow and a later
// kubectl rollout undo is not recognised on. The validating webhook refuses such a request
// (the caller retries, as after a conflict) rather than admit it unrecorded. The rollback's
// time (AnnotationRolledBackAt) is not compared: the two calls read the clock apart.
func UnrecordedDecision(d Decision, after *Object, caller string) string {
	if !d.Allowed || after == nil {
		return ""
	}
	want := map[string]string{}
	switch {
	case d.Change != "":
		want[itopsv1alpha1.AnnotationChangeRequest] = d.Change
	case d.RolledBack != nil:
		want[itopsv1alpha1.AnnotationChangeRequest] = ""
		want[itopsv1alpha1.AnnotationRolledBackChange] = d.RolledBack.Change
		want[itopsv1alpha1.AnnotationRolledBackBy] = caller
		want[itopsv1alpha1.AnnotationRolledBackRevision] = strconv.FormatInt(d.RolledBack.Revision, 10)
	default:
		return ""
	}
	for _, key := range RecordedAnnotations {
		value, judged := want[key]
		if !judged || after.Annotations[key] == value {
			continue
		}
		return fmt.Sprintf("annotation %s is %q where the gate's decision records %q: what the request is judged on (its ChangeRequests, freezes, revisions or namespace) changed while it was being admitted; retry the request",
			key, after.Annotations[key], value)
	}
	return ""
}

// changedRecord returns the first of RecordedAnnotations whose value differs between before
// and after, or "".
func changedRecord(before, after *Object) string {
	for _, key := range RecordedAnnotations {
		if before.Annotations[key] != after.Annotations[key] {
			return key
		}
	}
	return ""
}

// RecordedAnnotations are the workload annotations only the gate writes.
var RecordedAnnotations = []string{
	itopsv1alpha1.AnnotationChangeRequest, itopsv1alpha1.AnnotationBudgetWarning,
	itopsv1alpha1.AnnotationRolledBackChange, itopsv1alpha1.AnnotationRolledBackBy, itopsv1alpha1.AnnotationRolledBackRevision,
	itopsv1alpha1.AnnotationRolledBackAt,
}

// BudgetWarning says which services' budgets are exhausted under the Warn policy.
func BudgetWarning(warnings []string) string {
	return strings.Join(warnings, "; ") + ": its budgetPolicy Warn lets this change through"
}

// authorises reports why cr does not authorise req, or "" if it does.
func authorises(cr *itopsv1alpha1.ChangeRequest, req Request, in Inputs) string {
	name := "ChangeRequest " + cr.Name
	switch cr.Status.Phase {
	case itopsv1alpha1.ChangeCompleted:
		return name + " is Completed and authorises nothing more"
	case itopsv1alpha1.ChangeFailed:
		return name + " Failed and authorises nothing more"
	case itopsv1alpha1.ChangeExpired:
		return name + " is Expired"
	}
	target := targetOf(cr, req.Kind, req.Name)
	if target == nil {
		return fmt.Sprintf("%s does not list %s %s in spec.targets", name, req.Kind, req.Name)
	}
	pol := change.PolicyFor(cr, in.Policy)
	a := change.Evaluate(cr, pol)
	if !a.Authorised {
		if a.Rejection != nil {
			msg := fmt.Sprintf("%s was rejected by %s", name, a.Rejection.Approver)
			if a.Rejection.Comment != "" {
				msg += fmt.Sprintf(" (%q)", a.Rejection.Comment)
			}
			return msg
		}
		msg := fmt.Sprintf("%s is Pending with %d of %d approvals", name, a.Valid, a.Required)
		for _, set := range pol.ApproverGroups {
			msg += " from group " + strings.Join(set, " or ")
		}
		if len(a.Approvers) > 0 {
			msg += " (approved by " + strings.Join(a.Approvers, ", ") + ")"
		}
		if a.Void > 0 {
			msg += fmt.Sprintf(" (%d approval(s) were given for earlier content and no longer count)", a.Void)
		}
		return msg
	}
	start, end := change.Window(cr, a, pol)
	switch {
	case in.Now.Before(start):
		return fmt.Sprintf("%s is scheduled from %s to %s, outside its schedule now (%s)", name,
			start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339), in.Now.UTC().Format(time.RFC3339))
	case !in.Now.Before(end) && cr.Spec.Schedule != nil:
		return fmt.Sprintf("%s's schedule ended at %s", name, end.UTC().Format(time.RFC3339))
	case !in.Now.Before(end):
		return fmt.Sprintf("%s's approval lapsed at %s (approval lifetime %s): approve it again or give it a schedule",
			name, end.UTC().Format(time.RFC3339), pol.Lifetime)
	}
	if why := pinsHold(target, req); why != "" {
		return name + " " + why
	}
	if a.Reason == itopsv1alpha1.ChangeReasonStandardChange {
		if why := standardHolds(req); why != "" {
			return fmt.Sprintf("%s is a Standard change (pattern %s) that %s", name, pol.Standard.Name, why)
		}
	}
	return ""
}

func targetOf(cr *itopsv1alpha1.ChangeRequest, kind itopsv1alpha1.TargetKind, name string) *itopsv1alpha1.ChangeTarget {
	for i, t := range cr.Spec.Targets {
		if t.Kind == kind && t.Name == name {
			return &cr.Spec.Targets[i]
		}
	}
	return nil
}

// pinsHold checks the pod template against the target's pinned images: every pinned container
// runs exactly its image, and any other container keeps the image it had.
func pinsHold(t *itopsv1alpha1.ChangeTarget, req Request) string {
	if len(t.Containers) == 0 || req.New == nil {
		return ""
	}
	images := req.New.Images()
	var oldImages map[string]string
	if req.Old != nil {
		oldImages = req.Old.Images()
	}
	pinned := map[string]bool{}
	for _, pin := range t.Containers {
		pinned[pin.Name] = true
		got, ok := images[pin.Name]
		switch {
		case !ok:
			return fmt.Sprintf("pins container %s, which is not in the pod template", pin.Name)
		case got != pin.Image:
			return fmt.Sprintf("pins container %s to image %s, but the request sets %s", pin.Name, pin.Image, got)
		}
	}
	for _, name := range sortedKeys(images) {
		if pinned[name] {
			continue
		}
		if old, ok := oldImages[name]; !ok || old != images[name] {
			return fmt.Sprintf("pins the images of %s %s but not of container %s, whose image the request sets to %s",
				t.Kind, t.Name, name, images[name])
		}
	}
	return ""
}

// standardHolds checks that the request is what the Standard change pattern pre-approves.
func standardHolds(req Request) string {
	if req.Operation != Update {
		return fmt.Sprintf("pre-approves image updates only, not a %s", strings.ToLower(string(req.Operation)))
	}
	return ImagesWithinRepository(req.Old, req.New)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

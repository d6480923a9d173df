package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/audit"
	"github.com/itops-dev/itops-operator/internal/change"
	"github.com/itops-dev/itops-operator/internal/config"
	"github.com/itops-dev/itops-operator/internal/gate"
	"github.com/itops-dev/itops-operator/internal/maintenance"
	"github.com/itops-dev/itops-operator/internal/metrics"
	"github.com/itops-dev/itops-operator/internal/selector"
	"github.com/itops-dev/itops-operator/internal/slo"
)

// Webhook paths of the change gate.
const (
	GateValidatePath = "/validate-change-gate"
	GateMutatePath   = "/mutate-change-gate"
)

// The gate's webhook configurations select only change-controlled namespaces, and their
// matchConditions keep the control plane's own requests (gate.ControlPlaneUsers) away, so that
// an operator outage never blocks namespace deletion, garbage collection or the pods of
// admitted workloads (hack/webhook-selectors.sh adds both; controller-gen has no marker for
// them). The handler checks the label and the caller again, so that a configuration installed
// without them still gates nothing else and wedges nothing. vgate writes audit records and
// Events, never on dry runs (sideEffects NoneOnDryRun).
// +kubebuilder:webhook:path=/validate-change-gate,mutating=false,failurePolicy=fail,sideEffects=NoneOnDryRun,groups=apps;batch,resources=deployments;statefulsets;daemonsets;cronjobs,verbs=create;update;delete,versions=v1,name=vgate.itops.dev,admissionReviewVersions=v1,timeoutSeconds=5
// +kubebuilder:webhook:path=/validate-change-gate,mutating=false,failurePolicy=fail,sideEffects=NoneOnDryRun,groups="";apps;batch,resources=pods;pods/ephemeralcontainers;replicasets;replicationcontrollers;controllerrevisions;jobs,verbs=create;update,versions=v1,name=vgatepods.itops.dev,admissionReviewVersions=v1,timeoutSeconds=5
// +kubebuilder:webhook:path=/validate-change-gate,mutating=false,failurePolicy=fail,sideEffects=NoneOnDryRun,groups=apps;batch,resources=deployments/status;statefulsets/status;daemonsets/status;cronjobs/status;jobs/status;replicasets/status,verbs=update,versions=v1,name=vgatestatus.itops.dev,admissionReviewVersions=v1,timeoutSeconds=5
// +kubebuilder:webhook:path=/mutate-change-gate,mutating=true,failurePolicy=fail,sideEffects=None,groups=apps;batch,resources=deployments;statefulsets;daemonsets;cronjobs;jobs,verbs=create;update,versions=v1,name=mgate.itops.dev,admissionReviewVersions=v1,timeoutSeconds=5

// +kubebuilder:rbac:groups=apps,resources=replicasets;controllerrevisions,verbs=get;list;watch
// +kubebuilder:rbac:groups=core,resources=namespaces,verbs=get;list;watch

// Gate is the change gate: the validating webhook decides, the mutating webhook records on the
// workload the change it was admitted under (or the rollback that undid it). Each handler
// gathers what the request is judged on once (gather) and decides once (gate.Decide). Inputs
// come from informer caches; only a rollback-shaped update (only the pod template changes)
// costs an API call, to list the revisions it may roll back to, and a Namespace not yet in the
// cache is read live.
type Gate struct {
	// Reader is the cache (ChangeRequests indexed by target, MaintenanceWindows,
	// ServiceLevels, Namespaces, CronJobs).
	Reader client.Reader
	// APIReader lists a workload's revisions, live, for the rollback check, and reads a
	// Namespace the cache does not hold yet.
	APIReader client.Reader
	Policy    *config.Config
	// ClusterNamespace holds cluster-wide freezes; it and ExemptNamespaces are never gated.
	ClusterNamespace string
	ExemptNamespaces []string
	Audit            audit.Logger
	Recorder         recorder.EventRecorder
	Clock            clock.PassiveClock
}

func (g *Gate) now() time.Time {
	if g.Clock != nil {
		return g.Clock.Now()
	}
	return time.Now()
}

// ValidatingHandler returns the validating webhook.
func (g *Gate) ValidatingHandler() admission.Handler {
	return admission.HandlerFunc(g.validate)
}

// MutatingHandler returns the mutating webhook.
func (g *Gate) MutatingHandler() admission.Handler {
	return admission.HandlerFunc(g.mutate)
}

var gateKinds = map[string]itopsv1alpha1.TargetKind{
	"Deployment": itopsv1alpha1.TargetDeployment, "StatefulSet": itopsv1alpha1.TargetStatefulSet,
	"DaemonSet": itopsv1alpha1.TargetDaemonSet, "CronJob": itopsv1alpha1.TargetCronJob,
	"Pod": gate.KindPod, "ReplicaSet": gate.KindReplicaSet, "Job": gate.KindJob,
	"ReplicationController": gate.KindReplicationController, "ControllerRevision": gate.KindControllerRevision,
}

// gathered is everything a request is judged on.
type gathered struct {
	req gate.Request
	in  gate.Inputs
	// dryRun: the request is a server dry run (no side effects, denials become warnings).
	dryRun bool
	// ignored name the Freeze windows and ServiceLevels in scope whose selectors (or, for a
	// ServiceLevel, objective window) are invalid (stored while the webhook was down): they
	// cover nothing, and every response says so.
	ignored []string
}

// gather decodes the request and reads everything the gate judges it on: the old and new
// object (the name from the object, never the request alone: a collection delete's items
// come with an empty request name), the caller, the namespace (read live if the cache does not
// hold it yet; never answered ungated), the changes targeting the workload, the Freeze windows
// and ServiceLevels covering its old or new labels, its revisions for a rollback-shaped update,
// and a Job's CronJob template. ok is false when the gate does not apply.
func (g *Gate) gather(ctx context.Context, req admission.Request) (gathered, bool, error) {
	kind, known := gateKinds[req.Kind.Kind]
	debug := kind == gate.KindPod && req.SubResource == "ephemeralcontainers"
	status := req.SubResource == "status" && slices.Contains([]itopsv1alpha1.TargetKind{itopsv1alpha1.TargetDeployment, itopsv1alpha1.TargetStatefulSet,
		itopsv1alpha1.TargetDaemonSet, itopsv1alpha1.TargetCronJob, itopsv1alpha1.TargetJob, gate.KindReplicaSet}, kind)
	if !known || (req.SubResource != "" && !debug && !status) ||
		req.Namespace == "" || req.Namespace == g.ClusterNamespace || req.Namespace == metav1.NamespaceSystem || slices.Contains(g.ExemptNamespaces, req.Namespace) {
		return gathered{}, false, nil
	}
	ns, err := g.namespace(ctx, req.Namespace)
	if err != nil {
		return gathered{}, false, err
	}
	if ns.Labels[itopsv1alpha1.LabelChangeControl] != itopsv1alpha1.ChangeControlEnforced {
		return gathered{}, false, nil
	}
	r := gate.Request{Operation: gate.Operation(req.Operation), Kind: kind, Namespace: req.Namespace, SubResource: req.SubResource,
		Caller: gate.Caller{Username: req.UserInfo.Username, Groups: req.UserInfo.Groups}}
	if len(req.Object.Raw) > 0 && req.Operation != admissionv1.Delete {
		if r.New, err = gate.Decode(kind, req.Object.Raw); err != nil {
			return gathered{}, false, err
		}
	}
	if len(req.OldObject.Raw) > 0 {
		if r.Old, err = gate.Decode(kind, req.OldObject.Raw); err != nil {
			return gathered{}, false, err
		}
	}
	switch {
	case r.New != nil && r.New.Name != "":
		r.Name = r.New.Name
	case r.Old != nil && r.Old.Name != "":
		r.Name = r.Old.Name
	default:
		r.Name = req.Name
	}
	in := gate.Inputs{
		Policy:    g.Policy.ChangePolicyFor(ns.Labels),
		Namespace: gate.NamespaceState{Terminating: !ns.DeletionTimestamp.IsZero() || ns.Status.Phase == corev1.NamespaceTerminating},
		Now:       g.now(),
	}
	out := gathered{req: r, dryRun: req.DryRun != nil && *req.DryRun}
	if status || gate.ControlPlane(r.Caller) || (r.Operation == gate.Delete && in.Namespace.Terminating) {
		out.in = in // decided on the request, the caller and the namespace alone
		return out, true, nil
	}
	switch kind {
	case gate.KindPod, gate.KindReplicaSet, gate.KindReplicationController, gate.KindControllerRevision:
		out.in = in
		return out, true, nil
	case gate.KindJob:
		if in.OwnerCronJob, err = g.cronJobOwner(ctx, r); err != nil {
			return gathered{}, false, err
		}
	}
	changes := &itopsv1alpha1.ChangeRequestList{}
	if err := g.Reader.List(ctx, changes, client.InNamespace(r.Namespace),
		client.MatchingFields{change.TargetIndex: change.TargetKey(r.Kind, r.Name)}); err != nil {
		return gathered{}, false, fmt.Errorf("listing change requests: %w", err)
	}
	in.Changes = changes.Items
	var oldLabels, newLabels labels.Set
	if r.Old != nil {
		oldLabels = r.Old.Labels
	}
	if r.New != nil {
		newLabels = r.New.Labels
	}
	if in.Freezes, err = g.freezes(ctx, ns, r.Old != nil, oldLabels, r.New != nil, newLabels, in.Now, &out.ignored); err != nil {
		return gathered{}, false, err
	}
	if in.Budgets, err = g.budgets(ctx, r.Namespace, r.Old != nil, oldLabels, r.New != nil, newLabels, &out.ignored); err != nil {
		return gathered{}, false, err
	}
	for _, msg := range out.ignored {
		ctrl.LoggerFrom(ctx).Info("change gate: ignoring an invalid Freeze window or ServiceLevel", "namespace", r.Namespace, "kind", r.Kind, "name", r.Name, "reason", msg)
	}
	if gate.RollbackShaped(r.Operation, r.Old, r.New) {
		if in.Revisions, err = g.revisions(ctx, req, r); err != nil {
			return gathered{}, false, err
		}
	}
	out.in = in
	return out, true, nil
}

// namespace reads the request's namespace from the cache, or live when the cache does not
// hold it yet (a namespace created a moment ago): never answered with an error or ungated.
func (g *Gate) namespace(ctx context.Context, name string) (*corev1.Namespace, error) {
	ns := &corev1.Namespace{}
	err := g.Reader.Get(ctx, client.ObjectKey{Name: name}, ns)
	if apierrors.IsNotFound(err) && g.APIReader != nil {
		err = g.APIReader.Get(ctx, client.ObjectKey{Name: name}, ns)
	}
	if err != nil {
		return nil, fmt.Errorf("reading namespace %s: %w", name, err)
	}
	return ns, nil
}

// cronJobOwner is the job spec and suspension of the CronJob a Job names as its controller, if
// that CronJob exists in the namespace with that UID.
func (g *Gate) cronJobOwner(ctx context.Context, r gate.Request) (*gate.CronJobOwner, error) {
	if r.New == nil || r.New.Owner == nil || r.New.Owner.Kind != string(itopsv1alpha1.TargetCronJob) {
		return nil, nil
	}
	cj := &batchv1.CronJob{}
	if err := g.Reader.Get(ctx, client.ObjectKey{Namespace: r.Namespace, Name: r.New.Owner.Name}, cj); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	if string(cj.UID) != r.New.Owner.UID {
		return nil, nil
	}
	spec, err := toMap(cj.Spec.JobTemplate.Spec)
	if err != nil {
		return nil, err
	}
	return &gate.CronJobOwner{JobSpec: spec, Suspended: ptr.Deref(cj.Spec.Suspend, false)}, nil
}

// freezes are the Freeze windows, in the namespace or cluster-wide, covering the workload's old
// or new labels, active or not (leaving one's selection is a change; only active ones block).
//
// A Freeze window with an invalid selector covers nothing (it is Stalled, InvalidSelector): it
// is named in ignored rather than skipped silently. Treating it as covering everything would
// let one typo freeze every workload in scope; a freeze that matters is fixed, not guessed.
func (g *Gate) freezes(ctx context.Context, ns *corev1.Namespace, hasOld bool, oldLabels labels.Set, hasNew bool, newLabels labels.Set, now time.Time,
	ignored *[]string) ([]gate.Freeze, error) {
	var out []gate.Freeze
	oldSubject := maintenance.Object{Namespace: ns.Name, Labels: oldLabels, NamespaceLabels: ns.Labels}
	newSubject := maintenance.Object{Namespace: ns.Name, Labels: newLabels, NamespaceLabels: ns.Labels}
	for _, where := range []string{ns.Name, g.ClusterNamespace} {
		list := &itopsv1alpha1.MaintenanceWindowList{}
		if err := g.Reader.List(ctx, list, client.InNamespace(where)); err != nil {
			return nil, fmt.Errorf("listing maintenance windows: %w", err)
		}
		for i := range list.Items {
			mw := &list.Items[i]
			if mw.Spec.Type != itopsv1alpha1.WindowFreeze {
				continue
			}
			if errs := selector.MaintenanceWindow(&mw.Spec); len(errs) > 0 {
				*ignored = append(*ignored, fmt.Sprintf("Freeze window %s has an invalid selector and covers nothing until it is fixed: %s",
					maintenance.Name(mw, ns.Name), errs.ToAggregate().Error()))
				continue
			}
			f := gate.Freeze{Namespace: mw.Namespace, Name: mw.Name, Active: maintenance.ActiveAt(mw, now),
				Old: hasOld && maintenance.Covers(mw, oldSubject, g.ClusterNamespace), New: hasNew && maintenance.Covers(mw, newSubject, g.ClusterNamespace)}
			if mw.Status.CurrentEnd != nil {
				f.Until = mw.Status.CurrentEnd.Time
			}
			if f.Old || f.New {
				out = append(out, f)
			}
		}
	}
	return out, nil
}

// budgets are the ServiceLevels selecting the workload's old or new labels, with their budget
// state and policy.
//
// A ServiceLevel with an invalid selector protects nothing (it is Stalled, InvalidSelector): it
// is named in ignored rather than skipped silently; so is one selecting the workload whose
// stored objective window is invalid (Stalled, InvalidSpec): it measures nothing, so it
// freezes nothing, and a stale BudgetExhausted=True is not trusted.
func (g *Gate) budgets(ctx context.Context, namespace string, hasOld bool, oldLabels labels.Set, hasNew bool, newLabels labels.Set,
	ignored *[]string) ([]gate.Budget, error) {
	list := &itopsv1alpha1.ServiceLevelList{}
	if err := g.Reader.List(ctx, list, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("listing service levels: %w", err)
	}
	var out []gate.Budget
	for _, sl := range list.Items {
		if errs := selector.ServiceLevel(&sl.Spec); len(errs) > 0 {
			if sl.Spec.BudgetPolicy == itopsv1alpha1.BudgetPolicyFreezeChanges || sl.Spec.BudgetPolicy == itopsv1alpha1.BudgetPolicyWarn {
				*ignored = append(*ignored, fmt.Sprintf("ServiceLevel %s has an invalid selector and protects nothing until it is fixed: %s",
					sl.Name, errs.ToAggregate().Error()))
			}
			continue
		}
		old, nw := hasOld && selects(&sl.Spec.Selector, oldLabels), hasNew && selects(&sl.Spec.Selector, newLabels)
		if errs := slo.ValidateObjectives(sl.Spec.Objectives, field.NewPath("spec", "objectives")); len(errs) > 0 {
			// A stored invalid window measures nothing (Stalled, InvalidSpec, BudgetExhausted
			// Unknown): named like an invalid selector, never judged exhausted.
			if (old || nw) && (sl.Spec.BudgetPolicy == itopsv1alpha1.BudgetPolicyFreezeChanges || sl.Spec.BudgetPolicy == itopsv1alpha1.BudgetPolicyWarn) {
				*ignored = append(*ignored, fmt.Sprintf("ServiceLevel %s has an invalid objective window and protects nothing until it is fixed: %s",
					sl.Name, errs.ToAggregate().Error()))
			}
			continue
		}
		b := gate.Budget{Name: sl.Name, Remaining: sl.Status.ErrorBudgetRemaining, Policy: sl.Spec.BudgetPolicy,
			Exhausted: meta.IsStatusConditionTrue(sl.Status.Conditions, itopsv1alpha1.SLConditionBudgetExhausted),
			Old:       old, New: nw}
		if b.Old || b.New {
			out = append(out, b)
		}
	}
	return out, nil
}

// selects: an absent or empty selector selects everything; an invalid one nothing.
func selects(sel *metav1.LabelSelector, set labels.Set) bool {
	if sel == nil {
		return true
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false
	}
	return s.Matches(set)
}

func (g *Gate) validate(ctx context.Context, req admission.Request) admission.Response {
	in, ok, err := g.gather(ctx, req)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	if !ok {
		return admission.Allowed("")
	}
	resp := g.decide(ctx, req, in)
	if len(in.ignored) > 0 {
		resp.Warnings = append(resp.Warnings, in.ignored...)
	}
	return resp
}

// decide judges a gathered request and applies its side effects (audit, Events, metrics).
func (g *Gate) decide(_ context.Context, req admission.Request, in gathered) admission.Response {
	r, d := in.req, gate.Decide(in.req, in.in)
	kind := string(r.Kind)
	if !d.Allowed {
		msg := d.Message(r)
		if in.dryRun {
			metrics.GateDecisions.WithLabelValues("dryrun_denied", kind).Inc()
			// Previews and GitOps diffs (Flux dry-runs every apply) keep working, and say what
			// the real request would meet.
			return admission.Allowed("dry run").WithWarnings("dry run: the real request would be denied: " + msg)
		}
		g.record(r, "Denied", msg, "operation", string(r.Operation))
		metrics.GateDecisions.WithLabelValues("denied", kind).Inc()
		return admission.Denied(msg)
	}
	if why := gate.UnrecordedDecision(d, r.New, r.Caller.Username); why != "" && r.SubResource == "" {
		msg := fmt.Sprintf("%s %s: %s", r.Kind, r.Name, why)
		if in.dryRun {
			return admission.Allowed("dry run").WithWarnings("dry run: the real request would be refused: " + msg)
		}
		g.record(r, "Denied", msg, "operation", string(r.Operation))
		metrics.GateDecisions.WithLabelValues("denied", kind).Inc()
		return admission.Denied(msg)
	}
	if d.Exemption == gate.ExemptStatus {
		return admission.Allowed("") // a status write that leaves the change record alone
	}
	if d.Exemption != "" {
		metrics.GateDecisions.WithLabelValues("exempt", kind).Inc()
		if !in.dryRun {
			g.recordExemption(req, r, d)
		}
		return admission.Allowed("exempt: " + d.Exemption)
	}
	var warning string
	if len(d.Warnings) > 0 {
		warning = gate.BudgetWarning(d.Warnings)
	}
	if !in.dryRun {
		g.record(r, "Admitted", fmt.Sprintf("%s admitted under ChangeRequest %s", r.Operation, d.Change),
			"operation", string(r.Operation), "changeRequest", d.Change, "emergency", d.Emergency, "budgetWarning", warning)
		if warning != "" {
			g.event(req, r.Name, corev1.EventTypeWarning, "ErrorBudgetExhausted", fmt.Sprintf("%s admitted under ChangeRequest %s although the %s", r.Operation, d.Change, warning))
		}
	}
	metrics.GateDecisions.WithLabelValues("admitted", kind).Inc()
	resp := admission.Allowed("admitted under ChangeRequest " + d.Change)
	if warning != "" {
		resp = resp.WithWarnings(warning)
	}
	return resp
}

// recordExemption writes the audit record of a request admitted without a change, and an
// Event for a rollback (which the workload's open incident, if any, should show).
func (g *Gate) recordExemption(req admission.Request, r gate.Request, d gate.Decision) {
	if d.RolledBack == nil {
		g.record(r, "Exempt", fmt.Sprintf("%s admitted without a change: %s", r.Operation, d.Exemption),
			"operation", string(r.Operation), "exemption", d.Exemption, "subResource", r.SubResource)
		return
	}
	msg := fmt.Sprintf("rollback to revision %d by %s admitted without a ChangeRequest", d.RolledBack.Revision, r.Caller.Username)
	if d.RolledBack.Change != "" {
		msg += fmt.Sprintf("; it undoes ChangeRequest %s, which ends Failed (RolledBack)", d.RolledBack.Change)
	}
	g.record(r, "RolledBack", msg, "revision", d.RolledBack.Revision, "changeRequest", d.RolledBack.Change)
	g.event(req, r.Name, corev1.EventTypeWarning, "RolledBack", msg)
}

func (g *Gate) record(r gate.Request, transition, message string, fields ...any) {
	g.Audit.Write(audit.Record{Kind: string(r.Kind), Namespace: r.Namespace, Name: r.Name, Transition: transition, By: r.Caller.Username,
		Message: message, Fields: fields})
}

// mutate records on the workload the change its new state is admitted under, or the rollback
// that undid the change it ran (gate.Annotations), so that the ChangeRequest controller can
// follow the rollout. A request no change authorises keeps the workload's previous record,
// which therefore cannot be forged.
func (g *Gate) mutate(ctx context.Context, req admission.Request) admission.Response {
	in, ok, err := g.gather(ctx, req)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	if !ok || in.req.New == nil || in.req.SubResource != "" {
		return admission.Allowed("")
	}
	var previous map[string]string
	if in.req.Old != nil {
		previous = in.req.Old.Annotations
	}
	want := gate.Annotations(gate.Decide(in.req, in.in), previous, in.req.Caller.Username, in.in.Now)
	current := in.req.New.Annotations
	var ops []jsonpatch.JsonPatchOperation
	for _, key := range gate.RecordedAnnotations {
		cur, has := current[key]
		path := "/metadata/annotations/" + strings.ReplaceAll(key, "/", "~1")
		switch value := want[key]; {
		case value == "" && has:
			ops = append(ops, jsonpatch.NewOperation("remove", path, nil))
		case value != "" && cur != value:
			if current == nil {
				ops = append(ops, jsonpatch.NewOperation("add", "/metadata/annotations", map[string]string{}))
				current = map[string]string{}
			}
			ops = append(ops, jsonpatch.NewOperation("add", path, value))
		}
	}
	if len(ops) == 0 {
		return admission.Allowed("")
	}
	return admission.Patched("", ops...)
}

// revisions lists, live, the workload's earlier pod templates, with the change each was made
// under: its ReplicaSets or ControllerRevisions (the workload controllers copy the workload's
// annotations, the gate's change record included, onto the revisions they create).
func (g *Gate) revisions(ctx context.Context, req admission.Request, r gate.Request) ([]gate.Revision, error) {
	var owner struct {
		Metadata struct {
			UID types.UID `json:"uid"`
		} `json:"metadata"`
		Spec struct {
			Selector *metav1.LabelSelector `json:"selector"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(req.OldObject.Raw, &owner); err != nil || owner.Spec.Selector == nil {
		return nil, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(owner.Spec.Selector)
	if err != nil {
		return nil, nil
	}
	var revisions []gate.Revision
	switch r.Kind {
	case itopsv1alpha1.TargetDeployment:
		list := &appsv1.ReplicaSetList{}
		if err := g.APIReader.List(ctx, list, client.InNamespace(r.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
			return nil, fmt.Errorf("listing the revisions of %s %s: %w", r.Kind, r.Name, err)
		}
		for _, rs := range list.Items {
			if !ownedBy(rs.OwnerReferences, owner.Metadata.UID) {
				continue
			}
			n, _ := strconv.ParseInt(rs.Annotations["deployment.kubernetes.io/revision"], 10, 64)
			tpl, err := toMap(rs.Spec.Template)
			if err == nil {
				revisions = append(revisions, gate.Revision{Number: n, Template: tpl, Change: rs.Annotations[itopsv1alpha1.AnnotationChangeRequest]})
			}
		}
	case itopsv1alpha1.TargetStatefulSet, itopsv1alpha1.TargetDaemonSet:
		list := &appsv1.ControllerRevisionList{}
		if err := g.APIReader.List(ctx, list, client.InNamespace(r.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
			return nil, fmt.Errorf("listing the revisions of %s %s: %w", r.Kind, r.Name, err)
		}
		for _, cr := range list.Items {
			if !ownedBy(cr.OwnerReferences, owner.Metadata.UID) {
				continue
			}
			var data struct {
				Spec struct {
					Template map[string]any `json:"template"`
				} `json:"spec"`
			}
			if json.Unmarshal(cr.Data.Raw, &data) == nil && data.Spec.Template != nil {
				revisions = append(revisions, gate.Revision{Number: cr.Revision, Template: data.Spec.Template,
					Change: cr.Annotations[itopsv1alpha1.AnnotationChangeRequest]})
			}
		}
	}
	return revisions, nil
}

func ownedBy(refs []metav1.OwnerReference, uid types.UID) bool {
	for _, ref := range refs {
		if ref.UID == uid && ref.Controller != nil && *ref.Controller {
			return true
		}
	}
	return false
}

func toMap(v any) (map[string]any, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	err = json.Unmarshal(data, &out)
	return out, err
}

func (g *Gate) event(req admission.Request, name, eventType, reason, note string) {
	if g.Recorder == nil {
		return
	}
	ref := &corev1.ObjectReference{APIVersion: req.Kind.Group + "/" + req.Kind.Version, Kind: req.Kind.Kind, Namespace: req.Namespace, Name: name}
	if req.Kind.Group == "" {
		ref.APIVersion = req.Kind.Version
	}
	g.Recorder.Eventf(ref, nil, eventType, reason, "Admit", "%s", note)
}

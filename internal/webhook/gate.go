package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
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
)

// Webhook paths of the change gate.
const (
	GateValidatePath = "/validate-change-gate"
	GateMutatePath   = "/mutate-change-gate"
)

// The gate's webhook configurations select only change-controlled namespaces (see
// hack/webhook-selectors and config/webhook); the handler checks the label again, so that a
// configuration installed without the selector still gates nothing else.
// +kubebuilder:webhook:path=/validate-change-gate,mutating=false,failurePolicy=fail,sideEffects=None,groups=apps;batch,resources=deployments;statefulsets;daemonsets;cronjobs,verbs=create;update;delete,versions=v1,name=vgate.itops.dev,admissionReviewVersions=v1,timeoutSeconds=5
// +kubebuilder:webhook:path=/mutate-change-gate,mutating=true,failurePolicy=fail,sideEffects=None,groups=apps;batch,resources=deployments;statefulsets;daemonsets;cronjobs,verbs=create;update,versions=v1,name=mgate.itops.dev,admissionReviewVersions=v1,timeoutSeconds=5

// +kubebuilder:rbac:groups=apps,resources=replicasets;controllerrevisions,verbs=get;list;watch
// +kubebuilder:rbac:groups=core,resources=namespaces,verbs=get;list;watch

// Gate is the change gate: the validating webhook decides, the mutating webhook records on the
// workload the change it was admitted under. Both decide from informer caches; only a request
// that no change authorises costs an API call, to look for the revision it may roll back to.
type Gate struct {
	// Reader is the cache (ChangeRequests indexed by target, MaintenanceWindows,
	// ServiceLevels, Namespaces).
	Reader client.Reader
	// APIReader lists a workload's revisions, live, for the rollback check.
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
}

// gated decodes the request and reports whether the gate applies to it.
func (g *Gate) gated(ctx context.Context, req admission.Request) (gate.Request, *corev1.Namespace, bool, error) {
	kind, ok := gateKinds[req.Kind.Kind]
	if !ok || req.SubResource != "" || req.Namespace == "" || req.Namespace == g.ClusterNamespace || req.Namespace == metav1.NamespaceSystem {
		return gate.Request{}, nil, false, nil
	}
	for _, ns := range g.ExemptNamespaces {
		if req.Namespace == ns {
			return gate.Request{}, nil, false, nil
		}
	}
	ns := &corev1.Namespace{}
	if err := g.Reader.Get(ctx, client.ObjectKey{Name: req.Namespace}, ns); err != nil {
		return gate.Request{}, nil, false, fmt.Errorf("reading namespace %s: %w", req.Namespace, err)
	}
	if ns.Labels[itopsv1alpha1.LabelChangeControl] != itopsv1alpha1.ChangeControlEnforced {
		return gate.Request{}, nil, false, nil
	}
	r := gate.Request{Operation: gate.Operation(req.Operation), Kind: kind, Namespace: req.Namespace, Name: req.Name}
	var err error
	if len(req.Object.Raw) > 0 && req.Operation != admissionv1.Delete {
		if r.New, err = gate.Decode(kind, req.Object.Raw); err != nil {
			return r, ns, false, err
		}
	}
	if len(req.OldObject.Raw) > 0 {
		if r.Old, err = gate.Decode(kind, req.OldObject.Raw); err != nil {
			return r, ns, false, err
		}
	}
	return r, ns, true, nil
}

// decide runs the gate for a request that needs a change. warn lists the exhausted budgets of
// services whose budgetPolicy is Warn: they let the change through, with a warning.
func (g *Gate) decide(ctx context.Context, r gate.Request, ns *corev1.Namespace) (d gate.Decision, warn []gate.Budget, err error) {
	in := gate.Inputs{Policy: g.Policy.ChangePolicyFor(ns.Labels), Now: g.now()}
	changes := &itopsv1alpha1.ChangeRequestList{}
	if err := g.Reader.List(ctx, changes, client.InNamespace(r.Namespace),
		client.MatchingFields{change.TargetIndex: change.TargetKey(r.Kind, r.Name)}); err != nil {
		return gate.Decision{}, nil, fmt.Errorf("listing change requests: %w", err)
	}
	in.Changes = changes.Items
	workloadLabels := labels.Set(nil)
	if r.New != nil {
		workloadLabels = r.New.Labels
	} else if r.Old != nil {
		workloadLabels = r.Old.Labels
	}
	if in.Freezes, err = g.activeFreezes(ctx, ns, workloadLabels, in.Now); err != nil {
		return gate.Decision{}, nil, err
	}
	if in.Budgets, warn, err = g.exhaustedBudgets(ctx, r.Namespace, workloadLabels); err != nil {
		return gate.Decision{}, nil, err
	}
	return gate.Decide(r, in), warn, nil
}

// activeFreezes are the Freeze windows, in the namespace or cluster-wide, active now and
// covering a workload with these labels.
func (g *Gate) activeFreezes(ctx context.Context, ns *corev1.Namespace, workloadLabels labels.Set, now time.Time) ([]gate.Freeze, error) {
	var out []gate.Freeze
	subject := maintenance.Object{Namespace: ns.Name, Labels: workloadLabels, NamespaceLabels: ns.Labels}
	for _, where := range []string{ns.Name, g.ClusterNamespace} {
		list := &itopsv1alpha1.MaintenanceWindowList{}
		if err := g.Reader.List(ctx, list, client.InNamespace(where)); err != nil {
			return nil, fmt.Errorf("listing maintenance windows: %w", err)
		}
		for i := range list.Items {
			mw := &list.Items[i]
			if mw.Spec.Type == itopsv1alpha1.WindowFreeze && maintenance.ActiveAt(mw, now) && maintenance.Covers(mw, subject, g.ClusterNamespace) {
				out = append(out, gate.Freeze{Namespace: mw.Namespace, Name: mw.Name, Until: mw.Status.CurrentEnd.Time})
			}
		}
	}
	return out, nil
}

// exhaustedBudgets are the ServiceLevels selecting the workload whose budget is exhausted:
// freeze those whose budgetPolicy is FreezeChanges, warn those whose policy is Warn.
func (g *Gate) exhaustedBudgets(ctx context.Context, namespace string, workloadLabels labels.Set) (freeze, warn []gate.Budget, err error) {
	list := &itopsv1alpha1.ServiceLevelList{}
	if err := g.Reader.List(ctx, list, client.InNamespace(namespace)); err != nil {
		return nil, nil, fmt.Errorf("listing service levels: %w", err)
	}
	for _, sl := range list.Items {
		if !meta.IsStatusConditionTrue(sl.Status.Conditions, itopsv1alpha1.SLConditionBudgetExhausted) || !selects(&sl.Spec.Selector, workloadLabels) {
			continue
		}
		b := gate.Budget{Name: sl.Name, Remaining: sl.Status.ErrorBudgetRemaining}
		switch sl.Spec.BudgetPolicy {
		case itopsv1alpha1.BudgetPolicyFreezeChanges:
			freeze = append(freeze, b)
		case itopsv1alpha1.BudgetPolicyWarn:
			warn = append(warn, b)
		}
	}
	return freeze, warn, nil
}

// budgetWarning says which services' budgets are exhausted under the Warn policy.
func budgetWarning(warn []gate.Budget) string {
	parts := make([]string, 0, len(warn))
	for _, b := range warn {
		parts = append(parts, fmt.Sprintf("error budget of ServiceLevel %s is exhausted (%s%% left)", b.Name, b.Remaining))
	}
	return strings.Join(parts, "; ") + ": its budgetPolicy Warn lets this change through"
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
	r, ns, ok, err := g.gated(ctx, req)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	if !ok {
		return admission.Allowed("")
	}
	user := req.UserInfo.Username
	dryRun := req.DryRun != nil && *req.DryRun
	if ex := gate.Exempt(r.Operation, r.Old, r.New); ex != "" {
		metrics.GateDecisions.WithLabelValues("exempt", string(r.Kind)).Inc()
		return admission.Allowed(ex)
	}
	d, warn, err := g.decide(ctx, r, ns)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	if !d.Allowed && r.Operation == gate.Update {
		if rev, ok := g.rollback(ctx, req, r); ok {
			if !dryRun {
				g.Audit.Write(audit.Record{Kind: string(r.Kind), Namespace: r.Namespace, Name: r.Name, Transition: "RolledBack", By: user,
					Message: fmt.Sprintf("rollback to revision %d admitted without a change", rev), Fields: []any{"revision", rev}})
				g.event(req, corev1.EventTypeWarning, "RolledBack", fmt.Sprintf("rollback to revision %d by %s admitted without a ChangeRequest", rev, user))
			}
			metrics.GateDecisions.WithLabelValues("exempt", string(r.Kind)).Inc()
			return admission.Allowed(ex(gate.ExemptRollback))
		}
	}
	if !d.Allowed {
		msg := d.Message(r)
		if dryRun {
			metrics.GateDecisions.WithLabelValues("dryrun_denied", string(r.Kind)).Inc()
			// Previews and GitOps diffs (Flux dry-runs every apply) keep working, and say what
			// the real request would meet.
			return admission.Allowed("dry run").WithWarnings("dry run: the real request would be denied: " + msg)
		}
		g.Audit.Write(audit.Record{Kind: string(r.Kind), Namespace: r.Namespace, Name: r.Name, Transition: "Denied", By: user, Message: msg,
			Fields: []any{"operation", string(r.Operation)}})
		metrics.GateDecisions.WithLabelValues("denied", string(r.Kind)).Inc()
		return admission.Denied(msg)
	}
	var warning string
	if len(warn) > 0 {
		warning = budgetWarning(warn)
	}
	if !dryRun {
		g.Audit.Write(audit.Record{Kind: string(r.Kind), Namespace: r.Namespace, Name: r.Name, Transition: "Admitted", By: user,
			Message: fmt.Sprintf("%s admitted under ChangeRequest %s", r.Operation, d.Change),
			Fields:  []any{"operation", string(r.Operation), "changeRequest", d.Change, "emergency", d.Emergency, "budgetWarning", warning}})
		if warning != "" {
			g.event(req, corev1.EventTypeWarning, "ErrorBudgetExhausted", fmt.Sprintf("%s admitted under ChangeRequest %s although the %s", r.Operation, d.Change, warning))
		}
	}
	metrics.GateDecisions.WithLabelValues("admitted", string(r.Kind)).Inc()
	resp := admission.Allowed("admitted under ChangeRequest " + d.Change)
	if warning != "" {
		resp = resp.WithWarnings(warning)
	}
	return resp
}

func ex(name string) string { return "exempt: " + name }

// mutate records on the workload the change its new state is admitted under, so that the
// ChangeRequest controller can follow the rollout. A request no change authorises (an exempt
// one, or one the validating webhook will deny) keeps the workload's previous record, which
// therefore cannot be forged.
func (g *Gate) mutate(ctx context.Context, req admission.Request) admission.Response {
	r, ns, ok, err := g.gated(ctx, req)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	if !ok || r.New == nil {
		return admission.Allowed("")
	}
	previous := annotations(req.OldObject.Raw)
	record, warning := previous[itopsv1alpha1.AnnotationChangeRequest], previous[itopsv1alpha1.AnnotationBudgetWarning]
	if gate.Exempt(r.Operation, r.Old, r.New) == "" {
		d, warn, err := g.decide(ctx, r, ns)
		if err != nil {
			return admission.Errored(http.StatusInternalServerError, err)
		}
		if d.Allowed {
			record, warning = d.Change, ""
			if len(warn) > 0 {
				warning = budgetWarning(warn)
			}
		}
	}
	current := annotations(req.Object.Raw)
	var ops []jsonpatch.JsonPatchOperation
	for _, a := range []struct{ key, value string }{
		{itopsv1alpha1.AnnotationChangeRequest, record}, {itopsv1alpha1.AnnotationBudgetWarning, warning},
	} {
		cur, has := current[a.key]
		path := "/metadata/annotations/" + strings.ReplaceAll(a.key, "/", "~1")
		switch {
		case a.value == "" && has:
			ops = append(ops, jsonpatch.NewOperation("remove", path, nil))
		case a.value != "" && cur != a.value:
			if current == nil {
				ops = append(ops, jsonpatch.NewOperation("add", "/metadata/annotations", map[string]string{}))
				current = map[string]string{}
			}
			ops = append(ops, jsonpatch.NewOperation("add", path, a.value))
		}
	}
	if len(ops) == 0 {
		return admission.Allowed("")
	}
	return admission.Patched("", ops...)
}

// rollback reports the earlier revision an update restores, from a live list of the
// workload's ReplicaSets or ControllerRevisions.
func (g *Gate) rollback(ctx context.Context, req admission.Request, r gate.Request) (int64, bool) {
	var meta struct {
		Metadata struct {
			UID types.UID `json:"uid"`
		} `json:"metadata"`
		Spec struct {
			Selector *metav1.LabelSelector `json:"selector"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(req.OldObject.Raw, &meta); err != nil || meta.Spec.Selector == nil {
		return 0, false
	}
	sel, err := metav1.LabelSelectorAsSelector(meta.Spec.Selector)
	if err != nil {
		return 0, false
	}
	var revisions []gate.Revision
	switch r.Kind {
	case itopsv1alpha1.TargetDeployment:
		list := &appsv1.ReplicaSetList{}
		if err := g.APIReader.List(ctx, list, client.InNamespace(r.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
			return 0, false
		}
		for _, rs := range list.Items {
			if !ownedBy(rs.OwnerReferences, meta.Metadata.UID) {
				continue
			}
			n, _ := strconv.ParseInt(rs.Annotations["deployment.kubernetes.io/revision"], 10, 64)
			tpl, err := toMap(rs.Spec.Template)
			if err == nil {
				revisions = append(revisions, gate.Revision{Number: n, Template: tpl})
			}
		}
	case itopsv1alpha1.TargetStatefulSet, itopsv1alpha1.TargetDaemonSet:
		list := &appsv1.ControllerRevisionList{}
		if err := g.APIReader.List(ctx, list, client.InNamespace(r.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
			return 0, false
		}
		for _, cr := range list.Items {
			if !ownedBy(cr.OwnerReferences, meta.Metadata.UID) {
				continue
			}
			var data struct {
				Spec struct {
					Template map[string]any `json:"template"`
				} `json:"spec"`
			}
			if json.Unmarshal(cr.Data.Raw, &data) == nil && data.Spec.Template != nil {
				revisions = append(revisions, gate.Revision{Number: cr.Revision, Template: data.Spec.Template})
			}
		}
	}
	return gate.RollbackTo(r.Old, r.New, revisions)
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

func (g *Gate) event(req admission.Request, eventType, reason, note string) {
	if g.Recorder == nil {
		return
	}
	ref := &corev1.ObjectReference{APIVersion: req.Kind.Group + "/" + req.Kind.Version, Kind: req.Kind.Kind, Namespace: req.Namespace, Name: req.Name}
	if req.Kind.Group == "" {
		ref.APIVersion = req.Kind.Version
	}
	g.Recorder.Eventf(ref, nil, eventType, reason, "Admit", "%s", note)
}

// annotations are the annotations of a raw object (nil when it has none, or no object).
func annotations(raw []byte) map[string]string {
	var m struct {
		Metadata struct {
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
	}
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &m)
	}
	return m.Metadata.Annotations
}

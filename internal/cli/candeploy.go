package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// dryRunDenied is how the change gate's admission warning of a dry run starts when the real
// request would be denied (internal/webhook/gate.go).
const dryRunDenied = "dry run: the real request would be denied: "

// AnnotationCanIDeploy is the pod template annotation can-i-deploy's dry-run update sets: a
// content change the gate judges like a new image, which is never stored (dry run).
const AnnotationCanIDeploy = "itops.dev/can-i-deploy"

// Workload is a workload named on the command line, such as deployment/web.
type Workload struct {
	Kind itopsv1alpha1.TargetKind
	Name string
}

var workloadKinds = map[string]itopsv1alpha1.TargetKind{
	"deployment": itopsv1alpha1.TargetDeployment, "deployments": itopsv1alpha1.TargetDeployment, "deploy": itopsv1alpha1.TargetDeployment,
	"statefulset": itopsv1alpha1.TargetStatefulSet, "statefulsets": itopsv1alpha1.TargetStatefulSet, "sts": itopsv1alpha1.TargetStatefulSet,
	"daemonset": itopsv1alpha1.TargetDaemonSet, "daemonsets": itopsv1alpha1.TargetDaemonSet, "ds": itopsv1alpha1.TargetDaemonSet,
	"cronjob": itopsv1alpha1.TargetCronJob, "cronjobs": itopsv1alpha1.TargetCronJob, "cj": itopsv1alpha1.TargetCronJob,
}

// ParseWorkload parses KIND/NAME (kind as kubectl spells it: deployment, deploy, sts, ds, cj,
// with an optional .apps or .batch group) or a bare NAME (a Deployment). Jobs are not
// supported: a Job's template is immutable, so there is no update to try.
func ParseWorkload(s string) (Workload, error) {
	kind, name, found := strings.Cut(s, "/")
	if !found {
		kind, name = "deployment", s
	}
	kind, _, _ = strings.Cut(strings.ToLower(kind), ".")
	k, ok := workloadKinds[kind]
	if !ok || name == "" {
		return Workload{}, fmt.Errorf("%q: want KIND/NAME with KIND deployment, statefulset, daemonset or cronjob (for example deployment/web)", s)
	}
	return Workload{Kind: k, Name: name}, nil
}

func (w Workload) gvk() schema.GroupVersionKind {
	if w.Kind == itopsv1alpha1.TargetCronJob {
		return schema.GroupVersionKind{Group: "batch", Version: "v1", Kind: string(w.Kind)}
	}
	return schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: string(w.Kind)}
}

func (w Workload) String() string { return strings.ToLower(string(w.Kind)) + "/" + w.Name }

// templatePatch is the dry-run merge patch: a pod template annotation, at the template's path.
func (w Workload) templatePatch(now time.Time) ([]byte, error) {
	tpl := map[string]any{"metadata": map[string]any{"annotations": map[string]any{AnnotationCanIDeploy: now.UTC().Format(time.RFC3339)}}}
	spec := map[string]any{"template": tpl}
	if w.Kind == itopsv1alpha1.TargetCronJob {
		spec = map[string]any{"jobTemplate": map[string]any{"spec": map[string]any{"template": tpl}}}
	}
	return json.Marshal(map[string]any{"spec": spec})
}

// DeployVerdict is can-i-deploy's answer.
type DeployVerdict struct {
	Allowed bool
	// Denial is the gate's message ("" when allowed).
	Denial string
	// Change is the ChangeRequest the change would be admitted under ("" if none was needed).
	Change string
	// Warnings are the gate's other admission warnings (exhausted budgets under Warn).
	Warnings []string
}

// VerdictFromDryRun reads the gate's answer to a dry-run update: its warnings and the
// itops.dev/change-request annotation its mutating webhook set on the returned object.
func VerdictFromDryRun(warnings []string, annotations map[string]string, before map[string]string) DeployVerdict {
	v := DeployVerdict{Allowed: true}
	for _, w := range warnings {
		if msg, ok := strings.CutPrefix(w, dryRunDenied); ok {
			v.Allowed, v.Denial = false, msg
			continue
		}
		v.Warnings = append(v.Warnings, w)
	}
	if v.Allowed {
		v.Change = annotations[itopsv1alpha1.AnnotationChangeRequest]
		if v.Change == before[itopsv1alpha1.AnnotationChangeRequest] && v.Change != "" && annotations[AnnotationCanIDeploy] == "" {
			v.Change = "" // not the gate's doing
		}
	}
	return v
}

// DeployHints says what would let a change to w through and when, from the changes in its
// namespace, the freezes (of the namespace and the cluster namespace) and the workload's and
// namespace's labels, at now: one sentence per change targeting w and per active freeze that
// covers it, and the earliest time an approved change could pass (zero if unknown).
func DeployHints(w Workload, namespace string, workloadLabels, namespaceLabels map[string]string, clusterNamespace string,
	changes []itopsv1alpha1.ChangeRequest, windows []itopsv1alpha1.MaintenanceWindow, now time.Time) ([]string, time.Time) {
	var hints []string
	var earliest time.Time
	later := func(t time.Time) {
		if t.After(earliest) {
			earliest = t
		}
	}
	var freezeEnd time.Time
	for i := range windows {
		mw := &windows[i]
		if mw.Spec.Type != itopsv1alpha1.WindowFreeze {
			continue
		}
		row, ok := windowRow(mw, now)
		if !ok || row.State != "Active" || !covers(mw, namespace, workloadLabels, namespaceLabels, clusterNamespace) {
			continue
		}
		hints = append(hints, fmt.Sprintf("freeze %s/%s is active until %s (%s): only Emergency changes pass until then",
			mw.Namespace, mw.Name, row.End.Format(time.RFC3339), ago(now, row.End)))
		if row.End.After(freezeEnd) {
			freezeEnd = row.End
		}
	}
	targeting := 0
	approved := false
	sort.Slice(changes, func(i, j int) bool { return changes[i].Name < changes[j].Name })
	for i := range changes {
		cr := &changes[i]
		if !targets(cr, w) {
			continue
		}
		targeting++
		summary := orDash(cr.Status.ApprovalSummary)
		switch cr.Status.Phase {
		case itopsv1alpha1.ChangePending, "":
			hints = append(hints, fmt.Sprintf("ChangeRequest %s is Pending with %s approvals: approvers run `kubectl itops approve %s -n %s`",
				cr.Name, summary, cr.Name, namespace))
		case itopsv1alpha1.ChangeApproved, itopsv1alpha1.ChangeInProgress:
			approved = true
			if s := cr.Spec.Schedule; s != nil && now.Before(s.Start.Time) {
				hints = append(hints, fmt.Sprintf("ChangeRequest %s is approved; its schedule opens at %s (%s)", cr.Name, stamp(&s.Start), ago(now, s.Start.Time)))
				later(s.Start.Time)
			} else {
				hints = append(hints, fmt.Sprintf("ChangeRequest %s is %s", cr.Name, cr.Status.Phase))
			}
		default:
			hints = append(hints, fmt.Sprintf("ChangeRequest %s is %s: it authorises nothing more", cr.Name, cr.Status.Phase))
		}
	}
	if targeting == 0 {
		hints = append(hints, fmt.Sprintf("no ChangeRequest in namespace %s targets %s %s: create one listing it in spec.targets and have it approved",
			namespace, w.Kind, w.Name))
	}
	if !approved {
		return hints, time.Time{}
	}
	later(freezeEnd)
	if !earliest.After(now) {
		earliest = time.Time{}
	}
	return hints, earliest
}

func targets(cr *itopsv1alpha1.ChangeRequest, w Workload) bool {
	for _, t := range cr.Spec.Targets {
		if t.Kind == w.Kind && t.Name == w.Name {
			return true
		}
	}
	return false
}

// covers reports whether a Freeze window selects the workload: windows of the namespace by
// their selector, windows of the cluster namespace also by their namespaceSelector.
func covers(mw *itopsv1alpha1.MaintenanceWindow, namespace string, workloadLabels, namespaceLabels map[string]string, clusterNamespace string) bool {
	match := func(sel *metav1.LabelSelector, l map[string]string) bool {
		if sel == nil {
			return true
		}
		s, err := metav1.LabelSelectorAsSelector(sel)
		return err == nil && s.Matches(labels.Set(l))
	}
	if mw.Namespace != namespace && mw.Namespace != clusterNamespace {
		return false
	}
	if mw.Namespace == clusterNamespace && mw.Namespace != namespace && !match(mw.Spec.NamespaceSelector, namespaceLabels) {
		return false
	}
	return match(mw.Spec.Selector, workloadLabels)
}

// WriteVerdict writes can-i-deploy's answer: yes or no, the gate's reason, and the hints.
func WriteVerdict(out io.Writer, w Workload, namespace string, v DeployVerdict, hints []string, earliest, now time.Time) {
	if v.Allowed {
		line := fmt.Sprintf("yes: the change gate admits a change to %s in namespace %s now", w, namespace)
		if v.Change != "" {
			line += " under ChangeRequest " + v.Change
		}
		fmt.Fprintln(out, line)
		for _, warning := range v.Warnings {
			fmt.Fprintln(out, "warning: "+warning)
		}
		return
	}
	fmt.Fprintf(out, "no: the change gate would deny a change to %s in namespace %s now\n", w, namespace)
	fmt.Fprintf(out, "reason: %s\n", v.Denial)
	if len(hints) > 0 {
		fmt.Fprintln(out, "what would let it through:")
		for _, h := range hints {
			fmt.Fprintln(out, "  - "+h)
		}
	}
	if !earliest.IsZero() {
		fmt.Fprintf(out, "earliest: %s (%s)\n", earliest.UTC().Format(time.RFC3339), ago(now, earliest))
	}
}

func newCanIDeployCommand(o *Options) *cobra.Command {
	var clusterNamespace string
	cmd := &cobra.Command{
		Use:   "can-i-deploy WORKLOAD",
		Short: "Would the change gate admit a change to this workload now? If not, why, and when could it",
		Long: `Asks the change gate itself: sends a server-side dry-run update of the workload's pod
template (an annotation, never stored) as you, and reads the gate's answer (a dry run is
admitted with a warning saying what the real request would be denied for). The answer is
faithful: the same webhook, policy, changes, freezes, budgets and identity as a real rollout.
Then lists the changes targeting the workload and the freezes covering it, to say what
would let it through and the earliest time. Exit status: 0 yes, 1 no (like kubectl auth can-i).`,
		Example: `  kubectl itops can-i-deploy deployment/web -n shop
  kubectl itops can-i-deploy sts/db -n shop`,
		Args: cobra.ExactArgs(1),
	}
	cmd.Flags().StringVar(&clusterNamespace, "cluster-namespace", "itops-cluster", "the operator's cluster namespace, whose windows apply cluster-wide")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		w, err := ParseWorkload(args[0])
		if err != nil {
			return err
		}
		now, err := o.Now()
		if err != nil {
			return err
		}
		c, ns, err := o.Client()
		if err != nil {
			return err
		}
		obj := &unstructured.Unstructured{}
		obj.SetGroupVersionKind(w.gvk())
		if err := c.Get(cmdContext(), client.ObjectKey{Namespace: ns, Name: w.Name}, obj); err != nil {
			return err
		}
		before := obj.GetAnnotations()
		workloadLabels := obj.GetLabels()
		body, err := w.templatePatch(now)
		if err != nil {
			return err
		}
		o.warnings.texts = nil
		if err := c.Patch(cmdContext(), obj, client.RawPatch(types.MergePatchType, body), client.DryRunAll); err != nil {
			return err
		}
		v := VerdictFromDryRun(o.warnings.texts, obj.GetAnnotations(), before)
		var hints []string
		var earliest time.Time
		if !v.Allowed {
			var crs itopsv1alpha1.ChangeRequestList
			if err := c.List(cmdContext(), &crs, client.InNamespace(ns)); err != nil {
				return err
			}
			var windows []itopsv1alpha1.MaintenanceWindow
			for _, wns := range []string{ns, clusterNamespace} {
				var mws itopsv1alpha1.MaintenanceWindowList
				if err := c.List(cmdContext(), &mws, client.InNamespace(wns)); err == nil { // the cluster namespace may be unreadable
					windows = append(windows, mws.Items...)
				}
			}
			namespace := &metav1.PartialObjectMetadata{}
			namespace.SetGroupVersionKind(schema.GroupVersionKind{Version: "v1", Kind: "Namespace"})
			_ = c.Get(cmdContext(), client.ObjectKey{Name: ns}, namespace) // labels help only cluster-wide freezes
			hints, earliest = DeployHints(w, ns, workloadLabels, namespace.GetLabels(), clusterNamespace, crs.Items, windows, now)
		}
		WriteVerdict(o.Streams.Out, w, ns, v, hints, earliest, now)
		if !v.Allowed {
			return &exitError{code: 1, msg: "no"}
		}
		return nil
	}
	return cmd
}

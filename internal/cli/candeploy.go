package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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

// templatePatch is the dry-run strategic merge patch: a pod template annotation and the images
// to try (container name -> image; containers are merged by name, init containers where the
// workload has one of that name), at the template's path.
func (w Workload) templatePatch(now time.Time, images map[string]string, initContainers map[string]bool) ([]byte, error) {
	tpl := map[string]any{"metadata": map[string]any{"annotations": map[string]any{AnnotationCanIDeploy: now.UTC().Format(time.RFC3339)}}}
	if len(images) > 0 {
		var containers, inits []any
		for _, name := range sortedKeys(images) {
			c := map[string]any{"name": name, "image": images[name]}
			if initContainers[name] {
				inits = append(inits, c)
			} else {
				containers = append(containers, c)
			}
		}
		podSpec := map[string]any{}
		if len(containers) > 0 {
			podSpec["containers"] = containers
		}
		if len(inits) > 0 {
			podSpec["initContainers"] = inits
		}
		tpl["spec"] = podSpec
	}
	spec := map[string]any{"template": tpl}
	if w.Kind == itopsv1alpha1.TargetCronJob {
		spec = map[string]any{"jobTemplate": map[string]any{"spec": map[string]any{"template": tpl}}}
	}
	return json.Marshal(map[string]any{"spec": spec})
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ParseImages parses --image NAME=IMAGE values (as kubectl set image takes them).
func ParseImages(values []string) (map[string]string, error) {
	images := map[string]string{}
	for _, v := range values {
		name, image, ok := strings.Cut(v, "=")
		if !ok || name == "" || image == "" {
			return nil, fmt.Errorf("--image %q: want CONTAINER=IMAGE, for example api=registry.example.com/shop/api:1.4.2", v)
		}
		images[name] = image
	}
	return images, nil
}

// PinnedImages returns the images the change that would authorise a rollout of w pins
// (targets[].containers), and its name: of the changes targeting w, the first by name that is
// Approved or InProgress, else the first Pending one. Empty when none pins content.
func PinnedImages(w Workload, changes []itopsv1alpha1.ChangeRequest) (map[string]string, string) {
	var best *itopsv1alpha1.ChangeRequest
	rank := func(cr *itopsv1alpha1.ChangeRequest) int {
		switch cr.Status.Phase {
		case itopsv1alpha1.ChangeApproved, itopsv1alpha1.ChangeInProgress:
			return 2
		case itopsv1alpha1.ChangePending, "":
			return 1
		}
		return 0
	}
	for i := range changes {
		cr := &changes[i]
		if !targets(cr, w) || rank(cr) == 0 {
			continue
		}
		if best == nil || rank(cr) > rank(best) || (rank(cr) == rank(best) && cr.Name < best.Name) {
			best = cr
		}
	}
	if best == nil {
		return nil, ""
	}
	images := map[string]string{}
	for _, t := range best.Spec.Targets {
		if t.Kind == w.Kind && t.Name == w.Name {
			for _, c := range t.Containers {
				images[c.Name] = c.Image
			}
		}
	}
	if len(images) == 0 {
		return nil, ""
	}
	return images, best.Name
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
// namespace's labels, at now: one sentence per change targeting w (finished ones only when no
// other targets it) and per active freeze that covers it, and the earliest time an approved
// change could pass (zero if unknown).
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
	targeting, live := 0, 0
	approved := false
	sort.Slice(changes, func(i, j int) bool { return changes[i].Name < changes[j].Name })
	for i := range changes {
		if targets(&changes[i], w) && !terminal(changes[i].Status.Phase) {
			live++
		}
	}
	for i := range changes {
		cr := &changes[i]
		if !targets(cr, w) || (live > 0 && terminal(cr.Status.Phase)) {
			continue // finished changes matter only when nothing else targets the workload
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

// terminal reports whether a change in this phase authorises nothing any more.
func terminal(p itopsv1alpha1.ChangePhase) bool {
	switch p {
	case itopsv1alpha1.ChangeRejected, itopsv1alpha1.ChangeCompleted, itopsv1alpha1.ChangeFailed, itopsv1alpha1.ChangeExpired:
		return true
	}
	return false
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
	return coversNamespace(mw, namespace, namespaceLabels, clusterNamespace) && match(mw.Spec.Selector, workloadLabels)
}

// coversNamespace reports whether a window may apply to workloads of namespace: it is one of
// the namespace's, or one of the cluster namespace's whose namespaceSelector (none: every
// namespace) matches the namespace's labels, as the change gate applies them.
func coversNamespace(mw *itopsv1alpha1.MaintenanceWindow, namespace string, namespaceLabels map[string]string, clusterNamespace string) bool {
	switch {
	case mw.Namespace == namespace:
		return true
	case mw.Namespace != clusterNamespace:
		return false
	case mw.Spec.NamespaceSelector == nil:
		return true
	}
	s, err := metav1.LabelSelectorAsSelector(mw.Spec.NamespaceSelector)
	return err == nil && s.Matches(labels.Set(namespaceLabels))
}

// initContainerNames are the names of the workload's init containers.
func initContainerNames(obj *unstructured.Unstructured, w Workload) map[string]bool {
	path := []string{"spec", "template", "spec", "initContainers"}
	if w.Kind == itopsv1alpha1.TargetCronJob {
		path = []string{"spec", "jobTemplate", "spec", "template", "spec", "initContainers"}
	}
	names := map[string]bool{}
	list, _, _ := unstructured.NestedSlice(obj.Object, path...)
	for _, c := range list {
		if m, ok := c.(map[string]any); ok {
			if name, ok := m["name"].(string); ok {
				names[name] = true
			}
		}
	}
	return names
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
	cmd := &cobra.Command{
		Use:   "can-i-deploy WORKLOAD",
		Short: "Would the change gate admit a change to this workload now? If not, why, and when could it",
		Long: `Asks the change gate itself: sends a server-side dry-run update of the workload's pod
template as you (an annotation, and the images to try: --image, else those the change
targeting the workload pins in targets[].containers, else the current ones; never stored), and
reads the gate's answer (a dry run is admitted with a warning saying what the real request
would be denied for). The answer is faithful: the same webhook, policy, changes, freezes,
budgets and identity as a real rollout.
Then lists the changes targeting the workload and the freezes covering it, to say what
would let it through and the earliest time. The yes or no is always the gate's; the hints need
the windows of the operator's cluster namespace (--cluster-namespace) and the namespace's
labels: what you may not read is named in a warning on stderr ("could not read ...:
forbidden; the answer may miss cluster-wide freezes"), never skipped silently.
Exit status: 0 yes, 1 no (like kubectl auth can-i), also 1 with "error: ..." on stderr when
the question could not be asked (no such workload, the dry run forbidden, no API server).`,
		Example: `  kubectl itops can-i-deploy deployment/web -n shop
  kubectl itops can-i-deploy sts/db -n shop --image db=registry.example.com/shop/db:16.4`,
		Args: cobra.ExactArgs(1),
	}
	var imageFlags []string
	cmd.Flags().StringArrayVar(&imageFlags, "image", nil, "CONTAINER=IMAGE to try (repeatable); default: the images the change targeting the workload pins, else the current ones")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		w, err := ParseWorkload(args[0])
		if err != nil {
			return err
		}
		images, err := ParseImages(imageFlags)
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
			if apierrors.IsNotFound(err) {
				return fmt.Errorf("%s does not exist in namespace %s: can-i-deploy judges changes to existing workloads; "+
					"try a create with kubectl apply --dry-run=server (the gate answers dry runs with a warning)", w, ns)
			}
			return err
		}
		var crs itopsv1alpha1.ChangeRequestList
		if err := c.List(cmdContext(), &crs, client.InNamespace(ns)); err != nil {
			return err
		}
		if len(images) == 0 {
			var pinnedBy string
			if images, pinnedBy = PinnedImages(w, crs.Items); pinnedBy != "" {
				var pairs []string
				for _, name := range sortedKeys(images) {
					pairs = append(pairs, name+"="+images[name])
				}
				fmt.Fprintf(o.Streams.Out, "trying %s, the content ChangeRequest %s pins\n", strings.Join(pairs, ", "), pinnedBy)
			}
		}
		before := obj.GetAnnotations()
		workloadLabels := obj.GetLabels()
		body, err := w.templatePatch(now, images, initContainerNames(obj, w))
		if err != nil {
			return err
		}
		o.warnings.texts = nil
		if err := c.Patch(cmdContext(), obj, client.RawPatch(types.StrategicMergePatchType, body), client.DryRunAll); err != nil {
			return err
		}
		v := VerdictFromDryRun(o.warnings.texts, obj.GetAnnotations(), before)
		var hints []string
		var earliest time.Time
		if !v.Allowed {
			clusterNamespace := o.ClusterNamespace
			var windows []itopsv1alpha1.MaintenanceWindow
			var notices []string
			for _, wns := range []string{ns, clusterNamespace} {
				var mws itopsv1alpha1.MaintenanceWindowList
				if err := c.List(cmdContext(), &mws, client.InNamespace(wns)); err != nil {
					misses := "the answer may miss freezes of the namespace"
					if wns == clusterNamespace && wns != ns {
						misses = "the answer may miss cluster-wide freezes"
					}
					notices = append(notices, readNotice("the MaintenanceWindows of namespace "+wns, err, misses))
					continue
				}
				windows = append(windows, mws.Items...)
			}
			namespace := &metav1.PartialObjectMetadata{}
			namespace.SetGroupVersionKind(schema.GroupVersionKind{Version: "v1", Kind: "Namespace"})
			if err := c.Get(cmdContext(), client.ObjectKey{Name: ns}, namespace); err != nil && ns != clusterNamespace {
				// Its labels decide which cluster-wide freezes select it.
				notices = append(notices, readNotice("namespace "+ns, err, "the answer may miss cluster-wide freezes"))
			}
			for _, n := range notices {
				fmt.Fprintln(o.Streams.ErrOut, "warning: "+n)
			}
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

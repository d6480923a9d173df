package gate

import (
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// Kinds the gate sees besides the workload target kinds: what runs an image without a gated
// workload owning it, and the revisions a rollback restores. No ChangeRequest can target a Pod,
// a ReplicaSet, a ReplicationController or a ControllerRevision.
const (
	KindPod                   itopsv1alpha1.TargetKind = "Pod"
	KindReplicaSet            itopsv1alpha1.TargetKind = "ReplicaSet"
	KindReplicationController itopsv1alpha1.TargetKind = "ReplicationController"
	// KindControllerRevision: a StatefulSet's or DaemonSet's revision (what kubectl rollout undo
	// restores); only the control plane may write them in a change-controlled namespace.
	KindControllerRevision itopsv1alpha1.TargetKind = "ControllerRevision"
	// KindJob is a ChangeRequest target kind too (itopsv1alpha1.TargetJob).
	KindJob = itopsv1alpha1.TargetJob
)

// Owner is an object's controller owner reference.
type Owner struct {
	Kind, Name, UID string
}

// Object is the part of a workload the gate looks at: its kind, identity, labels, annotations,
// controller owner and spec, decoded generically so that one comparison serves every kind.
type Object struct {
	Kind        itopsv1alpha1.TargetKind
	Name        string
	Labels      map[string]string
	Annotations map[string]string
	// Owner is the controller owner reference (nil without one).
	Owner *Owner
	// OwnerReferences are all the object's owner references (the garbage collector deletes
	// the object once they are all gone).
	OwnerReferences []metav1.OwnerReference
	// Spec is the workload's spec as decoded JSON.
	Spec map[string]any
}

// Decode reads a workload from an admission request's raw object.
func Decode(kind itopsv1alpha1.TargetKind, raw []byte) (*Object, error) {
	var u struct {
		Metadata struct {
			Name            string                  `json:"name"`
			Labels          map[string]string       `json:"labels"`
			Annotations     map[string]string       `json:"annotations"`
			OwnerReferences []metav1.OwnerReference `json:"ownerReferences"`
		} `json:"metadata"`
		Spec map[string]any `json:"spec"`
	}
	if err := json.Unmarshal(raw, &u); err != nil {
		return nil, fmt.Errorf("decoding the %s: %w", kind, err)
	}
	o := &Object{Kind: kind, Name: u.Metadata.Name, Labels: u.Metadata.Labels, Annotations: u.Metadata.Annotations, Spec: u.Spec,
		OwnerReferences: u.Metadata.OwnerReferences}
	for _, ref := range u.Metadata.OwnerReferences {
		if ref.Controller != nil && *ref.Controller {
			o.Owner = &Owner{Kind: ref.Kind, Name: ref.Name, UID: string(ref.UID)}
		}
	}
	return o, nil
}

// templatePath is where a kind keeps its pod template in spec (nil: the spec is a pod spec).
func templatePath(kind itopsv1alpha1.TargetKind) []string {
	switch kind {
	case itopsv1alpha1.TargetCronJob:
		return []string{"jobTemplate", "spec", "template"}
	case KindPod:
		return nil
	}
	return []string{"template"}
}

// TemplateJSON returns the pod template as decoded JSON (a Pod's spec wrapped as a template),
// or nil if the spec has none.
func (o *Object) TemplateJSON() map[string]any {
	if o == nil {
		return nil
	}
	if o.Kind == KindPod {
		return map[string]any{"spec": o.Spec}
	}
	raw, ok := nested(o.Spec, templatePath(o.Kind)...)
	if !ok {
		return nil
	}
	return raw
}

// Template returns the pod template, or nil if the spec has none.
func (o *Object) Template() *corev1.PodTemplateSpec {
	raw := o.TemplateJSON()
	if raw == nil {
		return nil
	}
	tpl := &corev1.PodTemplateSpec{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, tpl); err != nil {
		return nil
	}
	return tpl
}

// Images maps each container (init and ephemeral containers included) to its image.
func (o *Object) Images() map[string]string {
	images := map[string]string{}
	tpl := o.Template()
	if tpl == nil {
		return images
	}
	for _, c := range tpl.Spec.InitContainers {
		images[c.Name] = c.Image
	}
	for _, c := range tpl.Spec.Containers {
		images[c.Name] = c.Image
	}
	for _, c := range tpl.Spec.EphemeralContainers {
		images[c.Name] = c.Image
	}
	return images
}

func nested(m map[string]any, path ...string) (map[string]any, bool) {
	cur := m
	for _, p := range path {
		next, ok := cur[p].(map[string]any)
		if !ok {
			return nil, false
		}
		cur = next
	}
	return cur, true
}

// Operational controls: updates that change only these pass the gate without a change (see
// docs/changes.md, "Always allowed"). Each names what an update changes.
const (
	// OpScale: spec.replicas (kubectl scale, an apply that sets replicas).
	OpScale = "Scale"
	// OpMetadata: labels, annotations or finalizers of the workload itself, or nothing at all
	// (a no-op apply). Not its ownerReferences: an owner reference to an object one then
	// deletes makes the garbage collector delete the workload, so changing them is a change.
	OpMetadata = "Metadata"
	// OpRestart: the pod template's kubectl.kubernetes.io/restartedAt (kubectl rollout restart).
	OpRestart = "Restart"
	// OpSuspend and OpResume: a CronJob's or Job's spec.suspend (the emergency stop of a
	// misbehaving CronJob, and its end).
	OpSuspend = "Suspend"
	OpResume  = "Resume"
	// OpPause and OpUnpause: a Deployment's spec.paused (kubectl rollout pause / resume).
	OpPause   = "Pause"
	OpUnpause = "Unpause"
)

// normalSpec returns a deep copy of the spec without the fields operational controls change:
// replicas, a CronJob's suspend, a Deployment's paused, and the pod template's restart
// annotation.
func normalSpec(o *Object) map[string]any {
	spec := runtime.DeepCopyJSON(o.Spec)
	delete(spec, "replicas")
	switch o.Kind {
	case itopsv1alpha1.TargetCronJob, itopsv1alpha1.TargetJob:
		delete(spec, "suspend")
	case itopsv1alpha1.TargetDeployment:
		delete(spec, "paused")
	}
	if tpl, ok := nested(spec, templatePath(o.Kind)...); ok && o.Kind != KindPod {
		if meta, ok := tpl["metadata"].(map[string]any); ok {
			if ann, ok := meta["annotations"].(map[string]any); ok {
				delete(ann, itopsv1alpha1.AnnotationRestartedAt)
				if len(ann) == 0 {
					delete(meta, "annotations")
				}
			}
		}
	}
	return spec
}

// Operational returns the operational controls an update makes (OpScale, OpSuspend, ...; at
// least OpMetadata) when it changes nothing else, or nil when it needs a change. Creates and
// deletes are never operational.
func Operational(op Operation, before, after *Object) []string {
	if op != Update || before == nil || after == nil || !apiequality.Semantic.DeepEqual(normalSpec(before), normalSpec(after)) ||
		!apiequality.Semantic.DeepEqual(before.OwnerReferences, after.OwnerReferences) {
		return nil
	}
	var ops []string
	if !apiequality.Semantic.DeepEqual(before.Spec["replicas"], after.Spec["replicas"]) {
		ops = append(ops, OpScale)
	}
	flag := func(key, on, off string) {
		was, _ := before.Spec[key].(bool)
		is, _ := after.Spec[key].(bool)
		switch {
		case is && !was:
			ops = append(ops, on)
		case was && !is:
			ops = append(ops, off)
		}
	}
	switch after.Kind {
	case itopsv1alpha1.TargetCronJob, itopsv1alpha1.TargetJob:
		flag("suspend", OpSuspend, OpResume)
	case itopsv1alpha1.TargetDeployment:
		flag("paused", OpPause, OpUnpause)
	}
	if restartedAt(before) != restartedAt(after) {
		ops = append(ops, OpRestart)
	}
	if len(ops) == 0 {
		ops = append(ops, OpMetadata)
	}
	return ops
}

func restartedAt(o *Object) string {
	tpl := o.Template()
	if tpl == nil {
		return ""
	}
	return tpl.Annotations[itopsv1alpha1.AnnotationRestartedAt]
}

// Revision is one of a workload's earlier pod templates (a Deployment's ReplicaSet, a
// StatefulSet's or DaemonSet's ControllerRevision).
type Revision struct {
	Number   int64
	Template map[string]any
	// Change is the ChangeRequest the revision was made under: the revision's
	// itops.dev/change-request annotation, which the workload controllers copy from the
	// workload when they create the revision ("" if none). Only the control plane may create or
	// change revisions in a change-controlled namespace (decideUnowned), so it cannot be forged.
	Change string
}

// RollbackTo returns the earlier revision whose pod template the update restores (the
// template is otherwise unchanged: only the template differs, and replicas), the newest if
// several match, or false.
func RollbackTo(before, after *Object, revisions []Revision) (Revision, bool) {
	if !rollbackKind(after) || before == nil {
		return Revision{}, false
	}
	oldSpec, newSpec := runtime.DeepCopyJSON(before.Spec), runtime.DeepCopyJSON(after.Spec)
	delete(oldSpec, "replicas")
	delete(newSpec, "replicas")
	newTpl, ok := nested(newSpec, "template")
	if !ok {
		return Revision{}, false
	}
	delete(oldSpec, "template")
	delete(newSpec, "template")
	if !apiequality.Semantic.DeepEqual(oldSpec, newSpec) {
		return Revision{}, false // more than the template changes
	}
	want := normalTemplate(newTpl)
	var best Revision
	found := false
	for _, r := range revisions {
		if apiequality.Semantic.DeepEqual(want, normalTemplate(r.Template)) && (!found || r.Number > best.Number) {
			best, found = r, true
		}
	}
	return best, found
}

// RollbackShaped reports whether an update changes the pod template (and perhaps replicas)
// and nothing else, as a rollback does: only then are the workload's revisions worth reading.
func RollbackShaped(op Operation, before, after *Object) bool {
	if op != Update || before == nil || !rollbackKind(after) {
		return false
	}
	oldSpec, newSpec := runtime.DeepCopyJSON(before.Spec), runtime.DeepCopyJSON(after.Spec)
	for _, spec := range []map[string]any{oldSpec, newSpec} {
		delete(spec, "replicas")
		delete(spec, "template")
	}
	return apiequality.Semantic.DeepEqual(oldSpec, newSpec) &&
		!apiequality.Semantic.DeepEqual(before.Spec["template"], after.Spec["template"])
}

// rollbackKind: the kinds kubectl rollout undo rolls back.
func rollbackKind(o *Object) bool {
	return o != nil && (o.Kind == itopsv1alpha1.TargetDeployment || o.Kind == itopsv1alpha1.TargetStatefulSet || o.Kind == itopsv1alpha1.TargetDaemonSet)
}

// normalTemplate drops what the workload controllers add to their revisions' templates: the
// pod-template-hash label, a strategic-merge "$patch" directive, an empty creationTimestamp.
func normalTemplate(tpl map[string]any) map[string]any {
	t := runtime.DeepCopyJSON(tpl)
	delete(t, "$patch")
	if meta, ok := t["metadata"].(map[string]any); ok {
		if labels, ok := meta["labels"].(map[string]any); ok {
			delete(labels, "pod-template-hash")
			delete(labels, "controller-revision-hash")
			if len(labels) == 0 {
				delete(meta, "labels")
			}
		}
		if meta["creationTimestamp"] == nil {
			delete(meta, "creationTimestamp")
		}
		if len(meta) == 0 {
			delete(t, "metadata")
		}
	}
	return t
}

// ImagesWithinRepository reports what, besides container images that stay within their
// repositories, an update changes; "" when nothing does.
func ImagesWithinRepository(before, after *Object) string {
	oldSpec, newSpec := runtime.DeepCopyJSON(before.Spec), runtime.DeepCopyJSON(after.Spec)
	delete(oldSpec, "replicas")
	delete(newSpec, "replicas")
	for _, spec := range []map[string]any{oldSpec, newSpec} {
		tpl, ok := nested(spec, templatePath(before.Kind)...)
		if !ok {
			continue
		}
		podSpec, _ := tpl["spec"].(map[string]any)
		for _, key := range []string{"containers", "initContainers"} {
			list, _ := podSpec[key].([]any)
			for _, c := range list {
				if cm, ok := c.(map[string]any); ok {
					delete(cm, "image")
				}
			}
		}
	}
	if !apiequality.Semantic.DeepEqual(oldSpec, newSpec) {
		return "pre-approves image updates only, and this request changes more than container images"
	}
	oldImages := before.Images()
	for name, image := range after.Images() {
		before := oldImages[name]
		if Repository(before) != Repository(image) {
			return fmt.Sprintf("pre-approves image updates within a repository only, and container %s moves from %s to %s",
				name, Repository(before), Repository(image))
		}
	}
	return ""
}

// Repository is an image reference without its tag and digest:
// registry.example.com:5000/shop/web:1.2@sha256:... -> registry.example.com:5000/shop/web.
func Repository(image string) string {
	if i := strings.Index(image, "@"); i >= 0 {
		image = image[:i]
	}
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		image = image[:i]
	}
	return image
}

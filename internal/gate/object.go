package gate

import (
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// Object is the part of a workload the gate looks at: its kind, labels and spec, decoded
// generically so that one comparison serves every kind.
type Object struct {
	Kind   itopsv1alpha1.TargetKind
	Labels map[string]string
	// Spec is the workload's spec as decoded JSON.
	Spec map[string]any
}

// Decode reads a workload from an admission request's raw object.
func Decode(kind itopsv1alpha1.TargetKind, raw []byte) (*Object, error) {
	var u struct {
		Metadata struct {
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
		Spec map[string]any `json:"spec"`
	}
	if err := json.Unmarshal(raw, &u); err != nil {
		return nil, fmt.Errorf("decoding the %s: %w", kind, err)
	}
	return &Object{Kind: kind, Labels: u.Metadata.Labels, Spec: u.Spec}, nil
}

// templatePath is where a kind keeps its pod template in spec.
func templatePath(kind itopsv1alpha1.TargetKind) []string {
	if kind == itopsv1alpha1.TargetCronJob {
		return []string{"jobTemplate", "spec", "template"}
	}
	return []string{"template"}
}

// Template returns the pod template, or nil if the spec has none.
func (o *Object) Template() *corev1.PodTemplateSpec {
	if o == nil {
		return nil
	}
	raw, ok := nested(o.Spec, templatePath(o.Kind)...)
	if !ok {
		return nil
	}
	tpl := &corev1.PodTemplateSpec{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, tpl); err != nil {
		return nil
	}
	return tpl
}

// Images maps each container (init containers included) to its image.
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

// specWithout returns a deep copy of spec without replicas and, if restart is set, without the
// pod template's restart annotation.
func specWithout(o *Object, restart bool) map[string]any {
	spec := runtime.DeepCopyJSON(o.Spec)
	delete(spec, "replicas")
	if restart {
		if tpl, ok := nested(spec, templatePath(o.Kind)...); ok {
			if meta, ok := tpl["metadata"].(map[string]any); ok {
				if ann, ok := meta["annotations"].(map[string]any); ok {
					delete(ann, itopsv1alpha1.AnnotationRestartedAt)
					if len(ann) == 0 {
						delete(meta, "annotations")
					}
				}
			}
		}
	}
	return spec
}

// Exempt returns the exemption that lets an update through without a change: only replicas,
// labels or annotations change (spec is otherwise equal), or only the restart annotation of
// the pod template changes (kubectl rollout restart). "" when the update needs a change.
func Exempt(op Operation, before, after *Object) string {
	if op != Update || before == nil || after == nil {
		return ""
	}
	if apiequality.Semantic.DeepEqual(specWithout(before, false), specWithout(after, false)) {
		return ExemptScaleOrMetadata
	}
	if after.Kind != itopsv1alpha1.TargetCronJob && apiequality.Semantic.DeepEqual(specWithout(before, true), specWithout(after, true)) {
		return ExemptRestart
	}
	return ""
}

// Revision is one of a workload's earlier pod templates (a Deployment's ReplicaSet, a
// StatefulSet's or DaemonSet's ControllerRevision).
type Revision struct {
	Number   int64
	Template map[string]any
}

// RollbackTo returns the earlier revision whose pod template the update restores (the
// template is otherwise unchanged: only the template differs, and replicas), or false.
func RollbackTo(before, after *Object, revisions []Revision) (int64, bool) {
	if before == nil || after == nil || after.Kind == itopsv1alpha1.TargetCronJob {
		return 0, false
	}
	oldSpec, newSpec := specWithout(before, false), specWithout(after, false)
	newTpl, ok := nested(newSpec, "template")
	if !ok {
		return 0, false
	}
	delete(oldSpec, "template")
	delete(newSpec, "template")
	if !apiequality.Semantic.DeepEqual(oldSpec, newSpec) {
		return 0, false // more than the template changes
	}
	want := normalTemplate(newTpl)
	var best int64
	found := false
	for _, r := range revisions {
		if apiequality.Semantic.DeepEqual(want, normalTemplate(r.Template)) && (!found || r.Number > best) {
			best, found = r.Number, true
		}
	}
	return best, found
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
	oldSpec, newSpec := specWithout(before, false), specWithout(after, false)
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

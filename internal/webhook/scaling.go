package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/scaling"
)

// ScalingBoundsPath is the webhook path of the scaling bounds.
const ScalingBoundsPath = "/validate-scaling-bounds"

// The scaling bounds are a guardrail, not a security gate: failurePolicy Ignore, so an operator
// outage never blocks scaling; kube-system and the operator and cluster namespaces are excluded
// by the configurations' namespaceSelector (hack/webhook-selectors.sh).
// +kubebuilder:webhook:path=/validate-scaling-bounds,mutating=false,failurePolicy=ignore,sideEffects=None,groups=apps,resources=deployments;statefulsets;deployments/scale;statefulsets/scale,verbs=create;update,versions=v1,name=vscaling.itops.dev,admissionReviewVersions=v1,timeoutSeconds=2
// +kubebuilder:webhook:path=/validate-scaling-bounds,mutating=false,failurePolicy=ignore,sideEffects=None,groups=autoscaling,resources=horizontalpodautoscalers,verbs=create;update,versions=v1;v2,name=vscalinghpa.itops.dev,admissionReviewVersions=v1,timeoutSeconds=2

// +kubebuilder:rbac:groups=autoscaling,resources=horizontalpodautoscalers,verbs=get;list;watch

// ScalingBounds denies replica counts and HorizontalPodAutoscalers outside the bounds of the
// ServiceLevels selecting a workload, naming the ServiceLevel. It decides from the cache.
type ScalingBounds struct {
	Reader client.Reader
	// ExemptNamespaces (the operator and cluster namespaces, kube-system) are never checked.
	ExemptNamespaces []string
}

// Handler returns the validating webhook.
func (s *ScalingBounds) Handler() admission.Handler { return admission.HandlerFunc(s.validate) }

// validate checks the request; a server dry run that would be denied is allowed with a warning
// saying why, as the change gate does, so that previews and GitOps diffs keep working.
func (s *ScalingBounds) validate(ctx context.Context, req admission.Request) admission.Response {
	resp := s.check(ctx, req)
	if !resp.Allowed && resp.Result != nil && resp.Result.Code == http.StatusForbidden && req.DryRun != nil && *req.DryRun {
		return admission.Allowed("dry run").WithWarnings("dry run: the real request would be denied: " + resp.Result.Message)
	}
	return resp
}

func (s *ScalingBounds) check(ctx context.Context, req admission.Request) admission.Response {
	if req.Namespace == "" || req.Namespace == metav1.NamespaceSystem || slices.Contains(s.ExemptNamespaces, req.Namespace) {
		return admission.Allowed("")
	}
	if req.Kind.Kind == "HorizontalPodAutoscaler" {
		return s.validateHPA(ctx, req)
	}
	var kind string
	switch req.Resource.Resource {
	case "deployments":
		kind = "Deployment"
	case "statefulsets":
		kind = "StatefulSet"
	default:
		return admission.Allowed("")
	}
	newReplicas, err := replicasOf(req.Object.Raw, req.SubResource)
	if err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	oldReplicas := int32(-1)
	if len(req.OldObject.Raw) > 0 {
		if oldReplicas, err = replicasOf(req.OldObject.Raw, req.SubResource); err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
	}
	if newReplicas == oldReplicas {
		// Not a scaling request; a workload already outside its bounds is drift, reported by
		// the ServiceLevel, not a reason to block unrelated updates.
		return admission.Allowed("")
	}
	workloadLabels, err := s.workloadLabels(ctx, req, kind)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	b, err := s.bounds(ctx, req.Namespace, workloadLabels)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	if !b.Bounded() {
		return admission.Allowed("")
	}
	name := req.Name
	if name == "" {
		name = objectName(req.Object.Raw)
	}
	msg := b.CheckReplicas(fmt.Sprintf("%s %s/%s", kind, req.Namespace, name), newReplicas)
	if msg == "" || (oldReplicas >= 0 && !b.Conflict() && closer(b, oldReplicas, newReplicas)) {
		// Within the bounds, or a drifted workload moving towards them.
		return admission.Allowed("")
	}
	if scaling.DefaultedOnCreate(string(req.Operation), req.SubResource, newReplicas, replicasSet(req.Object.Raw), b) {
		return admission.Allowed("").WithWarnings("itops scaling policy: " + msg + ": allowed at creation, where an absent spec.replicas " +
			"(a HorizontalPodAutoscaler owns the count) reads as 1; the autoscaler, or the ServiceLevel's drift policy, brings it within the bounds")
	}
	return admission.Denied("itops scaling policy: " + msg)
}

// closer reports whether to is nearer the bounds than from (moving a drifted workload back).
func closer(b scaling.Bounds, from, to int32) bool {
	dist := func(n int32) int32 {
		switch {
		case b.Min != nil && n < *b.Min:
			return *b.Min - n
		case b.Max != nil && n > *b.Max:
			return n - *b.Max
		}
		return 0
	}
	return dist(to) < dist(from)
}

// replicasSet reports whether the create's request set spec.replicas itself
// (scaling.ReplicasSet); an undecodable object counts as set (judged, not waved through).
func replicasSet(raw []byte) bool {
	var obj metav1.PartialObjectMetadata
	if err := json.Unmarshal(raw, &obj); err != nil {
		return true
	}
	return scaling.ReplicasSet(obj.ManagedFields, obj.Annotations[corev1.LastAppliedConfigAnnotation])
}

func objectName(raw []byte) string {
	var obj metav1.PartialObjectMetadata
	_ = json.Unmarshal(raw, &obj)
	return obj.Name
}

// replicasOf reads spec.replicas of a workload or of its scale subresource (default 1).
func replicasOf(raw []byte, subResource string) (int32, error) {
	var obj struct {
		Spec struct {
			Replicas *int32 `json:"replicas"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return 0, fmt.Errorf("decoding the %s: %w", map[bool]string{true: "scale", false: "workload"}[subResource == "scale"], err)
	}
	if obj.Spec.Replicas == nil {
		return 1, nil
	}
	return *obj.Spec.Replicas, nil
}

// workloadLabels are the labels ServiceLevels select the workload by: from the request for the
// workload itself, from the cache for its scale subresource.
func (s *ScalingBounds) workloadLabels(ctx context.Context, req admission.Request, kind string) (labels.Set, error) {
	if req.SubResource == "" {
		var obj metav1.PartialObjectMetadata
		if err := json.Unmarshal(req.Object.Raw, &obj); err != nil {
			return nil, err
		}
		return obj.Labels, nil
	}
	return s.labelsOf(ctx, req.Namespace, kind, req.Name)
}

func (s *ScalingBounds) labelsOf(ctx context.Context, ns, kind, name string) (labels.Set, error) {
	var obj client.Object
	switch kind {
	case "Deployment":
		obj = &appsv1.Deployment{}
	case "StatefulSet":
		obj = &appsv1.StatefulSet{}
	default:
		return nil, nil
	}
	if err := s.Reader.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	return obj.GetLabels(), nil
}

// bounds are the effective bounds of the ServiceLevels in ns selecting a workload with these
// labels.
func (s *ScalingBounds) bounds(ctx context.Context, ns string, workloadLabels labels.Set) (scaling.Bounds, error) {
	if workloadLabels == nil {
		return scaling.Bounds{}, nil
	}
	list := &itopsv1alpha1.ServiceLevelList{}
	if err := s.Reader.List(ctx, list, client.InNamespace(ns)); err != nil {
		return scaling.Bounds{}, fmt.Errorf("listing service levels: %w", err)
	}
	return scaling.Effective(scaling.BoundsOf(list.Items, workloadLabels)), nil
}

func (s *ScalingBounds) validateHPA(ctx context.Context, req admission.Request) admission.Response {
	var hpa struct {
		Spec struct {
			ScaleTargetRef struct {
				Kind string `json:"kind"`
				Name string `json:"name"`
			} `json:"scaleTargetRef"`
			MinReplicas *int32 `json:"minReplicas"`
			MaxReplicas int32  `json:"maxReplicas"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(req.Object.Raw, &hpa); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	set, err := s.labelsOf(ctx, req.Namespace, hpa.Spec.ScaleTargetRef.Kind, hpa.Spec.ScaleTargetRef.Name)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	b, err := s.bounds(ctx, req.Namespace, set)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	if msg := b.CheckHPA(req.Namespace+"/"+req.Name, hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas); msg != "" {
		return admission.Denied("itops scaling policy: " + msg)
	}
	return admission.Allowed("")
}

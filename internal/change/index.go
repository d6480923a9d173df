package change

import (
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// TargetIndex is the cache index of ChangeRequests by the workloads they target, so that the
// gate finds a workload's changes without scanning every ChangeRequest.
const TargetIndex = "itops.dev/change-target"

// TargetKey is the index value of a workload: "Deployment/web".
func TargetKey(kind itopsv1alpha1.TargetKind, name string) string {
	return string(kind) + "/" + name
}

// TargetKeys indexes a ChangeRequest by its targets.
func TargetKeys(obj client.Object) []string {
	cr, ok := obj.(*itopsv1alpha1.ChangeRequest)
	if !ok {
		return nil
	}
	keys := make([]string, 0, len(cr.Spec.Targets))
	for _, t := range cr.Spec.Targets {
		keys = append(keys, TargetKey(t.Kind, t.Name))
	}
	return keys
}

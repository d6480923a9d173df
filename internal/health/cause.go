package health

import (
	"sort"

	corev1 "k8s.io/api/core/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// NodeIncidents returns the open incident of a node whose NodeNotReady signal is active, or
// nil when the node has none.
type NodeIncidents func(node string) *itopsv1alpha1.IncidentReference

// NodeCause decides whether a workload's trouble is explained by its nodes: every pod of the
// workload that is not ready (and not being deleted) runs on a node with an open NotReady
// incident. It returns that incident (the first by node name, deterministic) and the
// affected nodes, or nil when some not-ready pod sits on a healthy node (the workload has a
// problem of its own) or no pod is not ready.
func NodeCause(pods []corev1.Pod, down NodeIncidents) (*itopsv1alpha1.IncidentReference, []string) {
	var nodes []string
	seen := map[string]bool{}
	for i := range pods {
		p := &pods[i]
		if p.DeletionTimestamp != nil || podReady(p) {
			continue
		}
		if p.Spec.NodeName == "" || down(p.Spec.NodeName) == nil {
			return nil, nil
		}
		if !seen[p.Spec.NodeName] {
			seen[p.Spec.NodeName] = true
			nodes = append(nodes, p.Spec.NodeName)
		}
	}
	if len(nodes) == 0 {
		return nil, nil
	}
	sort.Strings(nodes)
	return down(nodes[0]), nodes
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

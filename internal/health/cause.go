package health

import (
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// NodeIncidents returns the open incident of a node whose NodeNotReady signal is active, or
// nil when the node has none.
type NodeIncidents func(node string) *itopsv1alpha1.IncidentReference

// NodeCause decides whether a workload's trouble is explained by its nodes: every pod of the
// workload that is not ready (and not being deleted) either runs on a node with an open
// NotReady incident, or cannot be scheduled because nodes are unreachable or not ready (the
// scheduler's PodScheduled=False/Unschedulable message names the node.kubernetes.io/unreachable
// or node.kubernetes.io/not-ready taint: the replacements of evicted pods after capacity was
// lost) while capacityLost, an open NodeNotReady incident, exists. It returns the explaining
// incident (the first by node name among the pods' nodes, deterministic; capacityLost when
// only unschedulable pods remain) and the affected nodes, or nil when some not-ready pod sits
// on a healthy node or waits for another reason (the workload has a problem of its own), or
// no pod is not ready. Source: Alertmanager's inhibition of workload alerts by node alerts.
func NodeCause(pods []corev1.Pod, down NodeIncidents, capacityLost *itopsv1alpha1.IncidentReference) (*itopsv1alpha1.IncidentReference, []string) {
	var nodes []string
	seen := map[string]bool{}
	unschedulable := 0
	for i := range pods {
		p := &pods[i]
		if p.DeletionTimestamp != nil || podReady(p) {
			continue
		}
		if p.Spec.NodeName == "" {
			if capacityLost == nil || !UnschedulableForLostNodes(p) {
				return nil, nil
			}
			unschedulable++
			continue
		}
		if down(p.Spec.NodeName) == nil {
			return nil, nil
		}
		if !seen[p.Spec.NodeName] {
			seen[p.Spec.NodeName] = true
			nodes = append(nodes, p.Spec.NodeName)
		}
	}
	if len(nodes) == 0 {
		if unschedulable > 0 {
			return capacityLost, nil
		}
		return nil, nil
	}
	sort.Strings(nodes)
	return down(nodes[0]), nodes
}

// UnschedulableForLostNodes reports whether the scheduler could not place the pod and its message names the
// taints the node lifecycle controller puts on unreachable or not-ready nodes.
func UnschedulableForLostNodes(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return strings.Contains(c.Message, corev1.TaintNodeUnreachable) || strings.Contains(c.Message, corev1.TaintNodeNotReady)
		}
	}
	return false
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// ZoneNode is a node of the same topology zone as the one judged, with its open NodeNotReady
// incident (nil when it has none).
type ZoneNode struct {
	Name     string
	Incident *itopsv1alpha1.IncidentReference
}

// ZoneCause groups the failures of one topology zone (label topology.kubernetes.io/zone) into
// one incident, as Alertmanager's grouping by zone does: a NotReady node whose zone holds
// another NotReady node with an open incident and a name that sorts before its own is a
// symptom of that node's incident (the first by name is the zone's cause, so the choice is
// deterministic and never circular). It returns nil for a node that is not NotReady, has no
// zone, or is the first of its zone.
func ZoneCause(node string, notReady bool, zone string, others []ZoneNode) *itopsv1alpha1.IncidentReference {
	if !notReady || zone == "" {
		return nil
	}
	var first *ZoneNode
	for i := range others {
		o := &others[i]
		if o.Incident == nil || o.Name == node || o.Name >= node {
			continue
		}
		if first == nil || o.Name < first.Name {
			first = o
		}
	}
	if first == nil {
		return nil
	}
	return first.Incident
}

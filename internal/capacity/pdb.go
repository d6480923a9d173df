package capacity

import (
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// JudgeDisruptionBudget judges one PodDisruptionBudget at now. It is blocked by its
// configuration when it allows no disruption (status.disruptionsAllowed 0) with pods to
// protect (expectedPods > 0) and would allow none even with every pod healthy:
// desiredHealthy >= expectedPods (minAvailable equal to the replicas, maxUnavailable 0). That
// is a proactive, low-priority problem (Impact Medium, Urgency Low: P4): a node drain
// (kubectl drain, a node upgrade, the cluster autoscaler's scale-down) would wait forever to
// evict its pods. It fires after grace from the DisruptionAllowed condition's
// lastTransitionTime (else the budget's creation).
//
// A budget that allows no disruption only because some of its pods are unhealthy
// (desiredHealthy < expectedPods, currentHealthy <= desiredHealthy) is not judged here: those
// pods are the workload's own problem, with its own incident (WorkloadUnavailable,
// CrashLoopBackOff...), and the budget frees up once they recover. A status older than the
// spec (observedGeneration behind) is Pending: an active signal stays, none starts.
func JudgeDisruptionBudget(p *policyv1.PodDisruptionBudget, now time.Time, d time.Duration) Finding {
	st := p.Status
	if st.ExpectedPods <= 0 || st.DisruptionsAllowed > 0 || st.DesiredHealthy < st.ExpectedPods {
		return Finding{}
	}
	f := Finding{Impact: itopsv1alpha1.LevelMedium, Urgency: itopsv1alpha1.LevelLow}
	f.Message = fmt.Sprintf("PodDisruptionBudget %s allows no disruption: %s with %d expected pods (%d healthy); "+
		"a node drain (kubectl drain, a node upgrade, the cluster autoscaler's scale-down) would wait forever to evict them. "+
		"Allow at least one: lower minAvailable, raise maxUnavailable, or run more replicas",
		p.Name, budgetRule(p), st.ExpectedPods, st.CurrentHealthy)
	if p.Generation > st.ObservedGeneration {
		f.Pending = true
		return f
	}
	since := p.CreationTimestamp.Time
	if c := meta.FindStatusCondition(st.Conditions, policyv1.DisruptionAllowedCondition); c != nil && c.Status == "False" {
		since = c.LastTransitionTime.Time
	}
	if !since.IsZero() {
		f.Message = strings.Replace(f.Message, " allows no disruption:", " allows no disruption since "+since.UTC().Format(time.RFC3339)+":", 1)
	}
	return grace(f, since, d, now)
}

// budgetRule says the budget's rule: "minAvailable 1", "maxUnavailable 0", "minAvailable 100%".
func budgetRule(p *policyv1.PodDisruptionBudget) string {
	switch {
	case p.Spec.MinAvailable != nil:
		return "minAvailable " + p.Spec.MinAvailable.String()
	case p.Spec.MaxUnavailable != nil:
		return "maxUnavailable " + p.Spec.MaxUnavailable.String()
	}
	return "no minAvailable or maxUnavailable"
}

// JudgeBudgetOverlap judges whether pods that budget p selects are also selected by another
// budget of its namespace. The eviction API refuses to evict a pod covered by more than one
// PodDisruptionBudget (kube-apiserver's eviction subresource answers 500 "This pod has more
// than one PodDisruptionBudget, which the eviction subresource does not support"), so a node
// drain waits forever on it whatever the budgets allow. pods are the pods p selects (from the
// cache); those the eviction API evicts without consulting budgets (Succeeded, Failed or
// Pending, or being deleted) do not count. budgets are the namespace's budgets (p among them
// or not). Each overlapping budget carries the problem (its pods cannot be evicted); the
// message names every budget involved and the first pod. Impact Medium, Urgency Low (P4), as
// JudgeDisruptionBudget; it fires after grace from the newer budget's creation (when the
// overlap began at the latest; a pod relabelled later is not dated).
func JudgeBudgetOverlap(p *policyv1.PodDisruptionBudget, budgets []policyv1.PodDisruptionBudget, pods []corev1.Pod, now time.Time, d time.Duration) Finding {
	evictable := make([]*corev1.Pod, 0, len(pods))
	for i := range pods {
		pod := &pods[i]
		switch {
		case pod.DeletionTimestamp != nil, pod.Status.Phase == corev1.PodSucceeded, pod.Status.Phase == corev1.PodFailed,
			pod.Status.Phase == corev1.PodPending, pod.Namespace != p.Namespace:
			continue
		}
		evictable = append(evictable, pod)
	}
	if len(evictable) == 0 {
		return Finding{}
	}
	sort.Slice(evictable, func(i, j int) bool { return evictable[i].Name < evictable[j].Name })
	others := make([]*policyv1.PodDisruptionBudget, 0, len(budgets))
	for i := range budgets {
		if q := &budgets[i]; q.Name != p.Name && q.Namespace == p.Namespace && q.DeletionTimestamp == nil {
			others = append(others, q)
		}
	}
	sort.Slice(others, func(i, j int) bool { return others[i].Name < others[j].Name })
	var names []string
	since := p.CreationTimestamp.Time
	covered := map[string]bool{} // pods another budget selects too
	firstPod := ""
	for _, q := range others {
		sel, err := metav1.LabelSelectorAsSelector(q.Spec.Selector)
		if err != nil {
			continue // the API server refuses invalid selectors; nothing to judge
		}
		matched := false
		for _, pod := range evictable {
			if !sel.Matches(labels.Set(pod.Labels)) {
				continue
			}
			matched, covered[pod.Name] = true, true
			if firstPod == "" || pod.Name < firstPod {
				firstPod = pod.Name
			}
		}
		if matched {
			names = append(names, q.Name)
			if q.CreationTimestamp.After(since) {
				since = q.CreationTimestamp.Time
			}
		}
	}
	if len(names) == 0 {
		return Finding{}
	}
	shared := len(covered)
	f := Finding{Impact: itopsv1alpha1.LevelMedium, Urgency: itopsv1alpha1.LevelLow}
	f.Message = fmt.Sprintf("PodDisruptionBudgets %s and %s select the same pods (%d, %s first): the eviction API refuses to evict a pod "+
		"covered by more than one budget, so a node drain (kubectl drain, a node upgrade, the cluster autoscaler's scale-down) would wait forever on them. "+
		"Keep one budget per pod: narrow the selectors or delete one",
		p.Name, strings.Join(names, ", "), shared, firstPod)
	return grace(f, since, d, now)
}

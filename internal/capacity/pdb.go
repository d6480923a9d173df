package capacity

import (
	"fmt"
	"strings"
	"time"

	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"

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

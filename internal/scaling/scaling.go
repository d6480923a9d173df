// Package scaling turns ServiceLevel scaling policies into decisions: the effective replica
// bounds of a workload (the intersection of every ServiceLevel selecting it), the admission
// check of a replica count or an HorizontalPodAutoscaler against them, drift, and the
// scale-out-on-burn steps. It is pure: callers pass the policies, the workload's state, the
// burn state and the clock.
package scaling

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Bound is one ServiceLevel's replica bounds; nil means unbounded.
type Bound struct {
	ServiceLevel string
	Min, Max     *int32
}

// Bounds are the effective bounds on a workload.
type Bounds struct {
	// Min and Max are the tightest bounds (nil: unbounded); MinFrom and MaxFrom name the
	// ServiceLevels that set them.
	Min, Max         *int32
	MinFrom, MaxFrom string
}

// Effective intersects the bounds of every ServiceLevel selecting a workload. Ties go to the
// ServiceLevel first by name, so that messages are stable.
func Effective(bs []Bound) Bounds {
	sorted := append([]Bound(nil), bs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].ServiceLevel < sorted[j].ServiceLevel })
	var e Bounds
	for _, b := range sorted {
		if b.Min != nil && (e.Min == nil || *b.Min > *e.Min) {
			e.Min, e.MinFrom = b.Min, b.ServiceLevel
		}
		if b.Max != nil && (e.Max == nil || *b.Max < *e.Max) {
			e.Max, e.MaxFrom = b.Max, b.ServiceLevel
		}
	}
	return e
}

// Bounded reports whether any bound applies.
func (b Bounds) Bounded() bool { return b.Min != nil || b.Max != nil }

// Conflict reports whether the bounds do not intersect (an empty range).
func (b Bounds) Conflict() bool { return b.Min != nil && b.Max != nil && *b.Min > *b.Max }

// ConflictMessage says which ServiceLevels disagree.
func (b Bounds) ConflictMessage() string {
	return fmt.Sprintf("the scaling bounds do not intersect: ServiceLevel %s sets minReplicas %d, ServiceLevel %s sets maxReplicas %d",
		b.MinFrom, *b.Min, b.MaxFrom, *b.Max)
}

// Clamp returns replicas moved into the bounds, and whether it moved. With conflicting bounds
// nothing moves.
func (b Bounds) Clamp(replicas int32) (int32, bool) {
	if b.Conflict() {
		return replicas, false
	}
	switch {
	case b.Min != nil && replicas < *b.Min:
		return *b.Min, true
	case b.Max != nil && replicas > *b.Max:
		return *b.Max, true
	}
	return replicas, false
}

// CheckReplicas returns why setting a workload to replicas is refused, or "".
func (b Bounds) CheckReplicas(workload string, replicas int32) string {
	switch {
	case b.Conflict():
		return fmt.Sprintf("%s cannot be scaled: %s; fix the ServiceLevels", workload, b.ConflictMessage())
	case b.Min != nil && replicas < *b.Min:
		return fmt.Sprintf("%s: %d replicas is below minReplicas %d of ServiceLevel %s", workload, replicas, *b.Min, b.MinFrom)
	case b.Max != nil && replicas > *b.Max:
		return fmt.Sprintf("%s: %d replicas is above maxReplicas %d of ServiceLevel %s", workload, replicas, *b.Max, b.MaxFrom)
	}
	return ""
}

// CheckHPA returns why an HorizontalPodAutoscaler with these bounds is refused, or "": it may
// not let the workload leave the ServiceLevels' bounds. minReplicas defaults to 1.
func (b Bounds) CheckHPA(hpa string, minReplicas *int32, maxReplicas int32) string {
	lo := int32(1)
	if minReplicas != nil {
		lo = *minReplicas
	}
	var why []string
	if b.Conflict() {
		return fmt.Sprintf("HorizontalPodAutoscaler %s: %s; fix the ServiceLevels", hpa, b.ConflictMessage())
	}
	if b.Min != nil && lo < *b.Min {
		why = append(why, fmt.Sprintf("minReplicas %d is below minReplicas %d of ServiceLevel %s", lo, *b.Min, b.MinFrom))
	}
	if b.Max != nil && maxReplicas > *b.Max {
		why = append(why, fmt.Sprintf("maxReplicas %d is above maxReplicas %d of ServiceLevel %s", maxReplicas, *b.Max, b.MaxFrom))
	}
	if len(why) == 0 {
		return ""
	}
	return fmt.Sprintf("HorizontalPodAutoscaler %s: %s", hpa, strings.Join(why, "; "))
}

// Reasons of automatic scaling steps.
const (
	ReasonScaleOutOnBurn = "ScaleOutOnBurn"
	ReasonScaleBack      = "ScaleBack"
	ReasonDriftCorrected = "DriftCorrected"
)

// PendingStepGrace is how long a step just taken may take to show in the workload before it is
// considered lost (the scale request failed) and may be taken again.
const PendingStepGrace = 30 * time.Second

// Step is an automatic scaling step of one workload, as recorded in the ServiceLevel's status.
type Step struct {
	At       time.Time
	From, To int32
	Reason   string
}

// State is what a scaling decision about one workload depends on.
type State struct {
	// Replicas is the workload's spec.replicas.
	Replicas int32
	// HPA names the HorizontalPodAutoscaler scaling the workload, if any.
	HPA string
	// Firing: a burn-rate alert of the ServiceLevel fires. BurnStoppedAt is when the last one
	// stopped (zero while firing or if none ever fired).
	Firing        bool
	BurnStoppedAt time.Time
	// NotReadyOnly: the workload's pods run but some are not ready, with no crash loops, image
	// pull or configuration errors (where more replicas cannot help).
	NotReadyOnly bool
	// Steps are the workload's automatic steps, oldest first.
	Steps []Step
}

// Policy is a ServiceLevel's scaling policy for one workload.
type Policy struct {
	Bounds Bounds
	// Correct: move drifted workloads into the bounds (else only report drift).
	Correct bool
	// ScaleOut enables scale-out on burn, by Step replicas at most every Cooldown.
	ScaleOut bool
	Step     int32
	Cooldown time.Duration
}

// Action is the decision: scale to To (when Scale), or not, saying why; RequeueAfter is the next
// time boundary (a cooldown ending).
type Action struct {
	Scale        bool
	To           int32
	Reason       string
	Message      string
	RequeueAfter time.Duration
}

// episode returns the replicas before the current scale-out episode (the From of its first
// step) and its last step, if the workload's latest automatic steps are scale-outs not yet
// scaled back.
func episode(steps []Step) (baseline int32, last *Step, ok bool) {
	for i := len(steps) - 1; i >= 0; i-- {
		if steps[i].Reason != ReasonScaleOutOnBurn {
			break
		}
		baseline, ok = steps[i].From, true
		if last == nil {
			last = &steps[i]
		}
	}
	return baseline, last, ok
}

// Decide is the scaling decision for one workload at now.
func Decide(p Policy, s State, now time.Time) Action {
	if p.Bounds.Conflict() {
		return Action{Message: p.Bounds.ConflictMessage()}
	}
	if s.HPA != "" {
		return Action{Message: fmt.Sprintf("left to HorizontalPodAutoscaler %s", s.HPA)}
	}
	if n := len(s.Steps); n > 0 {
		// A step just taken may not show in the workload yet (an informer lags): wait for it,
		// rather than take it again.
		if l := s.Steps[n-1]; s.Replicas == l.From && l.From != l.To && now.Sub(l.At) < PendingStepGrace {
			return Action{Message: fmt.Sprintf("waiting for the step from %d to %d replicas to show", l.From, l.To),
				RequeueAfter: l.At.Add(PendingStepGrace).Sub(now)}
		}
	}
	baseline, last, inEpisode := episode(s.Steps)
	if inEpisode && s.Replicas != last.To {
		// Someone scaled the workload since: they own its replicas now.
		inEpisode = false
	}
	if p.ScaleOut && s.Firing {
		if !s.NotReadyOnly {
			return Action{Message: "the burn is not from pods that run but are not ready: more replicas cannot help"}
		}
		if inEpisode {
			if next := last.At.Add(p.Cooldown); now.Before(next) {
				return Action{Message: fmt.Sprintf("cooling down until %s", next.UTC().Format(time.RFC3339)), RequeueAfter: next.Sub(now)}
			}
		}
		to := s.Replicas + max(p.Step, 1)
		if p.Bounds.Max != nil && to > *p.Bounds.Max {
			to = *p.Bounds.Max
		}
		if to <= s.Replicas {
			return Action{Message: fmt.Sprintf("at maxReplicas %d of ServiceLevel %s", s.Replicas, p.Bounds.MaxFrom)}
		}
		return Action{Scale: true, To: to, Reason: ReasonScaleOutOnBurn, RequeueAfter: p.Cooldown,
			Message: fmt.Sprintf("scaled out from %d to %d replicas: the error budget burns while pods run but are not ready", s.Replicas, to)}
	}
	if inEpisode && !s.Firing {
		back := baseline
		if c, moved := p.Bounds.Clamp(back); moved {
			back = c
		}
		at := maxTime(s.BurnStoppedAt, last.At).Add(p.Cooldown)
		if now.Before(at) {
			return Action{Message: fmt.Sprintf("the burn stopped; back to %d replicas at %s", back, at.UTC().Format(time.RFC3339)), RequeueAfter: at.Sub(now)}
		}
		if back != s.Replicas {
			return Action{Scale: true, To: back, Reason: ReasonScaleBack,
				Message: fmt.Sprintf("scaled back from %d to %d replicas: the burn stopped %s ago", s.Replicas, back, now.Sub(s.BurnStoppedAt).Round(time.Second))}
		}
	}
	if to, moved := p.Bounds.Clamp(s.Replicas); moved {
		if p.Correct {
			return Action{Scale: true, To: to, Reason: ReasonDriftCorrected,
				Message: fmt.Sprintf("scaled from %d to %d replicas: outside the bounds of the ServiceLevels", s.Replicas, to)}
		}
		return Action{Message: drift(p.Bounds, s.Replicas)}
	}
	return Action{}
}

// Drift describes a workload outside its bounds, or "".
func Drift(b Bounds, replicas int32) string {
	if _, moved := b.Clamp(replicas); !moved {
		return ""
	}
	return drift(b, replicas)
}

func drift(b Bounds, replicas int32) string {
	if b.Min != nil && replicas < *b.Min {
		return fmt.Sprintf("%d replicas, below minReplicas %d of ServiceLevel %s", replicas, *b.Min, b.MinFrom)
	}
	return fmt.Sprintf("%d replicas, above maxReplicas %d of ServiceLevel %s", replicas, *b.Max, b.MaxFrom)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// DefaultedOnCreate reports whether a replica count outside the bounds is one the API server
// defaulted: a create (not of the scale subresource) with 1 replica, below minReplicas, without
// a conflict, and whose request set no spec.replicas. The API server defaults an absent
// spec.replicas to 1 before admission; GitOps manifests leave it out when a
// HorizontalPodAutoscaler owns the count, and an absent count is no request to run one replica,
// so such a create is allowed (with a warning), and the autoscaler or the ServiceLevel's drift
// policy brings the workload within the bounds. replicasSet says whether the request set
// spec.replicas itself, as far as the admission request can tell (ReplicasSet): an explicit
// replicas: 1 is judged like any count.
func DefaultedOnCreate(operation, subResource string, replicas int32, replicasSet bool, b Bounds) bool {
	return operation == "CREATE" && subResource == "" && replicas == 1 && !replicasSet && !b.Conflict() && b.Min != nil && *b.Min > 1
}

// ReplicasSet reports whether a create's request itself set spec.replicas, as far as the object
// the webhook sees can tell (the API server fills in metadata.managedFields before admission):
//   - a server-side apply (managedFields operation Apply: Flux, Argo CD with ServerSideApply,
//     kubectl apply --server-side) records exactly the fields the applied configuration sets: it
//     set replicas if an Apply entry owns spec.replicas;
//   - a client-side kubectl apply (and Argo CD's default sync) leaves the applied manifest in the
//     kubectl.kubernetes.io/last-applied-configuration annotation (lastApplied): it set
//     replicas if that manifest has spec.replicas;
//   - otherwise (a plain create, operation Update) the managedFields list every field of the
//     defaulted object, spec.replicas included, so nothing tells an explicit 1 from an absent
//     count: false (the create is given the benefit of the doubt, with a warning).
func ReplicasSet(managedFields []metav1.ManagedFieldsEntry, lastApplied string) bool {
	for _, mf := range managedFields {
		if mf.Operation != metav1.ManagedFieldsOperationApply || mf.FieldsV1 == nil {
			continue
		}
		var fields struct {
			Spec map[string]json.RawMessage `json:"f:spec"`
		}
		if json.Unmarshal(mf.FieldsV1.GetRawBytes(), &fields) != nil {
			continue
		}
		if _, ok := fields.Spec["f:replicas"]; ok {
			return true
		}
	}
	if lastApplied != "" {
		var manifest struct {
			Spec struct {
				Replicas *int32 `json:"replicas"`
			} `json:"spec"`
		}
		if json.Unmarshal([]byte(lastApplied), &manifest) == nil && manifest.Spec.Replicas != nil {
			return true
		}
	}
	return false
}

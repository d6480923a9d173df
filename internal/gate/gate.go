// Package gate is the change gate's decision: may this create, update or delete of a
// Deployment, StatefulSet, DaemonSet or CronJob in a change-controlled namespace go ahead, and
// if not, exactly what is missing. It is a pure function of the request, the ChangeRequests
// that target the workload, the administrator policy, active freezes, exhausted error budgets
// and the clock; the admission webhook gathers those from informer caches.
package gate

import (
	"fmt"
	"sort"
	"strings"
	"time"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/change"
	"github.com/itops-dev/itops-operator/internal/config"
)

// Operation is the admission operation.
type Operation string

// Operations the gate sees.
const (
	Create Operation = "CREATE"
	Update Operation = "UPDATE"
	Delete Operation = "DELETE"
)

// Exemptions: requests that are always allowed.
const (
	// ExemptScaleOrMetadata: only replicas, labels or annotations change.
	ExemptScaleOrMetadata = "ScaleOrMetadata"
	// ExemptRestart: only the pod template's restart annotation changes (kubectl rollout restart).
	ExemptRestart = "Restart"
	// ExemptRollback: the pod template goes back to one of the workload's own earlier revisions.
	ExemptRollback = "Rollback"
)

// Request is one admission request for a workload.
type Request struct {
	Operation Operation
	Kind      itopsv1alpha1.TargetKind
	Namespace string
	Name      string
	// Old and New are the workload before and after (Old nil on create, New nil on delete).
	Old, New *Object
}

// Freeze is an active Freeze window covering the workload.
type Freeze struct {
	Namespace, Name string
	Until           time.Time
}

// Budget is a ServiceLevel selecting the workload whose error budget is exhausted and whose
// budgetPolicy is FreezeChanges.
type Budget struct {
	Name string
	// Remaining is the budget left, a percent string such as "-12.5".
	Remaining string
}

// Inputs is what the gate decides with.
type Inputs struct {
	// Changes are the ChangeRequests in the namespace that target the workload.
	Changes []itopsv1alpha1.ChangeRequest
	// Policy is the administrator's change policy for the namespace.
	Policy config.ChangePolicy
	// Freezes and Budgets are the active freezes and exhausted budgets covering the workload.
	Freezes []Freeze
	Budgets []Budget
	Now     time.Time
}

// Decision is the gate's verdict.
type Decision struct {
	Allowed bool
	// Exemption names why the request needed no change ("" if it did).
	Exemption string
	// Change is the authorising ChangeRequest.
	Change string
	// Emergency is set when the authorising change is an Emergency change.
	Emergency bool
	// Problems say what is missing, one sentence each (empty when allowed).
	Problems []string
}

// Message is the denial message.
func (d Decision) Message(req Request) string {
	if d.Allowed {
		return ""
	}
	return fmt.Sprintf("itops change control: %s of %s %s/%s denied: %s",
		strings.ToLower(string(req.Operation)), req.Kind, req.Namespace, req.Name, strings.Join(d.Problems, "; "))
}

// Decide is the gate. Exemptions (scale, metadata, restart) are checked by the caller with
// Exempt before gathering inputs; rollbacks, which need the workload's revisions, only after
// Decide denies.
func Decide(req Request, in Inputs) Decision {
	changes := append([]itopsv1alpha1.ChangeRequest(nil), in.Changes...)
	sort.Slice(changes, func(i, j int) bool { return changes[i].Name < changes[j].Name })

	var problems []string
	var authorising *itopsv1alpha1.ChangeRequest
	for i := range changes {
		cr := &changes[i]
		if why := authorises(cr, req, in); why != "" {
			problems = append(problems, why)
			continue
		}
		authorising = cr
		break
	}
	if authorising == nil && len(changes) == 0 {
		problems = append(problems, fmt.Sprintf("no ChangeRequest in namespace %s targets %s %s: create one listing it in spec.targets and have it approved",
			req.Namespace, req.Kind, req.Name))
	}
	emergency := authorising != nil && authorising.Spec.Type == itopsv1alpha1.ChangeEmergency
	if !emergency {
		blocked := make([]string, 0, len(in.Freezes)+len(in.Budgets))
		for _, f := range in.Freezes {
			blocked = append(blocked, fmt.Sprintf("freeze window %s/%s is active until %s: only Emergency changes pass",
				f.Namespace, f.Name, f.Until.UTC().Format(time.RFC3339)))
		}
		for _, b := range in.Budgets {
			blocked = append(blocked, fmt.Sprintf("the error budget of service %s is exhausted (%s%% remaining, budgetPolicy FreezeChanges): only Emergency changes pass",
				b.Name, b.Remaining))
		}
		if len(blocked) > 0 {
			if authorising != nil {
				problems = append([]string{fmt.Sprintf("ChangeRequest %s is approved, but", authorising.Name)}, blocked...)
				return Decision{Problems: []string{strings.Join(problems, " ")}}
			}
			problems = append(problems, blocked...)
		}
	}
	if authorising == nil {
		return Decision{Problems: problems}
	}
	return Decision{Allowed: true, Change: authorising.Name, Emergency: emergency}
}

// authorises reports why cr does not authorise req, or "" if it does.
func authorises(cr *itopsv1alpha1.ChangeRequest, req Request, in Inputs) string {
	name := "ChangeRequest " + cr.Name
	switch cr.Status.Phase {
	case itopsv1alpha1.ChangeCompleted:
		return name + " is Completed and authorises nothing more"
	case itopsv1alpha1.ChangeFailed:
		return name + " Failed and authorises nothing more"
	case itopsv1alpha1.ChangeExpired:
		return name + " is Expired"
	}
	target := targetOf(cr, req.Kind, req.Name)
	if target == nil {
		return fmt.Sprintf("%s does not list %s %s in spec.targets", name, req.Kind, req.Name)
	}
	pol := change.PolicyFor(cr, in.Policy)
	a := change.Evaluate(cr, pol)
	if !a.Authorised {
		if a.Rejection != nil {
			msg := fmt.Sprintf("%s was rejected by %s", name, a.Rejection.Approver)
			if a.Rejection.Comment != "" {
				msg += fmt.Sprintf(" (%q)", a.Rejection.Comment)
			}
			return msg
		}
		msg := fmt.Sprintf("%s is Pending with %d of %d approvals", name, a.Valid, a.Required)
		for _, set := range pol.ApproverGroups {
			msg += " from group " + strings.Join(set, " or ")
		}
		if len(a.Approvers) > 0 {
			msg += " (approved by " + strings.Join(a.Approvers, ", ") + ")"
		}
		if a.Void > 0 {
			msg += fmt.Sprintf(" (%d approval(s) were given for earlier content and no longer count)", a.Void)
		}
		return msg
	}
	start, end := change.Window(cr, a, pol)
	switch {
	case in.Now.Before(start):
		return fmt.Sprintf("%s is scheduled from %s to %s, outside its schedule now (%s)", name,
			start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339), in.Now.UTC().Format(time.RFC3339))
	case !in.Now.Before(end) && cr.Spec.Schedule != nil:
		return fmt.Sprintf("%s's schedule ended at %s", name, end.UTC().Format(time.RFC3339))
	case !in.Now.Before(end):
		return fmt.Sprintf("%s's approval lapsed at %s (approval lifetime %s): approve it again or give it a schedule",
			name, end.UTC().Format(time.RFC3339), pol.Lifetime)
	}
	if why := pinsHold(target, req); why != "" {
		return name + " " + why
	}
	if a.Reason == itopsv1alpha1.ChangeReasonStandardChange {
		if why := standardHolds(req); why != "" {
			return fmt.Sprintf("%s is a Standard change (pattern %s) that %s", name, pol.Standard.Name, why)
		}
	}
	return ""
}

func targetOf(cr *itopsv1alpha1.ChangeRequest, kind itopsv1alpha1.TargetKind, name string) *itopsv1alpha1.ChangeTarget {
	for i, t := range cr.Spec.Targets {
		if t.Kind == kind && t.Name == name {
			return &cr.Spec.Targets[i]
		}
	}
	return nil
}

// pinsHold checks the pod template against the target's pinned images: every pinned container
// runs exactly its image, and any other container keeps the image it had.
func pinsHold(t *itopsv1alpha1.ChangeTarget, req Request) string {
	if len(t.Containers) == 0 || req.New == nil {
		return ""
	}
	images := req.New.Images()
	var oldImages map[string]string
	if req.Old != nil {
		oldImages = req.Old.Images()
	}
	pinned := map[string]bool{}
	for _, pin := range t.Containers {
		pinned[pin.Name] = true
		got, ok := images[pin.Name]
		switch {
		case !ok:
			return fmt.Sprintf("pins container %s, which is not in the pod template", pin.Name)
		case got != pin.Image:
			return fmt.Sprintf("pins container %s to image %s, but the request sets %s", pin.Name, pin.Image, got)
		}
	}
	for _, name := range sortedKeys(images) {
		if pinned[name] {
			continue
		}
		if old, ok := oldImages[name]; !ok || old != images[name] {
			return fmt.Sprintf("pins the images of %s %s but not of container %s, whose image the request sets to %s",
				t.Kind, t.Name, name, images[name])
		}
	}
	return ""
}

// standardHolds checks that the request is what the Standard change pattern pre-approves.
func standardHolds(req Request) string {
	if req.Operation != Update {
		return fmt.Sprintf("pre-approves image updates only, not a %s", strings.ToLower(string(req.Operation)))
	}
	return ImagesWithinRepository(req.Old, req.New)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

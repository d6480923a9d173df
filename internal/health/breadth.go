package health

import (
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// PodEventProblems returns the problems of a pod that need a grace period or its Warning
// Events (docs/incidents.md, reasons table), at most one per reason:
//
//   - PodUnschedulable: Pending with PodScheduled=False, reason Unschedulable, for longer than
//     PodGracePeriod (from the condition's transition); the message is the scheduler's.
//   - VolumeMountFailed: scheduled, a container waiting in ContainerCreating or
//     PodInitializing (or none started yet), with a FailedMount, FailedAttachVolume,
//     FailedMapVolume or FailedCreatePodSandBox event seen within EventWindow, for longer than
//     PodGracePeriod after scheduling.
//   - ProbeFailing: Running but Ready=False for longer than PodGracePeriod, with a readiness
//     or startup probe failure (Unhealthy event) seen within EventWindow.
//   - PodUnschedulable too: Pending for longer than PodGracePeriod (from creation) with no
//     node and no Unschedulable verdict (a scheduler that does not run, spec.schedulerName
//     naming none, a scheduler error), or scheduled (from scheduling) with no container ever
//     started and nothing more specific (the above, a container waiting with a reason
//     PodProblems reports); never for a pod with spec.schedulingGates (held back on purpose).
//   - ContainerRestarting: a container that restarted at least twice, last killed by SIGKILL
//     (exit code 137, not OOMKilled) within RestartWindow, with liveness probe failures
//     within EventWindow (killed by the kubelet); or one whose restart count rose by at
//     least RestartThreshold within the last RestartWindow (RestartRise over restarts, the
//     observed counts by container name, and the pod's start); or, while no observation
//     reaches back to the window's start (after an operator restart), one that restarted
//     RestartThreshold times at a rate of at least RestartThreshold in RestartWindow since
//     the pod started, its last restart within RestartWindow.
//
// events are the pod's Warning Events. The second result is when the judgement changes by
// time alone (a grace period ends, a restart leaves its window); zero if never.
func PodEventProblems(pod *corev1.Pod, events []Event, restarts map[string][]RestartSample, now time.Time, t Thresholds) ([]Problem, time.Time) {
	if pod.DeletionTimestamp != nil {
		return nil, time.Time{}
	}
	var out []Problem
	var recheck time.Time
	later := func(at time.Time) {
		if at.After(now) && (recheck.IsZero() || at.Before(recheck)) {
			recheck = at
		}
	}
	graced := func(since time.Time) bool {
		due := since.Add(t.PodGracePeriod)
		if now.Before(due) {
			later(due)
			return false
		}
		return true
	}
	scheduled := condition(pod, corev1.PodScheduled)
	ready := condition(pod, corev1.PodReady)

	if pod.Status.Phase == corev1.PodPending && scheduled != nil && scheduled.Status == corev1.ConditionFalse &&
		scheduled.Reason == corev1.PodReasonUnschedulable {
		since := transitioned(scheduled, pod)
		if graced(since) {
			msg := "unschedulable"
			if scheduled.Message != "" {
				msg += ": " + Truncate(strings.TrimSpace(scheduled.Message), 512)
			}
			out = append(out, Problem{Reason: itopsv1alpha1.ReasonPodUnschedulable, Message: msg, Since: since})
		}
	}

	if pod.Spec.NodeName != "" && pod.Status.Phase == corev1.PodPending && stillCreating(pod) {
		if e, n := latestEvent(events, now, t.EventWindow, func(e Event) bool { return mountEventReasons[e.Reason] && e.Kind == "Pod" }); e != nil {
			since := pod.CreationTimestamp.Time
			if scheduled != nil && scheduled.Status == corev1.ConditionTrue && !scheduled.LastTransitionTime.IsZero() {
				since = scheduled.LastTransitionTime.Time
			}
			if graced(since) {
				out = append(out, Problem{Reason: itopsv1alpha1.ReasonVolumeMountFailed, Since: since,
					Message: fmt.Sprintf("stuck in ContainerCreating: %s (%d times): %s", e.Reason, n, firstLine(e.Message))})
			}
			later(e.LastSeen.Add(t.EventWindow))
		}
	}

	if p := pendingProblem(pod, scheduled, out, t); p != nil {
		if graced(p.Since) {
			out = append(out, *p)
		}
	}

	if pod.Status.Phase == corev1.PodRunning && ready != nil && ready.Status == corev1.ConditionFalse {
		if e, n := latestEvent(events, now, t.EventWindow, func(e Event) bool { return e.Kind == "Pod" && probeEvent(e, "Readiness", "Startup") }); e != nil {
			since := transitioned(ready, pod)
			if graced(since) {
				out = append(out, Problem{Reason: itopsv1alpha1.ReasonProbeFailing, Since: since,
					Message: fmt.Sprintf("running but not ready since %s: %s (%d times)", since.UTC().Format(time.RFC3339), firstLine(e.Message), n)})
			}
			later(e.LastSeen.Add(t.EventWindow))
		}
	}

	if p, at := restarting(pod, events, restarts, now, t); p != nil {
		out = append(out, *p)
		later(at)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Reason < out[j].Reason })
	return out, recheck
}

// restarting judges ContainerRestarting (see PodEventProblems); the time is when the
// judgement next changes by time alone (a restart leaves the window). restarts are the
// containers' observed restart counts (RestartHistory.Observe), by container name.
func restarting(pod *corev1.Pod, events []Event, restarts map[string][]RestartSample, now time.Time, t Thresholds) (*Problem, time.Time) {
	var lines []string
	var since, until time.Time
	var start time.Time
	if pod.Status.StartTime != nil {
		start = pod.Status.StartTime.Time
	}
	for _, cs := range pod.Status.ContainerStatuses {
		term := cs.LastTerminationState.Terminated
		if cs.State.Terminated != nil {
			term = cs.State.Terminated
		}
		recent := term != nil && now.Sub(term.FinishedAt.Time) < t.RestartWindow
		var line string
		var from, to time.Time
		if recent && cs.RestartCount >= 2 && term.ExitCode == 137 && term.Reason != "OOMKilled" {
			e, n := latestEvent(events, now, t.EventWindow, func(e Event) bool {
				return e.Kind == "Pod" && probeEvent(e, "Liveness") && forContainer(e, cs.Name)
			})
			if e != nil {
				line = fmt.Sprintf("container %s killed by the kubelet after failing its liveness probe (exit code 137, %d restarts, %d probe failures): %s",
					cs.Name, cs.RestartCount, n, firstLine(e.Message))
				from, to = term.FinishedAt.Time, term.FinishedAt.Add(t.RestartWindow)
			}
		}
		if line == "" {
			rise, known, risen, next := RestartRise(restarts[cs.Name], cs.RestartCount, start, now, t.RestartWindow)
			switch {
			case rise >= t.RestartThreshold:
				line = fmt.Sprintf("container %s restarted %d times in the last %s (%d in all%s)",
					cs.Name, rise, shortDuration(t.RestartWindow), cs.RestartCount, lastTermination(term))
				from, to = risen, next
			case !known && recent && cs.RestartCount >= t.RestartThreshold && !start.IsZero():
				// No history reaches back to the window's start (the operator started since):
				// the average time between restarts since the pod started says whether at
				// least RestartThreshold of them fit in RestartWindow.
				span := term.FinishedAt.Sub(start)
				if span <= time.Duration(cs.RestartCount)*t.RestartWindow/time.Duration(t.RestartThreshold) {
					line = fmt.Sprintf("container %s restarted %d times since %s%s",
						cs.Name, cs.RestartCount, start.UTC().Format(time.RFC3339), lastTermination(term))
					from, to = term.FinishedAt.Time, term.FinishedAt.Add(t.RestartWindow)
				}
			}
		}
		if line == "" {
			continue
		}
		lines = append(lines, line)
		if !from.IsZero() && (since.IsZero() || from.Before(since)) {
			since = from
		}
		if !to.IsZero() && (until.IsZero() || to.Before(until)) {
			until = to
		}
	}
	if len(lines) == 0 {
		return nil, time.Time{}
	}
	return &Problem{Reason: itopsv1alpha1.ReasonContainerRestarting, Message: strings.Join(lines, "; "), Since: since}, until
}

// pendingProblem judges a pod Pending that no more specific signal explains (see
// PodEventProblems): nil if it is not Pending, is gated (spec.schedulingGates: held back on
// purpose), is already judged unschedulable by the scheduler, or shows a more specific
// problem (so far: the ones in found, and a container waiting with a reason PodProblems
// reports, such as an image pull failure). Its Since is when the grace period starts: the
// pod's creation, or its scheduling for a scheduled pod; the caller applies the grace.
func pendingProblem(pod *corev1.Pod, scheduled *corev1.PodCondition, found []Problem, t Thresholds) *Problem {
	if pod.Status.Phase != corev1.PodPending || len(pod.Spec.SchedulingGates) > 0 || len(found) > 0 {
		return nil
	}
	grace := shortDuration(t.PodGracePeriod)
	if pod.Spec.NodeName == "" && (scheduled == nil || scheduled.Status != corev1.ConditionTrue) {
		if scheduled != nil && scheduled.Reason == corev1.PodReasonUnschedulable {
			return nil // the scheduler's own verdict, judged above
		}
		msg := fmt.Sprintf("not scheduled after %s: ", grace)
		switch name := pod.Spec.SchedulerName; {
		case name != "" && name != corev1.DefaultSchedulerName:
			msg += fmt.Sprintf("no scheduler has bound it (spec.schedulerName %q; is that scheduler running?)", name)
		case scheduled != nil && scheduled.Status == corev1.ConditionFalse && scheduled.Reason != "":
			msg += "the scheduler reports " + scheduled.Reason
			if scheduled.Message != "" {
				msg += ": " + Truncate(strings.TrimSpace(scheduled.Message), 512)
			}
		default:
			msg += "the scheduler has not reported on it"
		}
		return &Problem{Reason: itopsv1alpha1.ReasonPodUnschedulable, Message: msg, Since: pod.CreationTimestamp.Time}
	}
	if pod.Spec.NodeName == "" {
		return nil
	}
	var waiting []string
	for _, cs := range append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...) {
		if cs.State.Running != nil || cs.State.Terminated != nil || cs.LastTerminationState.Terminated != nil {
			return nil // a container started: the container reasons judge it
		}
		if w := cs.State.Waiting; w != nil {
			if _, specific := waitingReasons[w.Reason]; specific {
				return nil
			}
			waiting = append(waiting, fmt.Sprintf("%s waiting (%s)", cs.Name, w.Reason))
		}
	}
	since := pod.CreationTimestamp.Time
	if scheduled != nil && scheduled.Status == corev1.ConditionTrue && scheduled.LastTransitionTime.After(since) {
		since = scheduled.LastTransitionTime.Time
	}
	msg := fmt.Sprintf("scheduled to node %s but no container started after %s", pod.Spec.NodeName, grace)
	if len(waiting) > 0 {
		msg += ": " + strings.Join(waiting, ", ")
	} else {
		msg += ": the kubelet has reported no container status"
	}
	return &Problem{Reason: itopsv1alpha1.ReasonPodUnschedulable, Message: msg, Since: since}
}

// lastTermination describes a container's last termination for a message ("" if unknown).
func lastTermination(term *corev1.ContainerStateTerminated) string {
	if term == nil {
		return ""
	}
	return fmt.Sprintf("; last: %s, exit code %d", term.Reason, term.ExitCode)
}

// shortDuration prints a duration without trailing zero units (10m, 1h30m, 45s).
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// stillCreating reports a pod none of whose containers has started: each waits in
// ContainerCreating or PodInitializing, or has no status yet.
func stillCreating(pod *corev1.Pod) bool {
	for _, cs := range append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...) {
		if cs.State.Running != nil || cs.State.Terminated != nil {
			return false
		}
		if w := cs.State.Waiting; w != nil && w.Reason != "ContainerCreating" && w.Reason != "PodInitializing" {
			return false
		}
	}
	return true
}

func condition(pod *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == t {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

// transitioned is when a pod condition last changed, or the pod's creation if unknown.
func transitioned(c *corev1.PodCondition, pod *corev1.Pod) time.Time {
	if c.LastTransitionTime.IsZero() {
		return pod.CreationTimestamp.Time
	}
	return c.LastTransitionTime.Time
}

// CreationFailure is what PodCreationFailed is judged on: a workload's FailedCreate Warning
// Events (of the workload itself and of the ReplicaSets it controls) and whether it has all
// the pods it wants now.
type CreationFailure struct {
	Kind, Name string
	// Events are the workload's (and its ReplicaSets') Warning Events.
	Events []Event
	// Satisfied: the workload has as many pods as it wants (a failure since overcome).
	Satisfied bool
}

// PodCreationFailedProblem returns PodCreationFailed when a workload controller keeps failing
// to create pods (FailedCreate: quota exceeded, Pod Security admission, a policy engine): the
// latest such event was seen within EventWindow, the workload still lacks pods, and the
// failure persists (first seen StartupGracePeriod ago, or seen three times: the controllers
// retry with a back-off). The message is the controller's, which says why. The second result
// is when the judgement changes by time alone.
func PodCreationFailedProblem(f CreationFailure, now time.Time, t Thresholds) (*Problem, time.Time) {
	if f.Satisfied {
		return nil, time.Time{}
	}
	e, n := latestEvent(f.Events, now, t.EventWindow, func(e Event) bool { return e.Reason == EventFailedCreate })
	if e == nil {
		return nil, time.Time{}
	}
	first := e.LastSeen
	for _, o := range f.Events {
		if o.Reason == EventFailedCreate && now.Sub(o.LastSeen) <= t.EventWindow && o.FirstSeen.Before(first) {
			first = o.FirstSeen
		}
	}
	expires := e.LastSeen.Add(t.EventWindow)
	if due := first.Add(t.StartupGracePeriod); n < 3 && now.Before(due) {
		return nil, due
	}
	return &Problem{
		Reason: itopsv1alpha1.ReasonPodCreationFailed, Since: first,
		Message: fmt.Sprintf("%s %s cannot create pods (%d times): %s: %s", strings.ToLower(f.Kind), f.Name, n, e.Object(),
			Truncate(strings.TrimSpace(e.Message), 512)),
	}, expires
}

// NodeConditionProblem returns NodeCondition for the conditions of a node that report a fault:
// every condition type other than Ready, MemoryPressure, DiskPressure and PIDPressure (judged
// as NodeNotReady and NodePressure) whose status is True for longer than NodeConditionGrace,
// unless its type is in t.NodeConditionsIgnored (condition types a provider or add-on sets
// that are healthy when True, or that the administrator does not want paged on). The rule follows
// the Kubernetes and Node Problem Detector convention: node conditions other than Ready are
// abnormal-true. The second result is when a condition within its grace becomes a problem.
func NodeConditionProblem(node *corev1.Node, now time.Time, t Thresholds) (*Problem, time.Time) {
	skip := map[corev1.NodeConditionType]bool{corev1.NodeReady: true, corev1.NodeMemoryPressure: true,
		corev1.NodeDiskPressure: true, corev1.NodePIDPressure: true}
	for _, h := range t.NodeConditionsIgnored {
		skip[corev1.NodeConditionType(h)] = true
	}
	var parts []string
	var since, recheck time.Time
	for _, c := range node.Status.Conditions {
		if skip[c.Type] || c.Status != corev1.ConditionTrue {
			continue
		}
		if due := c.LastTransitionTime.Add(t.NodeConditionGracePeriod); now.Before(due) {
			if recheck.IsZero() || due.Before(recheck) {
				recheck = due
			}
			continue
		}
		part := string(c.Type)
		if c.Reason != "" {
			part += " (" + c.Reason + ")"
		}
		if c.Message != "" {
			part += ": " + firstLine(c.Message)
		}
		parts = append(parts, part)
		if since.IsZero() || c.LastTransitionTime.Time.Before(since) {
			since = c.LastTransitionTime.Time
		}
	}
	if len(parts) == 0 {
		return nil, recheck
	}
	sort.Strings(parts)
	return &Problem{Reason: itopsv1alpha1.ReasonNodeCondition, Since: since,
		Message: fmt.Sprintf("node %s reports %s", node.Name, strings.Join(parts, "; "))}, recheck
}

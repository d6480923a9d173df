// Package health classifies the observed state of Pods, Nodes and workloads into problems
// that deserve an incident. It is pure: callers pass the objects and the clock.
package health

import (
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// Problem is one unhealthy condition of one object.
type Problem struct {
	// Reason is one of the automated incident reasons (itopsv1alpha1.Reason*).
	Reason string
	// Message says what is wrong, for a person.
	Message string
	// Since is when the problem started, as far as the object tells; zero when unknown.
	Since time.Time
	// Source is the incident source; HealthCheck when empty.
	Source itopsv1alpha1.IncidentSource
	// Affected lists objects besides the subject that the incident concerns.
	Affected []itopsv1alpha1.ObjectReference
	// Sustain marks evidence that keeps an open incident's problem present without being
	// enough to open one: a container of a crash-looping pod running between two crashes.
	Sustain bool
}

// Thresholds tune the detectors.
type Thresholds struct {
	// OOMKillWindow: a container's last OOM kill counts as a current problem for this long
	// after it finished.
	OOMKillWindow time.Duration
	// StartupGracePeriod: image pull and container configuration errors of a pod younger than
	// this are a pod still starting (an image being pushed, a Secret applied a moment later).
	// Crash loops are never given grace: they already are repeated failures.
	StartupGracePeriod time.Duration
	// CrashLoopWindow: a container that failed (non-zero exit) less than this long ago is
	// still crash-looping while it runs between two back-offs.
	CrashLoopWindow time.Duration
	// WorkloadGracePeriod: a StatefulSet or DaemonSet may have fewer ready replicas than
	// desired this long before it is a problem.
	WorkloadGracePeriod time.Duration
	// VolumeClaimPendingGracePeriod: a PVC may be Pending this long before it is a problem.
	VolumeClaimPendingGracePeriod time.Duration
	// NodeNotReadyGracePeriod: a Node may be NotReady this long before it is a problem.
	NodeNotReadyGracePeriod time.Duration
	// PodGracePeriod: a pod may be unschedulable, stuck in ContainerCreating with mount or
	// sandbox failures, or running but not ready with failing probes this long before it is
	// a problem (cmd/main.go sets it to the workload grace period).
	PodGracePeriod time.Duration
	// EventWindow: a Warning Event last seen longer ago than this no longer counts.
	EventWindow time.Duration
	// RestartWindow and RestartThreshold: a container whose restart count rose by
	// RestartThreshold within the last RestartWindow is ContainerRestarting (the M minutes and
	// N times of the rule; policy keys detection.containerRestarting.window and .restarts).
	RestartWindow    time.Duration
	RestartThreshold int32
	// NodeConditionGracePeriod: a node condition may report a fault this long before it is a
	// problem (cmd/main.go sets it to the NotReady grace period).
	NodeConditionGracePeriod time.Duration
	// NodeConditionsIgnored are node condition types that are not faults when True (see
	// NodeConditionProblem).
	NodeConditionsIgnored []string
}

// DefaultThresholds are the built-in thresholds.
var DefaultThresholds = Thresholds{
	OOMKillWindow:                 10 * time.Minute,
	CrashLoopWindow:               10 * time.Minute,
	StartupGracePeriod:            time.Minute,
	WorkloadGracePeriod:           5 * time.Minute,
	VolumeClaimPendingGracePeriod: 5 * time.Minute,
	NodeNotReadyGracePeriod:       40 * time.Second,
	PodGracePeriod:                5 * time.Minute,
	EventWindow:                   10 * time.Minute,
	RestartWindow:                 10 * time.Minute,
	RestartThreshold:              3,
	NodeConditionGracePeriod:      40 * time.Second,
}

// waitingReasons maps a container's waiting reason to an incident reason. Reasons absent
// here (ContainerCreating, PodInitializing) are a pod merely starting.
var waitingReasons = map[string]string{
	"CrashLoopBackOff":           itopsv1alpha1.ReasonCrashLoopBackOff,
	"ImagePullBackOff":           itopsv1alpha1.ReasonImagePullBackOff,
	"ErrImagePull":               itopsv1alpha1.ReasonImagePullBackOff,
	"InvalidImageName":           itopsv1alpha1.ReasonImagePullBackOff,
	"ErrImageNeverPull":          itopsv1alpha1.ReasonImagePullBackOff,
	"CreateContainerConfigError": itopsv1alpha1.ReasonCreateContainerConfigError,
	"CreateContainerError":       itopsv1alpha1.ReasonCreateContainerError,
	"RunContainerError":          itopsv1alpha1.ReasonRunContainerError,
	"PreStartHookError":          itopsv1alpha1.ReasonPreStartHookError,
}

// PodProblems returns the problems of a pod's containers (init containers included), at most
// one per reason. A crash loop is already a repeated failure, so it is a problem on first
// observation.
func PodProblems(pod *corev1.Pod, now time.Time, t Thresholds) []Problem {
	if pod.DeletionTimestamp != nil {
		return nil
	}
	byReason := map[string]*Problem{}
	add := func(reason, container, detail string, since time.Time) {
		if p, ok := byReason[reason]; ok {
			p.Message += fmt.Sprintf("; container %s: %s", container, detail)
			if !since.IsZero() && (p.Since.IsZero() || since.Before(p.Since)) {
				p.Since = since
			}
			return
		}
		byReason[reason] = &Problem{Reason: reason, Message: fmt.Sprintf("container %s: %s", container, detail), Since: since}
	}
	statuses := append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...)
	for _, cs := range statuses {
		if w := cs.State.Waiting; w != nil {
			if reason, ok := waitingReasons[w.Reason]; ok && !inStartupGrace(pod, reason, now, t) {
				// The message of a crash loop is only back-off timing, and restart counts grow:
				// both are left out so that the problem's message changes only when it does.
				detail := w.Reason
				if w.Message != "" && reason != itopsv1alpha1.ReasonCrashLoopBackOff {
					detail += ": " + firstLine(w.Message)
				}
				var since time.Time
				if lt := cs.LastTerminationState.Terminated; lt != nil {
					since = lt.FinishedAt.Time
				}
				add(reason, cs.Name, detail, since)
			}
		}
		for _, term := range []*corev1.ContainerStateTerminated{cs.State.Terminated, cs.LastTerminationState.Terminated} {
			if term != nil && term.Reason == "OOMKilled" && now.Sub(term.FinishedAt.Time) < t.OOMKillWindow {
				add(itopsv1alpha1.ReasonOOMKilled, cs.Name, "OOMKilled at "+term.FinishedAt.UTC().Format(time.RFC3339), term.FinishedAt.Time)
				break
			}
		}
	}
	if _, looping := byReason[itopsv1alpha1.ReasonCrashLoopBackOff]; !looping {
		// Between two back-offs a crash-looping container runs (or has just terminated):
		// that keeps an open crash-loop incident present, but is not enough to open one.
		for _, cs := range statuses {
			if term := recentFailure(cs, now, t); term != nil {
				byReason[itopsv1alpha1.ReasonCrashLoopBackOff] = &Problem{
					Reason: itopsv1alpha1.ReasonCrashLoopBackOff, Sustain: true, Since: term.FinishedAt.Time,
					Message: fmt.Sprintf("container %s: restarting after exit code %d", cs.Name, term.ExitCode),
				}
				break
			}
		}
	}
	return sortedProblems(byReason)
}

// inStartupGrace reports whether a young pod's image or configuration error is still within
// its start-up grace period.
func inStartupGrace(pod *corev1.Pod, reason string, now time.Time, t Thresholds) bool {
	return reason != itopsv1alpha1.ReasonCrashLoopBackOff && now.Sub(pod.CreationTimestamp.Time) < t.StartupGracePeriod
}

// recentFailure returns the container's failed termination (non-zero exit, after at least
// one restart) within the crash-loop window, or nil.
func recentFailure(cs corev1.ContainerStatus, now time.Time, t Thresholds) *corev1.ContainerStateTerminated {
	term := cs.LastTerminationState.Terminated
	if cs.State.Terminated != nil {
		term = cs.State.Terminated
	}
	if cs.RestartCount == 0 || term == nil || term.ExitCode == 0 || now.Sub(term.FinishedAt.Time) >= t.CrashLoopWindow {
		return nil
	}
	return term
}

// PodRecheck returns when the pod's judgement changes by itself, with time alone: an OOM kill
// or a recent failure leaving its window. Zero when nothing is pending.
func PodRecheck(pod *corev1.Pod, now time.Time, t Thresholds) time.Time {
	next := OOMKillExpiry(pod, now, t)
	if end := pod.CreationTimestamp.Add(t.StartupGracePeriod); now.Before(end) {
		for _, cs := range append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...) {
			if w := cs.State.Waiting; w != nil && waitingReasons[w.Reason] != "" && inStartupGrace(pod, waitingReasons[w.Reason], now, t) {
				if next.IsZero() || end.Before(next) {
					next = end
				}
			}
		}
	}
	for _, cs := range append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...) {
		if term := recentFailure(cs, now, t); term != nil {
			if at := term.FinishedAt.Add(t.CrashLoopWindow); next.IsZero() || at.Before(next) {
				next = at
			}
		}
	}
	return next
}

// OOMKillExpiry returns when the pod's most recent OOM kill stops counting as a problem, or
// the zero time when it has none that counts now. Detectors requeue at that time.
func OOMKillExpiry(pod *corev1.Pod, now time.Time, t Thresholds) time.Time {
	var latest time.Time
	statuses := append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...)
	for _, cs := range statuses {
		for _, term := range []*corev1.ContainerStateTerminated{cs.State.Terminated, cs.LastTerminationState.Terminated} {
			if term != nil && term.Reason == "OOMKilled" && term.FinishedAt.After(latest) {
				latest = term.FinishedAt.Time
			}
		}
	}
	if latest.IsZero() || now.Sub(latest) >= t.OOMKillWindow {
		return time.Time{}
	}
	return latest.Add(t.OOMKillWindow)
}

// NodeProblems returns NodeNotReady (Ready False or Unknown beyond the grace period) and
// NodePressure (memory, disk or PID pressure). The second result is when a NotReady node
// that is still within its grace period becomes a problem (zero if none).
func NodeProblems(node *corev1.Node, now time.Time, t Thresholds) ([]Problem, time.Time) {
	var problems []Problem
	var recheck time.Time
	var pressures []string
	var pressureSince time.Time
	for _, c := range node.Status.Conditions {
		switch c.Type {
		case corev1.NodeReady:
			if c.Status == corev1.ConditionTrue {
				continue
			}
			since := c.LastTransitionTime.Time
			if due := since.Add(t.NodeNotReadyGracePeriod); now.Before(due) {
				recheck = due
				continue
			}
			msg := fmt.Sprintf("node %s is NotReady (Ready=%s", node.Name, c.Status)
			if c.Reason != "" {
				msg += ", " + c.Reason
			}
			msg += ")"
			if c.Message != "" {
				msg += ": " + firstLine(c.Message)
			}
			problems = append(problems, Problem{Reason: itopsv1alpha1.ReasonNodeNotReady, Message: msg, Since: since})
		case corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure:
			if c.Status == corev1.ConditionTrue {
				pressures = append(pressures, string(c.Type))
				if pressureSince.IsZero() || c.LastTransitionTime.Time.Before(pressureSince) {
					pressureSince = c.LastTransitionTime.Time
				}
			}
		}
	}
	if len(pressures) > 0 {
		problems = append(problems, Problem{
			Reason:  itopsv1alpha1.ReasonNodePressure,
			Message: fmt.Sprintf("node %s reports %s", node.Name, strings.Join(pressures, ", ")),
			Since:   pressureSince,
		})
	}
	return problems, recheck
}

// DeploymentProblems returns WorkloadUnavailable (Available=False beyond the workload grace
// period, so that a Deployment that is merely starting is left alone) and RolloutStuck
// (Progressing=False with ProgressDeadlineExceeded: the Deployment's own deadline already
// waited). A Deployment scaled to zero is never unavailable. The second result is when an
// unavailable Deployment still within its grace period becomes a problem.
func DeploymentProblems(d *appsv1.Deployment, now time.Time, t Thresholds) ([]Problem, time.Time) {
	if d.DeletionTimestamp != nil {
		return nil, time.Time{}
	}
	var problems []Problem
	var recheck time.Time
	for _, c := range d.Status.Conditions {
		switch {
		case c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionFalse:
			if d.Spec.Replicas != nil && *d.Spec.Replicas == 0 {
				continue
			}
			if due := c.LastTransitionTime.Add(t.WorkloadGracePeriod); now.Before(due) {
				recheck = due
				continue
			}
			problems = append(problems, Problem{
				Reason: itopsv1alpha1.ReasonWorkloadUnavailable,
				Message: fmt.Sprintf("deployment %s is unavailable: %d of %d replicas available (%s)",
					d.Name, d.Status.AvailableReplicas, desired(d.Spec.Replicas), firstLine(c.Message)),
				Since: c.LastTransitionTime.Time,
			})
		case c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded":
			problems = append(problems, Problem{
				Reason:  itopsv1alpha1.ReasonRolloutStuck,
				Message: fmt.Sprintf("rollout of deployment %s is stuck: %s", d.Name, firstLine(c.Message)),
				Since:   c.LastTransitionTime.Time,
			})
		}
	}
	return problems, recheck
}

// ReplicaShortfall describes a StatefulSet or DaemonSet with fewer ready replicas than desired.
type ReplicaShortfall struct {
	Kind, Name     string
	Ready, Desired int32
	// Tolerated is how many missing replicas are not a problem (a DaemonSet's maxUnavailable).
	Tolerated        int32
	NotReadyPodSince time.Time // earliest time one of its pods became not ready (or was created)
}

// ShortfallProblem returns WorkloadUnavailable once a workload has had fewer ready replicas
// than desired for longer than the grace period, measured from the earliest not-ready pod.
// The second result is when a workload still within its grace period becomes a problem.
func ShortfallProblem(s ReplicaShortfall, now time.Time, t Thresholds) (*Problem, time.Time) {
	if s.Ready >= s.Desired-s.Tolerated {
		return nil, time.Time{}
	}
	since := s.NotReadyPodSince
	if since.IsZero() {
		since = now
	}
	if due := since.Add(t.WorkloadGracePeriod); now.Before(due) {
		return nil, due
	}
	return &Problem{
		Reason:  itopsv1alpha1.ReasonWorkloadUnavailable,
		Message: fmt.Sprintf("%s %s has %d of %d replicas ready", strings.ToLower(s.Kind), s.Name, s.Ready, s.Desired),
		Since:   since,
	}, time.Time{}
}

// NotReadySince returns the earliest time one of the pods stopped being ready, or was
// created if it never was; zero if all pods are ready.
func NotReadySince(pods []corev1.Pod) time.Time {
	var since time.Time
	for i := range pods {
		p := &pods[i]
		if p.DeletionTimestamp != nil {
			continue
		}
		t, ready := p.CreationTimestamp.Time, false
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady {
				ready = c.Status == corev1.ConditionTrue
				if !c.LastTransitionTime.IsZero() {
					t = c.LastTransitionTime.Time
				}
			}
		}
		if !ready && (since.IsZero() || t.Before(since)) {
			since = t
		}
	}
	return since
}

// JobProblems returns JobFailed when the Job's Failed condition is True.
func JobProblems(j *batchv1.Job) []Problem {
	for _, c := range j.Status.Conditions {
		if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
			return []Problem{{
				Reason:  itopsv1alpha1.ReasonJobFailed,
				Message: fmt.Sprintf("job %s failed: %s: %s", j.Name, c.Reason, firstLine(c.Message)),
				Since:   c.LastTransitionTime.Time,
			}}
		}
	}
	return nil
}

// VolumeClaimProblems returns VolumeClaimLost for a Lost claim and VolumeClaimPending for one
// Pending beyond the grace period. The second result is when a claim still within its grace
// period becomes a problem.
func VolumeClaimProblems(pvc *corev1.PersistentVolumeClaim, now time.Time, t Thresholds) ([]Problem, time.Time) {
	switch pvc.Status.Phase {
	case corev1.ClaimLost:
		return []Problem{{
			Reason:  itopsv1alpha1.ReasonVolumeClaimLost,
			Message: fmt.Sprintf("persistent volume claim %s lost its volume %s", pvc.Name, pvc.Spec.VolumeName),
		}}, time.Time{}
	case corev1.ClaimPending:
		since := pvc.CreationTimestamp.Time
		if due := since.Add(t.VolumeClaimPendingGracePeriod); now.Before(due) {
			return nil, due
		}
		return []Problem{{
			Reason:  itopsv1alpha1.ReasonVolumeClaimPending,
			Message: fmt.Sprintf("persistent volume claim %s has been Pending since %s", pvc.Name, since.UTC().Format(time.RFC3339)),
			Since:   since,
		}}, time.Time{}
	}
	return nil, time.Time{}
}

func sortedProblems(m map[string]*Problem) []Problem {
	out := make([]Problem, 0, len(m))
	for _, p := range m {
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Reason < out[j].Reason })
	return out
}

func desired(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return Truncate(s, 200)
}

// Truncate shortens s to at most n bytes, on a rune boundary, marking the cut with "...".
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - 3
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// CronJobProblems judges a CronJob by its latest finished run: JobFailed when that Job
// failed, nothing when it succeeded (a later success clears an earlier failure, a later
// failure recurs). Runs still active are not judged yet.
func CronJobProblems(cj *batchv1.CronJob, jobs []batchv1.Job) []Problem {
	var latest *batchv1.Job
	var latestAt time.Time
	var failure *batchv1.JobCondition
	for i := range jobs {
		j := &jobs[i]
		for k := range j.Status.Conditions {
			c := &j.Status.Conditions[k]
			if c.Status != corev1.ConditionTrue || (c.Type != batchv1.JobFailed && c.Type != batchv1.JobComplete) {
				continue
			}
			at := c.LastTransitionTime.Time
			if latest == nil || at.After(latestAt) || (at.Equal(latestAt) && j.CreationTimestamp.After(latest.CreationTimestamp.Time)) ||
				(at.Equal(latestAt) && j.CreationTimestamp.Equal(&latest.CreationTimestamp) && j.Name > latest.Name) {
				latest, latestAt, failure = j, at, nil
				if c.Type == batchv1.JobFailed {
					failure = c
				}
			}
		}
	}
	if failure == nil {
		return nil
	}
	// A CronJob that keeps no successful Jobs (successfulJobsHistoryLimit: 0) still records
	// its last success: a success after the failure clears it.
	if last := cj.Status.LastSuccessfulTime; last != nil && last.After(failure.LastTransitionTime.Time) {
		return nil
	}
	return []Problem{{
		Reason:  itopsv1alpha1.ReasonJobFailed,
		Message: fmt.Sprintf("the latest run of cronjob %s, job %s, failed: %s: %s", cj.Name, latest.Name, failure.Reason, firstLine(failure.Message)),
		Since:   failure.LastTransitionTime.Time,
	}}
}

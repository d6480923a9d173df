package health

import (
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// Evidence captures what an SRE looks at first for a problem shown by pod (nil for none):
// the last termination of its failing container (the one that terminated most recently among
// those not ready, else among all), the node, that container's image, and the most recent
// Warning Events among events (the pod's, its workload's and its node's), deduplicated by
// object, reason and message (counts summed), most recent first, at most
// itopsv1alpha1.MaxEvidenceEvents, every message truncated to
// itopsv1alpha1.MaxEvidenceMessage bytes. It reads only statuses and events: never the
// environment, Secret data or logs. With no pod, only the events are kept (nil for neither).
func Evidence(pod *corev1.Pod, events []Event, now time.Time) *itopsv1alpha1.IncidentEvidence {
	if pod == nil && len(events) == 0 {
		return nil
	}
	at := metav1.NewTime(now.Truncate(time.Second))
	ev := &itopsv1alpha1.IncidentEvidence{CapturedAt: &at, Events: dedupEvents(events)}
	if pod == nil {
		return ev
	}
	ev.Pod, ev.Node = pod.Name, pod.Spec.NodeName
	statuses := append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...)
	var failing *corev1.ContainerStatus
	var failingTerm *corev1.ContainerStateTerminated
	for _, notReadyOnly := range []bool{true, false} {
		for i := range statuses {
			cs := &statuses[i]
			if notReadyOnly && cs.Ready {
				continue
			}
			term := cs.LastTerminationState.Terminated
			if cs.State.Terminated != nil {
				term = cs.State.Terminated
			}
			if term != nil && (failingTerm == nil || term.FinishedAt.After(failingTerm.FinishedAt.Time)) {
				failing, failingTerm = cs, term
			}
		}
		if failing != nil {
			break
		}
	}
	if failing == nil {
		// Nothing terminated: the first container not ready (waiting), else the first one.
		for i := range statuses {
			if !statuses[i].Ready {
				failing = &statuses[i]
				break
			}
		}
	}
	switch {
	case failing != nil:
		ev.Image = Truncate(failing.Image, 1024)
		if ev.Image == "" {
			ev.Image = specImage(pod, failing.Name)
		}
	case len(pod.Spec.Containers) > 0:
		ev.Image = Truncate(pod.Spec.Containers[0].Image, 1024)
	}
	if failingTerm != nil {
		ev.LastTermination = &itopsv1alpha1.ContainerTermination{
			Container: failing.Name, Reason: Truncate(failingTerm.Reason, 128), ExitCode: failingTerm.ExitCode,
			Signal: failingTerm.Signal, Message: Truncate(strings.TrimSpace(failingTerm.Message), itopsv1alpha1.MaxEvidenceMessage),
		}
		if !failingTerm.FinishedAt.IsZero() {
			t := failingTerm.FinishedAt
			ev.LastTermination.FinishedAt = &t
		}
		if ev.LastTermination.Signal == 0 && failingTerm.ExitCode > 128 && failingTerm.ExitCode < 160 {
			// The runtime reports no signal (containerd, CRI-O): exit codes above 128 are
			// 128 + the signal by the shell convention (137: SIGKILL, 143: SIGTERM).
			ev.LastTermination.Signal = failingTerm.ExitCode - 128
		}
	}
	return ev
}

func specImage(pod *corev1.Pod, container string) string {
	for _, c := range append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...) {
		if c.Name == container {
			return Truncate(c.Image, 1024)
		}
	}
	return ""
}

// dedupEvents merges events of the same object, reason and message, most recent first,
// bounded and truncated (see Evidence).
func dedupEvents(events []Event) []itopsv1alpha1.EvidenceEvent {
	type key struct{ object, reason, message string }
	merged := map[key]*Event{}
	var order []key
	for _, e := range events {
		k := key{e.Object(), e.Reason, e.Message}
		if m, ok := merged[k]; ok {
			m.Count += e.Count
			if e.LastSeen.After(m.LastSeen) {
				m.LastSeen = e.LastSeen
			}
			continue
		}
		c := e
		merged[k] = &c
		order = append(order, k)
	}
	sort.SliceStable(order, func(i, j int) bool {
		a, b := merged[order[i]], merged[order[j]]
		if !a.LastSeen.Equal(b.LastSeen) {
			return a.LastSeen.After(b.LastSeen)
		}
		return order[i].object+order[i].reason < order[j].object+order[j].reason
	})
	if len(order) > itopsv1alpha1.MaxEvidenceEvents {
		order = order[:itopsv1alpha1.MaxEvidenceEvents]
	}
	out := make([]itopsv1alpha1.EvidenceEvent, 0, len(order))
	for _, k := range order {
		e := merged[k]
		last := metav1.NewTime(e.LastSeen)
		out = append(out, itopsv1alpha1.EvidenceEvent{
			Reason: Truncate(e.Reason, 128), Message: Truncate(strings.TrimSpace(e.Message), itopsv1alpha1.MaxEvidenceMessage),
			Count: e.Count, LastSeen: &last, Object: Truncate(e.Object(), 320),
		})
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// LogTarget names the container instance whose log explains a crash: the pod (in Namespace),
// the container, and whether the instance is the previous one (the container was restarted
// since) or the current one (terminated, not restarted).
type LogTarget struct {
	Namespace, Pod, Container string
	Previous                  bool
}

// CrashLogTarget returns the instance whose log to read for ev, the evidence taken from pod
// (Evidence), or nil when there is none worth reading: only a container that ended in a crash
// (a non-zero exit code: Error, OOMKilled, a liveness-probe or other kill; or any exit of a
// container that was restarted since) on a node, so that a kubelet may serve its log. A container terminated now is read as it is (Current); one
// running or waiting again (CrashLoopBackOff) is read as its previous instance.
func CrashLogTarget(pod *corev1.Pod, ev *itopsv1alpha1.IncidentEvidence) *LogTarget {
	if pod == nil || ev == nil || ev.LastTermination == nil || pod.Spec.NodeName == "" {
		return nil
	}
	term := ev.LastTermination
	failed := term.ExitCode != 0 || term.Reason == "OOMKilled" || term.Reason == "Error"
	statuses := append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...)
	for _, cs := range statuses {
		if cs.Name != term.Container {
			continue
		}
		previous := cs.State.Terminated == nil
		// A container that exits 0 and is restarted (restartPolicy Always) crash-loops too.
		if failed || (previous && cs.RestartCount > 0) {
			return &LogTarget{Namespace: pod.Namespace, Pod: pod.Name, Container: cs.Name, Previous: previous}
		}
	}
	return nil
}

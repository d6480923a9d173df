package health

import (
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// RestartSample is a container's restart count (status.containerStatuses[].restartCount) as
// the operator observed it at a time.
type RestartSample struct {
	Count int32
	At    time.Time
}

// maxRestartSamples bounds the samples kept per container: the one at or before the window's
// start (the baseline) and the latest changes within it. When more arrive, the oldest one
// after the baseline is dropped: the baseline then moves later, never earlier, so the signal
// may last a little longer but never fires on restarts outside the window.
const maxRestartSamples = 8

// RestartHistory keeps, per container (pod UID and container name), the restart counts the
// operator observed and when: what ContainerRestarting is judged on when a pod older than the
// window starts restarting (status alone only tells the count since the pod started). It holds
// at most maxRestartSamples per container, drops samples that left the window (keeping one as
// the baseline), and forgets a pod when Forget is called for it (the pod informer's delete).
// In memory only: after an operator restart a container's history starts at its first
// observation, so restarts from before it are never counted as recent. Safe for concurrent use.
type RestartHistory struct {
	// Window is the window of the rule (detection.containerRestarting.window).
	Window time.Duration

	mu      sync.Mutex
	samples map[types.UID]map[string][]RestartSample
}

// NewRestartHistory returns an empty history for a window.
func NewRestartHistory(window time.Duration) *RestartHistory {
	return &RestartHistory{Window: window, samples: map[types.UID]map[string][]RestartSample{}}
}

// Observe records the restart counts of the pod's containers at now and returns each
// container's samples (by container name; copies). A nil history observes nothing and
// returns nil.
func (h *RestartHistory) Observe(pod *corev1.Pod, now time.Time) map[string][]RestartSample {
	if h == nil || pod.UID == "" || len(pod.Status.ContainerStatuses) == 0 {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	byName := h.samples[pod.UID]
	if byName == nil {
		byName = map[string][]RestartSample{}
		h.samples[pod.UID] = byName
	}
	out := make(map[string][]RestartSample, len(pod.Status.ContainerStatuses))
	for _, cs := range pod.Status.ContainerStatuses {
		s := recordRestarts(byName[cs.Name], cs.RestartCount, now, h.Window)
		byName[cs.Name] = s
		out[cs.Name] = append([]RestartSample(nil), s...)
	}
	return out
}

// Forget drops a pod's history (the pod was deleted).
func (h *RestartHistory) Forget(uid types.UID) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.samples, uid)
}

// Len is the number of pods with a history.
func (h *RestartHistory) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.samples)
}

// recordRestarts adds count observed at now to a container's samples (oldest first): a
// sample only when the count changed (a lower count, a container the kubelet recreated with
// its count reset, starts over), then drops the samples before the last one at or before
// now-window and, beyond maxRestartSamples, the oldest after that baseline.
func recordRestarts(s []RestartSample, count int32, now time.Time, window time.Duration) []RestartSample {
	switch {
	case len(s) == 0 || count < s[len(s)-1].Count:
		s = append(s[:0], RestartSample{Count: count, At: now})
	case count > s[len(s)-1].Count:
		s = append(s, RestartSample{Count: count, At: now})
	}
	start := now.Add(-window)
	for len(s) > 1 && !s[1].At.After(start) {
		s = s[1:]
	}
	for len(s) > maxRestartSamples {
		s = append(s[:1], s[2:]...)
	}
	return s
}

// RestartRise is how much a container's restart count rose within the window ending at now
// (time units: the window is a duration, the samples' times instants), judged on its samples
// (RestartHistory.Observe) and the pod's start:
//
//   - the baseline is the count at now-window: the last sample at or before it, or 0 if the
//     pod started within the window (every restart is then in it);
//   - known is false when neither tells (the history begins within the window of a pod
//     started before it: after an operator restart); the rise is then counted from the first
//     sample, a lower bound, so restarts from before the operator saw the pod never count;
//   - since is when the first sample above the baseline was observed (zero if the rise is 0);
//   - next is when the baseline next moves by time alone (a sample leaves the window), zero
//     if never.
//
// count is the container's restart count now; start the pod's status.startTime (zero if
// unknown). Pure: the samples are passed in, the clock given.
func RestartRise(samples []RestartSample, count int32, start, now time.Time, window time.Duration) (rise int32, known bool, since, next time.Time) {
	s := append([]RestartSample(nil), samples...)
	sort.SliceStable(s, func(i, j int) bool { return s[i].At.Before(s[j].At) })
	if len(s) == 0 || s[len(s)-1].Count != count {
		s = append(s, RestartSample{Count: count, At: now})
	}
	windowStart := now.Add(-window)
	if !start.IsZero() && !start.Before(windowStart) && start.Before(s[0].At) {
		s = append([]RestartSample{{Count: 0, At: start}}, s...)
	}
	base := 0
	for i := range s {
		if s[i].At.After(windowStart) {
			break
		}
		base, known = i, true
	}
	if !known && len(s) > 0 && s[0].Count == 0 && !start.IsZero() && s[0].At.Equal(start) {
		known = true // the pod started within the window
	}
	rise = count - s[base].Count
	for i := base; i < len(s); i++ {
		if i > base && s[i].Count > s[base].Count && since.IsZero() {
			since = s[i].At
		}
		if at := s[i].At.Add(window); at.After(now) && next.IsZero() {
			next = at
		}
	}
	return max(rise, 0), known, since, next
}

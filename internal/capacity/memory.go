package capacity

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// MemoryPolicy holds the MemoryNearLimit knobs (internal/config.MemoryNearLimitPolicy).
type MemoryPolicy struct {
	// ThresholdPercent: a working set at or above this percentage of the limit is near it.
	ThresholdPercent int32
	// For: how long the container must stay near its limit.
	For time.Duration
}

// ContainerMemory is one container's memory as the detector sees it.
type ContainerMemory struct {
	// Pod and Container name it.
	Pod, Container string
	// WorkingSet is the container's working set in bytes (metrics.k8s.io PodMetrics
	// containers[].usage.memory: what the kubelet's OOM decisions and metrics-server report).
	WorkingSet int64
	// Limit is the container's memory limit in bytes (0: none, never near it).
	Limit int64
	// FirstWorkingSet is the working set in bytes when the container was first seen near its
	// limit (0: WorkingSet). The message quotes it, not the live figure, so that an active
	// signal's message (and its incident) does not change at every poll.
	FirstWorkingSet int64
}

// Near reports whether the container's working set is at or above threshold percent of its
// limit (false without a limit).
func (c ContainerMemory) Near(threshold int32) bool {
	return c.Limit > 0 && c.WorkingSet*100 >= c.Limit*int64(threshold)
}

// JudgeMemory judges one container at now: near its limit since nearSince (the caller's
// first-seen time: metrics have no history; zero: now) for p.For fires; the message carries
// the figure first seen (FirstWorkingSet), stable while the signal is active, (Impact Medium,
// Urgency Medium: P3; the OOM kill, once it happens, is the OOMKilled signal); within that it
// is Pending with Next at its end; not near is no finding.
func JudgeMemory(c ContainerMemory, nearSince, now time.Time, p MemoryPolicy) Finding {
	if !c.Near(p.ThresholdPercent) {
		return Finding{}
	}
	f := Finding{Impact: itopsv1alpha1.LevelMedium, Urgency: itopsv1alpha1.LevelMedium}
	f = grace(f, nearSince, p.For, now)
	first := c.FirstWorkingSet
	if first <= 0 {
		first = c.WorkingSet
	}
	f.Message = fmt.Sprintf("container %s of pod %s is near its %s memory limit since %s (%s, %d%% when first seen; threshold %d%%): the kernel OOM-kills it at the limit",
		c.Container, c.Pod, bytes(c.Limit), f.Since.UTC().Format(time.RFC3339), bytes(first), first*100/c.Limit, p.ThresholdPercent)
	return f
}

// bytes formats a byte count the way Kubernetes quantities read (470Mi).
func bytes(n int64) string {
	q := resource.NewQuantity(n, resource.BinarySI)
	if n >= 1<<20 {
		q = resource.NewQuantity(n/(1<<20)*(1<<20), resource.BinarySI)
	}
	return q.String()
}

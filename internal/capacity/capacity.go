// Package capacity judges the capacity and schedule problems of docs/detectors.md: a
// HorizontalPodAutoscaler that cannot scale or is pinned at maxReplicas (AutoscalerLimited), a
// PodDisruptionBudget that allows no disruption (DisruptionBlocked), a CronJob that missed its
// schedule or has an invalid one (CronJobMissedSchedule) and a container whose working set is
// close to its memory limit (MemoryNearLimit). Pure: no client, the time is given; each judge
// says when its verdict changes next without the object changing, so controllers requeue
// exactly then.
package capacity

import (
	"time"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/priority"
)

// Finding is a judge's decision on one object at one moment.
type Finding struct {
	// Firing: the problem has lasted its grace period; the signal is active.
	Firing bool
	// Pending: the problem is present but within its grace period (or the object's status is
	// not current): an active signal stays active, none starts.
	Pending bool
	// Message says what is wrong, for a person (Firing or Pending).
	Message string
	// Since is when the problem started (zero: unknown, now).
	Since time.Time
	// Impact and Urgency of the signal (Firing or Pending).
	Impact, Urgency itopsv1alpha1.Level
	// Next is the next instant the verdict changes without the object changing (the end of a
	// grace period, a run falling due); zero: only a change of the object changes it.
	Next time.Time
}

// Priority is the finding's impact and urgency through the ITIL matrix.
func (f Finding) Priority() itopsv1alpha1.Priority {
	return priority.For(f.Impact, f.Urgency)
}

// Problem reports whether the finding holds a problem (Firing or Pending).
func (f Finding) Problem() bool { return f.Firing || f.Pending }

// grace turns a problem present since `since` into a Finding: Firing once grace has passed,
// Pending with Next at since+grace before. A zero or future since counts from now.
func grace(f Finding, since time.Time, d time.Duration, now time.Time) Finding {
	if since.IsZero() || since.After(now) {
		since = now
	}
	f.Since = since
	if end := since.Add(d); end.After(now) {
		f.Pending, f.Next = true, end
		return f
	}
	f.Firing = true
	return f
}

// Worst picks, among findings about one subject, the one to record: a firing one before a
// pending one before none, the first in order among equals; Next is the earliest of all.
func Worst(fs []Finding) Finding {
	var best Finding
	var next time.Time
	rank := func(f Finding) int {
		switch {
		case f.Firing:
			return 2
		case f.Pending:
			return 1
		}
		return 0
	}
	for i, f := range fs {
		if i == 0 || rank(f) > rank(best) {
			best = f
		}
		if !f.Next.IsZero() && (next.IsZero() || f.Next.Before(next)) {
			next = f.Next
		}
	}
	best.Next = next
	return best
}

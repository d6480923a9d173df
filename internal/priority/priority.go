// Package priority implements the ITIL priority matrix: impact x urgency -> P1..P5.
package priority

import (
	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// rank maps a level to 0 (High), 1 (Medium) or 2 (Low); unknown or empty levels count as
// Medium, the API default.
func rank(l itopsv1alpha1.Level) int {
	switch l {
	case itopsv1alpha1.LevelHigh:
		return 0
	case itopsv1alpha1.LevelLow:
		return 2
	default:
		return 1
	}
}

// For returns the ITIL priority of an incident with the given impact and urgency:
//
//	            urgency High  Medium  Low
//	impact High         P1    P2      P3
//	impact Medium       P2    P3      P4
//	impact Low          P3    P4      P5
func For(impact, urgency itopsv1alpha1.Level) itopsv1alpha1.Priority {
	priorities := [...]itopsv1alpha1.Priority{
		itopsv1alpha1.PriorityP1, itopsv1alpha1.PriorityP2, itopsv1alpha1.PriorityP3,
		itopsv1alpha1.PriorityP4, itopsv1alpha1.PriorityP5,
	}
	return priorities[rank(impact)+rank(urgency)]
}

// Raise returns p raised by n levels (P3 raised by 1 is P2), never above P1.
func Raise(p itopsv1alpha1.Priority, n int) itopsv1alpha1.Priority {
	order := []itopsv1alpha1.Priority{itopsv1alpha1.PriorityP1, itopsv1alpha1.PriorityP2, itopsv1alpha1.PriorityP3,
		itopsv1alpha1.PriorityP4, itopsv1alpha1.PriorityP5}
	for i, q := range order {
		if q == p {
			return order[max(i-n, 0)]
		}
	}
	return p
}

// order lists the priorities from the most urgent.
var order = []itopsv1alpha1.Priority{itopsv1alpha1.PriorityP1, itopsv1alpha1.PriorityP2, itopsv1alpha1.PriorityP3,
	itopsv1alpha1.PriorityP4, itopsv1alpha1.PriorityP5}

// Rank is 0 for P1 ... 4 for P5; unknown or empty priorities rank last (5).
func Rank(p itopsv1alpha1.Priority) int {
	for i, q := range order {
		if q == p {
			return i
		}
	}
	return len(order)
}

// Highest returns the most urgent of ps ("" when ps has no known priority).
func Highest(ps ...itopsv1alpha1.Priority) itopsv1alpha1.Priority {
	var best itopsv1alpha1.Priority
	for _, p := range ps {
		if Rank(p) < Rank(best) {
			best = p
		}
	}
	return best
}

// Cap returns p, or cause when p is more urgent than cause: a symptom never outranks its cause.
// An empty cause caps nothing.
func Cap(p, cause itopsv1alpha1.Priority) itopsv1alpha1.Priority {
	if cause == "" || Rank(p) >= Rank(cause) {
		return p
	}
	return cause
}

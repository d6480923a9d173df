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

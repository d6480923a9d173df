package slo

import "time"

// The instants at which a ServiceLevel's conditions change by themselves, as the rolling window
// slides over books that no event changes (the service stays up). They are computed exactly,
// to the second (the books' resolution), so that a reconcile can be requeued at them instead
// of polling: BudgetExhausted, and the FreezeChanges freeze it drives, ends at the very second
// the window has dropped enough bad time.
//
// The search is over what the controller will see at each future instant t: the books folded
// as a reconcile at t folds them (everything before t - horizon into daily totals, days that
// left the window dropped) and computed at t. While the service is up and no planned downtime
// is added, the unplanned downtime in the window never grows and the planned time never grows
// either, so the remaining budget never decreases: "the budget is left at t" is false, then
// true, and a binary search over whole seconds finds the first true instant in about 22
// evaluations for a 30-day window.

// Calendar windows: the budget is the current period's. While the service is up within a
// period, its unplanned downtime does not grow, so an exhausted budget stays exhausted until
// the period ends, and recovers exactly then, up or down (the next period starts with nothing
// spent): the controller requeues at every period end (which also closes the period's report),
// so no search is needed. Availability over the period only rises while the service is up:
// PeriodObjectiveMetAt finds the second it meets the objective again.

// searchSlack is how far past now + window the search looks: everything the books hold today
// has left the window by then (a folded day leaves whole, up to one day late).
const searchSlack = 48 * time.Hour

// BudgetRecoversAt is the first whole second after now at which the error budget is no longer
// exhausted, given books that do not change (the service is up): ok is false when the budget is
// not exhausted at now, when the service is down (the books grow; the next observation decides),
// or when nothing in the books makes it recover. horizon is the exact horizon the controller
// folds at (the longest burn-rate window, at least 1h).
func BudgetRecoversAt(o Objective, horizon time.Duration, b Books, now time.Time) (time.Time, bool) {
	if b.Down() || b.Since.IsZero() || !Compute(o, nil, b, now).BudgetExhausted() {
		return time.Time{}, false
	}
	return firstTrue(now, now.Add(o.Window+searchSlack), func(t time.Time) bool {
		return !Compute(o, nil, foldedAt(o, horizon, b, t), t).BudgetExhausted()
	})
}

// ObjectiveMetAt is the first whole second after now at which availability meets the objective
// again, under the same assumptions as BudgetRecoversAt; ok is false when it is met at now,
// the service is down, or it never is. Availability is a ratio whose denominator (observed
// time) can shrink when a whole folded day leaves the window, so unlike the budget it is not
// strictly monotone at day boundaries: the instant returned is one at which it is met, and the
// reconcile there re-evaluates.
func ObjectiveMetAt(o Objective, horizon time.Duration, b Books, now time.Time) (time.Time, bool) {
	if b.Down() || b.Since.IsZero() || Compute(o, nil, b, now).ObjectiveMet(o) {
		return time.Time{}, false
	}
	return firstTrue(now, now.Add(o.Window+searchSlack), func(t time.Time) bool {
		return Compute(o, nil, foldedAt(o, horizon, b, t), t).ObjectiveMet(o)
	})
}

// foldedAt is the books as a reconcile at t keeps them.
func foldedAt(o Objective, horizon time.Duration, b Books, t time.Time) Books {
	return Fold(b, t.Add(-horizon), t.Add(-o.Window))
}

// firstTrue is the first whole second t in (now, limit] at which pred(t) holds, for a pred
// that is false then true; false when pred(limit) does not hold.
func firstTrue(now, limit time.Time, pred func(time.Time) bool) (time.Time, bool) {
	lo := now.Truncate(time.Second) // pred(lo) is taken as false
	hi := limit.Truncate(time.Second)
	if !hi.After(lo) || !pred(hi) {
		return time.Time{}, false
	}
	for hi.Sub(lo) > time.Second {
		mid := lo.Add((hi.Sub(lo) / 2).Truncate(time.Second))
		if pred(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi, true
}

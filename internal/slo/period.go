package slo

import (
	"math/big"
	"sort"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// MaxPeriodReports bounds status.periods: 12 completed periods (a year of months, a quarter of
// weeks) and the current one.
const MaxPeriodReports = 13

// PeriodFigures are one calendar period's figures, whatever the SLI measured them from: the
// workloads' availability books (ComputePeriod), or a Prometheus SLI's own queries over the
// period. They are what a period report (PeriodReportOf) is built from.
type PeriodFigures struct {
	// Start and End are the period, [Start, End).
	Start, End time.Time
	// Availability over the period's measured time (so far, for the current period), a
	// fraction in [0, 1]; nil when nothing was measured.
	Availability *big.Rat
	// BudgetSpent is the share of the whole period's error budget spent (so far): 1 is all of
	// it, over 1 overspent, never nil.
	BudgetSpent *big.Rat
}

// FiguresFunc returns the figures of the period [start, end) up to at: at < end for the
// current period (so far), at == end for a completed one. Errors end the update (the report
// is computed again at the next reconcile).
type FiguresFunc func(start, end, at time.Time) (PeriodFigures, error)

// PeriodTotals are the availability books' totals over a calendar period up to an instant.
type PeriodTotals struct {
	PeriodFigures
	// Observed is the tracked time in the period up to the instant that was neither planned
	// nor unobserved; Downtime the unplanned downtime; Planned the time Maintenance windows
	// covered the service; Unobserved the time whose state is not known.
	Observed, Downtime, Planned, Unobserved time.Duration
	// Allowed is the period's error budget as time: (1 - target) x (period length - Planned).
	Allowed time.Duration
	// BudgetRemaining is 1 - BudgetSpent; zero or negative when exhausted.
	BudgetRemaining *big.Rat
}

// BudgetExhausted reports whether none of the period's budget is left.
func (t PeriodTotals) BudgetExhausted() bool { return t.BudgetRemaining.Sign() <= 0 }

// ComputePeriod totals the books over the calendar period [start, end) up to at (clipped to
// [start, end]): the daily totals of the days that begin in the period (days before the fold
// point), plus the exact intervals from the fold point (or start) to at. It is exact when the
// books' days are the calendar's days (Books.Zone is the window's zone: every day lies wholly
// in one period) and at is not before the fold point or is a day boundary (the period's end).
//
// The figures are those of the rolling window, over the period:
//
//	observed      = tracked − planned − unobserved          (tracked: from max(start, Since) to at)
//	availability  = 1 − downtime / observed                 (nil while observed = 0)
//	allowed       = (1 − target) × (end − start − planned)  (the whole period's budget)
//	budgetSpent   = downtime / allowed                      (1 when allowed = 0 and downtime > 0)
func ComputePeriod(target *big.Rat, b Books, start, end, at time.Time) PeriodTotals {
	to := minTime(maxTime(at, start), end)
	t := PeriodTotals{PeriodFigures: PeriodFigures{Start: start, End: end}}
	w := span(b, maxTime(start, b.FoldedUntil), to)
	t.Downtime, t.Planned, t.Unobserved = w.down, w.planned, w.unobserved
	if start.Before(b.FoldedUntil) {
		for _, d := range b.Days {
			if !d.Date.Before(start) && d.Date.Before(minTime(b.FoldedUntil, to)) {
				t.Downtime += d.Downtime
				t.Planned += d.Planned
				t.Unobserved += d.Unobserved
			}
		}
	}
	var tracked time.Duration
	if !b.Since.IsZero() && to.After(maxTime(start, b.Since)) {
		tracked = to.Sub(maxTime(start, b.Since))
	}
	t.Observed = max(tracked-t.Planned-t.Unobserved, 0)
	if t.Observed > 0 {
		t.Availability = ratio(t.Observed-min(t.Downtime, t.Observed), t.Observed)
	}
	allowed := new(big.Rat).Mul(new(big.Rat).Sub(big.NewRat(1, 1), target), durationRat(max(end.Sub(start)-t.Planned, 0)))
	t.Allowed = time.Duration(new(big.Int).Quo(allowed.Num(), allowed.Denom()).Int64())
	switch {
	case allowed.Sign() > 0:
		t.BudgetSpent = new(big.Rat).Quo(durationRat(t.Downtime), allowed)
	case t.Downtime > 0:
		t.BudgetSpent = big.NewRat(1, 1)
	default:
		t.BudgetSpent = new(big.Rat)
	}
	t.BudgetRemaining = new(big.Rat).Sub(big.NewRat(1, 1), t.BudgetSpent)
	return t
}

// PeriodReportOf is the report of a period with figures f against target (a fraction):
// availability and budgetSpent as percent strings with up to 4 decimals, each rounded toward
// the worse figure (availability down, budget spent up), met when availability was measured
// and meets the target; result Met, Missed, or NoData when nothing was measured (availability
// empty, met false). complete marks a period that has ended.
func PeriodReportOf(f PeriodFigures, target *big.Rat, complete bool) itopsv1alpha1.PeriodReport {
	r := itopsv1alpha1.PeriodReport{Start: metav1.Time{Time: f.Start}, End: metav1.Time{Time: f.End},
		Availability: Percent(f.Availability, 4), Complete: complete,
		Met: f.Availability != nil && f.Availability.Cmp(target) >= 0, Result: itopsv1alpha1.PeriodNoData}
	switch {
	case r.Met:
		r.Result = itopsv1alpha1.PeriodMet
	case f.Availability != nil:
		r.Result = itopsv1alpha1.PeriodMissed
	}
	if f.BudgetSpent != nil {
		r.BudgetSpent = percentUp(f.BudgetSpent, 4)
	}
	return r
}

// percentUp is Percent rounded toward plus infinity.
func percentUp(r *big.Rat, decimals int) string {
	s := Percent(new(big.Rat).Neg(r), decimals)
	switch {
	case s == "0":
		return s
	case s[0] == '-':
		return s[1:]
	default:
		return "-" + s
	}
}

// SwitchRetention is how long before the end of the latest completed report the books of a
// calendar window keep their days (32 days: the longest month plus a day of time-zone shift),
// so that after a window change (Week -> Month, Month -> Week, another zone) the new window's
// period that overlaps completed reports is computed from the days themselves.
const SwitchRetention = 32 * 24 * time.Hour

// DaysKeptFrom is the first instant whose days the books of a calendar window keep, given
// the end of the latest completed report (CoveredUntil) and the start of the oldest period
// still to be reported (ReportFrom): the earlier of keepFrom and covered - SwitchRetention.
func DaysKeptFrom(covered, keepFrom time.Time) time.Time {
	if covered.IsZero() {
		return keepFrom
	}
	return minTime(keepFrom, covered.Add(-SwitchRetention))
}

// CoveredUntil is the end of the latest completed report in reports: the time up to which
// completed reports account for every tracked instant (zero without one). Figures of a period
// are computed from Books.From(CoveredUntil(...)).
func CoveredUntil(reports []itopsv1alpha1.PeriodReport) time.Time {
	var covered time.Time
	for _, p := range reports {
		if p.Complete && p.End.After(covered) {
			covered = p.End.Time
		}
	}
	return covered
}

// ReportFrom is the start of the oldest period whose report is still to be computed: the
// oldest period that ended after the end of the last completed report in prev (or, without
// one, after the start of the first report written) and after since (when tracking began),
// among the MaxPeriodReports-1 latest; else the current period's start. After a window change
// (Week -> Month, another time zone) that period may begin before the last completed report
// ends: the reports overlap rather than leave tracked time out. The books must keep their days from there on until that report is written.
// Errors: those of CurrentPeriod.
func ReportFrom(c *itopsv1alpha1.CalendarWindow, prev []itopsv1alpha1.PeriodReport, since, now time.Time) (time.Time, error) {
	missing, start, _, err := unreported(c, prev, since, now)
	if err != nil || len(missing) == 0 {
		return start, err
	}
	return missing[0][0], nil
}

// unreported returns the completed periods still to be reported, oldest first, and the
// current period.
func unreported(c *itopsv1alpha1.CalendarWindow, prev []itopsv1alpha1.PeriodReport, since, now time.Time) ([][2]time.Time, time.Time, time.Time, error) {
	start, end, err := CurrentPeriod(c, now)
	if err != nil {
		return nil, start, end, err
	}
	// Every instant of tracked time ends up in a completed report, and no period is reported
	// twice: a period that ended is reported when it ends after the time the completed reports
	// already cover (the end of the latest one) or, without one, after the start of the first
	// report written (the period the window was first measured in as a calendar). The
	// incomplete report of prev, the period that was current at the last update, is dropped
	// and replaced: when the window changed since (Week -> Month, a time zone eastwards), its
	// time is covered by the new window's period that contains it, which may begin before the
	// end of the latest completed report (December after weeks up to Dec 7), so periods
	// overlapping the covered time are reported too. Without any report, the books were not
	// kept for periods (a new ServiceLevel, or one whose window was rolling until now: its
	// days before the rolling window were dropped), so no past period is claimed.
	var covered, first time.Time
	for _, p := range prev {
		switch {
		case p.Complete && p.End.After(covered):
			covered = p.End.Time
		case !p.Complete && (first.IsZero() || p.Start.Before(&metav1.Time{Time: first})):
			first = p.Start.Time
		}
	}
	from := covered
	if from.IsZero() {
		from = first
	}
	if from.IsZero() || !from.Before(start) || since.IsZero() {
		return nil, start, end, nil
	}
	past, err := PreviousPeriods(c, now, MaxPeriodReports-1)
	if err != nil {
		return nil, start, end, err
	}
	// The books keep at most a year of days (status.downtimeByDay holds 367): a period that
	// began earlier than that (an operator down for a year) is not reported from them.
	oldest := now.Add(-MaxRollingWindow)
	var missing [][2]time.Time
	for _, p := range past {
		if p[1].After(from) && p[1].After(since) && !p[0].Before(oldest) {
			missing = append(missing, p)
		}
	}
	return missing, start, end, nil
}

// Periods is status.periods at now for the calendar window c: the completed reports of prev
// kept as written; the periods that ended after the last completed one (or after the start of
// the first report in prev; none without any: see unreported) reported once, from figures at their end,
// complete; the current period so far, last. At most MaxPeriodReports, the oldest dropped. A report for a period that ended
// while nobody computed it (the operator was down over the boundary) is computed from the
// figures now, as exactly as at its end when the figures source keeps its data (the books
// keep the days from ReportFrom on; time nobody observed is booked as unobserved). target is
// the objective as a fraction. Errors: those of CurrentPeriod and of figures.
func Periods(c *itopsv1alpha1.CalendarWindow, prev []itopsv1alpha1.PeriodReport, target *big.Rat, since, now time.Time,
	figures FiguresFunc) ([]itopsv1alpha1.PeriodReport, error) {
	missing, start, end, err := unreported(c, prev, since, now)
	if err != nil {
		return nil, err
	}
	var out []itopsv1alpha1.PeriodReport
	for _, p := range prev {
		if p.Complete {
			out = append(out, p)
		}
	}
	for _, p := range missing {
		f, err := figures(p[0], p[1], p[1])
		if err != nil {
			return nil, err
		}
		out = append(out, PeriodReportOf(f, target, true))
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start.Before(&out[j].Start) })
	if n := len(out); n > MaxPeriodReports-1 {
		out = out[n-(MaxPeriodReports-1):]
	}
	f, err := figures(start, end, now)
	if err != nil {
		return nil, err
	}
	return append(out, PeriodReportOf(f, target, false)), nil
}

// PeriodObjectiveMetAt is the first whole second after now, within the period [start, end),
// at which the period's availability meets target again, given books that do not change (the
// service is up): within a period, observed time grows and downtime does not, so availability
// only rises. ok is false when it is met (or not measured) at now, the service is down, or it
// is not met before the period ends (the new period then starts with nothing spent; the
// controller requeues at every period end).
func PeriodObjectiveMetAt(target *big.Rat, b Books, start, end, now time.Time) (time.Time, bool) {
	met := func(t time.Time) bool {
		a := ComputePeriod(target, b, start, end, t).Availability
		return a == nil || a.Cmp(target) >= 0
	}
	if b.Down() || b.Since.IsZero() || met(now) {
		return time.Time{}, false
	}
	return firstTrue(now, end.Add(-time.Second), met)
}

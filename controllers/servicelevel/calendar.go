package servicelevel

import (
	"fmt"
	"time"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/slo"
)

// nominalCalendarWindow is the Objective.Window parse gives a calendar window, the longest
// month: what the rolling code sizes by it (the planned downtime gathered) covers any period.
// The figures of a calendar window are the current period's (periodReport).
const nominalCalendarWindow = 31 * 24 * time.Hour

// calendarOf is the ServiceLevel's calendar window, nil for a rolling (or absent) one.
func calendarOf(sl *itopsv1alpha1.ServiceLevel) *itopsv1alpha1.CalendarWindow {
	if o := sl.Spec.Objectives; o != nil && o.Window != nil && o.Window.Invalid == nil {
		return o.Window.Calendar
	}
	return nil
}

// zoneOf is the time zone of the books' days: the calendar window's, UTC (nil) otherwise.
func zoneOf(sl *itopsv1alpha1.ServiceLevel) *time.Location {
	c := calendarOf(sl)
	if c == nil {
		return nil
	}
	loc, err := slo.CalendarLocation(c)
	if err != nil {
		return nil
	}
	return loc
}

// inZone makes the books' days those of zone (a calendar window's time zone): each daily total
// stored as YYYY-MM-DD becomes the day of that date in zone. Nil zone: the books as they are
// (UTC days).
func inZone(b slo.Books, zone *time.Location) slo.Books {
	if zone == nil {
		return b
	}
	b.Zone = zone
	days := make([]slo.Day, 0, len(b.Days))
	for _, d := range b.Days {
		y, m, day := d.Date.UTC().Date()
		d.Date = slo.StartOfDay(y, m, day, zone)
		days = append(days, d)
	}
	b.Days = days
	return b
}

// calendarFigures is a calendar window's view of the books at now: the current period
// [start, end) and its totals so far.
type calendarFigures struct {
	cal        *itopsv1alpha1.CalendarWindow
	start, end time.Time
	totals     slo.PeriodTotals
	// books are the books the period's figures come from (slo.Books.From the covered time).
	books slo.Books
}

// periodReport replaces the rolling figures of r by the current period's (availability,
// budget, downtime, planned, unobserved, observed); burn rates stay rolling. obj.Window
// becomes the period's length, so the budget as time is the period's.
func periodReport(cal *itopsv1alpha1.CalendarWindow, obj *slo.Objective, r *slo.Report, books slo.Books, now time.Time) (calendarFigures, error) {
	start, end, err := slo.CurrentPeriod(cal, now)
	if err != nil {
		return calendarFigures{}, err
	}
	t := slo.ComputePeriod(obj.Target, books, start, end, now)
	r.Availability, r.BudgetRemaining = t.Availability, t.BudgetRemaining
	r.Downtime, r.Planned, r.Unobserved, r.Observed = t.Downtime, t.Planned, t.Unobserved, t.Observed
	obj.Window = end.Sub(start)
	return calendarFigures{cal: cal, start: start, end: end, totals: t, books: books}, nil
}

// describe names the current period for condition messages: "this month (since
// 2026-12-01 00:00 CET)".
func (c calendarFigures) describe() string {
	unit := "month"
	if c.cal.Period == itopsv1alpha1.CalendarWeek {
		unit = "week"
	}
	loc, err := slo.CalendarLocation(c.cal)
	if err != nil {
		loc = time.UTC
	}
	return fmt.Sprintf("this %s (since %s)", unit, c.start.In(loc).Format("2006-01-02 15:04 MST"))
}

// booksFigures is the figures source of the availability SLI's period reports: its books.
func booksFigures(target slo.Objective, books slo.Books) slo.FiguresFunc {
	return func(start, end, at time.Time) (slo.PeriodFigures, error) {
		return slo.ComputePeriod(target.Target, books, start, end, at).PeriodFigures, nil
	}
}

// nextPeriodChange is the exact time until the next instant at which a calendar window's
// status changes by itself: the period's end, when its report is closed and the new period
// starts with its whole budget (an exhausted budget recovers then, whether the service is up
// or down, and the FreezeChanges freeze ends with it), or, sooner, the second availability
// meets the objective again while the service is up (slo.PeriodObjectiveMetAt).
func nextPeriodChange(obj slo.Objective, r slo.Report, p calendarFigures, now time.Time) time.Duration {
	next := p.end.Sub(now)
	if r.Availability != nil {
		if t, ok := slo.PeriodObjectiveMetAt(obj.Target, p.books, p.start, p.end, now); ok && t.After(now) && t.Sub(now) < next {
			next = t.Sub(now)
		}
	}
	return next
}

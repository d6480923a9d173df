// Package slo keeps a service's availability books and does its SLO math: outages recorded
// from observations (with reconstruction after an operator restart), planned downtime booked as
// it happens, availability, error budget and multi-window burn rates over rolling windows. It
// is pure: callers pass observations, planned downtime and the clock. Figures are exact
// rationals (math/big), formatted as decimal strings; there are no floats.
//
// The books hold exact intervals for the recent past (the exact horizon, the longest burn-rate
// window) and daily totals for the rest of the objective window. Times are whole seconds, as
// the API stores them.
//
// # Days and calendar periods
//
// A daily total is the time booked on one day of the books' zone (Books.Zone): UTC for a
// rolling window, the calendar window's time zone for a calendar window. A calendar period
// (a month from the 1st, an ISO week from Monday, 00:00 in that zone: CurrentPeriod) always
// begins and ends at a day boundary of that zone, so every daily total lies wholly inside
// one period, and a period's figures are exact: the whole days inside it, plus the exact
// intervals from the fold point on (ComputePeriod). A UTC day, by contrast, straddles a
// Berlin midnight (23:00 or 22:00 UTC) and could not be split between two periods after
// folding. Days follow the wall clock: a day holding a DST change is 23 or 25 hours long, and
// a day whose midnight a DST change skips begins at the instant the clocks jump (StartOfDay),
// so the days of a period always add up to its length.
//
// A completed period's report is computed once, when it ends, from books that still hold
// all of its days (the controller keeps the days back to the start of the oldest period not
// yet reported, then drops them): Periods, PeriodReportOf.
package slo

import (
	"sort"
	"time"

	"github.com/itops-dev/itops-operator/internal/schedule"
)

// Interval is a period [Start, End); an open outage has a zero End.
type Interval = schedule.Interval

// Day is the time booked on one day of the books' zone, once it left the exact horizon.
type Day struct {
	// Date is the first instant of the day in the books' zone (StartOfDay): midnight, UTC for
	// a rolling window.
	Date time.Time
	// Downtime is unplanned downtime; Planned the time Maintenance windows covered the service
	// (excluded from the budget, down or not); Unobserved the time during which the service's
	// state could not be known.
	Downtime, Planned, Unobserved time.Duration
}

// Books are a service's availability records.
type Books struct {
	// Since is when tracking began; nothing before it counts.
	Since time.Time
	// LastObserved is the last instant the service's state was known.
	LastObserved time.Time
	// FoldedUntil: time before it is in Days, time from it on in the exact records.
	FoldedUntil time.Time
	// Outages are exact outage intervals within the exact horizon, sorted; the last one may be
	// open (zero End).
	Outages []Interval
	// Unobserved are exact intervals within the exact horizon during which the state is not
	// known (the operator was not running and the workloads' conditions cannot tell).
	Unobserved []Interval
	// Planned are exact, merged intervals within the exact horizon during which Maintenance
	// windows covered the service: booked as they happen, so that deleting or editing a window
	// later changes nothing already booked.
	Planned []Interval
	// Days are daily totals before the exact horizon, sorted by date.
	Days []Day
	// Zone is the time zone whose days the daily totals are: the calendar window's zone; UTC
	// when nil (rolling windows).
	Zone *time.Location
}

// Down reports whether an outage is open.
func (b *Books) Down() bool {
	return len(b.Outages) > 0 && b.Outages[len(b.Outages)-1].End.IsZero()
}

// Observation is the service's state at an instant.
type Observation struct {
	// At is when the state was observed.
	At time.Time
	// Down: at least one selected workload is unavailable.
	Down bool
	// KnownSince is since when the current state (Down or not) is known to have held without
	// interruption, from the workloads' condition lastTransitionTimes; At when unknown.
	KnownSince time.Time
}

// Record folds an observation into the books, for a state watched without interruption since
// b.LastObserved (the same operator process observed it): the previous state held until the
// observed transition (obs.KnownSince, never before the last observation).
func Record(b Books, obs Observation) Books { return record(b, obs, true) }

// Reconstruct folds the first observation after an interruption (an operator restart) into
// the books: the state the books last saw held until obs.KnownSince (the workloads' transition
// time), the current state since; what the workloads cannot tell is booked as unobserved,
// never guessed.
func Reconstruct(b Books, obs Observation) Books { return record(b, obs, false) }

func record(b Books, obs Observation, continuous bool) Books {
	b = b.clone()
	at := obs.At
	known := obs.KnownSince
	if known.IsZero() || known.After(at) {
		known = at
	}
	if b.Since.IsZero() {
		// First observation: tracking starts now. A service already down counts from now.
		b.Since, b.LastObserved = at, at
		if obs.Down {
			b.Outages = append(b.Outages, Interval{Start: at})
		}
		return b
	}
	last := b.LastObserved
	if !at.After(last) {
		// Clock skew or a stale observation: nothing to book before the last one.
		at = last
	}
	if known.Before(last) {
		known = last
	}
	// After an interruption, the workloads' transition time reconstructs the gap when it can:
	// the state the books last saw held until the workloads changed to the current one. It
	// cannot when they do not tell (no transition time: known is now), or when the current
	// state is the one the books last saw but began during the gap (it changed and changed
	// back unseen): that part of the gap is unobserved.
	if !continuous && known.After(last) && (!known.Before(at) || obs.Down == b.Down()) {
		if b.Down() {
			b.Outages[len(b.Outages)-1].End = last
		}
		b.Unobserved = append(b.Unobserved, Interval{Start: last, End: known})
		if obs.Down {
			b.Outages = append(b.Outages, Interval{Start: known})
		}
		b.LastObserved = at
		return b
	}
	switch {
	case obs.Down && !b.Down():
		// Went down; the condition says when (never before the last observation).
		b.Outages = append(b.Outages, Interval{Start: known})
	case !obs.Down && b.Down():
		o := &b.Outages[len(b.Outages)-1]
		o.End = known
		if !o.End.After(o.Start) {
			b.Outages = b.Outages[:len(b.Outages)-1]
		}
	}
	b.LastObserved = at
	return b
}

// BookPlanned adds the planned downtime observed up to now (merged intervals, from windows in
// effect) to the books' planned intervals, from where the exact books begin.
func BookPlanned(b Books, planned []Interval, now time.Time) Books {
	b = b.clone()
	from := maxTime(b.FoldedUntil, b.Since)
	if b.Since.IsZero() {
		return b
	}
	var add []Interval
	for _, p := range planned {
		if c, ok := clip(p, from, now); ok {
			add = append(add, c)
		}
	}
	b.Planned = schedule.Merge(append(b.Planned, add...))
	return b
}

// Fold books everything before until into daily totals: unplanned downtime, planned downtime
// (whether or not the service was down) and unobserved time, and trims the exact records to
// start at until. Days that ended before keepFrom are dropped. A folded day never changes
// afterwards: what was booked stays booked.
func Fold(b Books, until, keepFrom time.Time) Books {
	b = b.clone()
	from := maxTime(b.FoldedUntil, b.Since)
	if b.Since.IsZero() || !until.After(from) {
		b.Days = b.dropBefore(b.Days, keepFrom)
		return b
	}
	totals := map[time.Time]Day{}
	for _, d := range b.Days {
		totals[d.Date] = d
	}
	book := func(iv Interval, f func(d *Day, part Interval)) {
		for _, part := range b.splitDays(iv) {
			day := b.dayStart(part.Start)
			d := totals[day]
			d.Date = day
			f(&d, part)
			totals[d.Date] = d
		}
	}
	for _, o := range b.Outages {
		if o.End.IsZero() {
			o.End = until
		}
		if c, ok := clip(o, from, until); ok {
			book(c, func(d *Day, part Interval) { d.Downtime += part.End.Sub(part.Start) - overlap(part, b.Planned) })
		}
	}
	for _, p := range b.Planned {
		if c, ok := clip(p, from, until); ok {
			book(c, func(d *Day, part Interval) { d.Planned += part.End.Sub(part.Start) })
		}
	}
	for _, u := range b.Unobserved {
		if c, ok := clip(u, from, until); ok {
			book(c, func(d *Day, part Interval) { d.Unobserved += part.End.Sub(part.Start) })
		}
	}
	b.Outages, b.Unobserved, b.Planned = trim(b.Outages, until), trim(b.Unobserved, until), trim(b.Planned, until)
	b.FoldedUntil = until
	b.Days = b.Days[:0]
	for _, d := range totals {
		b.Days = append(b.Days, d)
	}
	sort.Slice(b.Days, func(i, j int) bool { return b.Days[i].Date.Before(b.Days[j].Date) })
	b.Days = b.dropBefore(b.Days, keepFrom)
	return b
}

// trim drops intervals that ended by t and starts the others at t at the earliest.
func trim(ivs []Interval, t time.Time) []Interval {
	var out []Interval
	for _, iv := range ivs {
		if !iv.End.IsZero() && !iv.End.After(t) {
			continue
		}
		iv.Start = maxTime(iv.Start, t)
		out = append(out, iv)
	}
	return out
}

func (b Books) dropBefore(days []Day, t time.Time) []Day {
	var out []Day
	for _, d := range days {
		if b.dayEnd(d.Date).After(t) {
			out = append(out, d)
		}
	}
	return out
}

// From is the books as if tracking began at t: Since moves to the first day boundary (of the
// books' zone) at or after t, and the days and the parts of exact intervals before it are left
// out. A no-op when t is zero or not after Since. The days before the end of the latest
// completed period report may already be dropped (Fold keeps them only until their period is
// reported); after a window change (Week -> Month, another time zone) a period can overlap
// them, and through From it counts that time as not tracked, never as up.
func (b Books) From(t time.Time) Books {
	if t.IsZero() || !t.After(b.Since) {
		return b
	}
	from := b.dayStart(t)
	if from.Before(t) {
		from = b.dayEnd(from)
	}
	b = b.clone()
	b.Since = from
	b.Days = b.dropBefore(b.Days, from) // from is a day boundary: no day straddles it
	after := func(ivs []Interval) []Interval {
		out := make([]Interval, 0, len(ivs))
		for _, iv := range ivs {
			if iv.End.IsZero() || iv.End.After(from) {
				iv.Start = maxTime(iv.Start, from)
				out = append(out, iv)
			}
		}
		return out
	}
	b.Outages, b.Unobserved, b.Planned = after(b.Outages), after(b.Unobserved), after(b.Planned)
	return b
}

func (b Books) clone() Books {
	b.Outages = append([]Interval(nil), b.Outages...)
	b.Unobserved = append([]Interval(nil), b.Unobserved...)
	b.Planned = append([]Interval(nil), b.Planned...)
	b.Days = append([]Day(nil), b.Days...)
	return b
}

func midnight(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func (b Books) zone() *time.Location {
	if b.Zone == nil {
		return time.UTC
	}
	return b.Zone
}

// dayStart is the first instant of t's day in the books' zone.
func (b Books) dayStart(t time.Time) time.Time {
	if b.Zone == nil || b.Zone == time.UTC {
		return midnight(t)
	}
	return DayStart(t, b.Zone)
}

// dayEnd is the first instant of the day after the one that begins at start.
func (b Books) dayEnd(start time.Time) time.Time {
	if b.Zone == nil || b.Zone == time.UTC {
		return start.Add(24 * time.Hour)
	}
	y, m, d := start.In(b.zone()).Date()
	return StartOfDay(y, m, d+1, b.zone())
}

// DayStart is the first instant of t's local date in loc (StartOfDay).
func DayStart(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return StartOfDay(y, m, d, loc)
}

// StartOfDay is the first instant of the local date y-m-d (normalized as time.Date does) in
// loc: midnight, or, where a DST change skips midnight (America/Santiago, Asia/Beirut), the
// instant the clocks jump. time.Date alone normalizes a skipped midnight into the previous day
// in some zones (Santiago: 23:00 the day before) and into the day in others (Beirut: 01:00), so
// days and periods built on it would not tile time; built on StartOfDay, consecutive days do.
func StartOfDay(y int, m time.Month, d int, loc *time.Location) time.Time {
	t := time.Date(y, m, d, 0, 0, 0, 0, loc)
	wy, wm, wd := time.Date(y, m, d, 12, 0, 0, 0, time.UTC).Date()
	if ly, lm, ld := t.In(loc).Date(); ly == wy && lm == wm && ld == wd {
		return t
	}
	// Normalized back into the previous day: the day begins where that day's clock reaches 24:00.
	h, mi, s := t.In(loc).Clock()
	return t.Add(24*time.Hour - time.Duration(h)*time.Hour - time.Duration(mi)*time.Minute - time.Duration(s)*time.Second)
}

// splitDays cuts a closed interval at the day boundaries of the books' zone.
func (b Books) splitDays(iv Interval) []Interval {
	var out []Interval
	for s := iv.Start; s.Before(iv.End); {
		e := b.dayEnd(b.dayStart(s))
		if e.After(iv.End) {
			e = iv.End
		}
		out = append(out, Interval{Start: s, End: e})
		s = e
	}
	return out
}

// overlap is the total time the closed interval iv shares with the merged intervals ivs.
func overlap(iv Interval, ivs []Interval) time.Duration {
	var d time.Duration
	for _, p := range ivs {
		s, e := maxTime(iv.Start, p.Start), minTime(iv.End, p.End)
		if e.After(s) {
			d += e.Sub(s)
		}
	}
	return d
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// Covered reports whether the merged intervals ivs cover the closed interval iv entirely.
func Covered(iv Interval, ivs []Interval) bool {
	return overlap(iv, ivs) >= iv.End.Sub(iv.Start)
}

// Intersect is the time both sets of merged, sorted intervals cover, merged and sorted: the
// planned downtime of a service is the time maintenance covers all of its workloads.
func Intersect(a, b []Interval) []Interval {
	var out []Interval
	for i, j := 0, 0; i < len(a) && j < len(b); {
		s, e := maxTime(a[i].Start, b[j].Start), minTime(a[i].End, b[j].End)
		if e.After(s) {
			out = append(out, Interval{Start: s, End: e})
		}
		if a[i].End.Before(b[j].End) {
			i++
		} else {
			j++
		}
	}
	return out
}

// Package schedule evaluates a MaintenanceWindow's calendar: one-off periods {start, end} and
// recurring ones {cron, duration}, evaluated in the window's IANA time zone. It is pure: the
// caller passes the time.
//
// Cron expressions are parsed by github.com/robfig/cron/v3 (standard 5 fields; a `CRON_TZ=` or
// `TZ=` prefix is refused, since spec.timeZone says where the calendar lives). Occurrences are
// wall-clock times in that zone, and daylight-saving transitions behave as a person expects:
//
//   - A start time that does not exist on a day (02:30 on the night clocks spring forward from
//     02:00 to 03:00) starts at the end of the gap (03:00): the window is late, never skipped.
//   - A start time that occurs twice (02:30 on the night clocks fall back) starts once, at its
//     first occurrence.
//   - A window lasts `duration` of real (elapsed) time: a 4h window starting at 01:00 on a
//     spring-forward night ends at 06:00 local time, after 4 real hours.
//
// Overlapping or adjacent periods (from one schedule or several) merge into one: the window is
// active from the first start to the last end. Continuously active calendars are followed up
// to MaxMerge ahead; the controller evaluates again when that point is reached.
package schedule

import (
	"fmt"
	"sort"
	"strings"
	"time"
	_ "time/tzdata" // zones work without the system's zoneinfo, e.g. in distroless images

	"github.com/robfig/cron/v3"
	"k8s.io/apimachinery/pkg/util/validation/field"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// MaxMerge bounds how far merged periods are followed from the instant asked about.
const MaxMerge = 31 * 24 * time.Hour

// maxDuration is the longest recurring period (the API allows 8760h).
const maxDuration = 8760 * time.Hour

// searchYears bounds the search for a cron expression's next occurrence (29 February of a
// leap year is the rarest a 5-field expression can ask for; 8 years apart around 2100).
const searchYears = 9

// Interval is a period [Start, End).
type Interval struct {
	Start, End time.Time
}

// State is a window's state at an instant.
type State struct {
	Phase itopsv1alpha1.WindowPhase
	// Current is the merged active period containing the instant, if any.
	Current *Interval
	// Next is the next merged period starting after the instant (after Current, if active).
	Next *Interval
	// NextBoundary is the exact next instant at which the state changes: the end of Current
	// or the start of Next (zero when none).
	NextBoundary time.Time
}

type recurring struct {
	// spec holds the minute, hour and month bits (and, for a cron expression, its day rule).
	spec *cron.SpecSchedule
	// day is the day rule of a recurrence (RFC 5545 subset); nil for a cron expression, whose
	// day rule is cron's (dayMatches).
	day      func(time.Time) bool
	duration time.Duration
	// index is the schedule's position in spec.schedules.
	index int
}

// matches reports whether the schedule starts on the date d (midnight UTC of the wall date).
func (r recurring) matches(d time.Time) bool {
	if r.day != nil {
		return 1<<uint(d.Month())&r.spec.Month != 0 && r.day(d)
	}
	return dayMatches(r.spec, d)
}

// Calendar is a parsed window calendar.
type Calendar struct {
	loc       *time.Location
	oneOff    []Interval
	recurring []recurring
	// longest is the longest period, to look back for periods still running.
	longest time.Duration
}

// Parse validates a window's schedules and time zone and returns its calendar, or the errors
// with the path of each offending field.
func Parse(spec itopsv1alpha1.MaintenanceWindowSpec) (*Calendar, field.ErrorList) {
	var errs field.ErrorList
	root := field.NewPath("spec")
	c := &Calendar{loc: time.UTC}
	zone := spec.TimeZone
	switch zone {
	case "", "UTC":
	case "Local":
		errs = append(errs, field.Invalid(root.Child("timeZone"), zone, "name an IANA time zone such as Europe/Berlin: Local depends on the machine"))
	default:
		loc, err := time.LoadLocation(zone)
		if err != nil {
			errs = append(errs, field.Invalid(root.Child("timeZone"), zone, "unknown IANA time zone (for example Europe/Berlin, America/New_York, UTC)"))
		} else {
			c.loc = loc
		}
	}
	if len(spec.Schedules) == 0 {
		errs = append(errs, field.Required(root.Child("schedules"), "at least one schedule: {start, end} or {cron, duration}"))
	}
	for i, s := range spec.Schedules {
		p := root.Child("schedules").Index(i)
		switch {
		case s.Cron == "" && s.Recurrence == "" && s.Duration == nil:
			if s.Start == nil || s.End == nil {
				errs = append(errs, field.Required(p, "a schedule is either one-off {start, end} or recurring {cron or recurrence, duration}"))
				continue
			}
			if !s.End.After(s.Start.Time) {
				errs = append(errs, field.Invalid(p.Child("end"), s.End.UTC().Format(time.RFC3339), "must be after start"))
				continue
			}
			iv := Interval{Start: s.Start.Time, End: s.End.Time}
			c.oneOff = append(c.oneOff, iv)
			c.longest = max(c.longest, iv.End.Sub(iv.Start))
		case s.Start != nil || s.End != nil:
			errs = append(errs, field.Invalid(p, "", "a schedule is either one-off {start, end} or recurring {cron or recurrence, duration}, not both"))
		default:
			r, ferrs := parseRecurring(p, s, c.loc)
			if len(ferrs) > 0 {
				errs = append(errs, ferrs...)
				continue
			}
			r.index = i
			c.recurring = append(c.recurring, r)
			c.longest = max(c.longest, r.duration)
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return c, nil
}

func parseRecurring(p *field.Path, s itopsv1alpha1.WindowSchedule, loc *time.Location) (recurring, field.ErrorList) {
	var errs field.ErrorList
	if s.Recurrence != "" {
		if s.Cron != "" {
			return recurring{}, field.ErrorList{field.Invalid(p.Child("recurrence"), s.Recurrence, "set either cron or recurrence, not both")}
		}
		return parseRecurrence(p, s, loc)
	}
	expr := strings.TrimSpace(s.Cron)
	switch {
	case expr == "":
		errs = append(errs, field.Required(p.Child("cron"), "a recurring schedule needs cron (or recurrence) and duration"))
	case strings.HasPrefix(expr, "CRON_TZ=") || strings.HasPrefix(expr, "TZ="):
		errs = append(errs, field.Invalid(p.Child("cron"), s.Cron, "set the time zone in spec.timeZone, not in the cron expression"))
	case strings.HasPrefix(expr, "@"):
		errs = append(errs, field.Invalid(p.Child("cron"), s.Cron, "use the 5 fields (minute hour day-of-month month day-of-week), e.g. 0 2 * * 0 for Sundays at 02:00"))
	case len(strings.Fields(expr)) != 5:
		errs = append(errs, field.Invalid(p.Child("cron"), s.Cron, "must have exactly 5 fields: minute hour day-of-month month day-of-week"))
	}
	var spec *cron.SpecSchedule
	if len(errs) == 0 {
		parsed, err := cron.ParseStandard(expr)
		if err != nil {
			errs = append(errs, field.Invalid(p.Child("cron"), s.Cron, "invalid cron expression: "+err.Error()))
		} else if sp, ok := parsed.(*cron.SpecSchedule); ok {
			spec = sp
			spec.Location = loc
			if !anyDay(recurring{spec: spec}) {
				errs = append(errs, field.Invalid(p.Child("cron"), s.Cron, "never matches a calendar day (for example 31 in a month that has fewer days)"))
			}
		} else {
			errs = append(errs, field.Invalid(p.Child("cron"), s.Cron, "not a calendar expression"))
		}
	}
	errs = append(errs, checkDuration(p, s)...)
	if len(errs) > 0 {
		return recurring{}, errs
	}
	r := recurring{spec: spec, duration: s.Duration.Duration}
	return r, checkGap(p, r, s.Cron)
}

// checkDuration checks a recurring schedule's duration against the API's bounds.
func checkDuration(p *field.Path, s itopsv1alpha1.WindowSchedule) field.ErrorList {
	var errs field.ErrorList
	switch {
	case s.Duration == nil:
		errs = append(errs, field.Required(p.Child("duration"), "how long each recurring window lasts, e.g. 2h"))
	case s.Duration.Duration <= 0:
		errs = append(errs, field.Invalid(p.Child("duration"), s.Duration.Duration.String(), "must be more than 0"))
	case s.Duration.Duration > maxDuration:
		errs = append(errs, field.Invalid(p.Child("duration"), s.Duration.Duration.String(), "must be at most 8760h"))
	}
	return errs
}

// checkGap bounds a recurring schedule's duration by the gap between its starts (minGap).
func checkGap(p *field.Path, r recurring, expr string) field.ErrorList {
	if gap := minGap(r); r.duration > gap {
		return field.ErrorList{field.Invalid(p.Child("duration"), r.duration.String(), fmt.Sprintf(
			"longer than the %s between two starts of %q: its periods would overlap and the window would never close; "+
				"make duration at most %s, or use one-off {start, end} periods", gap, expr, gap))}
	}
	return nil
}

// minGap is the shortest wall-clock time between two consecutive starts of a cron expression
// (over the 8 years anyDay looks at): the longest duration a recurring schedule may have. A
// longer one overlaps itself, so the window never closes, and evaluating it means following
// every start in a long look-back: `* * * * *` for 8760h is 525,600 periods per evaluation.
// Bounded so, a calendar evaluation over a range costs at most one period per start in it.
// Daylight-saving shifts can make a real gap up to an hour shorter than the wall-clock one;
// the periods then merge, which is harmless.
func minGap(r recurring) time.Duration {
	s := r.spec
	var minutes []int // minutes of the day at which the expression starts, ascending
	for h := 0; h < 24; h++ {
		for m := 0; m < 60; m++ {
			if 1<<uint(h)&s.Hour != 0 && 1<<uint(m)&s.Minute != 0 {
				minutes = append(minutes, h*60+m)
			}
		}
	}
	if len(minutes) == 0 {
		return 0
	}
	gap := maxDuration
	for i := 1; i < len(minutes); i++ {
		gap = min(gap, time.Duration(minutes[i]-minutes[i-1])*time.Minute)
	}
	// Across days: from the last start of a matching day to the first of the next one.
	d := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var previous time.Time
	for i := 0; i < 366*8; i++ {
		if r.matches(d) {
			if !previous.IsZero() {
				across := d.Sub(previous) - time.Duration(minutes[len(minutes)-1]-minutes[0])*time.Minute
				gap = min(gap, across)
			}
			previous = d
		}
		d = d.AddDate(0, 0, 1)
	}
	return gap
}

// anyDay reports whether the schedule matches at least one real date (within 8 years).
func anyDay(r recurring) bool {
	d := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 366*8; i++ {
		if r.matches(d) {
			return true
		}
		d = d.AddDate(0, 0, 1)
	}
	return false
}

const starBit = 1 << 63

// dayMatches applies cron's day rule (as robfig/cron does): when day-of-month or day-of-week
// is `*`, the date must match both; when both are restricted, either may match (the classic
// cron OR: `0 0 1 * 1` is the 1st of the month and every Monday).
func dayMatches(s *cron.SpecSchedule, d time.Time) bool {
	if 1<<uint(d.Month())&s.Month == 0 {
		return false
	}
	dom := 1<<uint(d.Day())&s.Dom > 0
	dow := 1<<uint(d.Weekday())&s.Dow > 0
	if s.Dom&starBit > 0 || s.Dow&starBit > 0 {
		return dom && dow
	}
	return dom || dow
}

// instant maps a wall-clock time in loc to an instant, by the rules in the package doc: a time
// in a spring-forward gap maps to the end of the gap, a time that occurs twice to its first
// occurrence.
func instant(y int, mo time.Month, d, h, mi int, loc *time.Location) time.Time {
	t := time.Date(y, mo, d, h, mi, 0, 0, loc)
	if t.Hour() != h || t.Minute() != mi || t.Day() != d {
		// In a gap: find the transition, the first instant whose local time is past the wall time.
		lo, hi := t.Add(-3*time.Hour), t.Add(3*time.Hour)
		for hi.Sub(lo) > time.Second {
			mid := lo.Add(hi.Sub(lo) / 2)
			if wallBefore(mid.In(loc), y, mo, d, h, mi) {
				lo = mid
			} else {
				hi = mid
			}
		}
		return hi.Truncate(time.Second)
	}
	// Ambiguous: an earlier instant with the same wall time wins (30-minute to 2-hour shifts).
	earliest := t
	for _, back := range []time.Duration{30 * time.Minute, time.Hour, 2 * time.Hour} {
		c := t.Add(-back).In(loc)
		if c.Year() == y && c.Month() == mo && c.Day() == d && c.Hour() == h && c.Minute() == mi && c.Before(earliest) {
			earliest = c
		}
	}
	return earliest
}

// wallBefore reports whether local time t is before the wall time (y, mo, d, h, mi).
func wallBefore(t time.Time, y int, mo time.Month, d, h, mi int) bool {
	a := []int{t.Year(), int(t.Month()), t.Day(), t.Hour(), t.Minute()}
	b := []int{y, int(mo), d, h, mi}
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

// startsIn returns the periods of the recurring schedule r that start in [from, to), in order,
// adjacent and overlapping ones merged (unless stopAfter > 0, which stops after that many
// single periods).
func (c *Calendar) startsIn(r recurring, from, to time.Time, stopAfter int) []Interval {
	var out []Interval
	// Wall-clock days in the zone, from the day before `from` (a gap may move a start past
	// midnight) to the day after `to`.
	day := from.In(c.loc).AddDate(0, 0, -1)
	day = time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, time.UTC)
	last := to.In(c.loc).AddDate(0, 0, 1)
	last = time.Date(last.Year(), last.Month(), last.Day(), 0, 0, 0, 0, time.UTC)
	for ; !day.After(last); day = day.AddDate(0, 0, 1) {
		if !r.matches(day) {
			continue
		}
		// On a day without a zone transition, wall time h:m is midnight plus h:m: the costly
		// wall-to-instant mapping is needed on transition days only.
		midnight := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, c.loc)
		_, offStart := midnight.Zone()
		_, offEnd := midnight.Add(24*time.Hour - time.Second).Zone()
		plain := offStart == offEnd && midnight.Hour() == 0
		for h := 0; h < 24; h++ {
			if 1<<uint(h)&r.spec.Hour == 0 {
				continue
			}
			for m := 0; m < 60; m++ {
				if 1<<uint(m)&r.spec.Minute == 0 {
					continue
				}
				var start time.Time
				if plain {
					start = midnight.Add(time.Duration(h*60+m) * time.Minute)
				} else {
					start = instant(day.Year(), day.Month(), day.Day(), h, m, c.loc)
				}
				if start.Before(from) || !start.Before(to) {
					continue
				}
				n := len(out)
				if n > 0 && out[n-1].Start.Equal(start) {
					continue // two wall times in one gap map to the same instant
				}
				if stopAfter == 0 && n > 0 && !start.After(out[n-1].End) {
					// Adjacent or overlapping periods of one schedule merge as they are
					// stepped through: a minutely schedule over a month is one interval,
					// not 43,200.
					out[n-1].End = maxTime(out[n-1].End, start.Add(r.duration))
					continue
				}
				out = append(out, Interval{Start: start, End: start.Add(r.duration)})
				if stopAfter > 0 && len(out) >= stopAfter {
					return out
				}
			}
		}
	}
	return out
}

// periods returns every period (one-off and recurring) that starts in [from, to), sorted.
func (c *Calendar) periods(from, to time.Time) []Interval {
	var out []Interval
	for _, iv := range c.oneOff {
		if !iv.Start.Before(from) && iv.Start.Before(to) {
			out = append(out, iv)
		}
	}
	for _, r := range c.recurring {
		out = append(out, c.startsIn(r, from, to, 0)...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out
}

// nextStart is the earliest period start at or after t, or false.
func (c *Calendar) nextStart(t time.Time) (time.Time, bool) {
	var best time.Time
	found := false
	consider := func(s time.Time) {
		if !found || s.Before(best) {
			best, found = s, true
		}
	}
	for _, iv := range c.oneOff {
		if !iv.Start.Before(t) {
			consider(iv.Start)
		}
	}
	for _, r := range c.recurring {
		// Search a year at a time so that a frequent expression stops early.
		for from, y := t, 0; y < searchYears; from, y = from.AddDate(1, 0, 0), y+1 {
			if s := c.startsIn(r, from, from.AddDate(1, 0, 0), 1); len(s) > 0 {
				consider(s[0].Start)
				break
			}
		}
	}
	return best, found
}

// extend follows overlapping and adjacent periods forward from iv, up to limit.
func (c *Calendar) extend(iv Interval, limit time.Time) Interval {
	for iv.End.Before(limit) {
		chunkEnd := iv.End.Add(24 * time.Hour)
		grown := false
		for _, p := range c.periods(iv.End.Add(-c.longest), chunkEnd.Add(time.Nanosecond)) {
			if !p.Start.After(iv.End) && p.End.After(iv.End) {
				iv.End, grown = p.End, true
			}
		}
		if !grown {
			return iv
		}
	}
	if iv.End.After(limit) {
		iv.End = limit
	}
	return iv
}

// At reports the calendar's state at now.
func (c *Calendar) At(now time.Time) State {
	var st State
	// Periods running at now: those that started within the longest period before it.
	var cur *Interval
	for _, p := range c.periods(now.Add(-c.longest), now.Add(time.Nanosecond)) {
		if p.End.After(now) {
			if cur == nil {
				cp := p
				cur = &cp
				continue
			}
			cur.Start = minTime(cur.Start, p.Start)
			cur.End = maxTime(cur.End, p.End)
		}
	}
	if cur != nil {
		cur.Start = c.extendBack(cur.Start, now.Add(-MaxMerge))
		ext := c.extend(*cur, now.Add(MaxMerge))
		cur = &ext
		st.Current = cur
	}
	after := now.Add(time.Nanosecond)
	if cur != nil {
		after = cur.End
	}
	// Past a current period followed up to MaxMerge, what comes next is not known yet.
	if s, ok := c.nextStart(after); ok && (cur == nil || cur.End.Before(now.Add(MaxMerge))) {
		// The longest period starting at s.
		var first Interval
		for _, p := range c.periods(s, s.Add(time.Nanosecond)) {
			if p.End.After(first.End) {
				first = p
			}
		}
		next := c.extend(first, s.Add(MaxMerge))
		st.Next = &next
	}
	switch {
	case st.Current != nil:
		st.Phase, st.NextBoundary = itopsv1alpha1.WindowActive, st.Current.End
	case st.Next != nil:
		st.Phase, st.NextBoundary = itopsv1alpha1.WindowScheduled, st.Next.Start
	default:
		st.Phase = itopsv1alpha1.WindowExpired
	}
	return st
}

// extendBack follows periods that end at or after start backwards, down to limit.
func (c *Calendar) extendBack(start, limit time.Time) time.Time {
	for start.After(limit) {
		grown := false
		ps := c.periods(start.Add(-c.longest).Add(-24*time.Hour), start)
		// Latest first, so that a chain of periods within the chunk is followed in one pass.
		sort.SliceStable(ps, func(i, j int) bool { return ps[i].End.After(ps[j].End) })
		for _, p := range ps {
			if !p.End.Before(start) && p.Start.Before(start) {
				start, grown = p.Start, true
			}
		}
		if !grown {
			return start
		}
	}
	return maxTime(start, limit)
}

// Between returns the merged active periods that overlap [from, to), clipped to it: the
// planned time of a window within a range (for SLO accounting).
func (c *Calendar) Between(from, to time.Time) []Interval {
	if !to.After(from) {
		return nil
	}
	var out []Interval
	for _, p := range c.periods(from.Add(-c.longest), to) {
		if !p.End.After(from) {
			continue
		}
		p.Start, p.End = maxTime(p.Start, from), minTime(p.End, to)
		if n := len(out); n > 0 && !p.Start.After(out[n-1].End) {
			out[n-1].End = maxTime(out[n-1].End, p.End)
			continue
		}
		out = append(out, p)
	}
	return out
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// String describes an interval for messages.
func (iv Interval) String() string {
	return fmt.Sprintf("%s..%s", iv.Start.UTC().Format(time.RFC3339), iv.End.UTC().Format(time.RFC3339))
}

// Merge sorts intervals and merges overlapping and adjacent ones; empty intervals are dropped.
func Merge(ivs []Interval) []Interval {
	sorted := make([]Interval, 0, len(ivs))
	for _, iv := range ivs {
		if iv.End.After(iv.Start) {
			sorted = append(sorted, iv)
		}
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Start.Before(sorted[j].Start) })
	var out []Interval
	for _, iv := range sorted {
		if n := len(out); n > 0 && !iv.Start.After(out[n-1].End) {
			out[n-1].End = maxTime(out[n-1].End, iv.End)
			continue
		}
		out = append(out, iv)
	}
	return out
}

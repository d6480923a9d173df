package slo

import (
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/health"
)

// Bounds of a rolling window (the CRD's documented bounds).
const (
	MinRollingWindow = time.Hour
	MaxRollingWindow = 8784 * time.Hour
)

// MaxTimeZoneLength bounds calendar.timeZone (the longest IANA name is 32 bytes). The window
// is schemaless, so the bound is enforced here, not by the CRD.
const MaxTimeZoneLength = 64

// maxEchoedValue bounds a stored invalid value quoted back in an admission error or a
// Stalled message: the window is schemaless, so it may be arbitrarily large.
const maxEchoedValue = 64

// ValidateObjectives checks what the CRD schema cannot: the window, a union of a duration
// string and {calendar: {period, timeZone}} that the schema keeps untyped. Errors carry field
// paths under path (spec.objectives): a value of neither form, a rolling window outside
// [1h, 8784h], a calendar period other than Month or Week, a time zone longer than
// MaxTimeZoneLength (64) bytes or one the IANA database does not know ("Local" is refused: it
// would depend on the operator's machine). These are the bounds the CalendarWindow type
// documents; the CRD schema cannot enforce them. A stored invalid value quoted in an error is
// truncated to 64 bytes.
func ValidateObjectives(o *itopsv1alpha1.Objectives, path *field.Path) field.ErrorList {
	if o == nil || o.Window == nil {
		return nil
	}
	var errs field.ErrorList
	w, wp := o.Window, path.Child("window")
	switch {
	case w.Invalid != nil:
		errs = append(errs, field.Invalid(wp, health.Truncate(string(w.Invalid), maxEchoedValue),
			"window must be a duration between 1h and 8784h (366 days), such as 720h, or {calendar: {period: Month|Week, timeZone: <IANA name>}}"))
	case w.Calendar != nil:
		cp := wp.Child("calendar")
		switch w.Calendar.Period {
		case itopsv1alpha1.CalendarMonth, itopsv1alpha1.CalendarWeek:
		default:
			errs = append(errs, field.NotSupported(cp.Child("period"), health.Truncate(string(w.Calendar.Period), maxEchoedValue),
				[]string{string(itopsv1alpha1.CalendarMonth), string(itopsv1alpha1.CalendarWeek)}))
		}
		switch tz := w.Calendar.TimeZone; {
		case len(tz) > MaxTimeZoneLength:
			errs = append(errs, field.TooLong(cp.Child("timeZone"), "", MaxTimeZoneLength))
		case tz != "":
			if _, err := CalendarLocation(w.Calendar); err != nil {
				errs = append(errs, field.Invalid(cp.Child("timeZone"), tz, err.Error()))
			}
		}
	case w.Rolling != nil:
		if d := w.Rolling.Duration; d < MinRollingWindow || d > MaxRollingWindow {
			errs = append(errs, field.Invalid(wp, d.String(), "window must be between 1h and 8784h (366 days)"))
		}
	}
	return errs
}

// CalendarLocation is the time zone of a calendar window: UTC when unset. Errors: "Local"
// and names the IANA database (time.LoadLocation) does not know.
func CalendarLocation(c *itopsv1alpha1.CalendarWindow) (*time.Location, error) {
	switch c.TimeZone {
	case "", "UTC":
		return time.UTC, nil
	case "Local":
		return nil, fmt.Errorf("name an IANA time zone such as Europe/Berlin; Local depends on the operator's machine")
	}
	if loc, ok := locations.Load(c.TimeZone); ok {
		return loc.(*time.Location), nil
	}
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q: name an IANA time zone such as Europe/Berlin", c.TimeZone)
	}
	locations.Store(c.TimeZone, loc)
	return loc, nil
}

// locations caches the time zones loaded (time.LoadLocation reads the zone database each
// time): a reconcile and a metrics scrape need one per calendar ServiceLevel. Bounded by the
// IANA database's few hundred names (unknown names are not stored).
var locations sync.Map

// CurrentPeriod returns the calendar period that holds now: [start, end) in the window's
// time zone, start at 00:00 local time on the first of the month (Month) or on Monday
// (Week, ISO 8601). Periods are computed on the wall clock, so a month in Europe/Berlin that
// holds a DST change is an hour shorter or longer than 24h times its days, and a zone whose
// midnight does not exist on a day starts the period at the instant the clocks jump
// (StartOfDay), so periods are made of whole days of the zone and tile time. Errors: those of
// CalendarLocation, and an unknown period.
func CurrentPeriod(c *itopsv1alpha1.CalendarWindow, now time.Time) (start, end time.Time, err error) {
	loc, err := CalendarLocation(c)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	t := now.In(loc)
	switch c.Period {
	case itopsv1alpha1.CalendarMonth:
		start = StartOfDay(t.Year(), t.Month(), 1, loc)
		end = StartOfDay(t.Year(), t.Month()+1, 1, loc)
	case itopsv1alpha1.CalendarWeek:
		back := (int(t.Weekday()) + 6) % 7 // days since Monday
		start = StartOfDay(t.Year(), t.Month(), t.Day()-back, loc)
		end = StartOfDay(t.Year(), t.Month(), t.Day()-back+7, loc)
	default:
		return time.Time{}, time.Time{}, fmt.Errorf("unknown calendar period %q (Month or Week)", c.Period)
	}
	if now.Before(start) { // a midnight that DST skipped normalizes past now's wall time
		return CurrentPeriod(c, start.Add(-time.Nanosecond))
	}
	return start, end, nil
}

// PreviousPeriods returns up to n complete periods before the one that holds now, oldest
// first. Errors: those of CurrentPeriod.
func PreviousPeriods(c *itopsv1alpha1.CalendarWindow, now time.Time, n int) ([][2]time.Time, error) {
	start, _, err := CurrentPeriod(c, now)
	if err != nil {
		return nil, err
	}
	var out [][2]time.Time
	for i := 0; i < n; i++ {
		s, e, err := CurrentPeriod(c, start.Add(-time.Nanosecond))
		if err != nil {
			return nil, err
		}
		out = append([][2]time.Time{{s, e}}, out...)
		start = s
	}
	return out, nil
}

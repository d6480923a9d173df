package schedule

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"k8s.io/apimachinery/pkg/util/validation/field"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// The RFC 5545 recurrence subset a schedule's `recurrence` accepts (the API field documents it):
//
//	FREQ=DAILY|WEEKLY|MONTHLY   required; INTERVAL=1 only
//	BYMONTH=1,...,12            the months (default all)
//	BYMONTHDAY=1,...,31,-1..-31 MONTHLY only: days of the month, negative from its end
//	BYDAY=MO,...,SU             WEEKLY/DAILY: weekdays; MONTHLY: with an ordinal, 2TU (second
//	                            Tuesday), -1FR (last Friday), or plain (every such weekday)
//	BYHOUR=0..23, BYMINUTE=0..59 lists; default 0 (there is no DTSTART to take them from)
//
// A rule with both BYMONTHDAY and BYDAY matches days that satisfy both (RFC 5545's
// intersection, unlike cron's union). Wall times are evaluated in spec.timeZone by the
// package's daylight-saving rules, as cron expressions are.

var weekdays = map[string]time.Weekday{"SU": time.Sunday, "MO": time.Monday, "TU": time.Tuesday, "WE": time.Wednesday,
	"TH": time.Thursday, "FR": time.Friday, "SA": time.Saturday}

// byDay is one BYDAY entry: a weekday, with an ordinal within the month (0: every one).
type byDay struct {
	n       int
	weekday time.Weekday
}

func parseRecurrence(p *field.Path, s itopsv1alpha1.WindowSchedule, _ *time.Location) (recurring, field.ErrorList) {
	fp := p.Child("recurrence")
	bad := func(msg string) (recurring, field.ErrorList) {
		return recurring{}, field.ErrorList{field.Invalid(fp, s.Recurrence, msg)}
	}
	rule := strings.TrimPrefix(strings.TrimSpace(s.Recurrence), "RRULE:")
	parts := map[string]string{}
	for _, kv := range strings.Split(rule, ";") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || v == "" {
			return bad(fmt.Sprintf("%q is not NAME=VALUE", kv))
		}
		k = strings.ToUpper(k)
		if _, dup := parts[k]; dup {
			return bad(k + " is given twice")
		}
		parts[k] = strings.ToUpper(v)
	}
	freq := parts["FREQ"]
	switch freq {
	case "DAILY", "WEEKLY", "MONTHLY":
	case "":
		return bad("FREQ is required: DAILY, WEEKLY or MONTHLY")
	default:
		return bad(fmt.Sprintf("FREQ=%s is not supported: use DAILY, WEEKLY or MONTHLY (yearly dates: BYMONTH with MONTHLY)", freq))
	}
	spec := &cron.SpecSchedule{}
	var days []byDay
	var monthDays []int
	for k, v := range parts {
		var err error
		switch k {
		case "FREQ":
		case "INTERVAL":
			if v != "1" {
				err = fmt.Errorf("INTERVAL=%s is not supported (only 1): list the starts, or use several schedules", v)
			}
		case "BYMONTH":
			spec.Month, err = bits(k, v, 1, 12)
		case "BYHOUR":
			spec.Hour, err = bits(k, v, 0, 23)
		case "BYMINUTE":
			spec.Minute, err = bits(k, v, 0, 59)
		case "BYMONTHDAY":
			if freq != "MONTHLY" {
				err = fmt.Errorf("BYMONTHDAY needs FREQ=MONTHLY")
				break
			}
			monthDays, err = ints(k, v, -31, 31)
			for _, d := range monthDays {
				if d == 0 {
					err = fmt.Errorf("BYMONTHDAY 0 is not a day")
				}
			}
		case "BYDAY":
			days, err = parseByDay(v, freq == "MONTHLY")
		case "COUNT", "UNTIL":
			err = fmt.Errorf("%s is not supported: a window's recurring schedule runs until it is changed; use one-off {start, end} periods for a finite set", k)
		default:
			err = fmt.Errorf("%s is not supported (supported: FREQ, INTERVAL=1, BYMONTH, BYMONTHDAY, BYDAY, BYHOUR, BYMINUTE)", k)
		}
		if err != nil {
			return bad(err.Error())
		}
	}
	if freq == "WEEKLY" && len(days) == 0 {
		return bad("FREQ=WEEKLY needs BYDAY, e.g. BYDAY=SA")
	}
	if freq == "MONTHLY" && len(days) == 0 && len(monthDays) == 0 {
		return bad("FREQ=MONTHLY needs BYDAY (e.g. 2TU, -1FR) or BYMONTHDAY")
	}
	if spec.Month == 0 {
		spec.Month = allBits(1, 12)
	}
	if spec.Hour == 0 {
		spec.Hour = 1 // 00
	}
	if spec.Minute == 0 {
		spec.Minute = 1 // :00
	}
	r := recurring{spec: spec, day: dayRule(days, monthDays)}
	if !anyDay(r) {
		return bad("never matches a calendar day (for example BYMONTHDAY=31 with BYMONTH=2)")
	}
	if errs := checkDuration(p, s); len(errs) > 0 {
		return recurring{}, errs
	}
	r.duration = s.Duration.Duration
	return r, checkGap(p, r, s.Recurrence)
}

func parseByDay(v string, monthly bool) ([]byDay, error) {
	var out []byDay
	for _, item := range strings.Split(v, ",") {
		if len(item) < 2 {
			return nil, fmt.Errorf("BYDAY %q is not a weekday such as TU or 2TU", item)
		}
		wd, ok := weekdays[item[len(item)-2:]]
		if !ok {
			return nil, fmt.Errorf("BYDAY %q is not a weekday (MO, TU, WE, TH, FR, SA, SU)", item)
		}
		n := 0
		if ord := item[:len(item)-2]; ord != "" {
			var err error
			n, err = strconv.Atoi(ord)
			if err != nil || n == 0 || n < -5 || n > 5 {
				return nil, fmt.Errorf("BYDAY %q: the ordinal must be 1 to 5 or -1 to -5", item)
			}
			if !monthly {
				return nil, fmt.Errorf("BYDAY %q: an ordinal needs FREQ=MONTHLY", item)
			}
		}
		out = append(out, byDay{n: n, weekday: wd})
	}
	return out, nil
}

// dayRule is the day rule of a recurrence: a date matches every BY rule given (RFC 5545).
func dayRule(days []byDay, monthDays []int) func(time.Time) bool {
	return func(d time.Time) bool {
		last := time.Date(d.Year(), d.Month()+1, 0, 0, 0, 0, 0, time.UTC).Day()
		if len(monthDays) > 0 {
			ok := false
			for _, md := range monthDays {
				ok = ok || md == d.Day() || (md < 0 && last+md+1 == d.Day())
			}
			if !ok {
				return false
			}
		}
		if len(days) > 0 {
			ok := false
			for _, bd := range days {
				if bd.weekday != d.Weekday() {
					continue
				}
				switch {
				case bd.n == 0:
					ok = true
				case bd.n > 0:
					ok = ok || (d.Day()-1)/7+1 == bd.n
				default:
					ok = ok || (last-d.Day())/7+1 == -bd.n
				}
			}
			if !ok {
				return false
			}
		}
		return true
	}
}

func ints(name, v string, lo, hi int) ([]int, error) {
	var out []int
	for _, item := range strings.Split(v, ",") {
		n, err := strconv.Atoi(item)
		if err != nil || n < lo || n > hi {
			return nil, fmt.Errorf("%s %q must be a number from %d to %d", name, item, lo, hi)
		}
		out = append(out, n)
	}
	return out, nil
}

func bits(name, v string, lo, hi int) (uint64, error) {
	ns, err := ints(name, v, lo, hi)
	var b uint64
	for _, n := range ns {
		b |= 1 << uint(n)
	}
	return b, err
}

func allBits(lo, hi int) uint64 {
	var b uint64
	for n := lo; n <= hi; n++ {
		b |= 1 << uint(n)
	}
	return b
}

// NextStarts returns the next n starts (at or after from) of each recurring schedule, by its
// index in spec.schedules: what an admission warning shows so that a reader sees what the
// window will do before it does it.
func (c *Calendar) NextStarts(from time.Time, n int) map[int][]time.Time {
	out := map[int][]time.Time{}
	for _, r := range c.recurring {
		t := from
		for len(out[r.index]) < n {
			var found bool
			for y := 0; y < searchYears && !found; y++ {
				if s := c.startsIn(r, t, t.AddDate(1, 0, 0), 1); len(s) > 0 {
					out[r.index] = append(out[r.index], s[0].Start)
					t, found = s[0].Start.Add(time.Second), true
				} else {
					t = t.AddDate(1, 0, 0)
				}
			}
			if !found {
				break
			}
		}
	}
	return out
}

// Location is the calendar's time zone.
func (c *Calendar) Location() *time.Location { return c.loc }

// CronOrTrap reports whether a 5-field cron expression restricts both day-of-month and
// day-of-week, so that cron matches days where EITHER holds (`0 2 8-14 * 2` is the 8th to the
// 14th and every Tuesday), which is rarely what its author meant.
func CronOrTrap(expr string) bool {
	f := strings.Fields(expr)
	return len(f) == 5 && f[2] != "*" && f[2] != "?" && f[4] != "*" && f[4] != "?"
}

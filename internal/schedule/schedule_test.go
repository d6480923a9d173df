package schedule

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

func mustZone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func cronSchedule(expr string, d time.Duration) itopsv1alpha1.WindowSchedule {
	return itopsv1alpha1.WindowSchedule{Cron: expr, Duration: &metav1.Duration{Duration: d}}
}

func oneOff(start, end time.Time) itopsv1alpha1.WindowSchedule {
	return itopsv1alpha1.WindowSchedule{Start: &metav1.Time{Time: start}, End: &metav1.Time{Time: end}}
}

func calendar(t testing.TB, zone string, schedules ...itopsv1alpha1.WindowSchedule) *Calendar {
	t.Helper()
	c, errs := Parse(itopsv1alpha1.MaintenanceWindowSpec{Type: itopsv1alpha1.WindowMaintenance, TimeZone: zone, Schedules: schedules})
	if len(errs) > 0 {
		t.Fatalf("Parse: %v", errs)
	}
	return c
}

func TestAt(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	at := func(y int, mo time.Month, d, h, mi int, loc *time.Location) time.Time {
		return time.Date(y, mo, d, h, mi, 0, 0, loc)
	}
	// Holiday freeze: several one-off days in one window.
	holidays := []itopsv1alpha1.WindowSchedule{
		oneOff(at(2026, 12, 24, 0, 0, berlin), at(2026, 12, 27, 0, 0, berlin)),
		oneOff(at(2026, 12, 31, 0, 0, berlin), at(2027, 1, 2, 0, 0, berlin)),
	}
	weekly := cronSchedule("0 2 * * 0", 4*time.Hour) // Sundays 02:00-06:00
	tests := []struct {
		name          string
		cal           *Calendar
		now           time.Time
		phase         itopsv1alpha1.WindowPhase
		current, next string
		boundary      time.Time
	}{
		{"holiday freeze before it starts", calendar(t, "Europe/Berlin", holidays...), at(2026, 12, 20, 12, 0, berlin),
			itopsv1alpha1.WindowScheduled, "", "2026-12-23T23:00:00Z..2026-12-26T23:00:00Z", at(2026, 12, 24, 0, 0, berlin)},
		{"holiday freeze on Christmas day", calendar(t, "Europe/Berlin", holidays...), at(2026, 12, 25, 12, 0, berlin),
			itopsv1alpha1.WindowActive, "2026-12-23T23:00:00Z..2026-12-26T23:00:00Z", "2026-12-30T23:00:00Z..2027-01-01T23:00:00Z", at(2026, 12, 27, 0, 0, berlin)},
		{"holiday freeze between the dates", calendar(t, "Europe/Berlin", holidays...), at(2026, 12, 28, 12, 0, berlin),
			itopsv1alpha1.WindowScheduled, "", "2026-12-30T23:00:00Z..2027-01-01T23:00:00Z", at(2026, 12, 31, 0, 0, berlin)},
		{"holiday freeze over", calendar(t, "Europe/Berlin", holidays...), at(2027, 1, 5, 0, 0, berlin),
			itopsv1alpha1.WindowExpired, "", "", time.Time{}},
		{"weekly: during the window", calendar(t, "Europe/Berlin", weekly), at(2026, 11, 29, 3, 0, berlin),
			itopsv1alpha1.WindowActive, "2026-11-29T01:00:00Z..2026-11-29T05:00:00Z", "2026-12-06T01:00:00Z..2026-12-06T05:00:00Z", at(2026, 11, 29, 6, 0, berlin)},
		{"weekly: the end is exclusive", calendar(t, "Europe/Berlin", weekly), at(2026, 11, 29, 6, 0, berlin),
			itopsv1alpha1.WindowScheduled, "", "2026-12-06T01:00:00Z..2026-12-06T05:00:00Z", at(2026, 12, 6, 2, 0, berlin)},
		{"spring forward: 02:00 does not exist, the window starts at 03:00 and lasts 4 real hours", calendar(t, "Europe/Berlin", weekly), at(2027, 3, 27, 12, 0, berlin),
			itopsv1alpha1.WindowScheduled, "", "2027-03-28T01:00:00Z..2027-03-28T05:00:00Z", at(2027, 3, 28, 3, 0, berlin)},
		{"fall back: 02:30 happens twice, the window starts once, at the first", calendar(t, "Europe/Berlin", cronSchedule("30 2 * * *", time.Hour)), at(2027, 10, 30, 12, 0, berlin),
			itopsv1alpha1.WindowScheduled, "", "2027-10-31T00:30:00Z..2027-10-31T01:30:00Z", time.Date(2027, 10, 31, 0, 30, 0, 0, time.UTC)},
		{"a window across the fall-back change lasts its real duration", calendar(t, "Europe/Berlin", cronSchedule("0 1 31 10 *", 3*time.Hour)), at(2027, 10, 30, 12, 0, berlin),
			itopsv1alpha1.WindowScheduled, "", "2027-10-30T23:00:00Z..2027-10-31T02:00:00Z", time.Date(2027, 10, 30, 23, 0, 0, 0, time.UTC)},
		{"New York spring forward: 02:30 starts at 03:00 EDT", calendar(t, "America/New_York", cronSchedule("30 2 * * *", time.Hour)), time.Date(2027, 3, 14, 5, 0, 0, 0, time.UTC),
			itopsv1alpha1.WindowScheduled, "", "2027-03-14T07:00:00Z..2027-03-14T08:00:00Z", time.Date(2027, 3, 14, 7, 0, 0, 0, time.UTC)},
		{"Lord Howe's half-hour spring forward: 02:15 starts at 02:30", calendar(t, "Australia/Lord_Howe", cronSchedule("15 2 * * *", time.Hour)), time.Date(2026, 10, 3, 12, 0, 0, 0, time.UTC),
			itopsv1alpha1.WindowScheduled, "", "2026-10-03T15:30:00Z..2026-10-03T16:30:00Z", time.Date(2026, 10, 3, 15, 30, 0, 0, time.UTC)},
		{"leap day: the next 29 February is in 2028", calendar(t, "UTC", cronSchedule("0 0 29 2 *", 24*time.Hour)), time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC),
			itopsv1alpha1.WindowScheduled, "", "2028-02-29T00:00:00Z..2028-03-01T00:00:00Z", time.Date(2028, 2, 29, 0, 0, 0, 0, time.UTC)},
		{"overlapping schedules merge", calendar(t, "UTC", cronSchedule("0 1 * * *", 2*time.Hour), cronSchedule("0 2 * * *", 2*time.Hour)), time.Date(2027, 1, 5, 1, 30, 0, 0, time.UTC),
			itopsv1alpha1.WindowActive, "2027-01-05T01:00:00Z..2027-01-05T04:00:00Z", "2027-01-06T01:00:00Z..2027-01-06T04:00:00Z", time.Date(2027, 1, 5, 4, 0, 0, 0, time.UTC)},
		{"adjacent one-offs merge", calendar(t, "UTC", oneOff(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 2, 0, 0, 0, 0, time.UTC)),
			oneOff(time.Date(2027, 1, 2, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 3, 0, 0, 0, 0, time.UTC))), time.Date(2027, 1, 1, 12, 0, 0, 0, time.UTC),
			itopsv1alpha1.WindowActive, "2027-01-01T00:00:00Z..2027-01-03T00:00:00Z", "", time.Date(2027, 1, 3, 0, 0, 0, 0, time.UTC)},
		{"a window started before now by a recurring schedule is found", calendar(t, "UTC", cronSchedule("0 22 * * 5", 56*time.Hour)), time.Date(2027, 1, 3, 12, 0, 0, 0, time.UTC),
			itopsv1alpha1.WindowActive, "2027-01-01T22:00:00Z..2027-01-04T06:00:00Z", "2027-01-08T22:00:00Z..2027-01-11T06:00:00Z", time.Date(2027, 1, 4, 6, 0, 0, 0, time.UTC)},
		{"always active: followed up to MaxMerge ahead", calendar(t, "UTC", cronSchedule("* * * * *", time.Minute)), time.Date(2027, 1, 1, 12, 0, 30, 0, time.UTC),
			itopsv1alpha1.WindowActive, "2026-12-01T12:00:30Z..2027-02-01T12:00:30Z", "", time.Date(2027, 2, 1, 12, 0, 30, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.cal.At(tt.now)
			str := func(iv *Interval) string {
				if iv == nil {
					return ""
				}
				return iv.String()
			}
			if s.Phase != tt.phase || str(s.Current) != tt.current || str(s.Next) != tt.next || !s.NextBoundary.Equal(tt.boundary) {
				t.Errorf("At() = %s current %q next %q boundary %s\nwant  %s current %q next %q boundary %s",
					s.Phase, str(s.Current), str(s.Next), s.NextBoundary.UTC().Format(time.RFC3339),
					tt.phase, tt.current, tt.next, tt.boundary.UTC().Format(time.RFC3339))
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	start := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		zone      string
		schedules []itopsv1alpha1.WindowSchedule
		want      string
	}{
		{"bad cron", "UTC", []itopsv1alpha1.WindowSchedule{cronSchedule("61 * * * *", time.Hour)}, `spec.schedules[0].cron: Invalid value: "61 * * * *": invalid cron expression`},
		{"6 fields", "UTC", []itopsv1alpha1.WindowSchedule{cronSchedule("0 0 2 * * 0", time.Hour)}, "must have exactly 5 fields"},
		{"zone in the expression", "UTC", []itopsv1alpha1.WindowSchedule{cronSchedule("CRON_TZ=Europe/Berlin 0 2 * * 0", time.Hour)}, "set the time zone in spec.timeZone"},
		{"descriptor", "UTC", []itopsv1alpha1.WindowSchedule{cronSchedule("@daily", time.Hour)}, "use the 5 fields"},
		{"never matches", "UTC", []itopsv1alpha1.WindowSchedule{cronSchedule("0 0 31 2 *", time.Hour)}, "never matches a calendar day"},
		{"unknown zone", "Mars/Olympus", []itopsv1alpha1.WindowSchedule{cronSchedule("0 2 * * 0", time.Hour)}, `spec.timeZone: Invalid value: "Mars/Olympus": unknown IANA time zone`},
		{"machine zone", "Local", []itopsv1alpha1.WindowSchedule{cronSchedule("0 2 * * 0", time.Hour)}, "Local depends on the machine"},
		{"zero duration", "UTC", []itopsv1alpha1.WindowSchedule{cronSchedule("0 2 * * 0", 0)}, "spec.schedules[0].duration: Invalid value: \"0s\": must be more than 0"},
		{"negative duration", "UTC", []itopsv1alpha1.WindowSchedule{cronSchedule("0 2 * * 0", -time.Hour)}, "must be more than 0"},
		{"end before start", "UTC", []itopsv1alpha1.WindowSchedule{oneOff(start, start.Add(-time.Hour))}, "spec.schedules[0].end: Invalid value: \"2026-12-31T23:00:00Z\": must be after start"},
		{"a period longer than the gap between two starts never closes (issue 13)", "UTC", []itopsv1alpha1.WindowSchedule{cronSchedule("* * * * *", 8760*time.Hour)},
			`spec.schedules[0].duration: Invalid value: "8760h0m0s": longer than the 1m0s between two starts of "* * * * *"`},
		{"nightly for 25h overlaps the next night", "UTC", []itopsv1alpha1.WindowSchedule{cronSchedule("0 2 * * *", 25*time.Hour)}, "longer than the 24h0m0s between two starts"},
		{"business hours: the gap across the night counts too", "UTC", []itopsv1alpha1.WindowSchedule{cronSchedule("0 9-17 * * 1-5", 2*time.Hour)}, "longer than the 1h0m0s between two starts"},
		{"half a schedule", "UTC", []itopsv1alpha1.WindowSchedule{{Cron: "0 2 * * 0"}}, "spec.schedules[0].duration: Required value"},
		{"both kinds", "UTC", []itopsv1alpha1.WindowSchedule{{Cron: "0 2 * * 0", Duration: &metav1.Duration{Duration: time.Hour}, Start: &metav1.Time{Time: start}}}, "not both"},
		{"no schedules", "UTC", nil, "spec.schedules: Required value"},
	}
	for _, tt := range tests {
		_, errs := Parse(itopsv1alpha1.MaintenanceWindowSpec{Type: itopsv1alpha1.WindowFreeze, TimeZone: tt.zone, Schedules: tt.schedules})
		if got := errs.ToAggregate(); got == nil || !strings.Contains(got.Error(), tt.want) {
			t.Errorf("%s: Parse() errors = %v, want %q", tt.name, got, tt.want)
		}
	}
}

func TestBetween(t *testing.T) {
	c := calendar(t, "UTC", cronSchedule("0 2 * * *", 2*time.Hour), oneOff(time.Date(2027, 1, 3, 3, 0, 0, 0, time.UTC), time.Date(2027, 1, 3, 5, 0, 0, 0, time.UTC)))
	got := c.Between(time.Date(2027, 1, 1, 3, 0, 0, 0, time.UTC), time.Date(2027, 1, 4, 3, 0, 0, 0, time.UTC))
	s := make([]string, 0, len(got))
	for _, iv := range got {
		s = append(s, iv.String())
	}
	want := "2027-01-01T03:00:00Z..2027-01-01T04:00:00Z 2027-01-02T02:00:00Z..2027-01-02T04:00:00Z 2027-01-03T02:00:00Z..2027-01-03T05:00:00Z 2027-01-04T02:00:00Z..2027-01-04T03:00:00Z"
	if strings.Join(s, " ") != want {
		t.Errorf("Between() = %v\nwant %s", s, want)
	}
	minutely := calendar(t, "UTC", cronSchedule("* * * * *", time.Minute))
	from := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := minutely.Between(from, from.Add(30*24*time.Hour)); len(got) != 1 || got[0].End.Sub(got[0].Start) != 30*24*time.Hour {
		t.Errorf("a minutely window over 30 days = %d intervals, want one of 30 days", len(got))
	}
	if got := minutely.Between(from, from); got != nil {
		t.Errorf("an empty range = %v, want nil", got)
	}
}

func BenchmarkBetween(b *testing.B) {
	c := calendar(b, "Europe/Berlin", cronSchedule("* * * * *", time.Minute))
	from := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	for b.Loop() {
		c.Between(from, from.Add(30*24*time.Hour))
	}
}

func TestMinGap(t *testing.T) {
	tests := []struct {
		expr string
		want time.Duration
	}{
		{"* * * * *", time.Minute},
		{"*/15 * * * *", 15 * time.Minute},
		{"0 2 * * *", 24 * time.Hour},
		{"0 22 * * 5", 7 * 24 * time.Hour},
		{"0 9,17 * * 1-5", 8 * time.Hour},
		{"0 23 * * 5,6", 24 * time.Hour},
		{"0 0 1 * *", 28 * 24 * time.Hour},
		{"0 0 29 2 *", 8760 * time.Hour}, // capped at the longest duration allowed
		{"0 2 8-14 * 2", 24 * time.Hour},
	}
	for _, tt := range tests {
		c := calendar(t, "UTC", cronSchedule(tt.expr, time.Minute))
		if got := minGap(c.recurring[0]); got != tt.want {
			t.Errorf("minGap(%q) = %s, want %s", tt.expr, got, tt.want)
		}
	}
}

// BenchmarkBetweenAtTheBound is one calendar evaluation at the bounds: `* * * * *` with the
// longest duration it may have (1m), over the default 30-day SLO window and over the longest
// (8784h), as a ServiceLevel's first reconcile asks for it; later ones ask for the exact
// horizon (hours) only.
func BenchmarkBetweenAtTheBound(b *testing.B) {
	c := calendar(b, "UTC", cronSchedule("* * * * *", time.Minute))
	to := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, window := range []time.Duration{6 * time.Hour, 720 * time.Hour, 8784 * time.Hour} {
		b.Run(window.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.Between(to.Add(-window), to)
			}
		})
	}
}

func BenchmarkAt(b *testing.B) {
	c := calendar(b, "Europe/Berlin", cronSchedule("0 2 * * 0", 4*time.Hour), cronSchedule("30 22 * * 1-5", 30*time.Minute))
	now := time.Date(2027, 3, 27, 12, 0, 0, 0, time.UTC)
	for b.Loop() {
		c.At(now)
	}
}

func FuzzParse(f *testing.F) {
	for _, seed := range []string{"0 2 * * 0", "*/15 * * * 1-5", "0 0 29 2 *", "61 * * * *", "CRON_TZ=UTC 0 0 * * *", "@every 1h", "0 0 L * *"} {
		f.Add(seed, "90m", "Europe/Berlin")
	}
	f.Fuzz(func(t *testing.T, expr, duration, zone string) {
		d, err := time.ParseDuration(duration)
		if err != nil {
			return
		}
		c, errs := Parse(itopsv1alpha1.MaintenanceWindowSpec{TimeZone: zone, Schedules: []itopsv1alpha1.WindowSchedule{cronSchedule(expr, d)}})
		if len(errs) == 0 {
			c.At(time.Date(2027, 3, 28, 0, 30, 0, 0, time.UTC))
		}
	})
}

func TestMerge(t *testing.T) {
	a := func(s, e int) Interval {
		return Interval{Start: mergeT0.Add(time.Duration(s) * time.Minute), End: mergeT0.Add(time.Duration(e) * time.Minute)}
	}
	got := Merge([]Interval{a(30, 40), a(0, 10), a(5, 20), a(20, 25), a(50, 50), a(60, 55)})
	want := []Interval{a(0, 25), a(30, 40)}
	if len(got) != len(want) || !got[0].Start.Equal(want[0].Start) || !got[0].End.Equal(want[0].End) || !got[1].End.Equal(want[1].End) {
		t.Errorf("Merge() = %v, want %v", got, want)
	}
}

var mergeT0 = time.Date(2026, 11, 24, 22, 0, 0, 0, time.UTC)

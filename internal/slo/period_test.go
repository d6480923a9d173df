package slo

import (
	"math/big"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

func zone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func month(tz string) *itopsv1alpha1.CalendarWindow {
	return &itopsv1alpha1.CalendarWindow{Period: itopsv1alpha1.CalendarMonth, TimeZone: tz}
}

func week(tz string) *itopsv1alpha1.CalendarWindow {
	return &itopsv1alpha1.CalendarWindow{Period: itopsv1alpha1.CalendarWeek, TimeZone: tz}
}

// TestPeriodLengths: periods follow the wall clock of their zone: DST, month lengths, leap
// years, ISO weeks across a year boundary, a zone whose midnight a DST change skips.
func TestPeriodLengths(t *testing.T) {
	berlin, ny, santiago := zone(t, "Europe/Berlin"), zone(t, "America/New_York"), zone(t, "America/Santiago")
	for _, tc := range []struct {
		name       string
		c          *itopsv1alpha1.CalendarWindow
		now        time.Time
		start, end time.Time
		length     time.Duration
	}{
		{"March in Berlin loses the hour DST takes", month("Europe/Berlin"), time.Date(2026, 3, 29, 12, 0, 0, 0, time.UTC),
			time.Date(2026, 3, 1, 0, 0, 0, 0, berlin), time.Date(2026, 4, 1, 0, 0, 0, 0, berlin), 743 * time.Hour},
		{"October in Berlin gains it back", month("Europe/Berlin"), time.Date(2026, 10, 25, 1, 30, 0, 0, time.UTC),
			time.Date(2026, 10, 1, 0, 0, 0, 0, berlin), time.Date(2026, 11, 1, 0, 0, 0, 0, berlin), 745 * time.Hour},
		{"March in New York (DST on the 8th)", month("America/New_York"), time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC),
			time.Date(2026, 3, 1, 0, 0, 0, 0, ny), time.Date(2026, 4, 1, 0, 0, 0, 0, ny), 743 * time.Hour},
		{"November in New York (DST ends on the 1st)", month("America/New_York"), time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC),
			time.Date(2026, 11, 1, 0, 0, 0, 0, ny), time.Date(2026, 12, 1, 0, 0, 0, 0, ny), 721 * time.Hour},
		{"New York's month begins at 04:00 or 05:00 UTC: 03:00 UTC on 1 December is still November", month("America/New_York"),
			time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC), time.Date(2026, 11, 1, 0, 0, 0, 0, ny), time.Date(2026, 12, 1, 0, 0, 0, 0, ny), 721 * time.Hour},
		{"the week of the DST change in New York is 167h", week("America/New_York"), time.Date(2026, 3, 8, 12, 0, 0, 0, time.UTC),
			time.Date(2026, 3, 2, 0, 0, 0, 0, ny), time.Date(2026, 3, 9, 0, 0, 0, 0, ny), 167 * time.Hour},
		{"the week of the DST change in Berlin is 169h", week("Europe/Berlin"), time.Date(2026, 10, 25, 12, 0, 0, 0, time.UTC),
			time.Date(2026, 10, 19, 0, 0, 0, 0, berlin), time.Date(2026, 10, 26, 0, 0, 0, 0, berlin), 169 * time.Hour},
		{"February of a leap year", month(""), time.Date(2028, 2, 29, 23, 59, 59, 0, time.UTC),
			time.Date(2028, 2, 1, 0, 0, 0, 0, time.UTC), time.Date(2028, 3, 1, 0, 0, 0, 0, time.UTC), 29 * 24 * time.Hour},
		{"February of a common year", month("UTC"), time.Date(2027, 2, 10, 0, 0, 0, 0, time.UTC),
			time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC), 28 * 24 * time.Hour},
		{"an ISO week across the year boundary, seen from 31 December", week(""), time.Date(2026, 12, 31, 12, 0, 0, 0, time.UTC),
			time.Date(2026, 12, 28, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 4, 0, 0, 0, 0, time.UTC), 7 * 24 * time.Hour},
		{"the same week seen from 3 January", week(""), time.Date(2027, 1, 3, 23, 0, 0, 0, time.UTC),
			time.Date(2026, 12, 28, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 4, 0, 0, 0, 0, time.UTC), 7 * 24 * time.Hour},
		{"a Berlin week across the year boundary begins Sunday 23:00 UTC", week("Europe/Berlin"), time.Date(2027, 1, 3, 23, 30, 0, 0, time.UTC),
			time.Date(2027, 1, 4, 0, 0, 0, 0, berlin), time.Date(2027, 1, 11, 0, 0, 0, 0, berlin), 7 * 24 * time.Hour},
		{"Santiago skips midnight on 6 September 2026: the week from Monday 7th is whole", week("America/Santiago"), time.Date(2026, 9, 7, 12, 0, 0, 0, time.UTC),
			time.Date(2026, 9, 7, 0, 0, 0, 0, santiago), time.Date(2026, 9, 14, 0, 0, 0, 0, santiago), 7 * 24 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, e, err := CurrentPeriod(tc.c, tc.now)
			if err != nil || !s.Equal(tc.start) || !e.Equal(tc.end) || e.Sub(s) != tc.length {
				t.Fatalf("want [%s, %s) (%s), got [%s, %s) (%s, %v)", tc.start, tc.end, tc.length, s, e, e.Sub(s), err)
			}
		})
	}
}

// TestStartOfDay: a day whose midnight a DST change skips begins when the clocks jump, in
// every zone (time.Date alone puts it in the previous day in Santiago), and days tile time.
func TestStartOfDay(t *testing.T) {
	santiago, beirut := zone(t, "America/Santiago"), zone(t, "Asia/Beirut")
	if got, want := StartOfDay(2026, 9, 6, santiago), time.Date(2026, 9, 6, 4, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("Santiago 6 September 2026 begins at %s, want %s (01:00 -03)", got, want)
	}
	if got, want := StartOfDay(2026, 3, 29, beirut), time.Date(2026, 3, 28, 22, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("Beirut 29 March 2026 begins at %s, want %s (01:00 +03)", got, want)
	}
	for _, loc := range []*time.Location{santiago, beirut, zone(t, "Europe/Berlin"), zone(t, "Australia/Lord_Howe")} {
		b := Books{Zone: loc}
		d := b.dayStart(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
		for i := 0; i < 366; i++ {
			next := b.dayEnd(d)
			if !next.After(d) || !b.dayStart(next).Equal(next) || !b.dayStart(next.Add(-time.Second)).Equal(d) {
				t.Fatalf("%s: day %s, next %s do not tile", loc, d, next)
			}
			d = next
		}
	}
}

// TestComputePeriod: a period's figures are exact in its own zone, from exact intervals and
// from folded days alike.
func TestComputePeriod(t *testing.T) {
	berlin := zone(t, "Europe/Berlin")
	target := big.NewRat(999, 1000)
	oct := [2]time.Time{time.Date(2026, 10, 1, 0, 0, 0, 0, berlin), time.Date(2026, 11, 1, 0, 0, 0, 0, berlin)} // 745h
	nov := [2]time.Time{time.Date(2026, 11, 1, 0, 0, 0, 0, berlin), time.Date(2026, 12, 1, 0, 0, 0, 0, berlin)} // 720h: 43m12s
	boundary := nov[0]                                                                                          // 31 October 23:00 UTC
	since := time.Date(2026, 9, 20, 0, 0, 0, 0, time.UTC)
	straddling := Books{Since: since, LastObserved: nov[1], Zone: berlin,
		Outages: []Interval{{Start: boundary.Add(-30 * time.Minute), End: boundary.Add(30 * time.Minute)}}}
	for _, tc := range []struct {
		name                      string
		books                     Books
		period                    [2]time.Time
		at                        time.Time
		down, planned, unobserved time.Duration
		availability, spent       string
		exhausted                 bool
		foldAt                    time.Time // also fold the books there (keeping every day) and expect the same
	}{
		{name: "an outage straddling the Berlin midnight that ends October: half in October", books: straddling, period: oct, at: oct[1],
			down: 30 * time.Minute, availability: "99.9328", spent: "67.1141", foldAt: nov[1]},
		{name: "... and half in November", books: straddling, period: nov, at: nov[1],
			down: 30 * time.Minute, availability: "99.9305", spent: "69.4445", foldAt: nov[1]},
		{name: "... and none of it in November's first second before it began", books: straddling, period: nov, at: nov[0],
			availability: "", spent: "0"},
		{name: "planned maintenance over part of an outage is not charged, and shrinks the budget's base",
			books: Books{Since: since, LastObserved: nov[1], Zone: berlin,
				Outages: []Interval{{Start: nov[0].Add(24 * time.Hour), End: nov[0].Add(26 * time.Hour)}},
				Planned: []Interval{{Start: nov[0].Add(24 * time.Hour), End: nov[0].Add(25 * time.Hour)}}},
			period: nov, at: nov[1], down: time.Hour, planned: time.Hour,
			availability: "99.8609", spent: "139.0821", exhausted: true, foldAt: nov[1].Add(-time.Hour)},
		{name: "unobserved time counts neither as up nor as down",
			books: Books{Since: since, LastObserved: nov[1], Zone: berlin,
				Outages:    []Interval{{Start: nov[0].Add(48 * time.Hour), End: nov[0].Add(48*time.Hour + 36*time.Minute)}},
				Unobserved: []Interval{{Start: nov[0], End: nov[0].Add(360 * time.Hour)}}},
			period: nov, at: nov[1], down: 36 * time.Minute, unobserved: 360 * time.Hour,
			availability: "99.8333", spent: "83.3334", foldAt: nov[1]},
		{name: "the budget exactly spent at the period's end: 100 %, exhausted",
			books: Books{Since: since, LastObserved: nov[1], Zone: berlin,
				Outages: []Interval{{Start: nov[1].Add(-43*time.Minute - 12*time.Second), End: nov[1]}}},
			period: nov, at: nov[1], down: 43*time.Minute + 12*time.Second,
			availability: "99.9", spent: "100", exhausted: true, foldAt: nov[1]},
		{name: "an outage still open at the period's end counts up to the end",
			books: Books{Since: since, LastObserved: nov[1].Add(time.Hour), Zone: berlin,
				Outages: []Interval{{Start: nov[1].Add(-time.Hour)}}},
			period: nov, at: nov[1], down: time.Hour, availability: "99.8611", spent: "138.8889", exhausted: true},
		{name: "tracking began mid-period: availability over the tracked part, the budget the whole period's",
			books: Books{Since: nov[1].Add(-24 * time.Hour), LastObserved: nov[1], Zone: berlin,
				Outages: []Interval{{Start: nov[1].Add(-2 * time.Hour), End: nov[1].Add(-time.Hour - 48*time.Minute)}}},
			period: nov, at: nov[1], down: 12 * time.Minute, availability: "99.1666", spent: "27.7778", foldAt: nov[1]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			check := func(b Books, how string) {
				t.Helper()
				got := ComputePeriod(target, b, tc.period[0], tc.period[1], tc.at)
				if got.Downtime != tc.down || got.Planned != tc.planned || got.Unobserved != tc.unobserved ||
					Percent(got.Availability, 4) != tc.availability || percentUp(got.BudgetSpent, 4) != tc.spent || got.BudgetExhausted() != tc.exhausted {
					t.Errorf("%s: down %s planned %s unobserved %s availability %q spent %q exhausted %v, want %s %s %s %q %q %v", how,
						got.Downtime, got.Planned, got.Unobserved, Percent(got.Availability, 4), percentUp(got.BudgetSpent, 4), got.BudgetExhausted(),
						tc.down, tc.planned, tc.unobserved, tc.availability, tc.spent, tc.exhausted)
				}
			}
			check(tc.books, "exact")
			if !tc.foldAt.IsZero() {
				check(Fold(tc.books, tc.foldAt, time.Time{}), "folded")
			}
		})
	}
	// The same outage folded into UTC days (the rolling books) cannot be split at the Berlin
	// midnight: the fault the zone's days fix.
	utc := straddling
	utc.Zone = nil
	if got := ComputePeriod(target, Fold(utc, nov[1], time.Time{}), oct[0], oct[1], oct[1]).Downtime; got == 30*time.Minute {
		t.Errorf("UTC days split the straddling outage exactly (%s): the test no longer shows the fault", got)
	}
}

func report(start, end time.Time, availability, spent string, met, complete bool) itopsv1alpha1.PeriodReport {
	return itopsv1alpha1.PeriodReport{Start: metav1.NewTime(start), End: metav1.NewTime(end), Availability: availability,
		BudgetSpent: spent, Met: met, Complete: complete}
}

// TestPeriods: completed periods are reported once, kept as written, bounded; the current one
// is last.
func TestPeriods(t *testing.T) {
	target := big.NewRat(999, 1000)
	c := week("")
	w := func(i int) time.Time {
		return time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * 7 * 24 * time.Hour)
	} // Mondays
	books := Books{Since: w(-1).Add(3 * 24 * time.Hour), LastObserved: w(0).Add(time.Hour),
		Outages: []Interval{{Start: w(0).Add(-time.Hour), End: w(0).Add(time.Hour)}}}
	figures := func(b Books) FiguresFunc {
		return func(start, end, at time.Time) (PeriodFigures, error) {
			return ComputePeriod(target, b, start, end, at).PeriodFigures, nil
		}
	}
	for _, tc := range []struct {
		name string
		prev []itopsv1alpha1.PeriodReport
		b    Books
		now  time.Time
		want []itopsv1alpha1.PeriodReport
		from time.Time
	}{
		{name: "the first period is the one tracking began in: only the current one", b: books, now: w(-1).Add(4 * 24 * time.Hour),
			want: []itopsv1alpha1.PeriodReport{report(w(-1), w(0), "100", "0", true, false)}, from: w(-1)},
		{name: "no report yet (a window that was rolling until now): no past period is claimed", b: books, now: w(0).Add(time.Hour),
			want: []itopsv1alpha1.PeriodReport{report(w(0), w(1), "0", "595.2381", false, false)}, from: w(0)},
		{name: "at the boundary: the ended week is reported complete (the outage's hour before midnight), the new one starts whole",
			b: books, now: w(0), prev: []itopsv1alpha1.PeriodReport{report(w(-1), w(0), "100", "0", true, false)},
			want: []itopsv1alpha1.PeriodReport{report(w(-1), w(0), "98.9583", "595.2381", false, true), report(w(0), w(1), "", "0", false, false)},
			from: w(-1)},
		{name: "a completed report is kept as written, even if the books say otherwise now", b: books, now: w(0).Add(2 * time.Hour),
			prev: []itopsv1alpha1.PeriodReport{report(w(-1), w(0), "99", "5", false, true), report(w(0), w(1), "", "0", false, false)},
			want: []itopsv1alpha1.PeriodReport{report(w(-1), w(0), "99", "5", false, true), report(w(0), w(1), "50", "595.2381", false, false)},
			from: w(0)},
		{name: "an operator down over two boundaries reports both weeks at start, the unobserved gap neither up nor down",
			b:    Books{Since: w(-1), LastObserved: w(2).Add(time.Hour), Unobserved: []Interval{{Start: w(0).Add(-24 * time.Hour), End: w(2).Add(time.Hour)}}},
			now:  w(2).Add(time.Hour),
			prev: []itopsv1alpha1.PeriodReport{report(w(-1), w(0), "100", "0", true, false)},
			want: []itopsv1alpha1.PeriodReport{report(w(-1), w(0), "100", "0", true, true), report(w(0), w(1), "", "0", false, true),
				report(w(1), w(2), "", "0", false, true), report(w(2), w(3), "", "0", false, false)},
			from: w(-1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			from, err := ReportFrom(c, tc.prev, tc.b.Since, tc.now)
			if err != nil || !from.Equal(tc.from) {
				t.Errorf("ReportFrom = %s (%v), want %s", from, err, tc.from)
			}
			got, err := Periods(c, tc.prev, target, tc.b.Since, tc.now, figures(tc.b))
			if err != nil || len(got) != len(tc.want) {
				t.Fatalf("Periods = %+v (%v), want %+v", got, err, tc.want)
			}
			for i := range got {
				if !got[i].Start.Equal(&tc.want[i].Start) || !got[i].End.Equal(&tc.want[i].End) || got[i].Availability != tc.want[i].Availability ||
					got[i].BudgetSpent != tc.want[i].BudgetSpent || got[i].Met != tc.want[i].Met || got[i].Complete != tc.want[i].Complete {
					t.Errorf("[%d] = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}

	t.Run("an operator down for more than a year reports no month older than the days the books keep", func(t *testing.T) {
		c := month("")
		jan := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		prev := []itopsv1alpha1.PeriodReport{report(jan, jan.AddDate(0, 1, 0), "100", "0", true, false)}
		now := time.Date(2027, 1, 10, 0, 0, 0, 0, time.UTC)
		b := Books{Since: jan, LastObserved: now, Unobserved: []Interval{{Start: jan.Add(time.Hour), End: now}}}
		got, err := Periods(c, prev, target, b.Since, now, figures(b))
		if err != nil || len(got) != 12 || !got[0].Start.Time.Equal(jan.AddDate(0, 1, 0)) || got[0].Availability != "" {
			t.Fatalf("Periods = %+v (%v)", got, err)
		}
		if from, _ := ReportFrom(c, prev, b.Since, now); from.Before(now.Add(-MaxRollingWindow)) {
			t.Fatalf("ReportFrom = %s keeps more than a year of days", from)
		}
	})

	t.Run("bounded: 12 completed periods and the current one, the oldest dropped", func(t *testing.T) {
		var prev []itopsv1alpha1.PeriodReport
		for i := -13; i < 0; i++ {
			prev = append(prev, report(w(i), w(i+1), "100", "0", true, i < -1))
		}
		got, err := Periods(c, prev, target, w(-20), w(0), figures(Books{Since: w(-20), LastObserved: w(0)}))
		if err != nil || len(got) != MaxPeriodReports || !got[0].Start.Equal(&metav1.Time{Time: w(-12)}) || !got[11].Complete ||
			!got[11].Start.Equal(&metav1.Time{Time: w(-1)}) || got[12].Complete || !got[12].Start.Equal(&metav1.Time{Time: w(0)}) {
			t.Fatalf("Periods = %+v (%v)", got, err)
		}
	})
}

// TestPeriodObjectiveMetAt: within a period, availability rises while the service is up; the
// first second it meets the objective again is exact.
func TestPeriodObjectiveMetAt(t *testing.T) {
	target := big.NewRat(99, 100)
	start, end := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	// 36s down in the first hour: 99% is met once 3600s are observed.
	b := Books{Since: start, LastObserved: start.Add(30 * time.Minute), Outages: []Interval{{Start: start, End: start.Add(36 * time.Second)}}}
	got, ok := PeriodObjectiveMetAt(target, b, start, end, start.Add(30*time.Minute))
	if !ok || !got.Equal(start.Add(time.Hour)) {
		t.Fatalf("PeriodObjectiveMetAt = %s %v, want %s", got, ok, start.Add(time.Hour))
	}
	// Not before the period ends: the new period decides.
	b.Outages = []Interval{{Start: start, End: start.Add(3 * 24 * time.Hour)}}
	if got, ok := PeriodObjectiveMetAt(target, b, start, end, start.Add(4*24*time.Hour)); ok {
		t.Fatalf("met at %s within a period that cannot recover", got)
	}
}

// FuzzPeriodParts: a period's parts (uptime, unplanned downtime, planned and unobserved time,
// time before tracking) add up to its length, in any zone, whether the books hold exact
// intervals or folded days; every folded day lies in one period; and folding changes no
// period's figures.
func FuzzPeriodParts(f *testing.F) {
	f.Add([]byte{7, 3, 200, 41, 9, 255, 18, 77, 4, 130, 60, 2}, uint8(1), true, uint16(300))
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}, uint8(3), false, uint16(7))
	zones := []string{"UTC", "Europe/Berlin", "America/New_York", "America/Santiago", "Asia/Kolkata", "Australia/Lord_Howe"}
	f.Fuzz(func(t *testing.T, segments []byte, zoneIndex uint8, monthly bool, horizonMinutes uint16) {
		tz := zones[int(zoneIndex)%len(zones)]
		loc := zone(t, tz)
		c := week(tz)
		if monthly {
			c = month(tz)
		}
		since := time.Date(2026, 8, 30, 17, 0, 0, 0, time.UTC)
		b := Books{Since: since, Zone: loc}
		at := since
		var down time.Duration
		for i, s := range segments {
			if i == 64 {
				break
			}
			d := time.Duration(int(s)/5+1) * 47 * time.Minute
			iv := Interval{Start: at, End: at.Add(d)}
			switch s % 5 {
			case 1:
				b.Outages = append(b.Outages, iv)
				down += d
			case 2:
				b.Planned = append(b.Planned, iv)
			case 3: // planned and down: not charged
				b.Planned = append(b.Planned, iv)
				b.Outages = append(b.Outages, iv)
			case 4:
				b.Unobserved = append(b.Unobserved, iv)
			}
			at = iv.End
		}
		now := at.Add(time.Hour)
		b.LastObserved = now
		folded := Fold(b, now.Add(-time.Duration(horizonMinutes%1440+1)*time.Minute), time.Time{})
		for _, d := range folded.Days {
			s, e, err := CurrentPeriod(c, d.Date)
			if err != nil || d.Date.Before(s) || folded.dayEnd(d.Date).After(e) {
				t.Fatalf("day %s straddles the period [%s, %s)", d.Date, s, e)
			}
		}
		target := big.NewRat(999, 1000)
		var total time.Duration
		for p := since; p.Before(now); {
			start, end, err := CurrentPeriod(c, p)
			if err != nil {
				t.Fatal(err)
			}
			to := minTime(end, now)
			exact, fold := ComputePeriod(target, b, start, end, to), ComputePeriod(target, folded, start, end, to)
			if exact.Downtime != fold.Downtime || exact.Planned != fold.Planned || exact.Unobserved != fold.Unobserved ||
				exact.Observed != fold.Observed || exact.BudgetSpent.Cmp(fold.BudgetSpent) != 0 {
				t.Fatalf("[%s, %s): exact %+v, folded %+v", start, end, exact, fold)
			}
			untracked := max(since.Sub(start), 0)
			if parts := (exact.Observed - exact.Downtime) + exact.Downtime + exact.Planned + exact.Unobserved + untracked; parts != to.Sub(start) {
				t.Fatalf("[%s, %s) up to %s: parts add up to %s, not %s", start, end, to, parts, to.Sub(start))
			}
			total += exact.Downtime
			p = end
		}
		if total != down {
			t.Fatalf("the periods' downtime adds up to %s, not %s", total, down)
		}
	})
}

// TestPeriodsAfterWindowChange: a window change (Week -> Month, Month -> Week, a time zone
// eastwards or westwards) loses no tracked time: every instant ends up in exactly one
// completed report of the window that was in force when its period ended, or of the new
// window when the change replaced the period it was in; no period is reported twice.
func TestPeriodsAfterWindowChange(t *testing.T) {
	target := big.NewRat(999, 1000)
	var figures FiguresFunc = func(start, end, at time.Time) (PeriodFigures, error) {
		b := Books{Since: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), LastObserved: at}
		return ComputePeriod(target, b, start, end, at).PeriodFigures, nil
	}
	since := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	type step struct {
		c   *itopsv1alpha1.CalendarWindow
		now time.Time
	}
	day := func(m time.Month, d int) time.Time { return time.Date(2026, m, d, 12, 0, 0, 0, time.UTC) }
	midnight := func(m time.Month, d int) time.Time { return time.Date(2026, m, d, 0, 0, 0, 0, time.UTC) }
	for _, tc := range []struct {
		name  string
		steps []step
		// want are the completed reports' starts after the last step, in UTC.
		want []time.Time
	}{
		{name: "Week -> Month on Dec 10: December is reported in January",
			steps: []step{{week(""), day(11, 3)}, {week(""), day(11, 20)}, {week(""), day(12, 9)}, {month(""), day(12, 10)},
				{month(""), day(12, 20)}, {month(""), time.Date(2027, 1, 3, 0, 0, 0, 0, time.UTC)}},
			want: []time.Time{midnight(11, 2), midnight(11, 9), midnight(11, 16), midnight(11, 23), midnight(11, 30), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}},
		{name: "Month -> Week on Dec 10: the week of Nov 30 covers Dec 1-7",
			steps: []step{{month(""), day(11, 3)}, {month(""), day(12, 9)}, {week(""), day(12, 10)}, {week(""), day(12, 22)}},
			want:  []time.Time{time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), midnight(11, 30), midnight(12, 7), midnight(12, 14)}},
		{name: "UTC -> Asia/Tokyo on Dec 10: the Tokyo December is reported in January",
			steps: []step{{month(""), day(11, 3)}, {month(""), day(12, 9)}, {month("Asia/Tokyo"), day(12, 10)},
				{month("Asia/Tokyo"), time.Date(2027, 1, 3, 0, 0, 0, 0, time.UTC)}},
			want: []time.Time{time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 30, 15, 0, 0, 0, time.UTC)}},
		{name: "Asia/Tokyo -> UTC on Dec 10: the UTC November covers Nov 30 15:00 to Dec 1",
			steps: []step{{month("Asia/Tokyo"), day(11, 3)}, {month("Asia/Tokyo"), day(12, 9)}, {month(""), day(12, 10)},
				{month(""), time.Date(2027, 1, 3, 0, 0, 0, 0, time.UTC)}},
			want: []time.Time{time.Date(2026, 10, 31, 15, 0, 0, 0, time.UTC), time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
				time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var prev []itopsv1alpha1.PeriodReport
			for _, s := range tc.steps {
				got, err := Periods(s.c, prev, target, since, s.now, figures)
				if err != nil {
					t.Fatal(err)
				}
				prev = got
			}
			var starts []time.Time
			for _, p := range prev {
				if p.Complete {
					starts = append(starts, p.Start.UTC())
				}
			}
			if len(starts) != len(tc.want) {
				t.Fatalf("completed reports start %v, want %v", starts, tc.want)
			}
			for i := range starts {
				if !starts[i].Equal(tc.want[i]) {
					t.Errorf("completed reports start %v, want %v", starts, tc.want)
				}
			}
			// No tracked time between the first completed report and the current period is
			// left out of every completed report.
			covered := prev[0].Start.Time
			for _, p := range prev {
				if p.Start.After(covered) {
					t.Errorf("%s to %s is in no report: %+v", covered, p.Start.Time, prev)
				}
				if p.End.After(covered) {
					covered = p.End.Time
				}
			}
		})
	}
}

// TestPeriodReportResult: a period with nothing measured is NoData, not a miss; met stays
// false (measured and met only).
func TestPeriodReportResult(t *testing.T) {
	target := big.NewRat(999, 1000)
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name         string
		availability *big.Rat
		met          bool
		want         itopsv1alpha1.PeriodResult
	}{
		{"nothing measured (the operator down all month)", nil, false, itopsv1alpha1.PeriodNoData},
		{"measured and met", big.NewRat(1, 1), true, itopsv1alpha1.PeriodMet},
		{"exactly the target is met", big.NewRat(999, 1000), true, itopsv1alpha1.PeriodMet},
		{"measured and missed", big.NewRat(99, 100), false, itopsv1alpha1.PeriodMissed},
		{"zero availability is measured: missed", new(big.Rat), false, itopsv1alpha1.PeriodMissed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := PeriodReportOf(PeriodFigures{Start: start, End: start.AddDate(0, 1, 0), Availability: tc.availability,
				BudgetSpent: new(big.Rat)}, target, true)
			if r.Met != tc.met || r.Result != tc.want {
				t.Errorf("met %v result %q, want met %v result %q", r.Met, r.Result, tc.met, tc.want)
			}
			if tc.availability == nil && r.Availability != "" {
				t.Errorf("availability %q for a period with nothing measured", r.Availability)
			}
		})
	}
}

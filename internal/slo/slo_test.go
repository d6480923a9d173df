package slo

import (
	"math/big"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func iv(a, b time.Duration) Interval { return Interval{Start: at(a), End: at(b)} }

func open(a time.Duration) Interval { return Interval{Start: at(a)} }

func sameIntervals(a, b []Interval) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Start.Equal(b[i].Start) || !a[i].End.Equal(b[i].End) {
			return false
		}
	}
	return true
}

func TestRecord(t *testing.T) {
	tracking := Books{Since: t0, LastObserved: at(time.Hour)}
	down := Books{Since: t0, LastObserved: at(time.Hour), Outages: []Interval{open(50 * time.Minute)}}
	tests := []struct {
		name           string
		books          Books
		obs            Observation
		reconstruct    bool
		wantOutages    []Interval
		wantUnobserved []Interval
		wantLast       time.Time
	}{
		{
			name:        "first observation of a healthy service starts the books",
			books:       Books{},
			obs:         Observation{At: t0},
			wantLast:    t0,
			wantOutages: nil,
		},
		{
			name:        "first observation of a service already down counts from now, not before tracking",
			books:       Books{},
			obs:         Observation{At: t0, Down: true, KnownSince: at(-time.Hour)},
			wantOutages: []Interval{open(0)},
			wantLast:    t0,
		},
		{
			name:        "going down opens an outage at the condition's transition",
			books:       tracking,
			obs:         Observation{At: at(2 * time.Hour), Down: true, KnownSince: at(90 * time.Minute)},
			wantOutages: []Interval{open(90 * time.Minute)},
			wantLast:    at(2 * time.Hour),
		},
		{
			name:        "a transition reported before the last observation is clipped to it",
			books:       tracking,
			obs:         Observation{At: at(2 * time.Hour), Down: true, KnownSince: at(10 * time.Minute)},
			wantOutages: []Interval{open(time.Hour)},
			wantLast:    at(2 * time.Hour),
		},
		{
			name:        "recovering closes the outage",
			books:       down,
			obs:         Observation{At: at(2 * time.Hour), KnownSince: at(100 * time.Minute)},
			wantOutages: []Interval{iv(50*time.Minute, 100*time.Minute)},
			wantLast:    at(2 * time.Hour),
		},
		{
			name:        "still down extends nothing but the last observation",
			books:       down,
			obs:         Observation{At: at(2 * time.Hour), Down: true, KnownSince: at(50 * time.Minute)},
			wantOutages: []Interval{open(50 * time.Minute)},
			wantLast:    at(2 * time.Hour),
		},
		{
			name:        "clock skew: an observation older than the last one books nothing before it",
			books:       tracking,
			obs:         Observation{At: at(30 * time.Minute), Down: true, KnownSince: at(20 * time.Minute)},
			wantOutages: []Interval{open(time.Hour)},
			wantLast:    at(time.Hour),
		},
		{
			name:        "after a restart, a Deployment down since before the last observation was down all along",
			books:       down,
			obs:         Observation{At: at(5 * time.Hour), Down: true, KnownSince: at(50 * time.Minute)},
			reconstruct: true,
			wantOutages: []Interval{open(50 * time.Minute)},
			wantLast:    at(5 * time.Hour),
		},
		{
			name:        "after a restart, a recovery during the gap: the outage ends at the Deployment's transition",
			books:       down,
			obs:         Observation{At: at(5 * time.Hour), KnownSince: at(3 * time.Hour)},
			reconstruct: true,
			wantOutages: []Interval{iv(50*time.Minute, 3*time.Hour)},
			wantLast:    at(5 * time.Hour),
		},
		{
			name:        "after a restart, an outage that began during the gap counts from its transition",
			books:       tracking,
			obs:         Observation{At: at(5 * time.Hour), Down: true, KnownSince: at(4 * time.Hour)},
			reconstruct: true,
			wantOutages: []Interval{open(4 * time.Hour)},
			wantLast:    at(5 * time.Hour),
		},
		{
			name:           "after a restart, down again since a transition in the gap: it recovered and failed unseen",
			books:          down,
			obs:            Observation{At: at(5 * time.Hour), Down: true, KnownSince: at(4 * time.Hour)},
			reconstruct:    true,
			wantOutages:    []Interval{iv(50*time.Minute, time.Hour), open(4 * time.Hour)},
			wantUnobserved: []Interval{iv(time.Hour, 4*time.Hour)},
			wantLast:       at(5 * time.Hour),
		},
		{
			name:           "after a restart, workloads without conditions: the whole gap is unobserved",
			books:          tracking,
			obs:            Observation{At: at(5 * time.Hour), KnownSince: at(5 * time.Hour)},
			reconstruct:    true,
			wantUnobserved: []Interval{iv(time.Hour, 5*time.Hour)},
			wantLast:       at(5 * time.Hour),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Record(tt.books, tt.obs)
			if tt.reconstruct {
				got = Reconstruct(tt.books, tt.obs)
			}
			if !sameIntervals(got.Outages, tt.wantOutages) {
				t.Errorf("outages = %v, want %v", got.Outages, tt.wantOutages)
			}
			if !sameIntervals(got.Unobserved, tt.wantUnobserved) {
				t.Errorf("unobserved = %v, want %v", got.Unobserved, tt.wantUnobserved)
			}
			if !got.LastObserved.Equal(tt.wantLast) {
				t.Errorf("lastObserved = %s, want %s", got.LastObserved, tt.wantLast)
			}
		})
	}
	// Record never changes its input.
	if len(down.Outages) != 1 || !down.Outages[0].End.IsZero() {
		t.Errorf("Record modified its input: %v", down.Outages)
	}
}

func TestFold(t *testing.T) {
	day := 24 * time.Hour
	b := Books{
		Since:        t0,
		LastObserved: at(3 * day),
		Outages:      []Interval{iv(23*time.Hour, 25*time.Hour), iv(2*day, 2*day+time.Hour), open(3*day - time.Hour)},
		Unobserved:   []Interval{iv(30*time.Hour, 32*time.Hour)},
	}
	planned := []Interval{iv(24*time.Hour+30*time.Minute, 26*time.Hour)}
	b = BookPlanned(b, planned, at(3*day))
	got := Fold(b, at(2*day+30*time.Minute), t0)
	want := []Day{
		{Date: at(0), Downtime: time.Hour},
		// 1h down after midnight of which 30m planned; 1.5h planned in all; 2h unobserved.
		{Date: at(day), Downtime: 30 * time.Minute, Planned: 90 * time.Minute, Unobserved: 2 * time.Hour},
		{Date: at(2 * day), Downtime: 30 * time.Minute},
	}
	if len(got.Days) != len(want) {
		t.Fatalf("days = %+v, want %+v", got.Days, want)
	}
	for i := range want {
		if got.Days[i] != want[i] {
			t.Errorf("day %d = %+v, want %+v", i, got.Days[i], want[i])
		}
	}
	if !sameIntervals(got.Outages, []Interval{iv(2*day+30*time.Minute, 2*day+time.Hour), open(3*day - time.Hour)}) {
		t.Errorf("outages after fold = %v", got.Outages)
	}
	if len(got.Unobserved) != 0 || !got.FoldedUntil.Equal(at(2*day+30*time.Minute)) {
		t.Errorf("unobserved = %v, foldedUntil = %s", got.Unobserved, got.FoldedUntil)
	}
	// Folding again up to the same instant changes nothing; old days are dropped.
	again := Fold(got, at(2*day+30*time.Minute), at(day+time.Hour))
	if len(again.Days) != 2 || again.Days[0].Date != at(day) || again.Days[1] != want[2] {
		t.Errorf("days after dropping = %+v", again.Days)
	}
	// The totals of the whole range equal the exact figures.
	o := Objective{Target: big.NewRat(99, 100), Window: 30 * day}
	now := at(3 * day)
	exact, folded := Compute(o, nil, b, now), Compute(o, nil, got, now)
	if exact.Downtime != folded.Downtime || exact.Planned != folded.Planned || exact.Unobserved != folded.Unobserved {
		t.Errorf("exact %+v != folded %+v", exact, folded)
	}
}

func TestCompute(t *testing.T) {
	o999 := Objective{Target: big.NewRat(999, 1000), Window: 30 * 24 * time.Hour}
	fast := []Alert{{Long: time.Hour, Short: 5 * time.Minute, Factor: big.NewRat(144, 10)}, {Long: 6 * time.Hour, Short: 30 * time.Minute, Factor: big.NewRat(6, 1)}}
	tracked := 40 * 24 * time.Hour // more than the window
	since := at(-tracked)
	now := t0
	tests := []struct {
		name             string
		books            Books
		planned          []Interval
		wantAvailability string
		wantBudget       string
		wantDowntime     time.Duration
		wantBurnRate     string
		wantFiring       bool
		wantExhausted    bool
		wantRefresh      time.Duration
	}{
		{
			name:             "empty window: nothing observed yet",
			books:            Books{},
			wantAvailability: "", wantBudget: "100", wantBurnRate: "0",
		},
		{
			name:             "no downtime",
			books:            Books{Since: since, LastObserved: now},
			wantAvailability: "100", wantBudget: "100", wantBurnRate: "0",
		},
		{
			name:             "21m36s of a 43m12s budget (99.9% over 30 days)",
			books:            Books{Since: since, LastObserved: now, Outages: []Interval{iv(-10*24*time.Hour, -10*24*time.Hour+21*time.Minute+36*time.Second)}},
			wantAvailability: "99.95", wantBudget: "50", wantDowntime: 21*time.Minute + 36*time.Second, wantBurnRate: "0",
			wantRefresh: IdleResolution,
		},
		{
			name:             "an ongoing outage of 10 minutes burns both fast windows",
			books:            Books{Since: since, LastObserved: now, Outages: []Interval{open(-10 * time.Minute)}},
			wantAvailability: "99.9768", wantBudget: "76.8518", wantDowntime: 10 * time.Minute,
			// 5m of 5m down: rate 1/0.001 = 1000.
			wantBurnRate: "1000", wantFiring: true, wantRefresh: ActiveResolution,
		},
		{
			name: "adjacent outages from the books",
			books: Books{Since: since, LastObserved: now, Outages: []Interval{
				iv(-3*time.Hour, -2*time.Hour), iv(-2*time.Hour, -time.Hour)}},
			wantAvailability: "99.7222", wantBudget: "-177.7778", wantDowntime: 2 * time.Hour, wantBurnRate: "0",
			// Up again and no alert firing: rates can only fall; figures drift slowly.
			wantExhausted: true, wantRefresh: IdleResolution,
		},
		{
			name:             "an outage fully covered by maintenance costs nothing",
			books:            Books{Since: since, LastObserved: now, Outages: []Interval{iv(-3*time.Hour, -2*time.Hour)}},
			planned:          []Interval{iv(-4*time.Hour, -90*time.Minute)},
			wantAvailability: "100", wantBudget: "100", wantBurnRate: "0",
		},
		{
			name:             "overlapping outage and window: only the uncovered part counts",
			books:            Books{Since: since, LastObserved: now, Outages: []Interval{iv(-3*time.Hour, -150*time.Minute)}},
			planned:          []Interval{iv(-170*time.Minute, -2*time.Hour)},
			wantAvailability: "99.9768", wantBudget: "76.825", wantDowntime: 10 * time.Minute, wantBurnRate: "0",
			wantRefresh: IdleResolution,
		},
		{
			name:             "a service tracked for one day is judged on that day, its budget on the window",
			books:            Books{Since: at(-24 * time.Hour), LastObserved: now, Outages: []Interval{iv(-12*time.Hour, -12*time.Hour+144*time.Second)}},
			wantAvailability: "99.8333", wantBudget: "94.4444", wantDowntime: 144 * time.Second, wantBurnRate: "0",
			wantRefresh: IdleResolution,
		},
		{
			name:             "unobserved time is neither up nor down",
			books:            Books{Since: at(-24 * time.Hour), LastObserved: now, Unobserved: []Interval{iv(-12*time.Hour, 0)}, Outages: []Interval{iv(-13*time.Hour, -12*time.Hour)}},
			wantAvailability: "91.6666", wantBudget: "-38.8889", wantDowntime: time.Hour, wantBurnRate: "0",
			wantExhausted: true, wantRefresh: IdleResolution,
		},
		{
			name: "old downtime in daily totals counts until its day has left the window",
			books: Books{Since: since, LastObserved: now, FoldedUntil: at(-6 * time.Hour),
				Days: []Day{{Date: at(-31 * 24 * time.Hour), Downtime: time.Hour}, {Date: at(-30 * 24 * time.Hour), Downtime: 4 * time.Minute}}},
			wantAvailability: "99.9907", wantBudget: "90.7407", wantDowntime: 4 * time.Minute, wantBurnRate: "0",
			wantRefresh: IdleResolution,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			books := tt.books
			books.Planned = tt.planned
			r := Compute(o999, fast, books, now)
			if got := Percent(r.Availability, 4); got != tt.wantAvailability {
				t.Errorf("availability = %q, want %q", got, tt.wantAvailability)
			}
			if got := Percent(r.BudgetRemaining, 4); got != tt.wantBudget {
				t.Errorf("budget remaining = %q, want %q", got, tt.wantBudget)
			}
			if r.Downtime != tt.wantDowntime {
				t.Errorf("downtime = %s, want %s", r.Downtime, tt.wantDowntime)
			}
			if got := Decimal(r.BurnRate, 2); got != tt.wantBurnRate {
				t.Errorf("burn rate = %q, want %q", got, tt.wantBurnRate)
			}
			if r.Firing() != tt.wantFiring || r.BudgetExhausted() != tt.wantExhausted {
				t.Errorf("firing = %v exhausted = %v, want %v %v", r.Firing(), r.BudgetExhausted(), tt.wantFiring, tt.wantExhausted)
			}
			if got := r.RefreshAfter(books, now); got != tt.wantRefresh {
				t.Errorf("refresh after = %s, want %s", got, tt.wantRefresh)
			}
		})
	}
}

// Daily totals count only where their folded part overlaps the objective window: with a 1h
// window and a 6h exact horizon, downtime folded this morning is outside the window.
func TestComputeShortWindowIgnoresFoldedDays(t *testing.T) {
	o := Objective{Target: big.NewRat(999, 1000), Window: time.Hour}
	now := t0.Add(12 * time.Hour)
	b := Books{Since: t0, LastObserved: now, FoldedUntil: now.Add(-6 * time.Hour),
		Days: []Day{{Date: t0, Downtime: 30 * time.Minute}}}
	r := Compute(o, nil, b, now)
	if got := Percent(r.Availability, 4); got != "100" || r.Downtime != 0 {
		t.Errorf("availability = %s, downtime = %s; want 100 and 0", got, r.Downtime)
	}
	// With a 30-day window the same day counts, and so does its whole time.
	o.Window = 720 * time.Hour
	r = Compute(o, nil, b, now)
	if r.Downtime != 30*time.Minute || Percent(r.Availability, 4) != "95.8333" {
		t.Errorf("availability = %s, downtime = %s; want 95.8333 and 30m", Percent(r.Availability, 4), r.Downtime)
	}
}

// A service that went down and up before its books covered the short window is looked at
// again exactly when they do.
func TestRefreshWhenTheBooksCoverTheShortWindow(t *testing.T) {
	o := Objective{Target: big.NewRat(999, 1000), Window: time.Hour}
	alert := []Alert{{Long: time.Hour, Short: 5 * time.Minute, Factor: big.NewRat(144, 10)}}
	b := Books{Since: at(-2 * time.Minute), LastObserved: t0, Outages: []Interval{iv(-110*time.Second, -60*time.Second)}}
	r := Compute(o, alert, b, t0)
	if got := r.RefreshAfter(b, t0); got != 3*time.Minute {
		t.Errorf("refresh after = %s, want 3m (when the books cover the 5m window)", got)
	}
}

// A firing alert of a service that is up again is looked at again exactly when its short
// window clears.
func TestRefreshWhenAFiringAlertsShortWindowClears(t *testing.T) {
	o := Objective{Target: big.NewRat(999, 1000), Window: time.Hour}
	alert := []Alert{{Long: time.Hour, Short: 30 * time.Second, Factor: big.NewRat(2, 1)}}
	b := Books{Since: at(-time.Hour), LastObserved: t0, Outages: []Interval{iv(-2*time.Minute, -20*time.Second)}}
	r := Compute(o, alert, b, t0)
	if !r.Firing() {
		t.Fatal("the alert does not fire")
	}
	if got := r.RefreshAfter(b, t0); got != 10*time.Second {
		t.Errorf("refresh after = %s, want 10s (when the 30s window no longer holds the outage)", got)
	}
}

// The default multi-window alert fires on a fast burn only once both windows burn, and stops
// as soon as the short window is clean, although the long one still holds the outage.
func TestBurnRateAlertWindows(t *testing.T) {
	o := Objective{Target: big.NewRat(999, 1000), Window: 30 * 24 * time.Hour}
	alert := []Alert{{Long: time.Hour, Short: 5 * time.Minute, Factor: big.NewRat(144, 10)}}
	b := Books{Since: at(-48 * time.Hour), LastObserved: t0, Outages: []Interval{iv(-20*time.Minute, -10*time.Minute)}}
	r := Compute(o, alert, b, t0)
	if r.Firing() {
		t.Errorf("fires with a clean short window: %s / %s", Decimal(r.Burns[0].LongRate, 2), Decimal(r.Burns[0].ShortRate, 2))
	}
	if Decimal(r.Burns[0].LongRate, 2) != "166.66" {
		t.Errorf("long rate = %s, want 166.66 (10m of 60m at a 0.1%% budget)", Decimal(r.Burns[0].LongRate, 2))
	}
	b.Outages = []Interval{iv(-20*time.Minute, -2*time.Minute)}
	if r := Compute(o, alert, b, t0); !r.Firing() {
		t.Error("does not fire with both windows burning")
	}
	// A service down since its books began 2 minutes ago fires once they cover the 5m short
	// window, not before.
	young := Books{Since: at(-2 * time.Minute), LastObserved: t0, Outages: []Interval{open(-2 * time.Minute)}}
	if r := Compute(o, alert, young, t0); r.Firing() {
		t.Error("fires before the books cover the short window")
	}
	if r := Compute(o, alert, young, t0.Add(3*time.Minute)); !r.Firing() {
		t.Error("does not fire once the books cover the short window")
	}
	// A slow burn (30 seconds in the hour: 8.3x) stays under 14.4 although the short window
	// burns at 100x.
	b.Outages = []Interval{iv(-3*time.Minute, -150*time.Second)}
	if r := Compute(o, alert, b, t0); r.Firing() {
		t.Errorf("fires on a slow burn: long %s", Decimal(r.Burns[0].LongRate, 2))
	}
}

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		in      string
		wantErr bool
	}{{"99.9", false}, {"50", false}, {"99.99999999", false}, {"100", true}, {"0", true}, {"-1", true}, {"9e1", true}, {"1/2", true}, {"", true}} {
		_, err := ParseObjective(tt.in, time.Hour)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseObjective(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
		}
	}
	if _, err := ParseObjective("99.9", 0); err == nil {
		t.Error("a zero window is accepted")
	}
	for _, tt := range []struct {
		in      string
		wantErr bool
	}{{"14.4", false}, {"6", false}, {"0", true}, {"-2", true}, {"1e3", true}, {"3/2", true}} {
		_, err := ParseFactor(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseFactor(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
		}
	}
}

func TestDecimal(t *testing.T) {
	for _, tt := range []struct {
		r        *big.Rat
		decimals int
		want     string
	}{
		{big.NewRat(1, 1), 2, "1"},
		{big.NewRat(9995, 10000), 4, "0.9995"},
		{big.NewRat(2, 3), 4, "0.6666"},  // truncated, never rounded up
		{big.NewRat(-1, 8), 2, "-0.13"},  // toward the worse figure
		{big.NewRat(-25, 2), 4, "-12.5"}, // trailing zeros trimmed
		{big.NewRat(0, 1), 4, "0"},
		{big.NewRat(1, 1000000), 4, "0"},
	} {
		if got := Decimal(tt.r, tt.decimals); got != tt.want {
			t.Errorf("Decimal(%s, %d) = %q, want %q", tt.r.RatString(), tt.decimals, got, tt.want)
		}
	}
	if got := Percent(nil, 2); got != "" {
		t.Errorf("Percent(nil) = %q", got)
	}
}

func TestIntersectAndCovered(t *testing.T) {
	a := []Interval{iv(0, 2*time.Hour), iv(3*time.Hour, 5*time.Hour)}
	b := []Interval{iv(time.Hour, 4*time.Hour), iv(4*time.Hour+30*time.Minute, 6*time.Hour)}
	want := []Interval{iv(time.Hour, 2*time.Hour), iv(3*time.Hour, 4*time.Hour), iv(4*time.Hour+30*time.Minute, 5*time.Hour)}
	if got := Intersect(a, b); !sameIntervals(got, want) {
		t.Errorf("Intersect() = %v, want %v", got, want)
	}
	if got := Intersect(a, nil); got != nil {
		t.Errorf("Intersect(a, nil) = %v", got)
	}
	if !Covered(iv(3*time.Hour, 4*time.Hour), a) || Covered(iv(time.Hour, 3*time.Hour), a) {
		t.Error("Covered() is wrong")
	}
}

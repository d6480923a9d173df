package slo

import (
	"math/big"
	"testing"
	"time"
)

func TestBudgetRecoversAt(t *testing.T) {
	hour := Objective{Target: big.NewRat(999, 1000), Window: time.Hour}        // 3.6s of budget
	month := Objective{Target: big.NewRat(999, 1000), Window: 720 * time.Hour} // 43m12s of budget
	noon := t0.Add(12 * time.Hour)
	tests := []struct {
		name    string
		o       Objective
		horizon time.Duration
		books   Books
		now     time.Time
		want    time.Time
		wantOK  bool
	}{
		{
			name: "a 10s outage at the old end of a 1h window: recovers when 3s of it are left",
			o:    hour, horizon: time.Hour, now: t0,
			books: Books{Since: at(-2 * time.Hour), LastObserved: t0, FoldedUntil: at(-time.Hour),
				Outages: []Interval{iv(-time.Hour+5*time.Second, -time.Hour+15*time.Second)}},
			// At +11s 4s of the outage are in the window (exhausted at 3.6s), at +12s 3s.
			want: at(12 * time.Second), wantOK: true,
		},
		{
			name: "budget left: nothing to wait for",
			o:    hour, horizon: time.Hour, now: t0,
			books: Books{Since: at(-2 * time.Hour), LastObserved: t0, Outages: []Interval{iv(-10*time.Minute, -10*time.Minute+time.Second)}},
		},
		{
			name: "down: the books grow, the next observation decides",
			o:    hour, horizon: time.Hour, now: t0,
			books: Books{Since: at(-2 * time.Hour), LastObserved: t0, Outages: []Interval{open(-10 * time.Minute)}},
		},
		{
			name: "a folded day leaves the window whole, at its end plus the window",
			o:    month, horizon: 6 * time.Hour, now: t0,
			books: Books{Since: at(-40 * 24 * time.Hour), LastObserved: t0, FoldedUntil: at(-6 * time.Hour),
				Days: []Day{{Date: at(-30 * 24 * time.Hour), Downtime: time.Hour}}},
			want: at(24 * time.Hour), wantOK: true,
		},
		{
			name: "today's exact outage is folded into today's total before it leaves: recovery is when the day leaves",
			o:    month, horizon: time.Hour, now: noon,
			books: Books{Since: at(-40 * 24 * time.Hour), LastObserved: noon, FoldedUntil: noon.Add(-time.Hour),
				Outages: []Interval{{Start: noon.Add(-50 * time.Minute), End: noon}}},
			want: at(31 * 24 * time.Hour), wantOK: true,
		},
		{
			name: "two days: the older leaving is enough",
			o:    month, horizon: 6 * time.Hour, now: t0,
			books: Books{Since: at(-40 * 24 * time.Hour), LastObserved: t0, FoldedUntil: at(-6 * time.Hour),
				Days: []Day{{Date: at(-29 * 24 * time.Hour), Downtime: 10 * time.Minute}, {Date: at(-2 * 24 * time.Hour), Downtime: 40 * time.Minute}}},
			want: at(2 * 24 * time.Hour), wantOK: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := BudgetRecoversAt(tt.o, tt.horizon, tt.books, tt.now)
			if ok != tt.wantOK || !got.Equal(tt.want) {
				t.Fatalf("BudgetRecoversAt = %s %v, want %s %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestObjectiveMetAt(t *testing.T) {
	o := Objective{Target: big.NewRat(99, 100), Window: time.Hour}
	// 60s down in the last hour: 98.33%; met (99%) once at most 36s of it are in the window.
	b := Books{Since: at(-2 * time.Hour), LastObserved: t0, FoldedUntil: at(-time.Hour), Outages: []Interval{iv(-50*time.Minute, -49*time.Minute)}}
	got, ok := ObjectiveMetAt(o, time.Hour, b, t0)
	if !ok || !got.Equal(at(10*time.Minute+24*time.Second)) {
		t.Fatalf("ObjectiveMetAt = %s %v, want %s", got, ok, at(10*time.Minute+24*time.Second))
	}
}

// FuzzBudgetRecoversAt: the instant found is exact: the budget is left there and exhausted a
// second before (as the controller computes it at each instant).
func FuzzBudgetRecoversAt(f *testing.F) {
	f.Add(uint16(3600), uint16(30), uint16(5), uint16(600), uint16(40), uint8(1))
	f.Add(uint16(100), uint16(3000), uint16(7000), uint16(2), uint16(60000), uint8(3))
	f.Fuzz(func(t *testing.T, start1, len1, start2, len2, dayMinutes uint16, windowDays uint8) {
		o := Objective{Target: big.NewRat(999, 1000), Window: time.Duration(windowDays%40+1) * 24 * time.Hour}
		horizon := 6 * time.Hour
		now := t0.Add(13 * time.Hour)
		b := Books{Since: now.Add(-60 * 24 * time.Hour), LastObserved: now, FoldedUntil: now.Add(-horizon)}
		// Two exact outages within the horizon, in order, closed.
		s1 := b.FoldedUntil.Add(time.Duration(start1%21600) * time.Second)
		e1 := s1.Add(time.Duration(len1%3600+1) * time.Second)
		s2 := e1.Add(time.Duration(start2%3600+1) * time.Second)
		e2 := s2.Add(time.Duration(len2%3600+1) * time.Second)
		if e2.After(now) {
			return
		}
		b.Outages = []Interval{{Start: s1, End: e1}, {Start: s2, End: e2}}
		b.Days = []Day{{Date: midnight(now).Add(-5 * 24 * time.Hour), Downtime: time.Duration(dayMinutes%1440) * time.Minute}}
		got, ok := BudgetRecoversAt(o, horizon, b, now)
		if !Compute(o, nil, b, now).BudgetExhausted() {
			if ok {
				t.Fatalf("budget left at now, yet a recovery at %s", got)
			}
			return
		}
		if !ok {
			t.Fatal("an exhausted budget over closed books never recovers")
		}
		left := func(at time.Time) bool {
			return !Compute(o, nil, foldedAt(o, horizon, b, at), at).BudgetExhausted()
		}
		if !got.After(now) || !left(got) || (got.Sub(now) > time.Second && left(got.Add(-time.Second))) {
			t.Fatalf("recovery at %s (now %s) is not the first second the budget is left", got, now)
		}
	})
}

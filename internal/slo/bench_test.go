package slo

import (
	"math/big"
	"testing"
	"time"
)

// fullBooks are books at their bounds: 200 exact outages and 50 planned periods within the 6h
// horizon, and 366 daily totals.
func fullBooks(now time.Time) Books {
	b := Books{Since: now.Add(-400 * 24 * time.Hour), LastObserved: now, FoldedUntil: now.Add(-6 * time.Hour)}
	for i := range 200 {
		s := b.FoldedUntil.Add(time.Duration(i) * 100 * time.Second)
		b.Outages = append(b.Outages, Interval{Start: s, End: s.Add(30 * time.Second)})
	}
	for i := range 50 {
		s := b.FoldedUntil.Add(time.Duration(i) * 400 * time.Second)
		b.Planned = append(b.Planned, Interval{Start: s, End: s.Add(60 * time.Second)})
	}
	for i := range 366 {
		b.Days = append(b.Days, Day{Date: midnight(now).Add(-time.Duration(i+1) * 24 * time.Hour), Downtime: time.Minute})
	}
	return b
}

func BenchmarkCompute(b *testing.B) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	books := fullBooks(now)
	o := Objective{Target: big.NewRat(999, 1000), Window: 8760 * time.Hour}
	alerts := []Alert{{Long: time.Hour, Short: 5 * time.Minute, Factor: big.NewRat(144, 10)}, {Long: 6 * time.Hour, Short: 30 * time.Minute, Factor: big.NewRat(6, 1)}}
	b.ReportAllocs()
	for b.Loop() {
		r := Compute(o, alerts, books, now)
		_ = Percent(r.Availability, 4)
	}
}

func BenchmarkRecordAndFold(b *testing.B) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	books := fullBooks(now)
	b.ReportAllocs()
	for b.Loop() {
		next := Record(books, Observation{At: now.Add(time.Second), Down: true, KnownSince: now})
		next = BookPlanned(next, nil, now.Add(time.Second))
		_ = Fold(next, now.Add(-6*time.Hour+time.Second), now.Add(-8760*time.Hour))
	}
}

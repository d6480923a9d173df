package slo

import (
	"testing"
	"time"
)

// TestBooksFrom: books as if tracking began at the first day boundary at or after t: days and
// exact intervals before it left out (an open outage kept), a no-op for t before Since.
func TestBooksFrom(t *testing.T) {
	d := func(day int, h int) time.Time { return time.Date(2026, 12, day, h, 0, 0, 0, time.UTC) }
	b := Books{Since: d(1, 0), LastObserved: d(10, 12), FoldedUntil: d(10, 0),
		Days:    []Day{{Date: d(1, 0), Downtime: time.Hour}, {Date: d(7, 0), Downtime: 2 * time.Hour}, {Date: d(8, 0), Downtime: 3 * time.Hour}},
		Outages: []Interval{{Start: d(10, 1), End: d(10, 2)}, {Start: d(10, 10)}}}
	if got := b.From(d(1, 0)); !got.Since.Equal(b.Since) || len(got.Days) != 3 {
		t.Fatalf("not after Since: a no-op, got %+v", got)
	}
	got := b.From(d(7, 6)) // mid-day: the next day boundary
	if !got.Since.Equal(d(8, 0)) || len(got.Days) != 1 || !got.Days[0].Date.Equal(d(8, 0)) || len(got.Outages) != 2 {
		t.Fatalf("from Dec 7 06:00: %+v", got)
	}
	got = b.From(d(10, 1).Add(30 * time.Minute))
	if !got.Since.Equal(d(11, 0)) || len(got.Days) != 0 || len(got.Outages) != 1 || !got.Outages[0].Start.Equal(d(11, 0)) || !got.Outages[0].End.IsZero() {
		t.Fatalf("from Dec 10 01:30: the open outage from Dec 11 only, got %+v", got)
	}
	if len(b.Days) != 3 || len(b.Outages) != 2 || !b.Outages[0].Start.Equal(d(10, 1)) {
		t.Fatalf("From changed its receiver: %+v", b)
	}
	if got := DaysKeptFrom(d(7, 0), d(7, 0)); !got.Equal(d(7, 0).Add(-SwitchRetention)) {
		t.Errorf("DaysKeptFrom = %s", got)
	}
	if got := DaysKeptFrom(time.Time{}, d(7, 0)); !got.Equal(d(7, 0)) {
		t.Errorf("DaysKeptFrom without a completed report = %s", got)
	}
}

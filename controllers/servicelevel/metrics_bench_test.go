package servicelevel

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/test/cluster"
)

// BenchmarkScrape1000 is one metrics scrape of 1,000 ServiceLevels, each with books holding
// an outage and 30 daily totals, read from a client holding them (the informer cache in the
// operator): the scrape reads status, it never lists workloads or evaluates calendars.
func BenchmarkScrape1000(b *testing.B) {
	now := time.Date(2027, 1, 1, 12, 0, 0, 0, time.UTC)
	objs := make([]client.Object, 0, 1000)
	for i := range 1000 {
		sl := newSL(func(sl *itopsv1alpha1.ServiceLevel) { sl.Name = fmt.Sprintf("svc-%04d", i) })
		sl.Status.TrackingSince = &metav1.Time{Time: now.Add(-60 * 24 * time.Hour)}
		sl.Status.LastObservedAt = &metav1.Time{Time: now.Add(-time.Minute)}
		sl.Status.FoldedUntil = &metav1.Time{Time: now.Add(-6 * time.Hour)}
		sl.Status.Outages = []itopsv1alpha1.Outage{{Start: metav1.Time{Time: now.Add(-time.Hour)}, End: &metav1.Time{Time: now.Add(-50 * time.Minute)}}}
		for d := range 30 {
			sl.Status.DowntimeByDay = append(sl.Status.DowntimeByDay, itopsv1alpha1.DailyDowntime{
				Date: now.Add(-time.Duration(d+1) * 24 * time.Hour).Format(time.DateOnly), Downtime: metav1.Duration{Duration: time.Minute}})
		}
		objs = append(objs, sl)
	}
	c := fake.NewClientBuilder().WithScheme(cluster.Scheme()).WithObjects(objs...).Build()
	registry := prometheus.NewRegistry()
	registry.MustRegister(collector{r: &Reconciler{Client: c, Clock: clocktesting.NewFakePassiveClock(now)}})
	b.ReportAllocs()
	for b.Loop() {
		families, err := registry.Gather()
		if err != nil || len(families) == 0 {
			b.Fatal(err)
		}
	}
}

// BenchmarkMeasure1000 is the scrape's own part of BenchmarkScrape1000: the figures of 1,000
// ServiceLevels from their status, without the list.
func BenchmarkMeasure1000(b *testing.B) {
	now := time.Date(2027, 1, 1, 12, 0, 0, 0, time.UTC)
	sl := newSL()
	sl.Status.TrackingSince = &metav1.Time{Time: now.Add(-60 * 24 * time.Hour)}
	sl.Status.FoldedUntil = &metav1.Time{Time: now.Add(-6 * time.Hour)}
	sl.Status.Outages = []itopsv1alpha1.Outage{{Start: metav1.Time{Time: now.Add(-time.Hour)}, End: &metav1.Time{Time: now.Add(-50 * time.Minute)}}}
	for d := range 30 {
		sl.Status.DowntimeByDay = append(sl.Status.DowntimeByDay, itopsv1alpha1.DailyDowntime{
			Date: now.Add(-time.Duration(d+1) * 24 * time.Hour).Format(time.DateOnly), Downtime: metav1.Duration{Duration: time.Minute}})
	}
	b.ReportAllocs()
	for b.Loop() {
		for range 1000 {
			if _, _, err := measure(sl, now); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkMeasureCalendar1000 is BenchmarkMeasure1000 for calendar windows (a Berlin month):
// the current period's figures from the days of its zone.
func BenchmarkMeasureCalendar1000(b *testing.B) {
	now := time.Date(2027, 1, 31, 12, 0, 0, 0, time.UTC)
	sl := newSL(func(sl *itopsv1alpha1.ServiceLevel) {
		sl.Spec.Objectives.Window = &itopsv1alpha1.SLOWindow{Calendar: &itopsv1alpha1.CalendarWindow{Period: itopsv1alpha1.CalendarMonth, TimeZone: "Europe/Berlin"}}
	})
	sl.Status.TrackingSince = &metav1.Time{Time: now.Add(-60 * 24 * time.Hour)}
	sl.Status.FoldedUntil = &metav1.Time{Time: now.Add(-6 * time.Hour)}
	sl.Status.Outages = []itopsv1alpha1.Outage{{Start: metav1.Time{Time: now.Add(-time.Hour)}, End: &metav1.Time{Time: now.Add(-50 * time.Minute)}}}
	for d := range 30 {
		sl.Status.DowntimeByDay = append(sl.Status.DowntimeByDay, itopsv1alpha1.DailyDowntime{
			Date: now.Add(-time.Duration(d+1) * 24 * time.Hour).Format(time.DateOnly), Downtime: metav1.Duration{Duration: time.Minute}})
	}
	b.ReportAllocs()
	for b.Loop() {
		for range 1000 {
			if _, _, err := measure(sl, now); err != nil {
				b.Fatal(err)
			}
		}
	}
}

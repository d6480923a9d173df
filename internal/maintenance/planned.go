package maintenance

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/schedule"
)

// PlannedDowntime is the time in [from, to) during which Maintenance windows covering subject
// were active, merged into disjoint, sorted intervals: what ServiceLevels exclude from their
// error budget. Each window counts only from its status.coverageFrom (its creation, or when the
// operator observed its latest edit) on, never before: nobody can erase an outage after the
// fact by creating or editing a window. Freeze windows plan no downtime; windows whose schedule
// cannot be evaluated count for nothing.
func PlannedDowntime(windows []itopsv1alpha1.MaintenanceWindow, subject Object, clusterNamespace string, from, to time.Time) []schedule.Interval {
	return PlannedFor(Plan(windows, from, to), subject, clusterNamespace)
}

// WindowPlan is one Maintenance window's active periods within a range.
type WindowPlan struct {
	Window  *itopsv1alpha1.MaintenanceWindow
	Periods []schedule.Interval
}

// Plan evaluates each Maintenance window's calendar once over [from, to) (each from its
// coverageFrom on), so that a ServiceLevel's reconcile pays one evaluation per window, not one
// per window and selected workload. Calendars are parsed once per window generation.
func Plan(windows []itopsv1alpha1.MaintenanceWindow, from, to time.Time) []WindowPlan {
	var out []WindowPlan
	for i := range windows {
		mw := &windows[i]
		if mw.Spec.Type != itopsv1alpha1.WindowMaintenance {
			continue
		}
		since, ok := effectiveFrom(mw)
		if !ok {
			continue
		}
		start := from
		if since.After(start) {
			start = since
		}
		if !start.Before(to) {
			continue
		}
		cal := calendarOf(mw)
		if cal == nil {
			continue
		}
		out = append(out, WindowPlan{Window: mw, Periods: cal.Between(start, to)})
	}
	return out
}

// PlannedFor is the merged planned downtime of the windows in plans that cover subject.
func PlannedFor(plans []WindowPlan, subject Object, clusterNamespace string) []schedule.Interval {
	var all []schedule.Interval
	for _, p := range plans {
		if Covers(p.Window, subject, clusterNamespace) {
			all = append(all, p.Periods...)
		}
	}
	return schedule.Merge(all)
}

// calendars caches parsed calendars by window UID and generation (the spec they come from);
// cleared when it reaches maxCalendars entries, so that it stays bounded as windows change.
var calendars = struct {
	sync.Mutex
	m map[calendarKey]*schedule.Calendar
}{m: map[calendarKey]*schedule.Calendar{}}

type calendarKey struct {
	uid        types.UID
	generation int64
}

const maxCalendars = 4096

// calendarOf is the window's parsed calendar, nil when its schedule cannot be evaluated.
func calendarOf(mw *itopsv1alpha1.MaintenanceWindow) *schedule.Calendar {
	key := calendarKey{mw.UID, mw.Generation}
	if key.uid != "" {
		calendars.Lock()
		c, ok := calendars.m[key]
		calendars.Unlock()
		if ok {
			return c
		}
	}
	c, errs := schedule.Parse(mw.Spec)
	if len(errs) > 0 {
		c = nil
	}
	if key.uid != "" {
		calendars.Lock()
		if len(calendars.m) >= maxCalendars {
			clear(calendars.m)
		}
		calendars.m[key] = c
		calendars.Unlock()
	}
	return c
}

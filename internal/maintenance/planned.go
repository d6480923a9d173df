package maintenance

import (
	"time"

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
	var all []schedule.Interval
	for i := range windows {
		mw := &windows[i]
		if mw.Spec.Type != itopsv1alpha1.WindowMaintenance || !Covers(mw, subject, clusterNamespace) {
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
		cal, errs := schedule.Parse(mw.Spec)
		if len(errs) > 0 {
			continue
		}
		all = append(all, cal.Between(start, to)...)
	}
	return schedule.Merge(all)
}

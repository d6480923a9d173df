package maintenance

import (
	"time"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/schedule"
)

// ReasonCoveragePending is the Ready reason of a Maintenance window whose calendar period has
// begun but whose coverage (status.coverageFrom) has not yet: its phase says Scheduled and
// nextStart says when coverage begins.
const ReasonCoveragePending = "CoveragePending"

// EffectiveState turns a window's calendar state at now into the state its status reports, so
// that what the status says and what the window does agree.
//
// A Maintenance window acts (suppresses incidents, books planned downtime) only from
// status.coverageFrom on: its creation rounded up to the next whole second, or when the
// operator observed its latest edit (see CoverageFrom; a window is never retroactive). So:
//   - a period that ends at or before coverageFrom covers nothing: it is dropped, and the phase
//     follows the next period (Scheduled) or Expired;
//   - a period that began before coverageFrom is reported from coverageFrom on: before that
//     instant the phase is Scheduled with nextStart = coverageFrom (the second result is then
//     coverageFrom, the instant to look again, exactly); from it on Active with
//     currentStart = coverageFrom.
//
// Freeze windows act at admission time only (the gate asks "is it active now?"), so nothing
// they say can be retroactive: their calendar state is returned unchanged. The second result
// is zero unless coverage is pending.
func EffectiveState(typ itopsv1alpha1.WindowType, s schedule.State, coverageFrom, now time.Time) (schedule.State, time.Time) {
	if typ != itopsv1alpha1.WindowMaintenance || s.Current == nil || coverageFrom.IsZero() || !s.Current.Start.Before(coverageFrom) {
		return s, time.Time{}
	}
	if !s.Current.End.After(coverageFrom) {
		s.Current = nil
		if s.Next != nil {
			s.Phase, s.NextBoundary = itopsv1alpha1.WindowScheduled, s.Next.Start
		} else {
			s.Phase, s.NextBoundary = itopsv1alpha1.WindowExpired, time.Time{}
		}
		return s, time.Time{}
	}
	covered := &schedule.Interval{Start: coverageFrom, End: s.Current.End}
	if now.Before(coverageFrom) {
		return schedule.State{Phase: itopsv1alpha1.WindowScheduled, Next: covered, NextBoundary: coverageFrom}, coverageFrom
	}
	s.Current = covered
	return s, time.Time{}
}

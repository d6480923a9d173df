package maintenance

import (
	"fmt"
	"time"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/maintenance"
	"github.com/itops-dev/itops-operator/internal/schedule"
)

// coveragePendingCondition is the Ready reason and message of a Maintenance window whose period
// has begun but whose coverage starts at from (status.coverageFrom): until then it suppresses
// nothing and books no planned downtime, so its phase says Scheduled, and the controller looks
// again exactly at from.
func coveragePendingCondition(mw *itopsv1alpha1.MaintenanceWindow, s schedule.State, from time.Time) (string, string) {
	end := from
	if s.Next != nil {
		end = s.Next.End
	}
	return maintenance.ReasonCoveragePending, fmt.Sprintf(
		"%s window coverage starts at %s (status.coverageFrom: a window never covers what happened before it took effect) and lasts until %s",
		mw.Spec.Type, from.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339))
}

package health

import (
	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/priority"
)

// severity is the default impact and urgency of an automated problem.
type severity struct {
	impact, urgency itopsv1alpha1.Level
}

// defaultSeverity by reason. A workload that a ServiceLevel selects gets one step more impact.
var defaultSeverity = map[string]severity{
	itopsv1alpha1.ReasonCrashLoopBackOff:           {itopsv1alpha1.LevelMedium, itopsv1alpha1.LevelHigh},   // P2
	itopsv1alpha1.ReasonImagePullBackOff:           {itopsv1alpha1.LevelMedium, itopsv1alpha1.LevelMedium}, // P3
	itopsv1alpha1.ReasonCreateContainerConfigError: {itopsv1alpha1.LevelMedium, itopsv1alpha1.LevelMedium}, // P3
	itopsv1alpha1.ReasonOOMKilled:                  {itopsv1alpha1.LevelMedium, itopsv1alpha1.LevelMedium}, // P3
	itopsv1alpha1.ReasonNodeNotReady:               {itopsv1alpha1.LevelHigh, itopsv1alpha1.LevelMedium},   // P2
	itopsv1alpha1.ReasonNodePressure:               {itopsv1alpha1.LevelMedium, itopsv1alpha1.LevelMedium}, // P3
	itopsv1alpha1.ReasonWorkloadUnavailable:        {itopsv1alpha1.LevelHigh, itopsv1alpha1.LevelHigh},     // P1
	itopsv1alpha1.ReasonRolloutStuck:               {itopsv1alpha1.LevelMedium, itopsv1alpha1.LevelHigh},   // P2
	itopsv1alpha1.ReasonJobFailed:                  {itopsv1alpha1.LevelLow, itopsv1alpha1.LevelMedium},    // P4
	itopsv1alpha1.ReasonVolumeClaimPending:         {itopsv1alpha1.LevelMedium, itopsv1alpha1.LevelMedium}, // P3
	itopsv1alpha1.ReasonVolumeClaimLost:            {itopsv1alpha1.LevelHigh, itopsv1alpha1.LevelHigh},     // P1
	itopsv1alpha1.ReasonChangeFailed:               {itopsv1alpha1.LevelMedium, itopsv1alpha1.LevelHigh},   // P2
	itopsv1alpha1.ReasonEmergencyChangeUnreviewed:  {itopsv1alpha1.LevelLow, itopsv1alpha1.LevelMedium},    // P4
	itopsv1alpha1.ReasonChangeControlDisabled:      {itopsv1alpha1.LevelMedium, itopsv1alpha1.LevelMedium}, // P3
	itopsv1alpha1.ReasonCreateContainerError:       {itopsv1alpha1.LevelMedium, itopsv1alpha1.LevelMedium}, // P3
	itopsv1alpha1.ReasonRunContainerError:          {itopsv1alpha1.LevelMedium, itopsv1alpha1.LevelMedium}, // P3
	itopsv1alpha1.ReasonPreStartHookError:          {itopsv1alpha1.LevelMedium, itopsv1alpha1.LevelMedium}, // P3
	itopsv1alpha1.ReasonPodUnschedulable:           {itopsv1alpha1.LevelMedium, itopsv1alpha1.LevelMedium}, // P3
	itopsv1alpha1.ReasonVolumeMountFailed:          {itopsv1alpha1.LevelMedium, itopsv1alpha1.LevelMedium}, // P3
	itopsv1alpha1.ReasonProbeFailing:               {itopsv1alpha1.LevelMedium, itopsv1alpha1.LevelMedium}, // P3
	itopsv1alpha1.ReasonContainerRestarting:        {itopsv1alpha1.LevelLow, itopsv1alpha1.LevelHigh},      // P3
	itopsv1alpha1.ReasonPodCreationFailed:          {itopsv1alpha1.LevelMedium, itopsv1alpha1.LevelHigh},   // P2
	itopsv1alpha1.ReasonNodeCondition:              {itopsv1alpha1.LevelMedium, itopsv1alpha1.LevelLow},    // P4
}

// SeverityFor returns the default impact and urgency of an automated problem (Medium/Medium
// for reasons not in the table). hasService: a ServiceLevel selects the subject, which raises
// the impact one step.
func SeverityFor(reason string, hasService bool) (itopsv1alpha1.Level, itopsv1alpha1.Level) {
	s, ok := defaultSeverity[reason]
	if !ok {
		s = severity{itopsv1alpha1.LevelMedium, itopsv1alpha1.LevelMedium}
	}
	if hasService && s.impact != itopsv1alpha1.LevelHigh {
		if s.impact == itopsv1alpha1.LevelLow {
			s.impact = itopsv1alpha1.LevelMedium
		} else {
			s.impact = itopsv1alpha1.LevelHigh
		}
	}
	return s.impact, s.urgency
}

// PriorityFor is the ITIL priority of a problem alone: SeverityFor through the matrix.
func PriorityFor(reason string, hasService bool) itopsv1alpha1.Priority {
	return priority.For(SeverityFor(reason, hasService))
}

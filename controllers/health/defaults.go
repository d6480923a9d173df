package health

import (
	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// severity is the default impact and urgency of an automated incident.
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
}

// severityFor returns the impact and urgency of a new automated incident.
func severityFor(reason string, hasService bool) (itopsv1alpha1.Level, itopsv1alpha1.Level) {
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

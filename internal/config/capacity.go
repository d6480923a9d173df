package config

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// AutoscalerLimitedPolicy configures the AutoscalerLimited detector (policy key
// detection.autoscalerLimited, docs/detectors.md): HorizontalPodAutoscalers that cannot scale,
// or stay pinned at maxReplicas under load.
type AutoscalerLimitedPolicy struct {
	// Enabled turns the detector on (default true).
	Enabled *bool `json:"enabled,omitempty"`
	// GracePeriod: an HPA may report ScalingActive=False or AbleToScale=False this long (from
	// the condition's lastTransitionTime) before the signal fires (default 10m).
	GracePeriod metav1.Duration `json:"gracePeriod,omitempty"`
	// SaturatedFor: an HPA may want more than maxReplicas (ScalingLimited=True with reason
	// TooManyReplicas) this long, from when that was first seen, before the signal fires
	// (default 15m).
	SaturatedFor metav1.Duration `json:"saturatedFor,omitempty"`
}

// DisruptionBlockedPolicy configures the DisruptionBlocked detector (policy key
// detection.disruptionBlocked): PodDisruptionBudgets whose configuration allows no voluntary
// disruption.
type DisruptionBlockedPolicy struct {
	// Enabled turns the detector on (default true).
	Enabled *bool `json:"enabled,omitempty"`
	// GracePeriod: a budget may allow no disruption this long (from its DisruptionAllowed
	// condition's lastTransitionTime) before the signal fires (default 1h).
	GracePeriod metav1.Duration `json:"gracePeriod,omitempty"`
}

// CronJobMissedSchedulePolicy configures the CronJobMissedSchedule detector (policy key
// detection.cronJobMissedSchedule).
type CronJobMissedSchedulePolicy struct {
	// Enabled turns the detector on (default true).
	Enabled *bool `json:"enabled,omitempty"`
	// GracePeriod: how late a run may start, for CronJobs without startingDeadlineSeconds
	// (which says it for the others), before it counts as missed (default 5m).
	GracePeriod metav1.Duration `json:"gracePeriod,omitempty"`
}

// MemoryNearLimitPolicy configures the MemoryNearLimit detector (policy key
// detection.memoryNearLimit): containers whose working set (metrics.k8s.io, where
// metrics-server or an equivalent serves it) is close to their memory limit.
type MemoryNearLimitPolicy struct {
	// Enabled turns the detector on (default true); it polls only while metrics.k8s.io is
	// served.
	Enabled *bool `json:"enabled,omitempty"`
	// ThresholdPercent: a working set at or above this percentage of the limit is near it
	// (1 to 100, default 90).
	ThresholdPercent int32 `json:"thresholdPercent,omitempty"`
	// For: the container must stay near its limit this long before the signal fires
	// (default 5m).
	For metav1.Duration `json:"for,omitempty"`
	// PollInterval: how often PodMetrics are listed (one LIST of every pod's metrics in the
	// cluster; at least 10s, default 1m).
	PollInterval metav1.Duration `json:"pollInterval,omitempty"`
}

// Defaults of the capacity and schedule detectors' keys.
var (
	DefaultAutoscalerGracePeriod  = 10 * time.Minute
	DefaultAutoscalerSaturatedFor = 15 * time.Minute
	DefaultDisruptionBlockedGrace = time.Hour
	DefaultCronJobMissedGrace     = 5 * time.Minute
	DefaultMemoryThresholdPercent = int32(90)
	DefaultMemoryNearLimitFor     = 5 * time.Minute
	DefaultMemoryPollInterval     = time.Minute
	MinMemoryPollInterval         = 10 * time.Second
)

// On reports whether the detector is enabled (default true).
func (p AutoscalerLimitedPolicy) On() bool { return p.Enabled == nil || *p.Enabled }

// On reports whether the detector is enabled (default true).
func (p DisruptionBlockedPolicy) On() bool { return p.Enabled == nil || *p.Enabled }

// On reports whether the detector is enabled (default true).
func (p CronJobMissedSchedulePolicy) On() bool { return p.Enabled == nil || *p.Enabled }

// On reports whether the detector is enabled (default true).
func (p MemoryNearLimitPolicy) On() bool { return p.Enabled == nil || *p.Enabled }

func (d *DetectionPolicy) applyCapacityDefaults() {
	defaultDuration(&d.AutoscalerLimited.GracePeriod, DefaultAutoscalerGracePeriod)
	defaultDuration(&d.AutoscalerLimited.SaturatedFor, DefaultAutoscalerSaturatedFor)
	defaultDuration(&d.DisruptionBlocked.GracePeriod, DefaultDisruptionBlockedGrace)
	defaultDuration(&d.CronJobMissedSchedule.GracePeriod, DefaultCronJobMissedGrace)
	if d.MemoryNearLimit.ThresholdPercent == 0 {
		d.MemoryNearLimit.ThresholdPercent = DefaultMemoryThresholdPercent
	}
	defaultDuration(&d.MemoryNearLimit.For, DefaultMemoryNearLimitFor)
	defaultDuration(&d.MemoryNearLimit.PollInterval, DefaultMemoryPollInterval)
}

func (d DetectionPolicy) validateCapacity(fp *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, nonNegative(fp.Child("autoscalerLimited", "gracePeriod"), d.AutoscalerLimited.GracePeriod)...)
	errs = append(errs, nonNegative(fp.Child("autoscalerLimited", "saturatedFor"), d.AutoscalerLimited.SaturatedFor)...)
	errs = append(errs, nonNegative(fp.Child("disruptionBlocked", "gracePeriod"), d.DisruptionBlocked.GracePeriod)...)
	errs = append(errs, nonNegative(fp.Child("cronJobMissedSchedule", "gracePeriod"), d.CronJobMissedSchedule.GracePeriod)...)
	m, mp := d.MemoryNearLimit, fp.Child("memoryNearLimit")
	if m.ThresholdPercent < 0 || m.ThresholdPercent > 100 {
		errs = append(errs, field.Invalid(mp.Child("thresholdPercent"), m.ThresholdPercent, "must be between 1 and 100"))
	}
	errs = append(errs, nonNegative(mp.Child("for"), m.For)...)
	if m.PollInterval.Duration != 0 && m.PollInterval.Duration < MinMemoryPollInterval {
		errs = append(errs, field.Invalid(mp.Child("pollInterval"), m.PollInterval.Duration.String(),
			"must be at least "+MinMemoryPollInterval.String()+" (each poll lists every pod's metrics)"))
	}
	return errs
}

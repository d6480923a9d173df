package config

import (
	"testing"
	"time"
)

func TestCapacityPolicy(t *testing.T) {
	cases := []struct{ name, yaml, want string }{
		{"every key", `
detection:
  autoscalerLimited: {enabled: true, gracePeriod: 2m, saturatedFor: 30m}
  disruptionBlocked: {enabled: false, gracePeriod: 2h}
  cronJobMissedSchedule: {gracePeriod: 1m}
  memoryNearLimit: {thresholdPercent: 80, for: 10m, pollInterval: 30s}`, ""},
		{"threshold above 100", `detection: {memoryNearLimit: {thresholdPercent: 120}}`, "detection.memoryNearLimit.thresholdPercent"},
		{"negative threshold", `detection: {memoryNearLimit: {thresholdPercent: -1}}`, "detection.memoryNearLimit.thresholdPercent"},
		{"poll too often", `detection: {memoryNearLimit: {pollInterval: 1s}}`, "detection.memoryNearLimit.pollInterval"},
		{"negative grace", `detection: {autoscalerLimited: {gracePeriod: -1m}}`, "detection.autoscalerLimited.gracePeriod"},
		{"negative saturation", `detection: {autoscalerLimited: {saturatedFor: -1m}}`, "detection.autoscalerLimited.saturatedFor"},
		{"negative budget grace", `detection: {disruptionBlocked: {gracePeriod: -1h}}`, "detection.disruptionBlocked.gracePeriod"},
		{"negative cron grace", `detection: {cronJobMissedSchedule: {gracePeriod: -1s}}`, "detection.cronJobMissedSchedule.gracePeriod"},
		{"negative for", `detection: {memoryNearLimit: {for: -1s}}`, "detection.memoryNearLimit.for"},
		{"unknown key", `detection: {memoryNearLimit: {percent: 90}}`, "unknown field"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			parseAs(t, tc.yaml, tc.want)
		})
	}
	d := Default().Detection
	if !d.AutoscalerLimited.On() || !d.DisruptionBlocked.On() || !d.CronJobMissedSchedule.On() || !d.MemoryNearLimit.On() ||
		d.AutoscalerLimited.GracePeriod.Duration != 10*time.Minute || d.AutoscalerLimited.SaturatedFor.Duration != 15*time.Minute ||
		d.DisruptionBlocked.GracePeriod.Duration != time.Hour || d.CronJobMissedSchedule.GracePeriod.Duration != 5*time.Minute ||
		d.MemoryNearLimit.ThresholdPercent != 90 || d.MemoryNearLimit.For.Duration != 5*time.Minute || d.MemoryNearLimit.PollInterval.Duration != time.Minute {
		t.Fatalf("defaults: %+v", d)
	}
	c, err := Parse([]byte(`detection: {disruptionBlocked: {enabled: false}}`))
	if err != nil || c.Detection.DisruptionBlocked.On() {
		t.Fatalf("enabled: false turns it off: %v", err)
	}
}

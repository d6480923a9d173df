package capacity

import (
	"fmt"

	"k8s.io/client-go/discovery"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/itops-dev/itops-operator/controllers/incidentwriter"
	"github.com/itops-dev/itops-operator/internal/capacity"
	"github.com/itops-dev/itops-operator/internal/config"
)

// Setup adds the detectors the policy enables (detection.autoscalerLimited,
// disruptionBlocked, cronJobMissedSchedule, memoryNearLimit; all on by default) to the
// manager. The memory detector reads PodMetrics with the manager's uncached API reader.
func Setup(mgr ctrl.Manager, w *incidentwriter.Writer, p config.DetectionPolicy) error {
	log := ctrl.Log.WithName("capacity")
	if p.AutoscalerLimited.On() {
		r := &AutoscalerReconciler{Client: mgr.GetClient(), Writer: w, Log: log, Policy: capacity.AutoscalerPolicy{
			Grace: p.AutoscalerLimited.GracePeriod.Duration, SaturatedFor: p.AutoscalerLimited.SaturatedFor.Duration}}
		if err := r.SetupWithManager(mgr); err != nil {
			return fmt.Errorf("AutoscalerLimited: %w", err)
		}
	}
	if p.DisruptionBlocked.On() {
		r := &DisruptionReconciler{Client: mgr.GetClient(), Writer: w, Log: log, Grace: p.DisruptionBlocked.GracePeriod.Duration}
		if err := r.SetupWithManager(mgr); err != nil {
			return fmt.Errorf("DisruptionBlocked: %w", err)
		}
	}
	if p.CronJobMissedSchedule.On() {
		r := &CronJobReconciler{Client: mgr.GetClient(), Writer: w, Log: log, Grace: p.CronJobMissedSchedule.GracePeriod.Duration}
		if err := r.SetupWithManager(mgr); err != nil {
			return fmt.Errorf("CronJobMissedSchedule: %w", err)
		}
	}
	if p.MemoryNearLimit.On() {
		dc, err := discovery.NewDiscoveryClientForConfig(mgr.GetConfig())
		if err != nil {
			return fmt.Errorf("MemoryNearLimit: %w", err)
		}
		m := p.MemoryNearLimit
		if err := mgr.Add(&MemoryDetector{Client: mgr.GetClient(), Writer: w, Log: log.WithName("memory"),
			Metrics:  &APIMetrics{Discovery: dc, Reader: mgr.GetAPIReader()},
			Policy:   capacity.MemoryPolicy{ThresholdPercent: m.ThresholdPercent, For: m.For.Duration},
			Interval: m.PollInterval.Duration}); err != nil {
			return fmt.Errorf("MemoryNearLimit: %w", err)
		}
	}
	return nil
}

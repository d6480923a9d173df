package capacity

import (
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // spec.timeZone works without the system's zoneinfo (distroless images)

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// maxMissedCount bounds the count of missed runs a message gives (kube-controller-manager
// stops counting at 100 too).
const maxMissedCount = 100

// CronSchedule parses a CronJob's schedule the way kube-controller-manager's CronJob
// controller does (pkg/controller/cronjob: formatSchedule, then cron.ParseStandard): standard
// five fields or a descriptor (@hourly, @every 1h), spec.timeZone as a TZ= prefix (unless the
// schedule carries its own TZ= or CRON_TZ=). Without a time zone the schedule is in UTC (the
// controller manager's local zone, UTC in the usual images). Errors say what does not parse.
func CronSchedule(cj *batchv1.CronJob) (cron.Schedule, error) {
	s := cj.Spec.Schedule
	if tz := cj.Spec.TimeZone; tz != nil && *tz != "" && !strings.Contains(s, "TZ") {
		if _, err := time.LoadLocation(*tz); err != nil {
			return nil, fmt.Errorf("unknown time zone %q: %w", *tz, err)
		}
		s = "TZ=" + *tz + " " + s
	}
	sched, err := cron.ParseStandard(s)
	if err != nil {
		return nil, fmt.Errorf("invalid schedule %q: %w", cj.Spec.Schedule, err)
	}
	return sched, nil
}

// JudgeCronJob judges a CronJob at now. A suspended one is not judged. A schedule or time
// zone that does not parse fires at once (the controller will never start a run). Otherwise
// the first run due after the last scheduled one (status.lastScheduleTime, else the
// CronJob's creation) must have started within its tolerance: spec.startingDeadlineSeconds
// when set (past it the controller skips the run for good), else grace. The run due at T with
// tolerance D is missed from T+D on: the finding fires then, Since T, and Next is T+D before
// (the exact instant the verdict changes); once firing only a new lastScheduleTime clears it.
// Both problems are Impact Medium, Urgency Medium (P3).
func JudgeCronJob(cj *batchv1.CronJob, now time.Time, d time.Duration) Finding {
	if cj.Spec.Suspend != nil && *cj.Spec.Suspend {
		return Finding{}
	}
	base := Finding{Impact: itopsv1alpha1.LevelMedium, Urgency: itopsv1alpha1.LevelMedium}
	sched, err := CronSchedule(cj)
	if err != nil {
		f := base
		f.Firing, f.Message = true, fmt.Sprintf("CronJob %s never runs: %v", cj.Name, err)
		return f
	}
	last := cj.CreationTimestamp.Time
	if cj.Status.LastScheduleTime != nil {
		last = cj.Status.LastScheduleTime.Time
	}
	due := sched.Next(last.UTC())
	if due.IsZero() {
		return Finding{} // a schedule that never fires (30 February)
	}
	tolerance, why := d, "within "+d.String()
	if sds := cj.Spec.StartingDeadlineSeconds; sds != nil {
		tolerance = time.Duration(*sds) * time.Second
		why = fmt.Sprintf("within its startingDeadlineSeconds (%d): the controller will not start it any more", *sds)
	}
	late := due.Add(tolerance)
	if now.Before(late) {
		return Finding{Next: late}
	}
	missed := 0
	for t := due; !t.IsZero() && !t.After(now) && missed < maxMissedCount; t = sched.Next(t) {
		missed++
	}
	count := fmt.Sprintf("%d", missed)
	if missed == maxMissedCount {
		count = fmt.Sprintf("at least %d", maxMissedCount)
	}
	f := base
	f.Firing, f.Since = true, due
	lastRun := "never ran"
	if cj.Status.LastScheduleTime != nil {
		lastRun = "last run scheduled at " + last.UTC().Format(time.RFC3339)
	}
	f.Message = fmt.Sprintf("CronJob %s did not start the run due at %s %s (schedule %q%s); %s runs missed, %s",
		cj.Name, due.UTC().Format(time.RFC3339), why, cj.Spec.Schedule, zoneOf(cj), count, lastRun)
	if len(cj.Status.Active) > 0 && cj.Spec.ConcurrencyPolicy == batchv1.ForbidConcurrent {
		f.Message += fmt.Sprintf("; %d run(s) still active and concurrencyPolicy is Forbid", len(cj.Status.Active))
	}
	return f
}

func zoneOf(cj *batchv1.CronJob) string {
	if cj.Spec.TimeZone != nil && *cj.Spec.TimeZone != "" {
		return ", time zone " + *cj.Spec.TimeZone
	}
	return ""
}

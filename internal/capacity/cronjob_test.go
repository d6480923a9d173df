package capacity

import (
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

type cronCase struct {
	name     string
	schedule string
	tz       string
	created  time.Time
	last     time.Time // zero: never scheduled
	deadline *int64
	suspend  bool
	forbid   int // active runs under concurrencyPolicy Forbid
	now      time.Time
	firing   bool
	since    time.Time
	next     time.Time
	msg      string
}

func (c cronCase) cronJob() *batchv1.CronJob {
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Namespace: "batch", Name: "report", CreationTimestamp: metav1.NewTime(c.created)},
		Spec:       batchv1.CronJobSpec{Schedule: c.schedule, StartingDeadlineSeconds: c.deadline, ConcurrencyPolicy: batchv1.AllowConcurrent},
	}
	if c.tz != "" {
		cj.Spec.TimeZone = ptr.To(c.tz)
	}
	if c.suspend {
		cj.Spec.Suspend = ptr.To(true)
	}
	if !c.last.IsZero() {
		cj.Status.LastScheduleTime = ptr.To(metav1.NewTime(c.last))
	}
	if c.forbid > 0 {
		cj.Spec.ConcurrencyPolicy = batchv1.ForbidConcurrent
		for range c.forbid {
			cj.Status.Active = append(cj.Status.Active, corev1.ObjectReference{Kind: "Job", Name: "report-1"})
		}
	}
	return cj
}

func utc(y int, m time.Month, d, h, mi int) time.Time {
	return time.Date(y, m, d, h, mi, 0, 0, time.UTC)
}

func TestJudgeCronJob(t *testing.T) {
	grace := 5 * time.Minute
	created := utc(2026, 11, 1, 0, 0)
	cases := []cronCase{
		{name: "on time: next check at the next run plus grace", schedule: "*/5 * * * *", created: created, last: utc(2026, 12, 1, 10, 0), now: utc(2026, 12, 1, 10, 3),
			next: utc(2026, 12, 1, 10, 10)},
		{name: "run due, within grace", schedule: "*/5 * * * *", created: created, last: utc(2026, 12, 1, 10, 0), now: utc(2026, 12, 1, 10, 9),
			next: utc(2026, 12, 1, 10, 10)},
		{name: "missed by exactly the grace", schedule: "*/5 * * * *", created: created, last: utc(2026, 12, 1, 10, 0), now: utc(2026, 12, 1, 10, 10),
			firing: true, since: utc(2026, 12, 1, 10, 5), msg: `did not start the run due at 2026-12-01T10:05:00Z within 5m0s (schedule "*/5 * * * *"); 2 runs missed, last run scheduled at 2026-12-01T10:00:00Z`},
		{name: "far behind: the count is bounded", schedule: "* * * * *", created: created, last: utc(2026, 11, 2, 0, 0), now: utc(2026, 12, 1, 10, 0),
			firing: true, since: utc(2026, 11, 2, 0, 1), msg: "at least 100 runs missed"},
		{name: "never scheduled: from creation", schedule: "0 * * * *", created: utc(2026, 12, 1, 9, 30), now: utc(2026, 12, 1, 10, 6),
			firing: true, since: utc(2026, 12, 1, 10, 0), msg: "never ran"},
		{name: "never scheduled, not due yet", schedule: "0 * * * *", created: utc(2026, 12, 1, 9, 30), now: utc(2026, 12, 1, 9, 50),
			next: utc(2026, 12, 1, 10, 5)},
		{name: "startingDeadlineSeconds replaces the grace", schedule: "0 * * * *", created: created, last: utc(2026, 12, 1, 9, 0), deadline: ptr.To[int64](30),
			now: utc(2026, 12, 1, 10, 0), next: utc(2026, 12, 1, 10, 0).Add(30 * time.Second)},
		{name: "past startingDeadlineSeconds", schedule: "0 * * * *", created: created, last: utc(2026, 12, 1, 9, 0), deadline: ptr.To[int64](30),
			now: utc(2026, 12, 1, 10, 1), firing: true, since: utc(2026, 12, 1, 10, 0), msg: "startingDeadlineSeconds (30): the controller will not start it any more"},
		{name: "a long deadline waits longer than the grace", schedule: "0 * * * *", created: created, last: utc(2026, 12, 1, 9, 0), deadline: ptr.To[int64](3600),
			now: utc(2026, 12, 1, 10, 30), next: utc(2026, 12, 1, 11, 0)},
		{name: "suspended", schedule: "*/5 * * * *", created: created, last: utc(2026, 11, 1, 10, 0), suspend: true, now: utc(2026, 12, 1, 10, 0)},
		{name: "a previous run still active under Forbid", schedule: "*/5 * * * *", created: created, last: utc(2026, 12, 1, 9, 0), forbid: 1, now: utc(2026, 12, 1, 10, 0),
			firing: true, since: utc(2026, 12, 1, 9, 5), msg: "1 run(s) still active and concurrencyPolicy is Forbid"},
		{name: "a descriptor", schedule: "@hourly", created: created, last: utc(2026, 12, 1, 8, 0), now: utc(2026, 12, 1, 10, 0),
			firing: true, since: utc(2026, 12, 1, 9, 0)},
		{name: "@every", schedule: "@every 2h", created: created, last: utc(2026, 12, 1, 8, 0), now: utc(2026, 12, 1, 9, 0), next: utc(2026, 12, 1, 10, 5)},
		{name: "yearly, across the new year", schedule: "0 0 1 1 *", created: utc(2024, 6, 1, 0, 0), last: utc(2025, 1, 1, 0, 0), now: utc(2026, 1, 1, 0, 6),
			firing: true, since: utc(2026, 1, 1, 0, 0), msg: "1 runs missed"},
		{name: "a date that never comes", schedule: "0 0 30 2 *", created: created, now: utc(2026, 12, 1, 10, 0)},
		// Time zones: the wall clock of spec.timeZone.
		{name: "Europe/Berlin 09:00 on weekdays, winter (UTC+1)", schedule: "0 9 * * 1-5", tz: "Europe/Berlin", created: created,
			last: utc(2026, 12, 1, 8, 0), now: utc(2026, 12, 2, 8, 4), next: utc(2026, 12, 2, 8, 5)},
		{name: "Europe/Berlin, missed on Wednesday", schedule: "0 9 * * 1-5", tz: "Europe/Berlin", created: created,
			last: utc(2026, 12, 1, 8, 0), now: utc(2026, 12, 2, 8, 5), firing: true, since: utc(2026, 12, 2, 8, 0), msg: "time zone Europe/Berlin"},
		{name: "Europe/Berlin over the weekend", schedule: "0 9 * * 1-5", tz: "Europe/Berlin", created: created,
			last: utc(2026, 12, 4, 8, 0), now: utc(2026, 12, 6, 20, 0), next: utc(2026, 12, 7, 8, 5)},
		{name: "Asia/Kolkata (UTC+5:30) midnight", schedule: "0 0 * * *", tz: "Asia/Kolkata", created: created,
			last: utc(2026, 11, 30, 18, 30), now: utc(2026, 12, 1, 18, 36), firing: true, since: utc(2026, 12, 1, 18, 30)},
		{name: "no time zone is UTC", schedule: "0 0 * * *", created: created, last: utc(2026, 11, 30, 0, 0), now: utc(2026, 12, 1, 0, 4), next: utc(2026, 12, 1, 0, 5)},
		// Daylight saving time, as kube-controller-manager (the same parser) runs it.
		{name: "DST spring forward: 02:30 does not exist on 8 March in New York and is not missed", schedule: "30 2 * * *", tz: "America/New_York", created: created,
			last: utc(2026, 3, 7, 7, 30), now: utc(2026, 3, 8, 12, 0), next: utc(2026, 3, 9, 6, 35)},
		{name: "DST spring forward: the next day's run (now UTC-4) is due at 06:30 UTC", schedule: "30 2 * * *", tz: "America/New_York", created: created,
			last: utc(2026, 3, 7, 7, 30), now: utc(2026, 3, 9, 6, 40), firing: true, since: utc(2026, 3, 9, 6, 30)},
		{name: "DST fall back: 01:30 comes twice; the second is due after the first", schedule: "30 1 * * *", tz: "America/New_York", created: created,
			last: utc(2026, 11, 1, 5, 30), now: utc(2026, 11, 1, 6, 36), firing: true, since: utc(2026, 11, 1, 6, 30)},
		{name: "DST fall back, in time", schedule: "30 1 * * *", tz: "America/New_York", created: created,
			last: utc(2026, 11, 1, 6, 30), now: utc(2026, 11, 1, 7, 0), next: utc(2026, 11, 2, 6, 35)},
		{name: "Europe/Berlin summer time (UTC+2)", schedule: "0 9 * * *", tz: "Europe/Berlin", created: created,
			last: utc(2026, 3, 28, 8, 0), now: utc(2026, 3, 29, 7, 5), firing: true, since: utc(2026, 3, 29, 7, 0)},
		// Invalid: fires at once, nothing to wait for.
		{name: "six fields", schedule: "0 0 * * * *", created: created, now: utc(2026, 12, 1, 10, 0), firing: true, msg: `CronJob report never runs: invalid schedule "0 0 * * * *"`},
		{name: "minute out of range", schedule: "61 * * * *", created: created, now: utc(2026, 12, 1, 10, 0), firing: true, msg: "invalid schedule"},
		{name: "garbage", schedule: "every day", created: created, now: utc(2026, 12, 1, 10, 0), firing: true, msg: "invalid schedule"},
		{name: "unknown descriptor", schedule: "@fortnightly", created: created, now: utc(2026, 12, 1, 10, 0), firing: true, msg: "invalid schedule"},
		{name: "empty", schedule: "", created: created, now: utc(2026, 12, 1, 10, 0), firing: true, msg: "invalid schedule"},
		{name: "unknown time zone", schedule: "0 9 * * *", tz: "Mars/Olympus_Mons", created: created, now: utc(2026, 12, 1, 10, 0), firing: true,
			msg: `unknown time zone "Mars/Olympus_Mons"`},
		{name: "invalid but suspended", schedule: "61 * * * *", suspend: true, created: created, now: utc(2026, 12, 1, 10, 0)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := JudgeCronJob(tc.cronJob(), tc.now, grace)
			if f.Firing != tc.firing || f.Pending || !f.Next.Equal(tc.next) || !f.Since.Equal(tc.since) {
				t.Fatalf("got firing=%v pending=%v next=%s since=%s, want %v false %s %s (%s)", f.Firing, f.Pending, f.Next, f.Since, tc.firing, tc.next, tc.since, f.Message)
			}
			if !strings.Contains(f.Message, tc.msg) {
				t.Fatalf("message %q does not contain %q", f.Message, tc.msg)
			}
			if f.Firing && f.Priority() != itopsv1alpha1.PriorityP3 {
				t.Fatalf("priority %s, want P3", f.Priority())
			}
		})
	}
}

package schedule

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

func recurrence(rule string, d time.Duration) itopsv1alpha1.WindowSchedule {
	return itopsv1alpha1.WindowSchedule{Recurrence: rule, Duration: &metav1.Duration{Duration: d}}
}

func TestRecurrenceNextStarts(t *testing.T) {
	from := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		zone  string
		sched itopsv1alpha1.WindowSchedule
		want  []string // local wall times
	}{
		{"the second Tuesday of the month at 02:00 (issue 13)", "Europe/Berlin", recurrence("FREQ=MONTHLY;BYDAY=2TU;BYHOUR=2;BYMINUTE=0", 4*time.Hour),
			[]string{"2027-01-12 02:00", "2027-02-09 02:00", "2027-03-09 02:00"}},
		{"what cron makes of it: the 8th to the 14th or any Tuesday", "Europe/Berlin", cronSchedule("0 2 8-14 * 2", time.Hour),
			[]string{"2027-01-05 02:00", "2027-01-08 02:00", "2027-01-09 02:00"}},
		{"the last Friday at 22:30", "America/New_York", recurrence("FREQ=MONTHLY;BYDAY=-1FR;BYHOUR=22;BYMINUTE=30", 2*time.Hour),
			[]string{"2027-01-29 22:30", "2027-02-26 22:30", "2027-03-26 22:30"}},
		{"the last day of the month, RRULE: prefix", "UTC", recurrence("RRULE:FREQ=MONTHLY;BYMONTHDAY=-1;BYHOUR=23", time.Hour),
			[]string{"2027-01-31 23:00", "2027-02-28 23:00", "2027-03-31 23:00"}},
		{"weekly on Saturday and Sunday", "UTC", recurrence("FREQ=WEEKLY;BYDAY=SA,SU;BYHOUR=1", time.Hour),
			[]string{"2027-01-02 01:00", "2027-01-03 01:00", "2027-01-09 01:00"}},
		{"daily at 01:15 and 13:15", "UTC", recurrence("FREQ=DAILY;BYHOUR=1,13;BYMINUTE=15", time.Hour),
			[]string{"2027-01-01 01:15", "2027-01-01 13:15", "2027-01-02 01:15"}},
		{"the first Monday of March and September", "UTC", recurrence("FREQ=MONTHLY;BYMONTH=3,9;BYDAY=1MO", time.Hour),
			[]string{"2027-03-01 00:00", "2027-09-06 00:00", "2028-03-06 00:00"}},
		{"Friday the 13th: BYMONTHDAY and BYDAY both hold", "UTC", recurrence("FREQ=MONTHLY;BYMONTHDAY=13;BYDAY=FR", time.Hour),
			[]string{"2027-08-13 00:00", "2028-10-13 00:00", "2029-04-13 00:00"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, errs := Parse(itopsv1alpha1.MaintenanceWindowSpec{TimeZone: tt.zone, Schedules: []itopsv1alpha1.WindowSchedule{tt.sched}})
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			var got []string
			for _, s := range c.NextStarts(from, 3)[0] {
				got = append(got, s.In(c.Location()).Format("2006-01-02 15:04"))
			}
			if strings.Join(got, ", ") != strings.Join(tt.want, ", ") {
				t.Errorf("next starts = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRecurrenceErrors(t *testing.T) {
	tests := []struct{ rule, want string }{
		{"BYDAY=2TU", "FREQ is required"},
		{"FREQ=YEARLY;BYMONTH=1", "FREQ=YEARLY is not supported"},
		{"FREQ=MONTHLY;BYDAY=2TU;COUNT=3", "COUNT is not supported"},
		{"FREQ=MONTHLY;INTERVAL=2;BYDAY=2TU", "INTERVAL=2 is not supported"},
		{"FREQ=WEEKLY;BYDAY=2TU", "an ordinal needs FREQ=MONTHLY"},
		{"FREQ=MONTHLY;BYDAY=6TU", "the ordinal must be 1 to 5"},
		{"FREQ=MONTHLY;BYDAY=XX", "is not a weekday"},
		{"FREQ=MONTHLY", "needs BYDAY"},
		{"FREQ=WEEKLY", "needs BYDAY"},
		{"FREQ=DAILY;BYHOUR=24", "BYHOUR \"24\" must be a number from 0 to 23"},
		{"FREQ=MONTHLY;BYMONTHDAY=31;BYMONTH=2", "never matches a calendar day"},
		{"FREQ=DAILY;FREQ=DAILY", "given twice"},
		{"FREQ=DAILY;BYSETPOS=1", "BYSETPOS is not supported"},
		{"FREQ=DAILY;BYHOUR", "not NAME=VALUE"},
	}
	for _, tt := range tests {
		_, errs := Parse(itopsv1alpha1.MaintenanceWindowSpec{Schedules: []itopsv1alpha1.WindowSchedule{recurrence(tt.rule, time.Hour)}})
		if got := errs.ToAggregate(); got == nil || !strings.Contains(got.Error(), "spec.schedules[0].recurrence") || !strings.Contains(got.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v, want spec.schedules[0].recurrence: ... %q", tt.rule, got, tt.want)
		}
	}
	// The gap bound applies to recurrences too.
	_, errs := Parse(itopsv1alpha1.MaintenanceWindowSpec{Schedules: []itopsv1alpha1.WindowSchedule{recurrence("FREQ=DAILY;BYHOUR=1,13", 13*time.Hour)}})
	if got := errs.ToAggregate(); got == nil || !strings.Contains(got.Error(), "longer than the 12h0m0s between two starts") {
		t.Errorf("a daily recurrence twice a day for 13h = %v, want the gap error", got)
	}
	// Exactly one of cron and recurrence.
	both := recurrence("FREQ=DAILY", time.Hour)
	both.Cron = "0 0 * * *"
	if _, errs := Parse(itopsv1alpha1.MaintenanceWindowSpec{Schedules: []itopsv1alpha1.WindowSchedule{both}}); errs.ToAggregate() == nil {
		t.Error("cron and recurrence together were accepted")
	}
}

func TestCronOrTrap(t *testing.T) {
	for expr, want := range map[string]bool{"0 2 8-14 * 2": true, "0 0 1 * 1": true, "0 2 * * 2": false, "0 2 8-14 * *": false, "0 2 ? * 2": false} {
		if got := CronOrTrap(expr); got != want {
			t.Errorf("CronOrTrap(%q) = %v, want %v", expr, got, want)
		}
	}
}

func FuzzParseRecurrence(f *testing.F) {
	for _, seed := range []string{"FREQ=MONTHLY;BYDAY=2TU;BYHOUR=2;BYMINUTE=0", "FREQ=WEEKLY;BYDAY=SA,SU", "FREQ=MONTHLY;BYMONTHDAY=-1", "FREQ=DAILY;BYHOUR=1,13;BYMINUTE=15", "RRULE:FREQ=MONTHLY;BYDAY=-1FR"} {
		f.Add(seed, "2h", "Europe/Berlin")
	}
	f.Fuzz(func(t *testing.T, rule, duration, zone string) {
		d, err := time.ParseDuration(duration)
		if err != nil {
			return
		}
		c, errs := Parse(itopsv1alpha1.MaintenanceWindowSpec{TimeZone: zone, Schedules: []itopsv1alpha1.WindowSchedule{recurrence(rule, d)}})
		if len(errs) > 0 {
			return
		}
		now := time.Date(2027, 3, 28, 0, 30, 0, 0, time.UTC)
		st := c.At(now)
		for _, s := range c.NextStarts(now, 3)[0] {
			if s.Before(now) {
				t.Fatalf("a next start %s before now", s)
			}
		}
		if st.Current != nil && !st.Current.End.After(now) {
			t.Fatalf("current period %v has ended", st.Current)
		}
	})
}

package webhook

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// Every recurring schedule comes back with its next three starts in the window's time zone,
// and a cron that restricts both day fields with the OR trap explained (issue 13).
func TestWindowWarnings(t *testing.T) {
	now := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	hour := &metav1.Duration{Duration: time.Hour}
	mw := &itopsv1alpha1.MaintenanceWindow{ObjectMeta: metav1.ObjectMeta{Name: "patch-tuesday"},
		Spec: itopsv1alpha1.MaintenanceWindowSpec{Type: itopsv1alpha1.WindowMaintenance, TimeZone: "Europe/Berlin", Schedules: []itopsv1alpha1.WindowSchedule{
			{Cron: "0 2 8-14 * 2", Duration: hour},
			{Start: &metav1.Time{Time: now.Add(time.Hour)}, End: &metav1.Time{Time: now.Add(2 * time.Hour)}},
			{Recurrence: "FREQ=MONTHLY;BYDAY=2TU;BYHOUR=2;BYMINUTE=0", Duration: hour},
		}}}
	got := strings.Join(windowWarnings(mw, now), "\n")
	for _, want := range []string{
		`spec.schedules[0].cron: cron "0 2 8-14 * 2" restricts both day-of-month and day-of-week, so it starts on days where EITHER matches`,
		"recurrence: FREQ=MONTHLY;BYDAY=2TU;BYHOUR=2;BYMINUTE=0 for the second Tuesday at 02:00",
		"spec.schedules[0]: next starts (Europe/Berlin, each for 1h0m0s): Tue 2027-01-05 02:00 CET, Fri 2027-01-08 02:00 CET, Sat 2027-01-09 02:00 CET",
		"spec.schedules[2]: next starts (Europe/Berlin, each for 1h0m0s): Tue 2027-01-12 02:00 CET, Tue 2027-02-09 02:00 CET, Tue 2027-03-09 02:00 CET",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("warnings:\n%s\nlack %q", got, want)
		}
	}
	if strings.Contains(got, "spec.schedules[1]") || strings.Contains(got, "spec.schedules[2].cron") {
		t.Errorf("warnings about a one-off period or a recurrence's cron:\n%s", got)
	}
}

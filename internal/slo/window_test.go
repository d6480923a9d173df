package slo_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/health"
	"github.com/itops-dev/itops-operator/internal/slo"
)

// TestWindowJSON: the window reads back as written, in both forms, and a value of neither
// form is kept (never an error: a stored object must stay readable) and refused by validation.
func TestWindowJSON(t *testing.T) {
	for _, tc := range []struct {
		name, in, wantOut, wantErr string
	}{
		{name: "rolling", in: `"720h"`, wantOut: `"720h0m0s"`},
		{name: "rolling in minutes", in: `"90m"`, wantOut: `"1h30m0s"`},
		{name: "calendar month", in: `{"calendar":{"period":"Month","timeZone":"Europe/Berlin"}}`,
			wantOut: `{"calendar":{"period":"Month","timeZone":"Europe/Berlin"}}`},
		{name: "calendar week in UTC", in: `{"calendar":{"period":"Week"}}`, wantOut: `{"calendar":{"period":"Week"}}`},
		{name: "too short", in: `"30m"`, wantOut: `"30m0s"`, wantErr: "spec.objectives.window: Invalid value: \"30m0s\": window must be between 1h and 8784h"},
		{name: "too long", in: `"8785h"`, wantOut: `"8785h0m0s"`, wantErr: "window must be between 1h and 8784h"},
		{name: "days", in: `"30d"`, wantOut: `"30d"`, wantErr: "spec.objectives.window: Invalid value: \"\\\"30d\\\"\": window must be a duration"},
		{name: "number", in: `720`, wantOut: `720`, wantErr: "window must be a duration between 1h and 8784h"},
		{name: "unknown key", in: `{"calendar":{"period":"Month"},"rolling":"1h"}`, wantOut: `{"calendar":{"period":"Month"},"rolling":"1h"}`,
			wantErr: "window must be a duration"},
		{name: "object without calendar", in: `{"period":"Month"}`, wantOut: `{"period":"Month"}`, wantErr: "window must be a duration"},
		{name: "year", in: `{"calendar":{"period":"Year"}}`, wantOut: `{"calendar":{"period":"Year"}}`,
			wantErr: "spec.objectives.window.calendar.period: Unsupported value: \"Year\": supported values: \"Month\", \"Week\""},
		{name: "unknown zone", in: `{"calendar":{"period":"Month","timeZone":"Mars/Olympus"}}`, wantOut: `{"calendar":{"period":"Month","timeZone":"Mars/Olympus"}}`,
			wantErr: "spec.objectives.window.calendar.timeZone: Invalid value: \"Mars/Olympus\": unknown time zone"},
		{name: "a huge invalid window is echoed truncated", in: `"` + strings.Repeat("x", 100000) + `"`, wantOut: `"` + strings.Repeat("x", 100000) + `"`,
			wantErr: "spec.objectives.window: Invalid value: \"\\\"" + strings.Repeat("x", 60) + "...\": window must be a duration"},
		{name: "a huge period is echoed truncated", in: `{"calendar":{"period":"` + strings.Repeat("y", 100000) + `"}}`,
			wantOut: `{"calendar":{"period":"` + strings.Repeat("y", 100000) + `"}}`,
			wantErr: "spec.objectives.window.calendar.period: Unsupported value: \"" + strings.Repeat("y", 61) + "...\": supported values"},
		{name: "timeZone over 64 bytes", in: `{"calendar":{"period":"Month","timeZone":"` + strings.Repeat("Z", 65) + `"}}`,
			wantOut: `{"calendar":{"period":"Month","timeZone":"` + strings.Repeat("Z", 65) + `"}}`,
			wantErr: "spec.objectives.window.calendar.timeZone: Too long: may not be more than 64 bytes"},
		{name: "Local", in: `{"calendar":{"period":"Week","timeZone":"Local"}}`, wantOut: `{"calendar":{"period":"Week","timeZone":"Local"}}`,
			wantErr: "Local depends on the operator's machine"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := &itopsv1alpha1.Objectives{}
			if err := json.Unmarshal([]byte(`{"availability":"99.9","window":`+tc.in+`}`), o); err != nil {
				t.Fatalf("decode: %v", err)
			}
			out, err := json.Marshal(o.Window)
			if err != nil || string(out) != tc.wantOut {
				t.Fatalf("encode: want %s, got %s (%v)", tc.wantOut, out, err)
			}
			errs := slo.ValidateObjectives(o, field.NewPath("spec", "objectives"))
			switch {
			case tc.wantErr == "" && len(errs) > 0:
				t.Fatalf("want valid, got %v", errs)
			case tc.wantErr != "" && (len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), tc.wantErr)):
				t.Fatalf("want %q, got %v", tc.wantErr, health.Truncate(errs.ToAggregate().Error(), 400))
			case len(errs) > 0 && len(errs.ToAggregate().Error()) > 1024:
				t.Fatalf("the error echoes %d bytes", len(errs.ToAggregate().Error()))
			}
		})
	}
}

func TestRollingWindowRoundTrip(t *testing.T) {
	w := itopsv1alpha1.RollingWindow(6 * time.Hour)
	out, _ := json.Marshal(w)
	var back itopsv1alpha1.SLOWindow
	if err := json.Unmarshal(out, &back); err != nil || back.Rolling == nil || back.Rolling.Duration != 6*time.Hour {
		t.Fatalf("round trip: %s -> %+v (%v)", out, back, err)
	}
}

func TestCurrentPeriod(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	month := &itopsv1alpha1.CalendarWindow{Period: itopsv1alpha1.CalendarMonth, TimeZone: "Europe/Berlin"}
	week := &itopsv1alpha1.CalendarWindow{Period: itopsv1alpha1.CalendarWeek}
	for _, tc := range []struct {
		name       string
		c          *itopsv1alpha1.CalendarWindow
		now        time.Time
		start, end time.Time
	}{
		{"month in Berlin, UTC still on the last day of the previous month", month, time.Date(2026, 10, 31, 23, 30, 0, 0, time.UTC),
			time.Date(2026, 11, 1, 0, 0, 0, 0, berlin), time.Date(2026, 12, 1, 0, 0, 0, 0, berlin)},
		{"month holding the DST end is 721h", month, time.Date(2026, 10, 15, 12, 0, 0, 0, time.UTC),
			time.Date(2026, 10, 1, 0, 0, 0, 0, berlin), time.Date(2026, 11, 1, 0, 0, 0, 0, berlin)},
		{"December to January", month, time.Date(2026, 12, 31, 23, 59, 0, 0, berlin),
			time.Date(2026, 12, 1, 0, 0, 0, 0, berlin), time.Date(2027, 1, 1, 0, 0, 0, 0, berlin)},
		{"week on a Sunday", week, time.Date(2026, 12, 6, 23, 59, 59, 0, time.UTC),
			time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)},
		{"week at Monday 00:00 exactly", week, time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC),
			time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 14, 0, 0, 0, 0, time.UTC)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, e, err := slo.CurrentPeriod(tc.c, tc.now)
			if err != nil || !s.Equal(tc.start) || !e.Equal(tc.end) {
				t.Fatalf("want [%s, %s), got [%s, %s) (%v)", tc.start, tc.end, s, e, err)
			}
		})
	}
	if d := time.Date(2026, 11, 1, 0, 0, 0, 0, berlin).Sub(time.Date(2026, 10, 1, 0, 0, 0, 0, berlin)); d != 745*time.Hour {
		t.Fatalf("October 2026 in Berlin: want 745h (31 days + the hour DST gives back), got %s", d)
	}
	prev, err := slo.PreviousPeriods(month, time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC), 13)
	if err != nil || len(prev) != 13 || !prev[12][1].Equal(time.Date(2026, 12, 1, 0, 0, 0, 0, berlin)) ||
		!prev[0][0].Equal(time.Date(2025, 11, 1, 0, 0, 0, 0, berlin)) {
		t.Fatalf("previous 13 months: %v (%v)", prev, err)
	}
}

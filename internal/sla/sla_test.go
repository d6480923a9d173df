package sla

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

var t0 = time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func TestEvaluate(t *testing.T) {
	target := &itopsv1alpha1.SLATarget{Priority: itopsv1alpha1.PriorityP2,
		RespondWithin: &metav1.Duration{Duration: 15 * time.Minute}, ResolveWithin: &metav1.Duration{Duration: 4 * time.Hour}}
	respondOnly := &itopsv1alpha1.SLATarget{Priority: itopsv1alpha1.PriorityP2, RespondWithin: &metav1.Duration{Duration: 15 * time.Minute}}
	tests := []struct {
		name                     string
		in                       Input
		now                      time.Time
		wantResponse, wantResolv State
		wantResponseDue          time.Time
		wantNext                 time.Time
		wantBreaches             int
	}{
		{"no target: no clock", Input{DetectedAt: t0}, at(time.Hour), None, None, time.Time{}, time.Time{}, 0},
		{"fresh incident: both pending, requeue at the response deadline", Input{Target: target, DetectedAt: t0}, at(time.Minute),
			Pending, Pending, at(15 * time.Minute), at(15 * time.Minute), 0},
		{"exactly at the deadline: breached", Input{Target: target, DetectedAt: t0}, at(15 * time.Minute),
			Breached, Pending, at(15 * time.Minute), at(4 * time.Hour), 1},
		{"acknowledged in time", Input{Target: target, DetectedAt: t0, AcknowledgedAt: at(10 * time.Minute)}, at(time.Hour),
			Met, Pending, at(15 * time.Minute), at(4 * time.Hour), 0},
		{"acknowledged late stays breached", Input{Target: target, DetectedAt: t0, AcknowledgedAt: at(20 * time.Minute)}, at(time.Hour),
			Breached, Pending, at(15 * time.Minute), at(4 * time.Hour), 1},
		{"resolved before anyone acknowledged answers it", Input{Target: target, DetectedAt: t0, ResolvedAt: at(5 * time.Minute)}, at(time.Hour),
			Met, Met, at(15 * time.Minute), time.Time{}, 0},
		{"both deadlines missed", Input{Target: target, DetectedAt: t0}, at(5 * time.Hour),
			Breached, Breached, at(15 * time.Minute), time.Time{}, 2},
		{"suppressed: no clock runs", Input{Target: target, DetectedAt: t0, Suppressed: true}, at(5 * time.Hour),
			None, None, time.Time{}, time.Time{}, 0},
		{"the clock starts when the suppression ends", Input{Target: target, DetectedAt: t0, UnsuppressedAt: at(2 * time.Hour)}, at(2*time.Hour + 10*time.Minute),
			Pending, Pending, at(2*time.Hour + 15*time.Minute), at(2*time.Hour + 15*time.Minute), 0},
		{"a response target alone", Input{Target: respondOnly, DetectedAt: t0}, at(time.Minute),
			Pending, None, at(15 * time.Minute), at(15 * time.Minute), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Evaluate(tt.in, tt.now)
			if r.Response != tt.wantResponse || r.Resolution != tt.wantResolv {
				t.Errorf("states = %q/%q, want %q/%q", r.Response, r.Resolution, tt.wantResponse, tt.wantResolv)
			}
			if !r.ResponseDue.Equal(tt.wantResponseDue) || !r.Next.Equal(tt.wantNext) {
				t.Errorf("responseDue %s next %s, want %s %s", r.ResponseDue, r.Next, tt.wantResponseDue, tt.wantNext)
			}
			if r.Breaches() != tt.wantBreaches {
				t.Errorf("breaches = %d, want %d", r.Breaches(), tt.wantBreaches)
			}
		})
	}
}

func TestTargetFor(t *testing.T) {
	targets := []itopsv1alpha1.SLATarget{{Priority: itopsv1alpha1.PriorityP1}, {Priority: itopsv1alpha1.PriorityP2}}
	if got := TargetFor(targets, itopsv1alpha1.PriorityP2); got == nil || got.Priority != itopsv1alpha1.PriorityP2 {
		t.Errorf("TargetFor(P2) = %+v", got)
	}
	if got := TargetFor(targets, itopsv1alpha1.PriorityP4); got != nil {
		t.Errorf("TargetFor(P4) = %+v, want nil", got)
	}
}

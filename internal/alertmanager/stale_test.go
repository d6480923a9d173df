package alertmanager

import (
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

func TestSignalOfEndsAt(t *testing.T) {
	p := policy(t, "")
	now := time.Date(2026, 12, 1, 4, 0, 0, 0, time.UTC)
	base := Alert{Status: StatusFiring, Fingerprint: "abc", StartsAt: now.Add(-time.Hour), Labels: map[string]string{"alertname": "X"}}
	tests := []struct {
		name       string
		endsAt     time.Time
		status     string
		wantFiring bool
		wantEndsAt time.Time
	}{
		{"firing, no endsAt (Alertmanager leaves it out)", time.Time{}, StatusFiring, true, time.Time{}},
		{"firing, endsAt ahead: kept, until then", now.Add(5 * time.Minute), StatusFiring, true, now.Add(5 * time.Minute)},
		{"firing, endsAt passed: resolved", now.Add(-time.Second), StatusFiring, false, time.Time{}},
		{"firing, endsAt now: resolved", now, StatusFiring, false, time.Time{}},
		{"resolved", now.Add(-time.Minute), StatusResolved, false, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := base
			a.Status, a.EndsAt = tt.status, tt.endsAt
			s, _ := SignalOf(a, p, now)
			if s.Firing != tt.wantFiring || !s.EndsAt.Equal(tt.wantEndsAt) {
				t.Errorf("firing %v endsAt %v, want %v %v", s.Firing, s.EndsAt, tt.wantFiring, tt.wantEndsAt)
			}
		})
	}
}

func TestAlertExpiry(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 4, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *metav1.Time { return &metav1.Time{Time: t0.Add(d)} }
	tests := []struct {
		name       string
		alert      itopsv1alpha1.SignalAlert
		signalSeen time.Time
		staleAfter time.Duration
		want       time.Time
	}{
		{"last seen + staleAfter", itopsv1alpha1.SignalAlert{LastSeenAt: at(0)}, t0.Add(time.Hour), 3 * time.Hour, t0.Add(3 * time.Hour)},
		{"legacy record: the signal's lastSeenAt", itopsv1alpha1.SignalAlert{}, t0.Add(time.Hour), 3 * time.Hour, t0.Add(4 * time.Hour)},
		{"endsAt earlier wins", itopsv1alpha1.SignalAlert{LastSeenAt: at(0), EndsAt: at(time.Hour)}, t0, 3 * time.Hour, t0.Add(time.Hour)},
		{"staleAfter earlier wins", itopsv1alpha1.SignalAlert{LastSeenAt: at(0), EndsAt: at(5 * time.Hour)}, t0, 3 * time.Hour, t0.Add(3 * time.Hour)},
		{"staleAfter 0: only endsAt", itopsv1alpha1.SignalAlert{LastSeenAt: at(0), EndsAt: at(5 * time.Hour)}, t0, 0, t0.Add(5 * time.Hour)},
		{"staleAfter 0, no endsAt: never", itopsv1alpha1.SignalAlert{LastSeenAt: at(0)}, t0, 0, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := AlertExpiry(tt.alert, tt.signalSeen, tt.staleAfter); !got.Equal(tt.want) {
				t.Errorf("AlertExpiry = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestStaleLifecycle is the review's example: an alert fires, Alertmanager re-sends it every
// repeat_interval (1h here), then the resolution is lost (Alertmanager restarted without its
// storage). The signal clears staleAfter after the last re-send, without a notification.
func TestStaleLifecycle(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 4, 0, 0, 0, time.UTC)
	stale := 3 * time.Hour
	fire := func(fp string, since time.Time) Signal { return sig("HighLatency", fp, true, "P3", "slow", since) }
	signals := Merge(nil, []Signal{fire("a", t0), fire("b", t0)}, t0).Signals
	// b is re-sent with a, every hour, until 2h; then only a (b's resolution is lost).
	for h := 1; h <= 2; h++ {
		signals = Merge(signals, []Signal{fire("a", t0), fire("b", t0)}, t0.Add(time.Duration(h)*time.Hour)).Signals
	}
	for h := 3; h <= 6; h++ {
		signals = Merge(signals, []Signal{fire("a", t0)}, t0.Add(time.Duration(h)*time.Hour)).Signals
	}
	check := func(at time.Time, wantResolved string, wantNext time.Time) []Signal {
		t.Helper()
		resolved, next := Stale(signals, at, stale)
		got := make([]string, 0, len(resolved))
		for _, r := range resolved {
			if r.Firing || r.Reason != "HighLatency" {
				t.Errorf("resolved %+v", r)
			}
			got = append(got, r.Fingerprint)
		}
		if strings.Join(got, ",") != wantResolved || !next.Equal(wantNext) {
			t.Errorf("at %v: Stale = %v next %v, want %q next %v", at, got, next, wantResolved, wantNext)
		}
		return resolved
	}
	// b was last sent at 2h: stale at 5h. a was last sent at 6h: stale at 9h.
	check(t0.Add(5*time.Hour-time.Second), "", t0.Add(5*time.Hour))
	if got := NextExpiry(signals, stale); !got.Equal(t0.Add(5 * time.Hour)) {
		t.Errorf("NextExpiry = %v", got)
	}
	resolved := check(t0.Add(6*time.Hour), "b", t0.Add(9*time.Hour))
	res := Merge(signals, resolved, t0.Add(6*time.Hour))
	if !res.Changed || len(res.Cleared) != 0 || len(res.Signals[0].Alerts) != 1 || res.Signals[0].Alerts[0].Fingerprint != "a" {
		t.Fatalf("after b expired: %+v", res)
	}
	signals = res.Signals
	resolved = check(t0.Add(9*time.Hour), "a", time.Time{})
	res = Merge(signals, resolved, t0.Add(9*time.Hour))
	if fmt.Sprint(res.Cleared) != "[HighLatency]" || res.Signals[0].Active {
		t.Fatalf("after a expired: %+v", res)
	}
	// Cleared: nothing left to expire, and a re-sent alert makes it active again (count 2).
	signals = res.Signals
	check(t0.Add(20*time.Hour), "", time.Time{})
	res = Merge(signals, []Signal{fire("a", t0)}, t0.Add(20*time.Hour))
	if !res.Signals[0].Active || res.Signals[0].Count != 2 {
		t.Errorf("re-fired: %+v", res.Signals[0])
	}
}

func TestStaleEndsAtAndOtherSources(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 4, 0, 0, 0, time.UTC)
	withEnd := sig("Quota", "q", true, "P2", "m", t0)
	withEnd.EndsAt = t0.Add(10 * time.Minute)
	signals := Merge(nil, []Signal{withEnd}, t0).Signals
	signals = append(signals, itopsv1alpha1.Signal{Reason: "CrashLoopBackOff", Active: true, LastSeenAt: metav1.NewTime(t0.Add(-100 * time.Hour))})
	if r, next := Stale(signals, t0.Add(9*time.Minute), 25*time.Hour); len(r) != 0 || !next.Equal(t0.Add(10*time.Minute)) {
		t.Errorf("before endsAt: %v %v", r, next)
	}
	if r, _ := Stale(signals, t0.Add(10*time.Minute), 25*time.Hour); len(r) != 1 || r[0].Fingerprint != "q" {
		t.Errorf("at endsAt: %v (the detector's signal is never expired here)", r)
	}
}

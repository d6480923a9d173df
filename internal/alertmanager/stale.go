package alertmanager

import (
	"sort"
	"time"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// AlertExpiry is when a recorded firing alert is treated as resolved without Alertmanager
// saying so: its endsAt when it carries one, else (or if earlier) staleAfter after it was last
// sent. This is Alertmanager's own rule (an alert whose endsAt has passed is resolved; one
// its source stops sending resolves after resolve_timeout), applied to what reaches the
// operator: Alertmanager re-sends a firing alert every repeat_interval, so an alert not sent
// again within staleAfter (chosen above that interval) lost its resolution on the way.
//
// lastSeen is the alert's lastSeenAt, or signalLastSeen for records written before alerts
// carried one. The zero time means never (staleAfter 0 and no endsAt).
func AlertExpiry(a itopsv1alpha1.SignalAlert, signalLastSeen time.Time, staleAfter time.Duration) time.Time {
	var expiry time.Time
	if staleAfter > 0 {
		lastSeen := signalLastSeen
		if a.LastSeenAt != nil {
			lastSeen = a.LastSeenAt.Time
		}
		if !lastSeen.IsZero() {
			expiry = lastSeen.Add(staleAfter)
		}
	}
	if a.EndsAt != nil && !a.EndsAt.IsZero() && (expiry.IsZero() || a.EndsAt.Time.Before(expiry)) {
		expiry = a.EndsAt.Time
	}
	return expiry
}

// Stale finds the alerts of an incident's active Alertmanager signals that have expired at
// now (AlertExpiry not after now) and returns them as resolved alerts, ready for Merge (which
// removes them and clears a signal left without alerts), sorted by reason and fingerprint.
// next is the earliest expiry still ahead (zero: none), when the caller looks again.
func Stale(signals []itopsv1alpha1.Signal, now time.Time, staleAfter time.Duration) (resolved []Signal, next time.Time) {
	for _, s := range signals {
		if !s.Active || s.Source != itopsv1alpha1.SourceAlertmanager {
			continue
		}
		for _, a := range s.Alerts {
			exp := AlertExpiry(a, s.LastSeenAt.Time, staleAfter)
			switch {
			case exp.IsZero():
			case !exp.After(now):
				resolved = append(resolved, Signal{Reason: s.Reason, Fingerprint: a.Fingerprint, Priority: a.Priority})
			case next.IsZero() || exp.Before(next):
				next = exp
			}
		}
	}
	sort.Slice(resolved, func(i, j int) bool {
		if resolved[i].Reason != resolved[j].Reason {
			return resolved[i].Reason < resolved[j].Reason
		}
		return resolved[i].Fingerprint < resolved[j].Fingerprint
	})
	return resolved, next
}

// NextExpiry is the earliest AlertExpiry among the active Alertmanager signals' alerts,
// expired or not (zero: none): what a watch of incidents filters and requeues on.
func NextExpiry(signals []itopsv1alpha1.Signal, staleAfter time.Duration) time.Time {
	var next time.Time
	for _, s := range signals {
		if !s.Active || s.Source != itopsv1alpha1.SourceAlertmanager {
			continue
		}
		for _, a := range s.Alerts {
			if exp := AlertExpiry(a, s.LastSeenAt.Time, staleAfter); !exp.IsZero() && (next.IsZero() || exp.Before(next)) {
				next = exp
			}
		}
	}
	return next
}

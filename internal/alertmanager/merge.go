package alertmanager

import (
	"sort"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/health"
	"github.com/itops-dev/itops-operator/internal/priority"
)

// Merge applies one notification's alerts about one subject to an incident's signals: one
// signal per reason (alertname), source Alertmanager, keyed within it by alert fingerprint.
//
//   - A firing alert adds its fingerprint to its signal's alerts (a re-sent one changes
//     nothing but, at most once a minute, its and the signal's lastSeenAt, and its endsAt);
//     a signal that was not active becomes active (count one more, since the alert's start).
//   - A resolved alert removes its fingerprint; the signal clears (active false, kept for the
//     record) when no alert is left.
//   - The signal's priority is the highest of its alerts'; message and links are the latest
//     firing alert's.
//
// Signals of other sources are left as they are. A signal keeps at most MaxSignalAlerts
// alerts (the most urgent, then by fingerprint); the list of signals stays bounded as
// health.MergeSignals keeps it.
func Merge(current []itopsv1alpha1.Signal, alerts []Signal, now time.Time) health.MergeResult {
	out := health.MergeResult{Signals: make([]itopsv1alpha1.Signal, 0, len(current)+len(alerts))}
	t := metav1.NewTime(now)
	byReason := map[string][]Signal{}
	var order []string
	for _, a := range alerts {
		if _, ok := byReason[a.Reason]; !ok {
			order = append(order, a.Reason)
		}
		byReason[a.Reason] = append(byReason[a.Reason], a)
	}
	seen := map[string]bool{}
	for _, s := range current {
		seen[s.Reason] = true
		as, ok := byReason[s.Reason]
		if !ok {
			out.Signals = append(out.Signals, s)
			continue
		}
		next, started, cleared, changed := apply(s, as, now, t)
		out.Signals = append(out.Signals, next)
		if started {
			out.Started = append(out.Started, s.Reason)
		}
		if cleared {
			out.Cleared = append(out.Cleared, s.Reason)
		}
		out.Changed = out.Changed || changed
	}
	for _, r := range order {
		if seen[r] {
			continue
		}
		as := byReason[r]
		anyFiring := false
		for _, a := range as {
			anyFiring = anyFiring || a.Firing
		}
		if !anyFiring {
			continue // resolved before we saw it fire: nothing to record
		}
		next, _, _, _ := apply(itopsv1alpha1.Signal{Reason: r, Source: itopsv1alpha1.SourceAlertmanager}, as, now, t)
		out.Signals = append(out.Signals, next)
		out.Started = append(out.Started, r)
		out.Changed = true
	}
	for len(out.Signals) > itopsv1alpha1.MaxSignals {
		drop := 0
		for i, s := range out.Signals {
			if !s.Active {
				drop = i
				break
			}
		}
		out.Signals = append(out.Signals[:drop], out.Signals[drop+1:]...)
	}
	return out
}

// apply merges one reason's alerts into its signal.
func apply(s itopsv1alpha1.Signal, alerts []Signal, now time.Time, t metav1.Time) (next itopsv1alpha1.Signal, started, cleared, changed bool) {
	next = *s.DeepCopy()
	next.Source = itopsv1alpha1.SourceAlertmanager
	byFP := map[string]itopsv1alpha1.SignalAlert{}
	for _, a := range s.Alerts {
		byFP[a.Fingerprint] = a
	}
	var latest *Signal
	earliest := time.Time{}
	for i := range alerts {
		a := &alerts[i]
		if !a.Firing {
			delete(byFP, a.Fingerprint)
			continue
		}
		rec := itopsv1alpha1.SignalAlert{Fingerprint: a.Fingerprint, Priority: a.Priority, LastSeenAt: &t}
		if prev, ok := byFP[a.Fingerprint]; ok && prev.LastSeenAt != nil && now.Sub(prev.LastSeenAt.Time) < health.SignalRefresh {
			rec.LastSeenAt = prev.LastSeenAt
		}
		if !a.EndsAt.IsZero() {
			rec.EndsAt = &metav1.Time{Time: a.EndsAt}
		}
		byFP[a.Fingerprint] = rec
		if latest == nil || a.Since.After(latest.Since) || (a.Since.Equal(latest.Since) && a.Fingerprint < latest.Fingerprint) {
			latest = a
		}
		if earliest.IsZero() || a.Since.Before(earliest) {
			earliest = a.Since
		}
	}
	next.Alerts = boundAlerts(byFP)
	if len(next.Alerts) == 0 {
		next.Alerts = nil
		if s.Active {
			next.Active = false
			cleared, changed = true, true
		}
		if len(s.Alerts) > 0 {
			changed = true
		}
		return next, started, cleared, changed
	}
	return finish(s, next, latest, earliest, now, t)
}

// finish sets an active signal's priority, start and links from its alerts.
func finish(s, next itopsv1alpha1.Signal, latest *Signal, earliest, now time.Time, t metav1.Time) (_ itopsv1alpha1.Signal, started, cleared, changed bool) {
	prios := make([]itopsv1alpha1.Priority, 0, len(next.Alerts))
	for _, a := range next.Alerts {
		prios = append(prios, a.Priority)
	}
	next.Priority = highest(prios)
	if !s.Active {
		next.Active = true
		next.Count = s.Count + 1
		next.Since = metav1.NewTime(earliest)
		if earliest.IsZero() {
			next.Since = t
		}
		started = true
	}
	if latest != nil {
		next.Message = latest.Message
		next.GeneratorURL = latest.GeneratorURL
		next.RunbookURL = latest.RunbookURL
	}
	contentChanged := started || next.Priority != s.Priority || next.Message != s.Message ||
		next.GeneratorURL != s.GeneratorURL || next.RunbookURL != s.RunbookURL || !sameAlerts(next.Alerts, s.Alerts)
	if contentChanged || now.Sub(s.LastSeenAt.Time) >= health.SignalRefresh {
		next.LastSeenAt = t
		changed = true
	}
	return next, started, cleared, changed
}

// boundAlerts is the alert list: sorted by fingerprint, at most MaxSignalAlerts (the most
// urgent kept).
func boundAlerts(byFP map[string]itopsv1alpha1.SignalAlert) []itopsv1alpha1.SignalAlert {
	out := make([]itopsv1alpha1.SignalAlert, 0, len(byFP))
	for _, a := range byFP {
		out = append(out, a)
	}
	if len(out) > itopsv1alpha1.MaxSignalAlerts {
		sort.Slice(out, func(i, j int) bool {
			if ri, rj := priority.Rank(out[i].Priority), priority.Rank(out[j].Priority); ri != rj {
				return ri < rj
			}
			return out[i].Fingerprint < out[j].Fingerprint
		})
		out = out[:itopsv1alpha1.MaxSignalAlerts]
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Fingerprint < out[j].Fingerprint })
	return out
}

func sameAlerts(a, b []itopsv1alpha1.SignalAlert) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Fingerprint != b[i].Fingerprint || a[i].Priority != b[i].Priority ||
			!sameTime(a[i].LastSeenAt, b[i].LastSeenAt) || !sameTime(a[i].EndsAt, b[i].EndsAt) {
			return false
		}
	}
	return true
}

// sameTime compares optional API times at the API's precision (seconds).
func sameTime(a, b *metav1.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Unix() == b.Unix()
}

func highest(ps []itopsv1alpha1.Priority) itopsv1alpha1.Priority {
	var best itopsv1alpha1.Priority
	for _, p := range ps {
		if best == "" || (p != "" && priority.Rank(p) < priority.Rank(best)) {
			best = p
		}
	}
	return best
}

package custom

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/health"
)

// Judgement is a detector's decision on one object at one moment.
type Judgement struct {
	// Firing: unhealthy for at least the grace period; the signal is active.
	Firing bool
	// Pending: unhealthy, still within the grace period.
	Pending bool
	// Since is when the problem started (the since expression, else first seen).
	Since time.Time
	// RequeueAfter is when to judge again without a change of the object: the end of the
	// grace period while Pending, 0 otherwise.
	RequeueAfter time.Duration
}

// Judge applies the grace period. firstSeen is when the operator first saw the object
// unhealthy in this occurrence (zero: now); a since the expression gives wins when it is not
// in the future. A problem lasting grace or longer fires; a shorter one is pending with an
// exact requeue at the end of the grace period.
func Judge(v Verdict, firstSeen time.Time, grace time.Duration, now time.Time) Judgement {
	if !v.Unhealthy {
		return Judgement{}
	}
	since := firstSeen
	if since.IsZero() || since.After(now) {
		since = now
	}
	if !v.Since.IsZero() && !v.Since.After(now) {
		since = v.Since
	}
	if end := since.Add(grace); end.After(now) {
		return Judgement{Pending: true, Since: since, RequeueAfter: end.Sub(now)}
	}
	return Judgement{Firing: true, Since: since}
}

// Problem is what a firing detector records on its subject's incident.
type Problem struct {
	// Reason is the detector's own reason (the signal's reason).
	Reason string
	// Message says what is wrong.
	Message string
	// Since is when it started.
	Since time.Time
	// Priority is the detector's impact and urgency through the priority matrix.
	Priority itopsv1alpha1.Priority
	// Sustain: the object is unhealthy but within its grace period (as the operator knows it,
	// after a restart say): an active signal stays active, none starts.
	Sustain bool
}

// MergeSignal applies one detector's judgement (problem nil: healthy) of reason to an
// incident's signals, as health.MergeSignals does for the built-in detectors but with the
// detector's own priority: a firing problem starts or refreshes the signal of its reason
// (lastSeenAt at most once per health.SignalRefresh), a healthy one clears it (kept with
// active=false), a sustained one (Problem.Sustain) keeps an active signal but starts none.
// Other reasons' signals are left as they are. The list stays bounded by
// itopsv1alpha1.MaxSignals, dropping the oldest inactive signal first.
func MergeSignal(current []itopsv1alpha1.Signal, reason string, problem *Problem, now time.Time) health.MergeResult {
	out := health.MergeResult{Signals: make([]itopsv1alpha1.Signal, 0, len(current)+1)}
	t := metav1.NewTime(now)
	found := false
	for _, s := range current {
		if s.Reason != reason {
			out.Signals = append(out.Signals, s)
			continue
		}
		found = true
		switch {
		case problem != nil && (s.Active || !problem.Sustain):
			next := s
			if !s.Active {
				next.Active, next.Count, next.Since = true, s.Count+1, metav1.NewTime(sinceOf(problem, now))
				out.Started = append(out.Started, reason)
			}
			msg := health.Truncate(problem.Message, 1024)
			if !s.Active || msg != s.Message || problem.Priority != s.Priority || now.Sub(s.LastSeenAt.Time) >= health.SignalRefresh {
				next.LastSeenAt, next.Message, next.Priority = t, msg, problem.Priority
				out.Changed = true
			}
			out.Signals = append(out.Signals, next)
		case s.Active:
			s.Active = false
			out.Cleared = append(out.Cleared, reason)
			out.Changed = true
			out.Signals = append(out.Signals, s)
		default:
			out.Signals = append(out.Signals, s)
		}
	}
	if !found && problem != nil && !problem.Sustain {
		out.Signals = append(out.Signals, itopsv1alpha1.Signal{
			Reason: reason, Since: metav1.NewTime(sinceOf(problem, now)), LastSeenAt: t, Count: 1,
			Message: health.Truncate(problem.Message, 1024), Active: true, Priority: problem.Priority,
			Source: itopsv1alpha1.SourceHealthCheck,
		})
		out.Started = append(out.Started, reason)
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

func sinceOf(p *Problem, now time.Time) time.Time {
	if !p.Since.IsZero() && p.Since.Before(now) {
		return p.Since.Truncate(time.Second)
	}
	return now
}

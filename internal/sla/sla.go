// Package sla computes an incident's SLA deadlines and their state from its service's targets:
// the response deadline (acknowledgement) and the resolution deadline, counted from detection,
// or from the end of a maintenance window's suppression (suppressed incidents start no clock).
// It is pure.
package sla

import (
	"time"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// State is where one deadline stands.
type State string

// Deadline states.
const (
	// None: no target, or no clock running (the incident is suppressed).
	None State = ""
	// Pending: the deadline lies ahead and has not been met yet.
	Pending State = "Pending"
	// Met: acknowledged (resolved) by the deadline.
	Met State = "Met"
	// Breached: the deadline passed first.
	Breached State = "Breached"
)

// Input is what the deadlines are computed from.
type Input struct {
	// Target is the service's target for the incident's priority; nil when none applies.
	Target *itopsv1alpha1.SLATarget
	// DetectedAt is when the incident was detected.
	DetectedAt time.Time
	// Suppressed: a maintenance window suppresses the incident now.
	Suppressed bool
	// UnsuppressedAt is when a suppression ended; zero if the incident was never suppressed.
	UnsuppressedAt time.Time
	// AcknowledgedAt and ResolvedAt are zero while not done.
	AcknowledgedAt, ResolvedAt time.Time
}

// Result are the deadlines and their states.
type Result struct {
	// ClockStart is when the SLA clock started (zero: not running).
	ClockStart                 time.Time
	ResponseDue, ResolutionDue time.Time
	Response, Resolution       State
	// Next is the next deadline at which a state changes by itself (zero: none).
	Next time.Time
}

// Breaches counts breached deadlines: each raises the incident's priority by one level.
func (r Result) Breaches() int {
	n := 0
	for _, s := range []State{r.Response, r.Resolution} {
		if s == Breached {
			n++
		}
	}
	return n
}

// Evaluate computes the deadlines at now.
func Evaluate(in Input, now time.Time) Result {
	r := Result{}
	if in.Target == nil || in.Suppressed || in.DetectedAt.IsZero() {
		return r
	}
	r.ClockStart = in.DetectedAt
	if !in.UnsuppressedAt.IsZero() && in.UnsuppressedAt.After(in.DetectedAt) {
		r.ClockStart = in.UnsuppressedAt
	}
	next := func(t time.Time) {
		if r.Next.IsZero() || t.Before(r.Next) {
			r.Next = t
		}
	}
	// Resolving an incident also answers it.
	responded := in.AcknowledgedAt
	if responded.IsZero() || (!in.ResolvedAt.IsZero() && in.ResolvedAt.Before(responded)) {
		responded = in.ResolvedAt
	}
	if w := in.Target.RespondWithin; w != nil {
		r.ResponseDue = r.ClockStart.Add(w.Duration)
		r.Response = judge(r.ResponseDue, responded, now, next)
	}
	if w := in.Target.ResolveWithin; w != nil {
		r.ResolutionDue = r.ClockStart.Add(w.Duration)
		r.Resolution = judge(r.ResolutionDue, in.ResolvedAt, now, next)
	}
	return r
}

func judge(due, done, now time.Time, next func(time.Time)) State {
	switch {
	case !done.IsZero() && !done.After(due):
		return Met
	case !done.IsZero(), !now.Before(due):
		return Breached
	}
	next(due)
	return Pending
}

// TargetFor returns the target for priority p from a ServiceLevel's SLA, or nil.
func TargetFor(targets []itopsv1alpha1.SLATarget, p itopsv1alpha1.Priority) *itopsv1alpha1.SLATarget {
	for i := range targets {
		if targets[i].Priority == p {
			return &targets[i]
		}
	}
	return nil
}

package slo

import (
	"fmt"
	"math/big"
	"regexp"
	"strings"
	"time"
)

// Objective is an availability objective over a rolling window.
type Objective struct {
	// Target is the objective as a fraction, for example 999/1000.
	Target *big.Rat
	// Window is the rolling window. For a calendar window (Calendar), the figures are the
	// current period's (ComputePeriod) and Window the period's length once known.
	Window time.Duration
	// Calendar: the objective is measured over calendar periods.
	Calendar bool
}

var percent = regexp.MustCompile(`^[0-9]{1,2}(\.[0-9]{1,8})?$`)

// ParseObjective parses an availability percent string in (0, 100), such as "99.9".
func ParseObjective(availability string, window time.Duration) (Objective, error) {
	if !percent.MatchString(availability) {
		return Objective{}, fmt.Errorf("availability %q is not a percent string in (0, 100) such as \"99.9\"", availability)
	}
	r, ok := new(big.Rat).SetString(availability)
	if !ok || r.Sign() <= 0 {
		return Objective{}, fmt.Errorf("availability %q must be greater than 0", availability)
	}
	if window <= 0 {
		return Objective{}, fmt.Errorf("window %s must be positive", window)
	}
	return Objective{Target: r.Quo(r, big.NewRat(100, 1)), Window: window}, nil
}

// Alert is a multi-window burn-rate alert.
type Alert struct {
	Long, Short time.Duration
	Factor      *big.Rat
}

// ParseFactor parses a burn-rate factor such as "14.4".
func ParseFactor(s string) (*big.Rat, error) {
	r, ok := new(big.Rat).SetString(s)
	if !ok || r.Sign() <= 0 || strings.ContainsAny(s, "/eE") {
		return nil, fmt.Errorf("factor %q is not a positive decimal such as \"14.4\"", s)
	}
	return r, nil
}

// Burn is an alert's evaluation.
type Burn struct {
	Alert
	// LongRate and ShortRate are the burn rates over the two windows: the share of the error
	// budget's allowed rate being spent (1 spends the budget exactly over the objective window).
	LongRate, ShortRate *big.Rat
	// Firing: both rates exceed the factor, and the books cover the short window.
	Firing bool
}

// Report is a service's figures at an instant.
type Report struct {
	// Observed is the time within the objective window that counts: tracked, observed, and not
	// planned.
	Observed time.Duration
	// Downtime is the unplanned downtime within the window; Planned the downtime covered by
	// Maintenance windows; Unobserved the time whose state is not known.
	Downtime, Planned, Unobserved time.Duration
	// Availability is 1 - Downtime/Observed; nil when nothing was observed yet.
	Availability *big.Rat
	// BudgetRemaining is 1 - Downtime/allowed, where allowed = (1 - target) x (window - planned
	// time in it); negative when overspent.
	BudgetRemaining *big.Rat
	// Burns are the alerts' evaluations, in the order given.
	Burns []Burn
	// BurnRate is the burn rate over the shortest alert window (zero without alerts).
	BurnRate *big.Rat
}

// Firing reports whether any burn-rate alert fires.
func (r Report) Firing() bool {
	for _, b := range r.Burns {
		if b.Firing {
			return true
		}
	}
	return false
}

// BudgetExhausted reports whether no error budget is left.
func (r Report) BudgetExhausted() bool { return r.BudgetRemaining.Sign() <= 0 }

// ObjectiveMet reports whether availability meets the target (true while nothing is observed).
func (r Report) ObjectiveMet(o Objective) bool {
	return r.Availability == nil || r.Availability.Cmp(o.Target) >= 0
}

// Compute reports the books at now. The exact books count from FoldedUntil on; daily totals
// before it count for the days overlapping the objective window, whole: a day straddling the
// window's start counts in full, and so does its time (the window is up to one day longer at its
// old end, never shorter), so old downtime is never dropped before its day has left the window.
func Compute(o Objective, alerts []Alert, b Books, now time.Time) Report {
	from := now.Add(-o.Window)
	r := Report{}
	w := span(b, maxTime(from, b.FoldedUntil), now)
	r.Downtime, r.Planned, r.Unobserved = w.down, w.planned, w.unobserved
	start := from
	if from.Before(b.FoldedUntil) {
		start = b.dayStart(from)
		for _, d := range b.Days {
			if b.dayEnd(d.Date).After(from) && d.Date.Before(b.FoldedUntil) {
				r.Downtime += d.Downtime
				r.Planned += d.Planned
				r.Unobserved += d.Unobserved
			}
		}
	}
	var tracked time.Duration
	if !b.Since.IsZero() && now.After(b.Since) {
		tracked = now.Sub(maxTime(start, b.Since))
	}
	r.Observed = max(tracked-r.Planned-r.Unobserved, 0)
	if r.Observed > 0 {
		r.Availability = ratio(r.Observed-min(r.Downtime, r.Observed), r.Observed)
	}
	budget := new(big.Rat).Sub(big.NewRat(1, 1), o.Target)
	allowed := new(big.Rat).Mul(budget, durationRat(max(o.Window-r.Planned, 0)))
	r.BudgetRemaining = big.NewRat(1, 1)
	if allowed.Sign() > 0 {
		r.BudgetRemaining.Sub(r.BudgetRemaining, new(big.Rat).Quo(durationRat(r.Downtime), allowed))
	} else if r.Downtime > 0 {
		r.BudgetRemaining.SetInt64(0)
	}
	r.BurnRate = new(big.Rat)
	var shortest time.Duration
	for _, a := range alerts {
		bn := Burn{Alert: a, LongRate: burnRate(b, budget, now.Add(-a.Long), now), ShortRate: burnRate(b, budget, now.Add(-a.Short), now)}
		// An alert fires once the books cover its short window: a service seen down a moment
		// after its ServiceLevel was created has no measurable burn yet (its workloads' own
		// incidents report it meanwhile).
		covered := !b.Since.IsZero() && now.Sub(b.Since) >= a.Short
		bn.Firing = covered && bn.LongRate.Cmp(a.Factor) > 0 && bn.ShortRate.Cmp(a.Factor) > 0
		r.Burns = append(r.Burns, bn)
		if shortest == 0 || a.Short < shortest {
			shortest, r.BurnRate = a.Short, bn.ShortRate
		}
	}
	return r
}

// burnRate is (unplanned downtime / observed time) / (1 - target) over [from, to), from the
// exact books (the exact horizon covers the longest alert window).
func burnRate(b Books, budget *big.Rat, from, to time.Time) *big.Rat {
	from = maxTime(from, b.FoldedUntil)
	w := span(b, from, to)
	if b.Since.IsZero() || budget.Sign() <= 0 {
		return new(big.Rat)
	}
	observed := to.Sub(maxTime(from, b.Since)) - w.planned - w.unobserved
	if observed <= 0 {
		return new(big.Rat)
	}
	rate := ratio(w.down, observed)
	return rate.Quo(rate, budget)
}

type totals struct{ down, planned, unobserved time.Duration }

// span totals the exact books within [from, to): unplanned outage time, planned time (down or
// not), and unobserved time.
func span(b Books, from, to time.Time) totals {
	var t totals
	if !to.After(from) {
		return t
	}
	for _, o := range b.Outages {
		if o.End.IsZero() {
			o.End = to
		}
		if c, ok := clip(o, from, to); ok {
			t.down += c.End.Sub(c.Start) - overlap(c, b.Planned)
		}
	}
	for _, p := range b.Planned {
		if c, ok := clip(p, maxTime(from, b.Since), to); ok {
			t.planned += c.End.Sub(c.Start)
		}
	}
	for _, u := range b.Unobserved {
		if c, ok := clip(u, from, to); ok {
			t.unobserved += c.End.Sub(c.Start)
		}
	}
	return t
}

func clip(iv Interval, from, to time.Time) (Interval, bool) {
	iv.Start, iv.End = maxTime(iv.Start, from), minTime(iv.End, to)
	return iv, iv.End.After(iv.Start)
}

func ratio(a, b time.Duration) *big.Rat { return big.NewRat(int64(a), int64(b)) }

func durationRat(d time.Duration) *big.Rat { return big.NewRat(int64(d), 1) }

// Percent formats a fraction as a percent string with up to `decimals` decimals, trailing zeros
// trimmed ("99.95", "100", "-12.5"), rounding toward the worse figure (down) so a report never
// looks better than the books.
func Percent(r *big.Rat, decimals int) string {
	if r == nil {
		return ""
	}
	return Decimal(new(big.Rat).Mul(r, big.NewRat(100, 1)), decimals)
}

// Decimal formats a rational with up to `decimals` decimals, truncated toward minus infinity,
// trailing zeros trimmed.
func Decimal(r *big.Rat, decimals int) string {
	scale := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(decimals)), nil)
	n := new(big.Int).Mul(r.Num(), scale)
	q := new(big.Int)
	m := new(big.Int)
	q.DivMod(n, r.Denom(), m) // Euclidean: floor for a positive denominator
	neg := q.Sign() < 0
	q.Abs(q)
	s := q.String()
	if len(s) <= decimals {
		s = strings.Repeat("0", decimals-len(s)+1) + s
	}
	intPart, frac := s[:len(s)-decimals], strings.TrimRight(s[len(s)-decimals:], "0")
	out := intPart
	if frac != "" {
		out += "." + frac
	}
	if neg && out != "0" {
		out = "-" + out
	}
	return out
}

// Refresh resolutions of the sliding-window figures.
const (
	// ActiveResolution: while an outage or a burn is in progress, figures are refreshed this
	// often.
	ActiveResolution = 30 * time.Second
	// IdleResolution: while past downtime lies in the objective window, availability and budget
	// drift slowly as the window slides; they are refreshed this often.
	IdleResolution = 10 * time.Minute
)

// RefreshAfter is when the figures should next be refreshed, absent any event: at
// ActiveResolution while the service is down or an alert fires, or sooner when the short
// window of a firing alert clears (so the alert stops when the burn does); exactly when the books come to cover an alert's short
// window, if downtime could make it fire then; at IdleResolution while the objective window
// holds downtime (availability and burn rates drift as the windows slide, and only downward
// while the service is up); never otherwise (the figures cannot change by themselves).
func (r Report) RefreshAfter(b Books, now time.Time) time.Duration {
	if b.Down() {
		return ActiveResolution
	}
	if r.Firing() {
		// Up again: a firing alert stops at the latest when its short window no longer holds
		// the last outage.
		next := ActiveResolution
		if n := len(b.Outages); n > 0 {
			for _, bn := range r.Burns {
				if clears := b.Outages[n-1].End.Add(bn.Short).Sub(now); bn.Firing && clears > 0 && clears < next {
					next = clears
				}
			}
		}
		return next
	}
	var next time.Duration
	for _, bn := range r.Burns {
		if covered := b.Since.Add(bn.Short); bn.ShortRate.Cmp(bn.Factor) > 0 && covered.After(now) {
			if d := covered.Sub(now); next == 0 || d < next {
				next = d
			}
		}
	}
	if next > 0 {
		return next
	}
	if r.Downtime > 0 {
		return IdleResolution
	}
	return 0
}

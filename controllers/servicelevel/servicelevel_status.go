// Package servicelevel keeps a ServiceLevel's books: it observes the availability of the
// service's workloads, records outages (reconstructing them after an operator restart),
// excludes planned maintenance, computes availability, error budget and burn rates, opens an
// ErrorBudgetBurn incident while a multi-window burn-rate alert fires, and sets the
// ObjectiveMet and BudgetExhausted conditions the change gate reads.
package servicelevel

import (
	"fmt"
	"math/big"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/health"
	"github.com/itops-dev/itops-operator/internal/promsli"
	"github.com/itops-dev/itops-operator/internal/slo"
)

// Bounds of the exact books in status.
const (
	maxOutages    = 200
	maxUnobserved = 50
	maxPlanned    = 50
	maxWorkloads  = 64
)

// inputs is what a ServiceLevel's status is computed from.
type inputs struct {
	// states are the selected workloads' availability.
	states []slo.WorkloadState
	// planned is the merged planned downtime of the service (from the windows in effect) from
	// its books' exact part on; it is booked as it happens.
	planned []slo.Interval
	// continuous: this operator process has watched the service since status.lastObservedAt.
	continuous bool
	// scaling are the selected Deployments' and StatefulSets' scaling inputs.
	scaling []workloadScaling
	// invalidSelector says why spec.selector is invalid (nil when it is valid).
	invalidSelector error
	// prom is the measurement of a Prometheus SLI (prometheus.go), promInterval the time to
	// the next one.
	prom         *promMeasurement
	promInterval time.Duration
}

// event is a condition transition worth an Event.
type event struct {
	eventType, reason, message string
}

// workloadEvent is an Event about a selected workload.
type workloadEvent struct {
	kind, name string
	event
}

// desired is the computed state of a ServiceLevel.
type desired struct {
	status   itopsv1alpha1.ServiceLevelStatus
	problems []health.Problem
	// events are the condition transitions.
	events []event
	// scale are the scaling steps to take, after the status recording them is written;
	// workloadEvents the Events about workloads (drift).
	scale          []scaleAction
	workloadEvents []workloadEvent
	requeueAfter   time.Duration
}

// computeStatus is the ServiceLevel controller's decision, a pure function of the spec, its
// books, what it observed, and the clock.
func computeStatus(sl *itopsv1alpha1.ServiceLevel, in inputs, now time.Time) desired {
	// The books are kept in whole seconds, as the API stores times: what is computed is what
	// is read back.
	now = now.Truncate(time.Second)
	st := *sl.Status.DeepCopy()
	st.ObservedGeneration = sl.Generation
	d := desired{}
	set := func(condType string, status metav1.ConditionStatus, reason, msg string) {
		old := meta.FindStatusCondition(st.Conditions, condType)
		bad := (condType == itopsv1alpha1.SLConditionBudgetExhausted && status == metav1.ConditionTrue) ||
			(condType == itopsv1alpha1.SLConditionObjectiveMet && status == metav1.ConditionFalse) ||
			(condType == itopsv1alpha1.ConditionStalled && status == metav1.ConditionTrue)
		// Events on transitions, and on a first state that needs attention; none for Ready.
		if condType != itopsv1alpha1.ConditionReady && status != metav1.ConditionUnknown &&
			((old != nil && old.Status != status) || (old == nil && bad)) {
			eventType := corev1.EventTypeNormal
			if bad {
				eventType = corev1.EventTypeWarning
			}
			d.events = append(d.events, event{eventType, reason, msg})
		}
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: condType, Status: status, Reason: reason,
			Message: health.Truncate(msg, 1024), ObservedGeneration: sl.Generation, LastTransitionTime: metav1.NewTime(now)})
	}
	st.Workloads = workloadStatuses(in.states)

	if in.invalidSelector != nil {
		// A selector that selects nothing measures nothing and protects nothing: never "100 %".
		msg := "spec.selector is invalid, so this ServiceLevel selects no workload, measures nothing and freezes nothing until it is fixed: " +
			in.invalidSelector.Error()
		set(itopsv1alpha1.ConditionStalled, metav1.ConditionTrue, itopsv1alpha1.ReasonInvalidSelector, msg)
		set(itopsv1alpha1.ConditionReady, metav1.ConditionFalse, itopsv1alpha1.ReasonInvalidSelector, msg)
		if sl.Spec.Objectives != nil {
			// Nothing is measured, so nothing is claimed met or exhausted: a budget exhausted
			// before the selector broke no longer freezes changes (the change gate names this
			// ServiceLevel in its warnings instead), as for an invalid window.
			set(itopsv1alpha1.SLConditionObjectiveMet, metav1.ConditionUnknown, itopsv1alpha1.ReasonInvalidSelector, "not measured: spec.selector is invalid")
			set(itopsv1alpha1.SLConditionBudgetExhausted, metav1.ConditionUnknown, itopsv1alpha1.ReasonInvalidSelector, "not measured: spec.selector is invalid")
		}
		d.status = st
		return d
	}
	if sl.Spec.Objectives == nil {
		st = clearBooks(st)
		meta.RemoveStatusCondition(&st.Conditions, itopsv1alpha1.SLConditionObjectiveMet)
		meta.RemoveStatusCondition(&st.Conditions, itopsv1alpha1.SLConditionBudgetExhausted)
		set(itopsv1alpha1.ConditionReady, metav1.ConditionTrue, itopsv1alpha1.SLReasonNoObjectives, "no objectives: only SLA deadlines and scaling apply")
		meta.RemoveStatusCondition(&st.Conditions, itopsv1alpha1.ConditionStalled)
		d.requeueAfter = applyScaling(&st, &sl.Status, &sl.Spec, in.scaling, false, now, set, &d)
		d.status = st
		return d
	}
	obj, alerts, err := parse(sl)
	if err != nil {
		// Admitted while the webhook was down (an invalid window, an unknown time zone ...):
		// nothing is measured, so nothing is claimed met or exhausted (the gate freezes
		// nothing on it); the books are kept as they are until the spec is fixed.
		set(itopsv1alpha1.ConditionStalled, metav1.ConditionTrue, itopsv1alpha1.ReasonInvalidSpec, err.Error())
		set(itopsv1alpha1.ConditionReady, metav1.ConditionFalse, itopsv1alpha1.ReasonInvalidSpec, err.Error())
		set(itopsv1alpha1.SLConditionObjectiveMet, metav1.ConditionUnknown, itopsv1alpha1.ReasonInvalidSpec, "not measured: "+err.Error())
		set(itopsv1alpha1.SLConditionBudgetExhausted, metav1.ConditionUnknown, itopsv1alpha1.ReasonInvalidSpec, "not measured: "+err.Error())
		d.status = st
		return d
	}
	meta.RemoveStatusCondition(&st.Conditions, itopsv1alpha1.ConditionStalled)
	if promsli.IsPrometheus(sl.Spec.Objectives.SLI) {
		prometheusStatus(sl, &st, obj, alerts, in, now, set, &d)
		d.status = st
		return d
	}
	st.SLI = nil

	cal := calendarOf(sl)
	books := inZone(booksOf(&st), zoneOf(sl))
	if cal != nil {
		// Days are kept until the oldest period still to be reported is.
		keepFrom, err := slo.ReportFrom(cal, st.Periods, books.Since, now)
		if err != nil {
			keepFrom = now.Add(-obj.Window)
		}
		books = keepBooksFrom(books, alerts, in, now, slo.DaysKeptFrom(slo.CoveredUntil(st.Periods), keepFrom))
	} else {
		books = keepBooks(books, obj, alerts, in, now)
	}
	r := slo.Compute(obj, alerts, books, now)
	var period calendarFigures
	if cal != nil {
		// The figures are the current period's; each period that ended is reported once,
		// from the books that still hold all of its days, then those days are dropped.
		// The days are kept for SwitchRetention before the end of the latest completed
		// report; older time is gone from the books: a period reaching back there (after a
		// window change) counts it as not tracked, never as up.
		periodBooks := books
		if covered := slo.CoveredUntil(st.Periods); !covered.IsZero() {
			periodBooks = books.From(covered.Add(-slo.SwitchRetention))
		}
		if period, err = periodReport(cal, &obj, &r, periodBooks, now); err == nil {
			st.Periods, err = slo.Periods(cal, st.Periods, obj.Target, books.Since, now, booksFigures(obj, periodBooks))
		}
		if err != nil { // the window was validated: not reached
			set(itopsv1alpha1.ConditionReady, metav1.ConditionFalse, itopsv1alpha1.ReasonInvalidSpec, err.Error())
			d.status = st
			return d
		}
		books = slo.Fold(books, books.FoldedUntil, slo.DaysKeptFrom(slo.CoveredUntil(st.Periods), period.start))
	} else {
		st.Periods = nil
	}
	st = withBooks(st, books)

	st.Availability = slo.Percent(r.Availability, 4)
	st.ErrorBudgetRemaining = slo.Percent(r.BudgetRemaining, 4)
	st.Downtime = &metav1.Duration{Duration: r.Downtime.Truncate(time.Second)}
	st.PlannedDowntime = &metav1.Duration{Duration: r.Planned.Truncate(time.Second)}
	st.Unobserved = &metav1.Duration{Duration: r.Unobserved.Truncate(time.Second)}
	st.BurnRate = slo.Decimal(r.BurnRate, 2)
	previousAlerts := st.BurnRateAlerts
	st.BurnRateAlerts = nil
	for i, b := range r.Burns {
		state := itopsv1alpha1.AlertOK
		if b.Firing {
			state = itopsv1alpha1.AlertFiring
		}
		a := itopsv1alpha1.BurnRateAlertStatus{
			LongWindow: metav1.Duration{Duration: b.Long}, ShortWindow: metav1.Duration{Duration: b.Short},
			Factor: slo.Decimal(b.Factor, 4), LongBurnRate: slo.Decimal(b.LongRate, 2), ShortBurnRate: slo.Decimal(b.ShortRate, 2), State: state,
			Since: &metav1.Time{Time: now}}
		if i < len(previousAlerts) {
			if p := previousAlerts[i]; p.State == state && p.LongWindow == a.LongWindow && p.ShortWindow == a.ShortWindow && p.Factor == a.Factor && p.Since != nil {
				a.Since = p.Since
			}
		}
		st.BurnRateAlerts = append(st.BurnRateAlerts, a)
	}

	target := slo.Percent(obj.Target, 8)
	window := "over " + obj.Window.String()
	if cal != nil {
		window = period.describe()
	}
	switch {
	case r.Availability == nil && cal != nil && now.Sub(period.start) < time.Second && books.Since.Before(period.start) && verdictHeld(st.Conditions):
		// The calendar period began less than a second ago: the verdict stands (and its
		// lastTransitionTime) until the first measurement a second later, rather than
		// flapping to Unknown at every boundary.
	case r.Availability == nil:
		msg := "nothing observed yet"
		if cal != nil && books.Since.Before(period.start) {
			msg = "nothing observed yet " + window + ": the period has just begun, with its whole budget"
		}
		set(itopsv1alpha1.SLConditionObjectiveMet, metav1.ConditionUnknown, itopsv1alpha1.SLReasonNoData, msg)
	case r.ObjectiveMet(obj):
		set(itopsv1alpha1.SLConditionObjectiveMet, metav1.ConditionTrue, itopsv1alpha1.SLReasonObjectiveMet,
			fmt.Sprintf("availability %s%% %s meets the objective %s%%", st.Availability, window, target))
	default:
		set(itopsv1alpha1.SLConditionObjectiveMet, metav1.ConditionFalse, itopsv1alpha1.SLReasonObjectiveMissed,
			fmt.Sprintf("availability %s%% %s is below the objective %s%%", st.Availability, window, target))
	}
	allowed := allowedDowntime(obj, r.Planned)
	if r.BudgetExhausted() {
		set(itopsv1alpha1.SLConditionBudgetExhausted, metav1.ConditionTrue, itopsv1alpha1.SLReasonBudgetExhausted,
			fmt.Sprintf("error budget of ServiceLevel %s exhausted: %s%% left (%s unplanned downtime of %s allowed %s)",
				sl.Name, st.ErrorBudgetRemaining, r.Downtime.Truncate(time.Second), allowed, window))
	} else {
		set(itopsv1alpha1.SLConditionBudgetExhausted, metav1.ConditionFalse, itopsv1alpha1.SLReasonBudgetRemaining,
			fmt.Sprintf("%s%% of the error budget left (%s unplanned downtime of %s allowed %s)",
				st.ErrorBudgetRemaining, r.Downtime.Truncate(time.Second), allowed, window))
	}
	summary := fmt.Sprintf("availability %s, %s%% of the budget left, burn rate %s", orDash(st.Availability), st.ErrorBudgetRemaining, st.BurnRate)
	if books.Down() {
		summary = "down: " + downMessage(in.states) + "; " + summary
	}
	set(itopsv1alpha1.ConditionReady, metav1.ConditionTrue, itopsv1alpha1.SLReasonMeasured, summary)

	if r.Firing() {
		d.problems = append(d.problems, burnProblem(sl, r, books, in.states))
	}
	d.requeueAfter = r.RefreshAfter(books, now)
	if next := nextConditionChange(obj, alerts, books, r, now); next > 0 && (d.requeueAfter == 0 || next < d.requeueAfter) {
		d.requeueAfter = next
	}
	if cal != nil {
		if next := nextPeriodChange(obj, r, period, now); next > 0 && (d.requeueAfter == 0 || next < d.requeueAfter) {
			d.requeueAfter = next
		}
	}
	if next := applyScaling(&st, &sl.Status, &sl.Spec, in.scaling, r.Firing(), now, set, &d); next > 0 && (d.requeueAfter == 0 || next < d.requeueAfter) {
		d.requeueAfter = next
	}
	if d.requeueAfter == 0 {
		for _, s := range in.states {
			if s.Since.IsZero() {
				// A heartbeat: StatefulSets and DaemonSets do not say since when they are in their
				// state, so lastObservedAt bounds what an operator restart leaves unobserved.
				d.requeueAfter = slo.IdleResolution
				break
			}
		}
	}
	d.status = st
	return d
}

// keepBooks records the observation and the planned downtime in the books, and folds what left
// the exact horizon (the longest alert window, at least 1h) into daily totals, within bounds,
// keeping the days of the rolling window.
func keepBooks(books slo.Books, obj slo.Objective, alerts []slo.Alert, in inputs, now time.Time) slo.Books {
	return keepBooksFrom(books, alerts, in, now, now.Add(-obj.Window))
}

// keepBooksFrom is keepBooks keeping the days that end after keepFrom.
func keepBooksFrom(books slo.Books, alerts []slo.Alert, in inputs, now, keepFrom time.Time) slo.Books {
	obs := slo.Observe(in.states, now)
	if in.continuous {
		books = slo.Record(books, obs)
	} else {
		books = slo.Reconstruct(books, obs)
	}
	books = slo.BookPlanned(books, in.planned, now)
	horizon := exactHorizon(alerts)
	books = slo.Fold(books, now.Add(-horizon), keepFrom)
	// A service flapping more often than the bounds allow within the horizon has its oldest
	// exact records folded early.
	if n := len(books.Outages); n > maxOutages {
		books = slo.Fold(books, books.Outages[n-maxOutages].Start, keepFrom)
	}
	if n := len(books.Unobserved); n > maxUnobserved {
		books = slo.Fold(books, books.Unobserved[n-maxUnobserved].Start, keepFrom)
	}
	if n := len(books.Planned); n > maxPlanned {
		books = slo.Fold(books, books.Planned[n-maxPlanned].Start, keepFrom)
	}
	return books
}

// nextConditionChange is the exact time until the next instant at which the conditions change
// by themselves, as time passes over unchanged books (0: none):
//   - a service just put under a ServiceLevel is measured one second after its first
//     observation (before, no time has passed, availability cannot be figured), unless
//     maintenance covers it (the window's own status change reconciles it then);
//   - an exhausted error budget recovers, and a missed objective is met again, at the second
//     the rolling window drops enough bad time (slo.BudgetRecoversAt, slo.ObjectiveMetAt), so
//     that BudgetExhausted and the FreezeChanges freeze it drives end exactly then.
func nextConditionChange(obj slo.Objective, alerts []slo.Alert, books slo.Books, r slo.Report, now time.Time) time.Duration {
	if r.Availability == nil && !books.Since.IsZero() && !books.Down() {
		if n := len(books.Planned); n == 0 || books.Planned[n-1].End.Before(now) {
			return time.Second
		}
		return 0
	}
	if obj.Calendar {
		return 0 // nextPeriodChange
	}
	horizon := exactHorizon(alerts)
	var next time.Duration
	for _, at := range []func(slo.Objective, time.Duration, slo.Books, time.Time) (time.Time, bool){slo.BudgetRecoversAt, slo.ObjectiveMetAt} {
		if t, ok := at(obj, horizon, books, now); ok && t.After(now) && (next == 0 || t.Sub(now) < next) {
			next = t.Sub(now)
		}
	}
	return next
}

// exactHorizon is how far back the books keep exact intervals: the longest burn-rate window,
// at least 1h.
func exactHorizon(alerts []slo.Alert) time.Duration {
	horizon := time.Hour
	for _, a := range alerts {
		horizon = max(horizon, a.Long)
	}
	return horizon
}

// parse reads the objective and the alerts; the CRD's validation makes errors rare (an object
// stored before a rule existed).
func parse(sl *itopsv1alpha1.ServiceLevel) (slo.Objective, []slo.Alert, error) {
	if errs := slo.ValidateObjectives(sl.Spec.Objectives, field.NewPath("spec", "objectives")); len(errs) > 0 {
		return slo.Objective{}, nil, errs.ToAggregate()
	}
	window := 720 * time.Hour
	if w := sl.Spec.Objectives.Window; w != nil && w.Rolling != nil {
		window = w.Rolling.Duration
	}
	calendar := calendarOf(sl) != nil
	if calendar {
		window = nominalCalendarWindow
	}
	obj, err := slo.ParseObjective(sl.Spec.Objectives.Availability, window)
	if err != nil {
		return slo.Objective{}, nil, fmt.Errorf("spec.objectives: %w", err)
	}
	obj.Calendar = calendar
	alerts := make([]slo.Alert, 0, len(sl.Spec.BurnRateAlerts))
	for i, a := range sl.Spec.BurnRateAlerts {
		f, err := slo.ParseFactor(a.Factor)
		if err != nil {
			return slo.Objective{}, nil, fmt.Errorf("spec.burnRateAlerts[%d]: %w", i, err)
		}
		if a.ShortWindow.Duration <= 0 || a.ShortWindow.Duration >= a.LongWindow.Duration {
			return slo.Objective{}, nil, fmt.Errorf("spec.burnRateAlerts[%d]: shortWindow must be shorter than longWindow", i)
		}
		alerts = append(alerts, slo.Alert{Long: a.LongWindow.Duration, Short: a.ShortWindow.Duration, Factor: f})
	}
	return obj, alerts, nil
}

// allowedDowntime is the error budget as a duration: (1 - target) x (window - planned).
func allowedDowntime(o slo.Objective, planned time.Duration) time.Duration {
	budget := new(big.Rat).Sub(big.NewRat(1, 1), o.Target)
	d := new(big.Rat).Mul(budget, big.NewRat(int64(max(o.Window-planned, 0)), 1))
	q := new(big.Int).Quo(d.Num(), d.Denom())
	return time.Duration(q.Int64()).Truncate(time.Second)
}

func burnProblem(sl *itopsv1alpha1.ServiceLevel, r slo.Report, b slo.Books, states []slo.WorkloadState) health.Problem {
	var parts []string
	for _, bn := range r.Burns {
		if bn.Firing {
			parts = append(parts, fmt.Sprintf("%sx over %s and %sx over %s (alert at %sx)",
				slo.Decimal(bn.LongRate, 1), bn.Long, slo.Decimal(bn.ShortRate, 1), bn.Short, slo.Decimal(bn.Factor, 2)))
		}
	}
	msg := fmt.Sprintf("ServiceLevel %s burns its error budget too fast: %s; %s%% of the budget left",
		sl.Name, strings.Join(parts, "; "), slo.Percent(r.BudgetRemaining, 2))
	if b.Down() {
		msg += "; " + downMessage(states)
	}
	var since time.Time
	if n := len(b.Outages); n > 0 {
		since = b.Outages[n-1].Start
	}
	var affected []itopsv1alpha1.ObjectReference
	for _, s := range states {
		if s.Down && len(affected) < 16 {
			affected = append(affected, itopsv1alpha1.ObjectReference{APIVersion: "apps/v1", Kind: s.Kind, Namespace: sl.Namespace, Name: s.Name})
		}
	}
	return health.Problem{Reason: itopsv1alpha1.ReasonErrorBudgetBurn, Source: itopsv1alpha1.SourceServiceLevel,
		Message: health.Truncate(msg, 1024), Since: since, Affected: affected}
}

func downMessage(states []slo.WorkloadState) string {
	var parts []string
	for _, s := range states {
		if s.Down {
			parts = append(parts, s.Message)
		}
	}
	if len(parts) == 0 {
		return "unavailable"
	}
	return strings.Join(parts, "; ")
}

// orDash is a percent, or "-" when there is none yet.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s + "%"
}

func workloadStatuses(states []slo.WorkloadState) []itopsv1alpha1.WorkloadStatus {
	out := make([]itopsv1alpha1.WorkloadStatus, 0, min(len(states), maxWorkloads))
	for _, s := range states {
		if len(out) == maxWorkloads {
			break
		}
		out = append(out, itopsv1alpha1.WorkloadStatus{Kind: s.Kind, Name: s.Name, ReadyReplicas: s.Ready, Replicas: s.Desired,
			Unavailable: health.Truncate(s.Message, 512)})
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// booksOf reads the books from status, their days UTC days (inZone reads them as the days of
// a calendar window's time zone).
func booksOf(st *itopsv1alpha1.ServiceLevelStatus) slo.Books {
	b := slo.Books{}
	if st.TrackingSince != nil {
		b.Since = st.TrackingSince.Time
	}
	if st.LastObservedAt != nil {
		b.LastObserved = st.LastObservedAt.Time
	}
	if st.FoldedUntil != nil {
		b.FoldedUntil = st.FoldedUntil.Time
	}
	for _, o := range st.Outages {
		iv := slo.Interval{Start: o.Start.Time}
		if o.End != nil {
			iv.End = o.End.Time
		}
		b.Outages = append(b.Outages, iv)
	}
	for _, u := range st.UnobservedPeriods {
		b.Unobserved = append(b.Unobserved, slo.Interval{Start: u.Start.Time, End: u.End.Time})
	}
	for _, p := range st.PlannedPeriods {
		b.Planned = append(b.Planned, slo.Interval{Start: p.Start.Time, End: p.End.Time})
	}
	for _, d := range st.DowntimeByDay {
		date, err := time.Parse(time.DateOnly, d.Date)
		if err != nil {
			continue
		}
		b.Days = append(b.Days, slo.Day{Date: date, Downtime: d.Downtime.Duration, Planned: d.Planned.Duration, Unobserved: d.Unobserved.Duration})
	}
	return b
}

// withBooks writes the books into status.
func withBooks(st itopsv1alpha1.ServiceLevelStatus, b slo.Books) itopsv1alpha1.ServiceLevelStatus {
	tm := func(t time.Time) *metav1.Time {
		if t.IsZero() {
			return nil
		}
		return &metav1.Time{Time: t}
	}
	st.TrackingSince, st.LastObservedAt, st.FoldedUntil = tm(b.Since), tm(b.LastObserved), tm(b.FoldedUntil)
	st.Outages = nil
	for _, o := range b.Outages {
		out := itopsv1alpha1.Outage{Start: metav1.Time{Time: o.Start}, End: tm(o.End)}
		if !o.End.IsZero() {
			out.Planned = slo.Covered(o, b.Planned)
		}
		st.Outages = append(st.Outages, out)
	}
	st.UnobservedPeriods, st.PlannedPeriods = periods(b.Unobserved), periods(b.Planned)
	st.DowntimeByDay = nil
	zone := b.Zone
	if zone == nil {
		zone = time.UTC
	}
	for _, d := range b.Days {
		st.DowntimeByDay = append(st.DowntimeByDay, itopsv1alpha1.DailyDowntime{Date: d.Date.In(zone).Format(time.DateOnly),
			Downtime: metav1.Duration{Duration: d.Downtime}, Planned: metav1.Duration{Duration: d.Planned}, Unobserved: metav1.Duration{Duration: d.Unobserved}})
	}
	return st
}

func periods(ivs []slo.Interval) []itopsv1alpha1.Period {
	if len(ivs) == 0 {
		return nil
	}
	out := make([]itopsv1alpha1.Period, 0, len(ivs))
	for _, iv := range ivs {
		out = append(out, itopsv1alpha1.Period{Start: metav1.Time{Time: iv.Start}, End: metav1.Time{Time: iv.End}})
	}
	return out
}

func clearBooks(st itopsv1alpha1.ServiceLevelStatus) itopsv1alpha1.ServiceLevelStatus {
	st.Availability, st.ErrorBudgetRemaining, st.BurnRate = "", "", ""
	st.Downtime, st.PlannedDowntime, st.Unobserved = nil, nil, nil
	st.DowntimeByDay, st.Outages, st.UnobservedPeriods, st.PlannedPeriods, st.BurnRateAlerts = nil, nil, nil, nil, nil
	st.TrackingSince, st.LastObservedAt, st.FoldedUntil = nil, nil, nil
	st.Periods = nil
	return st
}

// verdictHeld reports whether ObjectiveMet holds a verdict (True or False) that the first
// second of a calendar period keeps: nothing is measured in it yet, and a flap to Unknown
// would reset the condition's lastTransitionTime ("met since") at every boundary.
func verdictHeld(conds []metav1.Condition) bool {
	c := meta.FindStatusCondition(conds, itopsv1alpha1.SLConditionObjectiveMet)
	return c != nil && c.Status != metav1.ConditionUnknown
}

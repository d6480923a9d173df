package servicelevel

import (
	"context"
	"math/big"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/slo"
)

var (
	labelNames       = []string{"namespace", "servicelevel"}
	availabilityDesc = prometheus.NewDesc("itops_servicelevel_availability_ratio",
		"Availability over the objective window (0-1), planned downtime excluded; absent until something was observed.", labelNames, nil)
	objectiveDesc = prometheus.NewDesc("itops_servicelevel_objective_ratio",
		"The availability objective (0-1).", labelNames, nil)
	budgetDesc = prometheus.NewDesc("itops_servicelevel_error_budget_remaining_ratio",
		"Share of the error budget left over the objective window; negative when overspent.", labelNames, nil)
	burnDesc = prometheus.NewDesc("itops_servicelevel_burn_rate",
		"Error budget burn rate over each burn-rate alert window (1 spends the budget exactly over the objective window).",
		append(append([]string(nil), labelNames...), "window"), nil)
	downDesc = prometheus.NewDesc("itops_servicelevel_down",
		"1 while at least one of the service's workloads is unavailable.", labelNames, nil)
	outOfBoundsDesc = prometheus.NewDesc("itops_servicelevel_workloads_out_of_bounds",
		"Selected workloads whose replicas are outside the scaling bounds (drift).", labelNames, nil)
	periodBudgetDesc = prometheus.NewDesc("itops_servicelevel_period_budget_spent_ratio",
		"Share of the current calendar period's error budget spent so far (1: all of it; over 1 overspent); calendar windows only.",
		append(append([]string(nil), labelNames...), "period"), nil)
)

// collector computes the ServiceLevel metrics at scrape time from the books in status and the
// clock, so sliding-window figures are exact whenever they are scraped, without status writes
// and without redoing the books (see measure).
type collector struct{ r *Reconciler }

// RegisterMetrics registers the ServiceLevel metrics with controller-runtime's registry.
func RegisterMetrics(r *Reconciler) {
	crmetrics.Registry.MustRegister(collector{r: r})
}

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{availabilityDesc, objectiveDesc, budgetDesc, burnDesc, downDesc, outOfBoundsDesc, periodBudgetDesc} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	list := &itopsv1alpha1.ServiceLevelList{}
	if err := c.r.List(ctx, list); err != nil {
		ch <- prometheus.NewInvalidMetric(availabilityDesc, err)
		return
	}
	now := c.r.now()
	for i := range list.Items {
		sl := &list.Items[i]
		if sl.Spec.Scaling != nil {
			drifted := 0
			for _, w := range sl.Status.Workloads {
				if w.Drifted {
					drifted++
				}
			}
			ch <- prometheus.MustNewConstMetric(outOfBoundsDesc, prometheus.GaugeValue, float64(drifted), sl.Namespace, sl.Name)
		}
		if sl.Spec.Objectives == nil || sl.Status.TrackingSince == nil ||
			meta.IsStatusConditionTrue(sl.Status.Conditions, itopsv1alpha1.ConditionStalled) {
			continue
		}
		r, down, err := measure(sl, now)
		if err != nil {
			// One ServiceLevel that cannot be measured (its Stalled condition says why) must
			// not fail the whole scrape.
			continue
		}
		labels := []string{sl.Namespace, sl.Name}
		gauge := func(d *prometheus.Desc, v float64, extra ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append(append([]string(nil), labels...), extra...)...)
		}
		if r.Availability != nil {
			gauge(availabilityDesc, float(r.Availability))
		}
		if obj, _, err := parse(sl); err == nil {
			gauge(objectiveDesc, float(obj.Target))
		}
		gauge(budgetDesc, float(r.BudgetRemaining))
		if cal := calendarOf(sl); cal != nil {
			// The figures of a calendar window are the current period's.
			gauge(periodBudgetDesc, float(new(big.Rat).Sub(big.NewRat(1, 1), r.BudgetRemaining)), string(cal.Period))
		}
		seen := map[time.Duration]bool{}
		for _, b := range r.Burns {
			for _, w := range []struct {
				d    time.Duration
				rate *big.Rat
			}{{b.Long, b.LongRate}, {b.Short, b.ShortRate}} {
				if !seen[w.d] {
					seen[w.d] = true
					gauge(burnDesc, float(w.rate), w.d.String())
				}
			}
		}
		if down {
			gauge(downDesc, 1)
		} else {
			gauge(downDesc, 0)
		}
	}
}

// measure computes the service's figures at now from the books in its status, as the
// reconciler last wrote them: a scrape never redoes the books (no workload lists, no
// calendar evaluation), it only slides the window to now (an open outage counts up to now).
// Planned downtime booked after the last reconcile is not in it: the window's phase change
// reconciles the ServiceLevel at its boundaries. For a calendar window the figures are the
// current period's, from the same books.
func measure(sl *itopsv1alpha1.ServiceLevel, now time.Time) (slo.Report, bool, error) {
	obj, alerts, err := parse(sl)
	if err != nil {
		return slo.Report{}, false, err
	}
	books := inZone(booksOf(&sl.Status), zoneOf(sl))
	now = now.Truncate(time.Second)
	r := slo.Compute(obj, alerts, books, now)
	if cal := calendarOf(sl); cal != nil {
		if _, err := periodReport(cal, &obj, &r, books, now); err != nil {
			return slo.Report{}, false, err
		}
	}
	return r, books.Down(), nil
}

func float(r *big.Rat) float64 {
	f, _ := r.Float64()
	return f
}

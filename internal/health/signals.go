package health

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// Specificity orders the reasons by how precisely they name a cause: an incident's title,
// spec.reason and itops.dev/reason label name its most specific active signal. The more
// specific reason explains the less specific ones (an OOM kill is why the container crash-loops,
// a crash loop is why the workload is unavailable and why its rollout is stuck).
//
//	rank  reasons
//	1     OOMKilled, ImagePullBackOff, CreateContainerConfigError, CreateContainerError,
//	      RunContainerError, PreStartHookError, VolumeClaimLost, PodCreationFailed,
//	      VolumeMountFailed, RouteBackendMissing
//	2     CrashLoopBackOff, ProbeFailing, PodUnschedulable, JobFailed, NodeNotReady,
//	      VolumeClaimPending, ServiceWithoutEndpoints, WebhookUnavailable
//	3     NodePressure, NodeCondition, ContainerRestarting (the early warning: a crash loop,
//	      once there, names the incident), MemoryNearLimit (the OOM kill, once there, names
//	      it), AutoscalerLimited, DisruptionBlocked, CronJobMissedSchedule
//	4     RolloutStuck
//	5     WorkloadUnavailable
//	6     ErrorBudgetBurn, ChangeFailed, EmergencyChangeUnreviewed, ChangeControlDisabled
//	7     any other reason (custom detectors)
//
// Ties are broken by the reason name, so the choice is deterministic. The table is repeated
// in docs/incidents.md.
var Specificity = map[string]int{
	itopsv1alpha1.ReasonOOMKilled:                  1,
	itopsv1alpha1.ReasonImagePullBackOff:           1,
	itopsv1alpha1.ReasonCreateContainerConfigError: 1,
	itopsv1alpha1.ReasonVolumeClaimLost:            1,
	itopsv1alpha1.ReasonCrashLoopBackOff:           2,
	itopsv1alpha1.ReasonJobFailed:                  2,
	itopsv1alpha1.ReasonNodeNotReady:               2,
	itopsv1alpha1.ReasonVolumeClaimPending:         2,
	itopsv1alpha1.ReasonNodePressure:               3,
	itopsv1alpha1.ReasonCreateContainerError:       1,
	itopsv1alpha1.ReasonRunContainerError:          1,
	itopsv1alpha1.ReasonPreStartHookError:          1,
	itopsv1alpha1.ReasonPodCreationFailed:          1,
	itopsv1alpha1.ReasonVolumeMountFailed:          1,
	itopsv1alpha1.ReasonContainerRestarting:        3,
	itopsv1alpha1.ReasonProbeFailing:               2,
	itopsv1alpha1.ReasonPodUnschedulable:           2,
	itopsv1alpha1.ReasonNodeCondition:              3,
	itopsv1alpha1.ReasonMemoryNearLimit:            3,
	itopsv1alpha1.ReasonAutoscalerLimited:          3,
	itopsv1alpha1.ReasonDisruptionBlocked:          3,
	itopsv1alpha1.ReasonCronJobMissedSchedule:      3,
	itopsv1alpha1.ReasonRolloutStuck:               4,
	itopsv1alpha1.ReasonWorkloadUnavailable:        5,
	itopsv1alpha1.ReasonErrorBudgetBurn:            6,
	itopsv1alpha1.ReasonChangeFailed:               6,
	itopsv1alpha1.ReasonEmergencyChangeUnreviewed:  6,
	itopsv1alpha1.ReasonChangeControlDisabled:      6,
	// The network detectors' (their subjects are Services, routes, webhook configurations):
	// named before an Alertmanager alert about the same Service.
	itopsv1alpha1.ReasonRouteBackendMissing:     1,
	itopsv1alpha1.ReasonServiceWithoutEndpoints: 2,
	itopsv1alpha1.ReasonWebhookUnavailable:      2,
}

// specificity is a reason's rank in Specificity (7 for reasons not in it).
func specificity(reason string) int {
	if r, ok := Specificity[reason]; ok {
		return r
	}
	return 7
}

// MoreSpecific reports whether reason a names a cause more precisely than b.
func MoreSpecific(a, b string) bool {
	if sa, sb := specificity(a), specificity(b); sa != sb {
		return sa < sb
	}
	return a < b
}

// MostSpecific returns the most specific reason among the active signals; when none is
// active, among all of them (what the incident was last about); "" for no signals.
func MostSpecific(signals []itopsv1alpha1.Signal) string {
	best, bestActive := "", false
	for _, s := range signals {
		switch {
		case best == "", s.Active && !bestActive, s.Active == bestActive && MoreSpecific(s.Reason, best):
			best, bestActive = s.Reason, s.Active
		}
	}
	return best
}

// AnyActive reports whether one of the signals is active.
func AnyActive(signals []itopsv1alpha1.Signal) bool {
	for _, s := range signals {
		if s.Active {
			return true
		}
	}
	return false
}

// SignalsPriority is the incident priority its signals call for: the highest among the
// active signals, or among all of them when none is active ("" for no signals).
func SignalsPriority(signals []itopsv1alpha1.Signal) itopsv1alpha1.Priority {
	all := make([]itopsv1alpha1.Priority, 0, len(signals))
	var active []itopsv1alpha1.Priority
	for _, s := range signals {
		all = append(all, s.Priority)
		if s.Active {
			active = append(active, s.Priority)
		}
	}
	if len(active) > 0 {
		return highest(active)
	}
	return highest(all)
}

func highest(ps []itopsv1alpha1.Priority) itopsv1alpha1.Priority {
	var best itopsv1alpha1.Priority
	for _, p := range ps {
		if best == "" || (p != "" && p < best) { // "P1" < "P2" < ... < "P5"
			best = p
		}
	}
	return best
}

// SignalRefresh bounds how often an ongoing signal's lastSeenAt is rewritten.
const SignalRefresh = time.Minute

// MergeResult is what MergeSignals changed.
type MergeResult struct {
	// Signals is the new list.
	Signals []itopsv1alpha1.Signal
	// Changed is true when Signals differs from the input in anything but nothing.
	Changed bool
	// Started lists the reasons that became active (new, or back after clearing).
	Started []string
	// Cleared lists the reasons that stopped being active.
	Cleared []string
}

// MergeSignals applies one detector's judgement to an incident's signals. judged are the
// reasons the detector judges (signals of other reasons are left as they are); problems are
// those it observes now. A problem marked Sustain keeps an active signal active but does not
// start one. A judged reason not observed clears its signal (active=false, kept for the
// record). hasService raises the signal priority as SeverityFor does. The list stays in the
// order first seen and bounded by MaxSignals (the oldest inactive signal is dropped first).
func MergeSignals(current []itopsv1alpha1.Signal, judged []string, problems []Problem, hasService bool, now time.Time) MergeResult {
	out := MergeResult{Signals: make([]itopsv1alpha1.Signal, 0, len(current)+len(problems))}
	t := metav1.NewTime(now)
	observed := map[string]Problem{}
	for _, p := range problems {
		observed[p.Reason] = p
	}
	isJudged := map[string]bool{}
	for _, r := range judged {
		isJudged[r] = true
	}
	seen := map[string]bool{}
	for _, s := range current {
		seen[s.Reason] = true
		if !isJudged[s.Reason] {
			out.Signals = append(out.Signals, s)
			continue
		}
		p, ok := observed[s.Reason]
		switch {
		case ok && (s.Active || !p.Sustain):
			next := s
			if !s.Active {
				next.Active, next.Count, next.Since = true, s.Count+1, metav1.NewTime(since(p, now))
				out.Started = append(out.Started, s.Reason)
			}
			msg := Truncate(p.Message, 1024)
			prio := PriorityFor(s.Reason, hasService)
			if !s.Active || msg != s.Message || prio != s.Priority || now.Sub(s.LastSeenAt.Time) >= SignalRefresh {
				next.LastSeenAt, next.Message, next.Priority = t, msg, prio
				out.Changed = true
			}
			out.Signals = append(out.Signals, next)
		case s.Active:
			s.Active = false
			out.Cleared = append(out.Cleared, s.Reason)
			out.Changed = true
			out.Signals = append(out.Signals, s)
		default:
			out.Signals = append(out.Signals, s)
		}
	}
	for _, r := range judged {
		p, ok := observed[r]
		if !ok || seen[r] || p.Sustain {
			continue
		}
		seen[r] = true
		out.Signals = append(out.Signals, itopsv1alpha1.Signal{
			Reason: r, Since: metav1.NewTime(since(p, now)), LastSeenAt: t, Count: 1,
			Message: Truncate(p.Message, 1024), Active: true, Priority: PriorityFor(r, hasService),
		})
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

// since is when a problem started: as the object tells, never in the future.
func since(p Problem, now time.Time) time.Time {
	if !p.Since.IsZero() && p.Since.Before(now) {
		return p.Since.Truncate(time.Second)
	}
	return now
}

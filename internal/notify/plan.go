// Package notify decides which incident transitions reach which receivers, and how: routing,
// the transitions that notify, idempotency keys, retry backoff and webhook signatures. It is
// pure (no client, no network); controllers/notification delivers what it plans.
package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/config"
	"github.com/itops-dev/itops-operator/internal/priority"
)

// Target is a receiver an incident is routed to, with the shortest repeat interval among the
// routes that chose it (0: never repeat).
type Target struct {
	Receiver string
	Repeat   time.Duration
}

// Routing is where an incident's notifications go.
type Routing struct {
	// Targets are the receivers of every matching route, sorted by name.
	Targets []Target
	// Escalation are the receivers notified (Escalated) when the response SLA deadline passes
	// unacknowledged: the incident's own status.escalation, else the first matching route's
	// escalation.
	Escalation []string
	// UnknownEscalation is the incident's status.escalation (from spec.owner.escalation or the
	// namespace annotation itops.dev/escalation) when it names neither a route nor a receiver
	// of the policy: it is ignored (the route's escalation applies), and the controller says so
	// on the incident's timeline.
	UnknownEscalation string
}

// Route returns where the incident goes under policy p; nsLabels are the labels of its
// namespace. Every matching route delivers (the union of their receivers).
func Route(p *config.NotificationPolicy, inc *itopsv1alpha1.Incident, nsLabels map[string]string) Routing {
	repeat := map[string]time.Duration{}
	var escalation string
	for i := range p.Routes {
		r := &p.Routes[i]
		if !Matches(r.Match, inc, nsLabels) {
			continue
		}
		for _, name := range r.Receivers {
			old, seen := repeat[name]
			d := r.RepeatInterval.Duration
			switch {
			case !seen:
				repeat[name] = d
			case d > 0 && (old == 0 || d < old):
				repeat[name] = d
			}
		}
		if escalation == "" {
			escalation = r.Escalation
		}
	}
	out := Routing{}
	for name, d := range repeat {
		out.Targets = append(out.Targets, Target{Receiver: name, Repeat: d})
	}
	sort.Slice(out.Targets, func(i, j int) bool { return out.Targets[i].Receiver < out.Targets[j].Receiver })
	if inc.Status.Escalation != "" {
		if r := p.EscalationReceivers(inc.Status.Escalation); r != nil {
			escalation = inc.Status.Escalation
		} else {
			out.UnknownEscalation = inc.Status.Escalation
		}
	}
	if escalation != "" {
		out.Escalation = append([]string(nil), p.EscalationReceivers(escalation)...)
		sort.Strings(out.Escalation)
	}
	return out
}

// Matches reports whether every criterion of m holds for the incident (an empty criterion
// holds for all). Teams match spec.team.
func Matches(m config.RouteMatch, inc *itopsv1alpha1.Incident, nsLabels map[string]string) bool {
	if m.NamespaceSelector != nil {
		sel, err := metav1.LabelSelectorAsSelector(m.NamespaceSelector)
		if err != nil || !sel.Matches(labels.Set(nsLabels)) {
			return false
		}
	}
	in := func(list []string, v string) bool { return len(list) == 0 || slices.Contains(list, v) }
	source := inc.Spec.Source
	if source == "" {
		source = itopsv1alpha1.SourceManual
	}
	return in(m.Services, inc.Spec.Service) && in(m.Teams, inc.Spec.Team) && in(m.Reasons, inc.Spec.Reason) &&
		(len(m.Priorities) == 0 || slices.Contains(m.Priorities, inc.Status.Priority)) &&
		(len(m.Sources) == 0 || slices.Contains(m.Sources, source))
}

// Want is a delivery that is due.
type Want struct {
	Receiver   string
	Transition string
	Sequence   int32
}

// Plan is what is due for an incident at one moment.
type Plan struct {
	// New are the deliveries to record as Pending (in this order).
	New []Want
	// Next is when a repeat falls due (zero: none).
	Next time.Time
}

// Pageable reports whether an incident may start notifying (Opened, Repeated, Escalated), and
// why not: the operator has judged it (status.detectedAt set), health detection has written
// its first status (signals) for a HealthCheck incident, it is not suppressed by maintenance,
// and it is not a symptom of another open incident. Follow-ups (Acknowledged, Resolved,
// SLABreached) of a page already sent are not subject to this.
func Pageable(inc *itopsv1alpha1.Incident) (bool, string) {
	st := &inc.Status
	switch {
	case st.DetectedAt == nil:
		return false, "not yet judged by the incident controller"
	case inc.Spec.Source == itopsv1alpha1.SourceHealthCheck && len(st.Signals) == 0:
		return false, "health detection has not written its signals yet"
	case meta.IsStatusConditionTrue(st.Conditions, itopsv1alpha1.IncidentConditionSuppressed):
		return false, "suppressed by maintenance window " + st.SuppressedBy
	case meta.IsStatusConditionTrue(st.Conditions, itopsv1alpha1.IncidentConditionSymptom):
		return false, "a symptom of another open incident"
	case st.CausedBy != nil && st.CausedBy.Kind == "Incident" && meta.FindStatusCondition(st.Conditions, itopsv1alpha1.IncidentConditionSymptom) == nil:
		return false, "caused by another incident (not yet judged whether it is open)"
	}
	return true, ""
}

func resolved(inc *itopsv1alpha1.Incident) bool {
	return inc.Status.Phase == itopsv1alpha1.IncidentResolved || inc.Status.Phase == itopsv1alpha1.IncidentClosed
}

// Due computes the deliveries due for the incident given its routing and its recorded
// deliveries (status.notifications), at now. The rules (docs/notifications.md):
//   - Opened: to every routed receiver, once, while the incident is open, unacknowledged and
//     Pageable (sequence 0, the first episode).
//   - Opened again (sequence episode+1): to every receiver that was paged, once the Resolved of
//     its latest episode is recorded and the incident is open again (reopened after
//     auto-resolution, or a resolution withdrawn) and Pageable, acknowledged or not: the
//     receiver was told "resolved", which is no longer true. For PagerDuty it is a trigger with
//     the same dedup_key, which reopens the alert.
//   - Repeated: again to a routed receiver with a repeat interval, that long after the last
//     Opened/Repeated to it was delivered, while still open, unacknowledged and Pageable.
//   - Escalated: to the escalation receivers, once, when the response SLA is breached and the
//     incident is open, unacknowledged and Pageable.
//   - Reprioritized (sequence 10 x episode + the priority's number): to every receiver paged in
//     the current episode, when status.priority is higher than every priority a trigger
//     (Opened, Repeated, Escalated, SLABreached, Reprioritized) delivered to it in the episode
//     carried, while open and Pageable.
//   - SLABreached (sequence 0 response, 1 resolution): once each, to every paged receiver.
//   - Acknowledged, Resolved (sequence: the receiver's episode): once per episode, to every
//     receiver that was paged (Opened or Escalated recorded for it), whatever the incident's
//     state since.
func Due(inc *itopsv1alpha1.Incident, r Routing, recorded []itopsv1alpha1.Notification, now time.Time) Plan {
	var p Plan
	has := func(receiver, transition string, seq int32) bool {
		for _, n := range recorded {
			if n.Receiver == receiver && n.Transition == transition && n.Sequence == seq {
				return true
			}
		}
		for _, w := range p.New {
			if w.Receiver == receiver && w.Transition == transition && w.Sequence == seq {
				return true
			}
		}
		return false
	}
	want := func(receiver, transition string, seq int32) {
		if !has(receiver, transition, seq) {
			p.New = append(p.New, Want{Receiver: receiver, Transition: transition, Sequence: seq})
		}
	}
	// episode is the receiver's current episode: the sequence of its latest Opened, recorded
	// or planned (0 when none).
	episode := func(receiver string) int32 {
		ep := int32(0)
		for _, n := range recorded {
			if n.Receiver == receiver && n.Transition == itopsv1alpha1.NotifyOpened && n.Sequence > ep {
				ep = n.Sequence
			}
		}
		for _, w := range p.New {
			if w.Receiver == receiver && w.Transition == itopsv1alpha1.NotifyOpened && w.Sequence > ep {
				ep = w.Sequence
			}
		}
		return ep
	}
	planned := func(receiver, transition string) bool {
		for _, w := range p.New {
			if w.Receiver == receiver && w.Transition == transition {
				return true
			}
		}
		return false
	}
	st := &inc.Status
	pageable, _ := Pageable(inc)
	open := !resolved(inc)
	if pageable && open {
		// Reopened: a receiver told "resolved" is told it is open again.
		for _, name := range Paged(recorded, nil) {
			if ep := episode(name); has(name, itopsv1alpha1.NotifyResolved, ep) {
				want(name, itopsv1alpha1.NotifyOpened, ep+1)
			}
		}
	}
	waiting := pageable && open && st.AcknowledgedAt == nil
	if waiting {
		for _, t := range r.Targets {
			want(t.Receiver, itopsv1alpha1.NotifyOpened, 0)
			if t.Repeat <= 0 {
				continue
			}
			last, seq := lastPage(recorded, p.New, t.Receiver)
			if last == nil || last.State != itopsv1alpha1.NotificationDelivered {
				continue
			}
			at := last.At.Add(t.Repeat)
			if !now.Before(at) {
				want(t.Receiver, itopsv1alpha1.NotifyRepeated, seq+1)
			} else if p.Next.IsZero() || at.Before(p.Next) {
				p.Next = at
			}
		}
		if meta.IsStatusConditionTrue(st.Conditions, itopsv1alpha1.IncidentConditionResponseSLABreached) {
			for _, name := range r.Escalation {
				want(name, itopsv1alpha1.NotifyEscalated, 0)
			}
		}
	}
	for _, name := range Paged(recorded, p.New) {
		ep := episode(name)
		if pageable && open && !has(name, itopsv1alpha1.NotifyResolved, ep) && !planned(name, itopsv1alpha1.NotifyOpened) {
			// (an Opened being planned carries the priority itself)
			if told := toldPriority(recorded, name); told != "" && priority.Rank(st.Priority) < priority.Rank(told) {
				want(name, itopsv1alpha1.NotifyReprioritized, 10*ep+int32(priority.Rank(st.Priority))+1)
			}
		}
		if meta.IsStatusConditionTrue(st.Conditions, itopsv1alpha1.IncidentConditionResponseSLABreached) && open {
			want(name, itopsv1alpha1.NotifySLABreached, 0)
		}
		if meta.IsStatusConditionTrue(st.Conditions, itopsv1alpha1.IncidentConditionResolutionSLABreached) && open {
			want(name, itopsv1alpha1.NotifySLABreached, 1)
		}
		if st.AcknowledgedAt != nil && open {
			want(name, itopsv1alpha1.NotifyAcknowledged, ep)
		}
		if !open {
			want(name, itopsv1alpha1.NotifyResolved, ep)
		}
	}
	return p
}

// toldPriority is the highest priority that a trigger delivered to receiver carried in its
// current episode (the entries from its latest Opened on, in list order), "" when none
// recorded one.
func toldPriority(recorded []itopsv1alpha1.Notification, receiver string) itopsv1alpha1.Priority {
	from := 0
	for i, n := range recorded {
		if n.Receiver == receiver && n.Transition == itopsv1alpha1.NotifyOpened {
			from = i
		}
	}
	var told itopsv1alpha1.Priority
	for _, n := range recorded[from:] {
		if n.Receiver != receiver || n.State != itopsv1alpha1.NotificationDelivered || n.Priority == "" ||
			PagerDutyAction(n.Transition) != "trigger" {
			continue
		}
		if told == "" || priority.Rank(n.Priority) < priority.Rank(told) {
			told = n.Priority
		}
	}
	return told
}

// lastPage returns the latest Opened or Repeated entry for receiver, in list order (recorded,
// then planned, which count as Pending), and the highest Repeated sequence recorded for it.
func lastPage(recorded []itopsv1alpha1.Notification, planned []Want, receiver string) (*itopsv1alpha1.Notification, int32) {
	var last *itopsv1alpha1.Notification
	seq := int32(0)
	for i := range recorded {
		n := &recorded[i]
		if n.Receiver != receiver {
			continue
		}
		if n.Transition == itopsv1alpha1.NotifyRepeated && n.Sequence > seq {
			seq = n.Sequence
		}
		if n.Transition == itopsv1alpha1.NotifyRepeated || n.Transition == itopsv1alpha1.NotifyOpened {
			last = n
		}
	}
	for _, w := range planned {
		if w.Receiver == receiver && (w.Transition == itopsv1alpha1.NotifyRepeated || w.Transition == itopsv1alpha1.NotifyOpened) {
			last = &itopsv1alpha1.Notification{Receiver: w.Receiver, Transition: w.Transition, Sequence: w.Sequence,
				State: itopsv1alpha1.NotificationPending}
		}
	}
	return last, seq
}

// Paged returns the receivers that were paged for the incident (an Opened or Escalated
// delivery recorded or planned), sorted.
func Paged(recorded []itopsv1alpha1.Notification, planned []Want) []string {
	set := map[string]bool{}
	for _, n := range recorded {
		if n.Transition == itopsv1alpha1.NotifyOpened || n.Transition == itopsv1alpha1.NotifyEscalated {
			set[n.Receiver] = true
		}
	}
	for _, w := range planned {
		if w.Transition == itopsv1alpha1.NotifyOpened || w.Transition == itopsv1alpha1.NotifyEscalated {
			set[w.Receiver] = true
		}
	}
	out := make([]string, 0, len(set))
	for name := range set {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// Key is the idempotency key of a delivery: the first 32 hex digits of
// SHA-256(uid "/" receiver "/" transition "/" sequence). It is stable across restarts and
// leader changes, so a resend after a crash carries the same key.
func Key(uid, receiver, transition string, seq int32) string {
	sum := sha256.Sum256([]byte(uid + "/" + receiver + "/" + transition + "/" + strconv.Itoa(int(seq))))
	return hex.EncodeToString(sum[:16])
}

// Record appends the planned deliveries to recorded as Pending entries at now and bounds the
// list (see Bound).
func Record(uid string, recorded []itopsv1alpha1.Notification, planned []Want, now time.Time) []itopsv1alpha1.Notification {
	out := append([]itopsv1alpha1.Notification(nil), recorded...)
	for _, w := range planned {
		out = append(out, itopsv1alpha1.Notification{
			Receiver: w.Receiver, Transition: w.Transition, Sequence: w.Sequence,
			Key: Key(uid, w.Receiver, w.Transition, w.Sequence), State: itopsv1alpha1.NotificationPending, At: metav1.NewTime(now),
		})
	}
	return Bound(out)
}

// Bound keeps at most MaxNotifications entries: first it drops settled Repeated entries that
// a later Repeated entry to the same receiver supersedes (its sequence counts them), then the
// oldest settled entries. Pending entries are never dropped.
func Bound(list []itopsv1alpha1.Notification) []itopsv1alpha1.Notification {
	if len(list) <= itopsv1alpha1.MaxNotifications {
		return list
	}
	latest := map[string]int32{}
	for _, n := range list {
		if n.Transition == itopsv1alpha1.NotifyRepeated && n.Sequence > latest[n.Receiver] {
			latest[n.Receiver] = n.Sequence
		}
	}
	out := list[:0:0]
	excess := len(list) - itopsv1alpha1.MaxNotifications
	for _, n := range list {
		if excess > 0 && n.State != itopsv1alpha1.NotificationPending && n.Transition == itopsv1alpha1.NotifyRepeated && n.Sequence < latest[n.Receiver] {
			excess--
			continue
		}
		out = append(out, n)
	}
	if excess > 0 {
		kept := out[:0:0]
		for _, n := range out {
			if excess > 0 && n.State != itopsv1alpha1.NotificationPending {
				excess--
				continue
			}
			kept = append(kept, n)
		}
		out = kept
	}
	return out
}

// Sendable returns the indexes of the Pending entries to send now: per receiver, only its
// earliest Pending entry (deliveries of one incident reach one receiver in order: a Resolved
// never overtakes its Opened), and only once its nextAttemptAt has come. next is the earliest
// future nextAttemptAt (zero: none).
func Sendable(list []itopsv1alpha1.Notification, now time.Time) (idx []int, next time.Time) {
	seen := map[string]bool{}
	for i, n := range list {
		if n.State != itopsv1alpha1.NotificationPending || seen[n.Receiver] {
			continue
		}
		seen[n.Receiver] = true
		if n.NextAttemptAt != nil && now.Before(n.NextAttemptAt.Time) {
			if next.IsZero() || n.NextAttemptAt.Before(&metav1.Time{Time: next}) {
				next = n.NextAttemptAt.Time
			}
			continue
		}
		idx = append(idx, i)
	}
	return idx, next
}

// UnknownEscalationMessage is the timeline entry about an escalation that names nothing in the
// policy; fallback is the route escalation used instead ("" when none).
func UnknownEscalationMessage(name, fallback string) string {
	msg := fmt.Sprintf("escalation %q (spec.owner.escalation of the ServiceLevel, or the namespace annotation %s) names no route or receiver of the notification policy: ",
		name, itopsv1alpha1.AnnotationEscalation)
	if fallback == "" {
		return msg + "nobody is escalated to; fix the name"
	}
	return msg + "escalating to " + fallback + " (the matching route's escalation) instead"
}

// Describe is a one-line account of a delivery for the timeline and Events.
func Describe(n itopsv1alpha1.Notification) string {
	what := n.Transition
	if n.Sequence > 0 {
		what = fmt.Sprintf("%s #%d", n.Transition, n.Sequence)
	}
	switch n.State {
	case itopsv1alpha1.NotificationDelivered:
		return fmt.Sprintf("%s delivered to %s (attempt %d)", what, n.Receiver, n.Attempts)
	case itopsv1alpha1.NotificationFailed:
		return fmt.Sprintf("%s to %s failed after %d attempts: %s", what, n.Receiver, n.Attempts, n.LastError)
	}
	return fmt.Sprintf("%s to %s pending (attempt %d): %s", what, n.Receiver, n.Attempts, n.LastError)
}

// Package notification delivers incident transitions to the receivers of the administrator
// policy (webhook, Slack, PagerDuty, e-mail), at least once and recorded in the API: each
// delivery is recorded Pending in status.notifications before it is sent and Delivered or
// Failed after, so a restart or a leader change resends only what was not recorded, with the
// same idempotency key (docs/notifications.md).
package notification

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/controllers/incident"
	"github.com/itops-dev/itops-operator/internal/config"
	"github.com/itops-dev/itops-operator/internal/health"
	"github.com/itops-dev/itops-operator/internal/notify"
)

// Timeline entry types written by the notification controller.
const (
	TimelineNotified           = "Notified"
	TimelineNotificationFailed = "NotificationFailed"
	TimelineNotificationRetry  = "NotificationRetrying"
	// TimelineEscalationUnknown: the incident's escalation names nothing in the policy.
	TimelineEscalationUnknown = "EscalationUnknown"
)

// Reconciler delivers the notifications of one incident per reconcile. It is the only writer
// of status.notifications; its timeline entries are patched under optimistic locking like
// the incident controller's, so neither overwrites the other.
type Reconciler struct {
	client.Client
	// APIReader reads Secrets (directly, never cached cluster-wide) in OperatorNamespace, and
	// re-reads an incident after a conflicting write.
	APIReader         client.Reader
	OperatorNamespace string
	Policy            *config.NotificationPolicy
	Recorder          recorder.EventRecorder
	// Clock is injected for tests; the real clock when nil.
	Clock clock.PassiveClock
	// HTTPClient sends webhook, Slack and PagerDuty requests (default: a client whose
	// attempts are bounded by each receiver's timeout).
	HTTPClient *http.Client
	// Senders overrides the sender of a receiver by name (tests).
	Senders map[string]Sender
	// Jitter is the backoff jitter source, in [0, 1) (tests fix it).
	Jitter func() float64
	// SlotsPerReceiver bounds the concurrent sends to one receiver (default 4): a hanging
	// receiver holds at most that many workers, for at most its timeout.
	SlotsPerReceiver int

	once  sync.Once
	lanes map[string]*lane
}

// lane is one receiver's sender, rate limit and concurrency bound.
type lane struct {
	receiver config.Receiver
	sender   Sender
	limiter  *rate.Limiter
	slots    chan struct{}
}

// +kubebuilder:rbac:groups=itops.dev,resources=incidents,verbs=get;list;watch
// +kubebuilder:rbac:groups=itops.dev,resources=incidents/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch

func (r *Reconciler) now() time.Time {
	if r.Clock == nil {
		return time.Now()
	}
	return r.Clock.Now()
}

func (r *Reconciler) init() {
	r.once.Do(func() {
		if r.HTTPClient == nil {
			r.HTTPClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
		}
		if r.Jitter == nil {
			r.Jitter = notify.Jitter
		}
		if r.SlotsPerReceiver <= 0 {
			r.SlotsPerReceiver = 4
		}
		r.lanes = map[string]*lane{}
		for _, rc := range r.Policy.Receivers {
			s := r.Senders[rc.Name]
			if s == nil {
				s = NewSender(rc, r.secret, r.HTTPClient, r.now)
			}
			perMinute, burst := int32(config.DefaultRatePerMinute), int32(config.DefaultRateBurst)
			if rc.RateLimit != nil {
				perMinute, burst = rc.RateLimit.PerMinute, max(1, rc.RateLimit.Burst)
			}
			r.lanes[rc.Name] = &lane{receiver: rc, sender: s, limiter: rate.NewLimiter(rate.Limit(float64(perMinute)/60), int(burst)),
				slots: make(chan struct{}, r.SlotsPerReceiver)}
		}
	})
}

// secret reads one key of a Secret in the operator namespace, directly from the API server
// (no cluster-wide Secret cache). Its value never reaches a log, an Event or a status.
func (r *Reconciler) secret(ctx context.Context, ref config.SecretKeyRef) ([]byte, error) {
	s := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: r.OperatorNamespace, Name: ref.Name}, s); err != nil {
		return nil, fmt.Errorf("reading Secret %s/%s: %w", r.OperatorNamespace, ref.Name, err)
	}
	v, ok := s.Data[ref.Key]
	if !ok || len(v) == 0 {
		return nil, fmt.Errorf("the Secret %s/%s has no key %q", r.OperatorNamespace, ref.Name, ref.Key)
	}
	return v, nil
}

// retryBusy is how soon a delivery waiting for a free slot of its receiver is tried again.
const retryBusy = time.Second

// Reconcile records the incident's due deliveries as Pending, sends those whose turn has come
// and records the outcome.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	r.init()
	inc := &itopsv1alpha1.Incident{}
	if err := r.Get(ctx, req.NamespacedName, inc); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !inc.DeletionTimestamp.IsZero() || len(r.Policy.Receivers) == 0 {
		return ctrl.Result{}, nil
	}
	now := r.now()
	ns := &corev1.Namespace{}
	if err := r.Get(ctx, client.ObjectKey{Name: inc.Namespace}, ns); err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, err
	}
	routing := notify.Route(r.Policy, inc, ns.Labels)
	plan := notify.Due(inc, routing, inc.Status.Notifications, now)
	note, noteDue := unknownEscalationNote(inc, routing, now)
	if len(plan.New) > 0 || noteDue {
		base := inc.DeepCopy()
		inc.Status.Notifications = notify.Record(string(inc.UID), inc.Status.Notifications, plan.New, now)
		if noteDue {
			inc.Status.Timeline, inc.Status.TimelineOmitted = incident.AppendTimeline(inc.Status.Timeline, inc.Status.TimelineOmitted, note)
		}
		if err := r.Status().Patch(ctx, inc, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
			if apierrors.IsConflict(err) {
				return ctrl.Result{RequeueAfter: 100 * time.Millisecond}, nil
			}
			return ctrl.Result{}, err
		}
		if noteDue && r.Recorder != nil {
			r.Recorder.Eventf(inc, nil, corev1.EventTypeWarning, TimelineEscalationUnknown, "Route", "%s", note.Message)
		}
	}
	idx, next := notify.Sendable(inc.Status.Notifications, now)
	if len(idx) > 0 && len(plan.New) == 0 {
		// The cache may not have caught up with our own last record (Delivered): send only
		// what the API server still has Pending, or a delivery would go out twice.
		live := &itopsv1alpha1.Incident{}
		if err := r.APIReader.Get(ctx, req.NamespacedName, live); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
		if live.ResourceVersion != inc.ResourceVersion {
			inc = live
			idx, next = notify.Sendable(inc.Status.Notifications, now)
		}
	}
	results, wait, err := r.send(ctx, inc, idx, func(res []result) error { return r.record(ctx, req.NamespacedName, res) })
	if err != nil {
		return ctrl.Result{}, err
	}
	// The next boundary: a repeat falling due, a backoff ending, a rate limit or a busy slot.
	after := time.Duration(0)
	for _, t := range []time.Time{plan.Next, next} {
		if !t.IsZero() && (after == 0 || t.Sub(now) < after) {
			after = max(t.Sub(now), time.Millisecond)
		}
	}
	if wait > 0 && (after == 0 || wait < after) {
		after = wait
	}
	for _, res := range results {
		if res.n.State == itopsv1alpha1.NotificationPending && res.n.NextAttemptAt != nil {
			if d := max(res.n.NextAttemptAt.Sub(now), time.Millisecond); after == 0 || d < after {
				after = d
			}
		}
	}
	return ctrl.Result{RequeueAfter: after}, nil
}

// unknownEscalationNote returns the timeline entry saying that the incident's escalation names
// nothing in the policy, and whether it is due: once per incident (not while resolved, and not
// when the timeline already says it about that name).
func unknownEscalationNote(inc *itopsv1alpha1.Incident, routing notify.Routing, now time.Time) (itopsv1alpha1.TimelineEntry, bool) {
	if routing.UnknownEscalation == "" || inc.Status.Phase == itopsv1alpha1.IncidentResolved || inc.Status.Phase == itopsv1alpha1.IncidentClosed {
		return itopsv1alpha1.TimelineEntry{}, false
	}
	msg := health.Truncate(notify.UnknownEscalationMessage(routing.UnknownEscalation, strings.Join(routing.Escalation, ", ")), 1024)
	for _, e := range inc.Status.Timeline {
		if e.Type == TimelineEscalationUnknown && strings.Contains(e.Message, strconv.Quote(routing.UnknownEscalation)) {
			return itopsv1alpha1.TimelineEntry{}, false
		}
	}
	return itopsv1alpha1.TimelineEntry{At: metav1.NewTime(now), Type: TimelineEscalationUnknown, Message: msg}, true
}

// result is the outcome of one send: the updated entry.
type result struct {
	n   itopsv1alpha1.Notification
	err error
}

// send sends the entries at idx, one goroutine each, each within its receiver's timeout, slot
// and rate limit, and hands each outcome to persist as soon as it is known (one at a time), so
// that a slow receiver does not hold back the record of a fast one: a crash then resends only
// the deliveries that were really unrecorded. An entry whose receiver is busy or rate-limited
// is not sent; wait says when to try again. persist may be nil (tests of the send path).
func (r *Reconciler) send(ctx context.Context, inc *itopsv1alpha1.Incident, idx []int, persist func([]result) error) ([]result, time.Duration, error) {
	r.init()
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		out       []result
		wait      time.Duration
		errs      []error
		persistMu sync.Mutex
	)
	keep := func(res result) {
		if persist != nil {
			persistMu.Lock()
			err := persist([]result{res})
			persistMu.Unlock()
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}
		mu.Lock()
		out = append(out, res)
		mu.Unlock()
	}
	later := func(d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		if wait == 0 || d < wait {
			wait = d
		}
	}
	for _, i := range idx {
		n := inc.Status.Notifications[i]
		l := r.lanes[n.Receiver]
		if l == nil || l.sender == nil {
			n.State, n.LastError, n.At = itopsv1alpha1.NotificationFailed, "receiver "+n.Receiver+" is no longer in the policy", metav1.NewTime(r.now())
			n.NextAttemptAt = nil
			keep(result{n: n})
			continue
		}
		select {
		case l.slots <- struct{}{}:
		default:
			later(retryBusy)
			continue
		}
		res := l.limiter.ReserveN(r.now(), 1)
		if d := res.DelayFrom(r.now()); d > 0 {
			res.CancelAt(r.now())
			<-l.slots
			later(d)
			continue
		}
		msg := notify.NewMessage(inc, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-l.slots }()
			actx, cancel := context.WithTimeout(ctx, l.receiver.Timeout.Duration)
			err := l.sender.Send(actx, msg)
			cancel()
			if err != nil && actx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
				err = fmt.Errorf("no answer within %s: %w", l.receiver.Timeout.Duration, err)
			}
			n.Priority = msg.Priority
			keep(result{n: settle(n, err, l.receiver.MaxAttempts, r.now(), r.Jitter()), err: err})
		}()
	}
	wg.Wait()
	return out, wait, errors.Join(errs...)
}

// settle returns entry n after one attempt that ended with err: Delivered; Failed when err is
// permanent or the attempts are used up; else still Pending with the next attempt after the
// backoff.
func settle(n itopsv1alpha1.Notification, err error, maxAttempts int32, now time.Time, jitter float64) itopsv1alpha1.Notification {
	n.Attempts++
	n.At = metav1.NewTime(now)
	n.NextAttemptAt = nil
	if err == nil {
		n.State, n.LastError = itopsv1alpha1.NotificationDelivered, ""
		return n
	}
	n.LastError = health.Truncate(err.Error(), 512)
	if IsPermanent(err) || (maxAttempts > 0 && n.Attempts >= maxAttempts) {
		n.State = itopsv1alpha1.NotificationFailed
		return n
	}
	n.State = itopsv1alpha1.NotificationPending
	next := metav1.NewTime(now.Add(notify.Backoff(n.Attempts, jitter)))
	n.NextAttemptAt = &next
	return n
}

// record writes the outcomes into status.notifications (by key) and the timeline, retrying on
// conflicts with a fresh read: a message was sent, so its record must not be lost to a race.
func (r *Reconciler) record(ctx context.Context, key types.NamespacedName, results []result) error {
	var inc *itopsv1alpha1.Incident
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		inc = &itopsv1alpha1.Incident{}
		if err := r.APIReader.Get(ctx, key, inc); err != nil {
			return client.IgnoreNotFound(err)
		}
		base := inc.DeepCopy()
		var entries []itopsv1alpha1.TimelineEntry
		for _, res := range results {
			for i := range inc.Status.Notifications {
				cur := &inc.Status.Notifications[i]
				if cur.Key != res.n.Key || cur.State != itopsv1alpha1.NotificationPending {
					continue
				}
				*cur = res.n
				if e, ok := timelineEntry(res.n); ok {
					entries = append(entries, e)
				}
			}
		}
		for _, e := range entries {
			inc.Status.Timeline, inc.Status.TimelineOmitted = incident.AppendTimeline(inc.Status.Timeline, inc.Status.TimelineOmitted, e)
		}
		err := r.Status().Patch(ctx, inc, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
		if err == nil {
			r.observe(inc, results)
			return nil
		}
		if !apierrors.IsConflict(err) {
			return err
		}
		lastErr = err
	}
	return lastErr
}

// timelineEntry is the timeline entry of an outcome: every delivery and final failure, and the
// first failed attempt (not every retry, which would crowd the timeline).
func timelineEntry(n itopsv1alpha1.Notification) (itopsv1alpha1.TimelineEntry, bool) {
	typ := ""
	switch {
	case n.State == itopsv1alpha1.NotificationDelivered:
		typ = TimelineNotified
	case n.State == itopsv1alpha1.NotificationFailed:
		typ = TimelineNotificationFailed
	case n.Attempts == 1:
		typ = TimelineNotificationRetry
	default:
		return itopsv1alpha1.TimelineEntry{}, false
	}
	return itopsv1alpha1.TimelineEntry{At: n.At, Type: typ, Message: health.Truncate(notify.Describe(n), 1024)}, true
}

// observe counts the outcomes and records an Event for each delivery and failure.
func (r *Reconciler) observe(inc *itopsv1alpha1.Incident, results []result) {
	for _, res := range results {
		outcome := "retry"
		switch res.n.State {
		case itopsv1alpha1.NotificationDelivered:
			outcome = "delivered"
		case itopsv1alpha1.NotificationFailed:
			outcome = "failed"
		}
		NotificationsTotal.WithLabelValues(res.n.Receiver, res.n.Transition, outcome).Inc()
		if r.Recorder == nil {
			continue
		}
		switch outcome {
		case "delivered":
			r.Recorder.Eventf(inc, nil, corev1.EventTypeNormal, TimelineNotified, "Notify", "%s", notify.Describe(res.n))
		case "failed":
			r.Recorder.Eventf(inc, nil, corev1.EventTypeWarning, TimelineNotificationFailed, "Notify", "%s", notify.Describe(res.n))
		}
	}
}

// SetupWithManager registers the controller (and its metric). Incidents are reconciled on
// every change; sends run in the reconcile, bounded per receiver, so up to 8 incidents are
// delivered at once.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	RegisterMetrics()
	r.init()
	return ctrl.NewControllerManagedBy(mgr).
		For(&itopsv1alpha1.Incident{}).
		Named("notification").
		WithOptions(controller.Options{MaxConcurrentReconciles: 8}).
		Complete(r)
}

package notification

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/config"
)

// AnnotationChangeEvents on a ChangeRequest records the PagerDuty change events sent for it,
// per receiver ("started/pd-a,failed/pd-a"), so that each is sent once to each receiver,
// across restarts; only the operator may write it (internal/webhook).
const AnnotationChangeEvents = itopsv1alpha1.AnnotationPagerDutyChangeEvents

// Change events sent for ChangeRequests.
const (
	ChangeEventStarted = "started"
	ChangeEventFailed  = "failed"
)

// ChangeEvent is one change event due to one receiver.
type ChangeEvent struct {
	Event    string
	Receiver string
}

// String is the event's entry in AnnotationChangeEvents: "event/receiver".
func (e ChangeEvent) String() string { return e.Event + "/" + e.Receiver }

// ChangeEventsFor returns the change events a ChangeRequest in phase (with startedAt set or
// not) is due, per receiver, given the entries already recorded (AnnotationChangeEvents):
// "started" once it has started (InProgress, or any later phase with startedAt), "failed" once
// Failed, each to every receiver that has not had it. A bare "started" or "failed" (recorded
// before the record was per receiver) counts as sent to every receiver.
func ChangeEventsFor(phase itopsv1alpha1.ChangePhase, started bool, receivers, sent []string) []ChangeEvent {
	var events []string
	if phase == itopsv1alpha1.ChangeInProgress || started {
		events = append(events, ChangeEventStarted)
	}
	if phase == itopsv1alpha1.ChangeFailed {
		events = append(events, ChangeEventFailed)
	}
	var out []ChangeEvent
	for _, ev := range events {
		if slices.Contains(sent, ev) {
			continue
		}
		for _, name := range receivers {
			if e := (ChangeEvent{Event: ev, Receiver: name}); !slices.Contains(sent, e.String()) {
				out = append(out, e)
			}
		}
	}
	return out
}

// ChangeEventReceivers returns the PagerDuty receivers with changeEvents that get the change
// events of a namespace with nsLabels: those a route with a matching (or no) namespaceSelector
// names. The other match criteria are about incidents and do not apply to changes.
func ChangeEventReceivers(p *config.NotificationPolicy, nsLabels map[string]string) []string {
	var out []string
	for _, r := range p.Routes {
		if s := r.Match.NamespaceSelector; s != nil {
			sel, err := metav1.LabelSelectorAsSelector(s)
			if err != nil || !sel.Matches(labels.Set(nsLabels)) {
				continue
			}
		}
		for _, name := range r.Receivers {
			if rc := p.Receiver(name); rc != nil && rc.PagerDuty != nil && rc.PagerDuty.ChangeEvents && !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
	}
	slices.Sort(out)
	return out
}

// ChangeReconciler sends PagerDuty change events (/v2/change/enqueue) when a ChangeRequest
// starts or fails, so that PagerDuty shows the change next to the incidents it may cause. Each
// event is sent to one receiver, then recorded for that receiver in the AnnotationChangeEvents
// annotation before the next is sent: a failure of one receiver never resends to another. At
// least once: a crash between a send and its record resends that one (PagerDuty does not
// deduplicate change events).
type ChangeReconciler struct {
	client.Client
	APIReader         client.Reader
	OperatorNamespace string
	Policy            *config.NotificationPolicy
	HTTPClient        *http.Client
	Clock             clock.PassiveClock
}

// +kubebuilder:rbac:groups=itops.dev,resources=changerequests,verbs=get;list;watch;patch

// Reconcile sends the change events due for one ChangeRequest.
func (r *ChangeReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	cr := &itopsv1alpha1.ChangeRequest{}
	if err := r.Get(ctx, req.NamespacedName, cr); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	ns := &corev1.Namespace{}
	if err := r.Get(ctx, client.ObjectKey{Name: cr.Namespace}, ns); err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, err
	}
	receivers := ChangeEventReceivers(r.Policy, ns.Labels)
	if len(ChangeEventsFor(cr.Status.Phase, cr.Status.StartedAt != nil, receivers, splitList(cr.Annotations[AnnotationChangeEvents]))) == 0 {
		return ctrl.Result{}, nil
	}
	// The cache may not have caught up with our own last record: decide on the API server's.
	if err := r.APIReader.Get(ctx, req.NamespacedName, cr); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	sent := splitList(cr.Annotations[AnnotationChangeEvents])
	due := ChangeEventsFor(cr.Status.Phase, cr.Status.StartedAt != nil, receivers, sent)
	rec := &Reconciler{APIReader: r.APIReader, OperatorNamespace: r.OperatorNamespace}
	now := time.Now()
	if r.Clock != nil {
		now = r.Clock.Now()
	}
	for _, ev := range due {
		rc := r.Policy.Receiver(ev.Receiver)
		s := &pagerDutySender{cfg: *rc.PagerDuty, secret: rec.secret, client: r.HTTPClient}
		actx, cancel := context.WithTimeout(ctx, rc.Timeout.Duration)
		err := s.SendChange(actx, fmt.Sprintf("ChangeRequest %s/%s %s: %s", cr.Namespace, cr.Name, ev.Event, cr.Spec.Title),
			cr.Namespace+"/"+cr.Name, now, map[string]any{"type": cr.Spec.Type, "risk": cr.Spec.Risk, "phase": cr.Status.Phase,
				"requestedBy": cr.Spec.RequestedBy})
		cancel()
		outcome := "delivered"
		if err != nil {
			outcome = "retry"
		}
		NotificationsTotal.WithLabelValues(ev.Receiver, "Change"+strings.ToUpper(ev.Event[:1])+ev.Event[1:], outcome).Inc()
		if err != nil {
			return ctrl.Result{}, fmt.Errorf("sending the %s change event to %s: %w", ev.Event, ev.Receiver, err)
		}
		sent = append(sent, ev.String())
		patch := client.MergeFrom(cr.DeepCopy())
		if cr.Annotations == nil {
			cr.Annotations = map[string]string{}
		}
		cr.Annotations[AnnotationChangeEvents] = strings.Join(sent, ",")
		if err := r.Patch(ctx, cr, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("recording the %s change event sent to %s: %w", ev.Event, ev.Receiver, err)
		}
	}
	return ctrl.Result{}, nil
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// SetupWithManager registers the controller when a PagerDuty receiver wants change events.
func (r *ChangeReconciler) SetupWithManager(mgr ctrl.Manager) error {
	wanted := false
	for _, rc := range r.Policy.Receivers {
		wanted = wanted || (rc.PagerDuty != nil && rc.PagerDuty.ChangeEvents)
	}
	if !wanted {
		return nil
	}
	if r.HTTPClient == nil {
		r.HTTPClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	phaseChanged := predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*itopsv1alpha1.ChangeRequest)
		n, ok2 := e.ObjectNew.(*itopsv1alpha1.ChangeRequest)
		return ok1 && ok2 && o.Status.Phase != n.Status.Phase
	}}
	return ctrl.NewControllerManagedBy(mgr).
		For(&itopsv1alpha1.ChangeRequest{}, builder.WithPredicates(phaseChanged)).
		Named("pagerduty-change-events").
		Complete(r)
}

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

// AnnotationChangeEvents on a ChangeRequest lists the PagerDuty change events sent for it
// ("started", "failed"), so that each is sent once, across restarts.
const AnnotationChangeEvents = "itops.dev/pagerduty-change-events"

// Change events sent for ChangeRequests.
const (
	ChangeEventStarted = "started"
	ChangeEventFailed  = "failed"
)

// ChangeEventsFor returns the change events a ChangeRequest in phase (with startedAt set or
// not) is due, given those already sent: "started" once it has started (InProgress, or any
// later phase with startedAt), "failed" once Failed.
func ChangeEventsFor(phase itopsv1alpha1.ChangePhase, started bool, sent []string) []string {
	var out []string
	if (phase == itopsv1alpha1.ChangeInProgress || started) && !slices.Contains(sent, ChangeEventStarted) {
		out = append(out, ChangeEventStarted)
	}
	if phase == itopsv1alpha1.ChangeFailed && !slices.Contains(sent, ChangeEventFailed) {
		out = append(out, ChangeEventFailed)
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
// event is sent, then recorded in the AnnotationChangeEvents annotation (at least once: a crash
// in between resends it; PagerDuty does not deduplicate change events).
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
	sent := splitList(cr.Annotations[AnnotationChangeEvents])
	due := ChangeEventsFor(cr.Status.Phase, cr.Status.StartedAt != nil, sent)
	if len(due) == 0 {
		return ctrl.Result{}, nil
	}
	ns := &corev1.Namespace{}
	if err := r.Get(ctx, client.ObjectKey{Name: cr.Namespace}, ns); err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, err
	}
	receivers := ChangeEventReceivers(r.Policy, ns.Labels)
	if len(receivers) == 0 {
		return ctrl.Result{}, nil
	}
	rec := &Reconciler{APIReader: r.APIReader, OperatorNamespace: r.OperatorNamespace}
	now := time.Now()
	if r.Clock != nil {
		now = r.Clock.Now()
	}
	for _, ev := range due {
		for _, name := range receivers {
			rc := r.Policy.Receiver(name)
			s := &pagerDutySender{cfg: *rc.PagerDuty, secret: rec.secret, client: r.HTTPClient}
			actx, cancel := context.WithTimeout(ctx, rc.Timeout.Duration)
			err := s.SendChange(actx, fmt.Sprintf("ChangeRequest %s/%s %s: %s", cr.Namespace, cr.Name, ev, cr.Spec.Title),
				cr.Namespace+"/"+cr.Name, now, map[string]any{"type": cr.Spec.Type, "risk": cr.Spec.Risk, "phase": cr.Status.Phase,
					"requestedBy": cr.Spec.RequestedBy})
			cancel()
			outcome := "delivered"
			if err != nil {
				outcome = "retry"
			}
			NotificationsTotal.WithLabelValues(name, "Change"+strings.ToUpper(ev[:1])+ev[1:], outcome).Inc()
			if err != nil {
				return ctrl.Result{}, fmt.Errorf("sending the %s change event to %s: %w", ev, name, err)
			}
		}
		sent = append(sent, ev)
		patch := client.MergeFrom(cr.DeepCopy())
		if cr.Annotations == nil {
			cr.Annotations = map[string]string{}
		}
		cr.Annotations[AnnotationChangeEvents] = strings.Join(sent, ",")
		if err := r.Patch(ctx, cr, patch); err != nil {
			return ctrl.Result{}, err
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

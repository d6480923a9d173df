// Package promrule writes the PrometheusRule (monitoring.coreos.com/v1) of every ServiceLevel
// whose Prometheus SLI sets spec.objectives.sli.prometheusRule: the recording and
// multi-window multi-burn-rate alerting rules internal/promrule generates, server-side
// applied (field manager itops-operator), named as the ServiceLevel, controlled by it (so
// deleting the ServiceLevel deletes it), labelled with the ServiceLevel's own labels (so a
// Prometheus ruleSelector such as release: kube-prometheus-stack picks it up, as Sloth and
// Pyrra do). It deletes the rule when prometheusRule is unset or the SLI is no longer a
// Prometheus one, and never touches a PrometheusRule of that name it does not control.
//
// It reports on the ServiceLevel with the condition RulesGenerated, the only status field it
// writes, by server-side apply under its own field manager (itops-operator-promrule): the
// ServiceLevel controller's status patches carry the conditions they read, under optimistic
// locking, so neither writer overwrites the other's conditions.
//
// When the API server does not serve PrometheusRule (prometheus-operator's CRDs are not
// installed), ServiceLevels asking for rules get RulesGenerated=False PrometheusRuleNotServed;
// the controller logs once and checks again every RetryInterval, as the custom detectors do,
// then watches PrometheusRules and writes the rules of every ServiceLevel that asks for them.
package promrule

import (
	"context"
	"fmt"
	"maps"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	crevent "sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
	"sigs.k8s.io/controller-runtime/pkg/source"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/health"
	"github.com/itops-dev/itops-operator/internal/promrule"
)

// Field managers: the PrometheusRule's, and the RulesGenerated condition's.
const (
	FieldManager          = "itops-operator"
	ConditionFieldManager = "itops-operator-promrule"
)

// ManagedByLabel marks the PrometheusRules the operator writes.
const ManagedByLabel = "app.kubernetes.io/managed-by"

// RetryInterval is how often the controller checks again whether PrometheusRule is served.
var RetryInterval = 30 * time.Second

// Reconciler keeps the PrometheusRule of each ServiceLevel that asks for one.
type Reconciler struct {
	client.Client
	// APIReader reads past the cache (mgr.GetAPIReader()): before the first apply of a rule,
	// whether one of its name exists that the cache has not seen yet. The cache is used when
	// nil.
	APIReader client.Reader
	// Recorder gets an Event on each RulesGenerated transition (none when nil).
	Recorder recorder.EventRecorder
	// Clock is injected for tests; the real clock when nil.
	Clock clock.PassiveClock
	Log   logr.Logger

	// served is true once PrometheusRule is served and watched.
	served     atomic.Bool
	controller controller.Controller
	wake       chan crevent.GenericEvent
}

// +kubebuilder:rbac:groups=itops.dev,resources=servicelevels,verbs=get;list;watch
// +kubebuilder:rbac:groups=itops.dev,resources=servicelevels/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=monitoring.coreos.com,resources=prometheusrules,verbs=get;list;watch;create;update;patch;delete

func (r *Reconciler) now() time.Time {
	if r.Clock == nil {
		return time.Now()
	}
	return r.Clock.Now()
}

// SetupWithManager registers the controller over ServiceLevels (spec and label changes) and
// the runnable that waits for PrometheusRule to be served, then watches it.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Log.GetSink() == nil {
		r.Log = ctrl.Log.WithName("promrule")
	}
	r.wake = make(chan crevent.GenericEvent, 64)
	c, err := ctrl.NewControllerManagedBy(mgr).
		For(&itopsv1alpha1.ServiceLevel{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}))).
		WatchesRawSource(source.Channel(r.wake, &handler.EnqueueRequestForObject{})).
		Named("promrule").
		Build(r)
	if err != nil {
		return err
	}
	r.controller = c
	return mgr.Add(&waiter{r: r, mgr: mgr})
}

// waiter watches PrometheusRules once they are served.
type waiter struct {
	r   *Reconciler
	mgr manager.Manager
}

// NeedLeaderElection is true: only the leader writes rules.
func (w *waiter) NeedLeaderElection() bool { return true }

// Start checks now and every RetryInterval until PrometheusRule is served, then watches it
// and wakes every ServiceLevel that asks for rules.
func (w *waiter) Start(ctx context.Context) error {
	logged := false
	for {
		_, err := w.mgr.GetRESTMapper().RESTMapping(monitoringv1.SchemeGroupVersion.WithKind(monitoringv1.PrometheusRuleKind).GroupKind(), monitoringv1.SchemeGroupVersion.Version)
		if err == nil {
			break
		}
		if !logged { // once, not every retry
			w.r.Log.Info("waiting for the PrometheusRule kind (monitoring.coreos.com/v1) to be served: ServiceLevels with spec.objectives.sli.prometheusRule report RulesGenerated=False until prometheus-operator's CRDs are installed",
				"why", err.Error(), "retryEvery", RetryInterval.String())
			logged = true
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(RetryInterval):
		}
	}
	err := w.r.controller.Watch(source.Kind(w.mgr.GetCache(), &monitoringv1.PrometheusRule{},
		handler.TypedEnqueueRequestForOwner[*monitoringv1.PrometheusRule](w.mgr.GetScheme(), w.mgr.GetRESTMapper(), &itopsv1alpha1.ServiceLevel{}, handler.OnlyControllerOwner())))
	if err != nil {
		return fmt.Errorf("watching PrometheusRules: %w", err)
	}
	w.r.served.Store(true)
	w.r.Log.Info("PrometheusRule is served: writing the rules of ServiceLevels that ask for them")
	list := &itopsv1alpha1.ServiceLevelList{}
	if err := w.mgr.GetClient().List(ctx, list); err != nil {
		return fmt.Errorf("listing ServiceLevels: %w", err)
	}
	for i := range list.Items {
		sl := &list.Items[i]
		if promrule.Wants(sl) || meta.FindStatusCondition(sl.Status.Conditions, itopsv1alpha1.SLConditionRulesGenerated) != nil {
			select {
			case w.r.wake <- crevent.GenericEvent{Object: sl}:
			case <-ctx.Done():
				return nil
			}
		}
	}
	return nil
}

// Reconcile writes, or deletes, the ServiceLevel's PrometheusRule and reports RulesGenerated.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	sl := &itopsv1alpha1.ServiceLevel{}
	if err := r.Get(ctx, req.NamespacedName, sl); err != nil {
		// Gone: the garbage collector deletes its PrometheusRule (owner reference).
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if sl.DeletionTimestamp != nil {
		return reconcile.Result{}, nil
	}
	d := Decide(sl, r.served.Load())
	if d.Delete {
		if err := r.deleteOwned(ctx, sl); err != nil {
			return reconcile.Result{}, err
		}
	}
	var err error
	if d.Rule != nil {
		var status metav1.ConditionStatus
		var reason, msg string
		status, reason, msg, err = r.apply(ctx, sl, d.Rule)
		d.Condition = &metav1.Condition{Type: itopsv1alpha1.SLConditionRulesGenerated, Status: status, Reason: reason, Message: msg}
	}
	if cerr := r.setCondition(ctx, sl, d.Condition); cerr != nil {
		if apierrors.IsConflict(cerr) {
			// The cached ServiceLevel is behind (another writer, or this one's last write):
			// judge again from a fresher copy.
			r.Log.V(1).Info("the ServiceLevel changed under this reconcile; retrying", "namespace", sl.Namespace, "name", sl.Name)
			return reconcile.Result{RequeueAfter: conflictRetry}, nil
		}
		return reconcile.Result{}, cerr
	}
	return reconcile.Result{}, err
}

// conflictRetry is how soon a reconcile whose condition write conflicted runs again (the
// cache catches up within it).
const conflictRetry = 200 * time.Millisecond

// Decision is what the controller does for a ServiceLevel: the PrometheusRule to apply
// (nil: none), whether to delete the one it controls, and the RulesGenerated condition to
// report (nil: none, the condition is removed; with Rule set the apply's outcome replaces it).
type Decision struct {
	Rule      *monitoringv1.PrometheusRule
	Delete    bool
	Condition *metav1.Condition
}

// Decide is the controller's pure decision from the ServiceLevel and whether PrometheusRule
// is served.
func Decide(sl *itopsv1alpha1.ServiceLevel, served bool) Decision {
	cond := func(status metav1.ConditionStatus, reason, msg string) *metav1.Condition {
		return &metav1.Condition{Type: itopsv1alpha1.SLConditionRulesGenerated, Status: status, Reason: reason, Message: msg}
	}
	if !promrule.Wants(sl) {
		return Decision{Delete: served}
	}
	if !served {
		return Decision{Condition: cond(metav1.ConditionFalse, itopsv1alpha1.SLReasonPrometheusRuleNotServed,
			"the API server does not serve monitoring.coreos.com/v1 PrometheusRule: install prometheus-operator's CRDs; the rules are written once it is served")}
	}
	groups, err := promrule.Generate(sl)
	if err != nil {
		return Decision{Condition: cond(metav1.ConditionFalse, itopsv1alpha1.ReasonInvalidSpec, "no rules generated: "+err.Error())}
	}
	return Decision{Rule: Desired(sl, groups)}
}

// Desired is the PrometheusRule of sl: same namespace and name, controlled by sl, its labels
// plus app.kubernetes.io/managed-by: itops-operator, the groups as spec.
func Desired(sl *itopsv1alpha1.ServiceLevel, groups []monitoringv1.RuleGroup) *monitoringv1.PrometheusRule {
	labels := map[string]string{}
	for k, v := range sl.Labels {
		labels[k] = v
	}
	labels[ManagedByLabel] = "itops-operator"
	controllerRef := true
	return &monitoringv1.PrometheusRule{
		TypeMeta: metav1.TypeMeta{APIVersion: monitoringv1.SchemeGroupVersion.String(), Kind: monitoringv1.PrometheusRuleKind},
		ObjectMeta: metav1.ObjectMeta{Namespace: sl.Namespace, Name: sl.Name, Labels: labels,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: itopsv1alpha1.GroupVersion.String(), Kind: "ServiceLevel",
				Name: sl.Name, UID: sl.UID, Controller: &controllerRef}}},
		Spec: monitoringv1.PrometheusRuleSpec{Groups: groups},
	}
}

// apply writes the rule unless a PrometheusRule of its name exists that sl does not control,
// or the cached one already matches. It returns the condition to report, and the error to
// retry with.
func (r *Reconciler) apply(ctx context.Context, sl *itopsv1alpha1.ServiceLevel, want *monitoringv1.PrometheusRule) (metav1.ConditionStatus, string, string, error) {
	rules, alerts := 0, 0
	for _, g := range want.Spec.Groups {
		for _, rule := range g.Rules {
			if rule.Alert != "" {
				alerts++
			} else {
				rules++
			}
		}
	}
	applied := fmt.Sprintf("PrometheusRule %s holds %d recording rules and %d alerts", want.Name, rules, alerts)
	have := &monitoringv1.PrometheusRule{}
	err := r.Get(ctx, client.ObjectKeyFromObject(want), have)
	if apierrors.IsNotFound(err) && r.APIReader != nil {
		// A PrometheusRule of this name created a moment ago may not be cached yet; an apply
		// would merge into it and take it over. Ask the API server (uncached) first.
		err = r.APIReader.Get(ctx, client.ObjectKeyFromObject(want), have)
	}
	switch {
	case err == nil && !metav1.IsControlledBy(have, sl):
		return metav1.ConditionFalse, itopsv1alpha1.SLReasonPrometheusRuleNotOwned,
			fmt.Sprintf("PrometheusRule %s exists and is not controlled by this ServiceLevel; the operator leaves it alone: delete or rename it", want.Name), nil
	case err == nil && apiequality.Semantic.DeepEqual(have.Spec, want.Spec) && maps.Equal(have.Labels, want.Labels):
		return metav1.ConditionTrue, itopsv1alpha1.SLReasonRulesApplied, applied, nil
	case err != nil && !apierrors.IsNotFound(err):
		return metav1.ConditionFalse, itopsv1alpha1.SLReasonApplyFailed, health.Truncate("reading the PrometheusRule: "+err.Error(), 1024), err
	}
	u, err := toApply(want)
	if err != nil {
		return metav1.ConditionFalse, itopsv1alpha1.SLReasonApplyFailed, health.Truncate(err.Error(), 1024), err
	}
	if err := r.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
		return metav1.ConditionFalse, itopsv1alpha1.SLReasonApplyFailed, health.Truncate("writing the PrometheusRule: "+err.Error(), 1024), err
	}
	r.Log.V(1).Info("PrometheusRule applied", "namespace", sl.Namespace, "name", sl.Name)
	return metav1.ConditionTrue, itopsv1alpha1.SLReasonRulesApplied, applied, nil
}

// toApply is the apply configuration of a PrometheusRule: only the fields the operator owns.
func toApply(pr *monitoringv1.PrometheusRule) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(pr)
	if err != nil {
		return nil, fmt.Errorf("encoding the PrometheusRule: %w", err)
	}
	u := &unstructured.Unstructured{Object: m}
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "status")
	return u, nil
}

// deleteOwned deletes the PrometheusRule of sl's name when sl controls it.
func (r *Reconciler) deleteOwned(ctx context.Context, sl *itopsv1alpha1.ServiceLevel) error {
	have := &monitoringv1.PrometheusRule{}
	if err := r.Get(ctx, client.ObjectKeyFromObject(sl), have); err != nil {
		return client.IgnoreNotFound(err)
	}
	if !metav1.IsControlledBy(have, sl) {
		return nil
	}
	if err := client.IgnoreNotFound(r.Delete(ctx, have, client.Preconditions{UID: &have.UID})); err != nil {
		return fmt.Errorf("deleting PrometheusRule %s: %w", have.Name, err)
	}
	r.Log.Info("PrometheusRule deleted: the ServiceLevel no longer asks for rules", "namespace", sl.Namespace, "name", sl.Name)
	return nil
}

// setCondition makes the ServiceLevel's RulesGenerated condition c (nil: absent), by
// server-side apply of that condition alone under ConditionFieldManager; nothing is written
// when it already is. The transition time is kept while the status does not change.
func (r *Reconciler) setCondition(ctx context.Context, sl *itopsv1alpha1.ServiceLevel, c *metav1.Condition) error {
	old := meta.FindStatusCondition(sl.Status.Conditions, itopsv1alpha1.SLConditionRulesGenerated)
	if c == nil && old == nil {
		return nil
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(itopsv1alpha1.GroupVersion.WithKind("ServiceLevel"))
	u.SetNamespace(sl.Namespace)
	u.SetName(sl.Name)
	// The transition is judged from this copy of the ServiceLevel: the write only applies to
	// it (a stale cache conflicts and is retried), so one transition is one write and one Event.
	u.SetResourceVersion(sl.ResourceVersion)
	if c != nil {
		c.ObservedGeneration = sl.Generation
		c.Message = health.Truncate(c.Message, 1024)
		c.LastTransitionTime = metav1.NewTime(r.now().Truncate(time.Second))
		if old != nil && old.Status == c.Status {
			c.LastTransitionTime = old.LastTransitionTime
			if old.Reason == c.Reason && old.Message == c.Message && old.ObservedGeneration == c.ObservedGeneration {
				return nil
			}
		}
		cond, err := runtime.DefaultUnstructuredConverter.ToUnstructured(c)
		if err != nil {
			return err
		}
		if err := unstructured.SetNestedSlice(u.Object, []any{cond}, "status", "conditions"); err != nil {
			return err
		}
	}
	// Applying without the condition removes the one this field manager owns.
	if err := r.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(ConditionFieldManager), client.ForceOwnership); err != nil {
		if apierrors.IsConflict(err) {
			return err
		}
		return fmt.Errorf("reporting %s on the ServiceLevel: %w", itopsv1alpha1.SLConditionRulesGenerated, err)
	}
	// An Event per transition of the status (the condition in the API is what tells one).
	if r.Recorder != nil && c != nil && (old == nil || old.Status != c.Status) {
		eventType := corev1.EventTypeNormal
		if c.Status != metav1.ConditionTrue {
			eventType = corev1.EventTypeWarning
		}
		r.Recorder.Eventf(sl, nil, eventType, c.Reason, "GenerateRules", "%s", c.Message)
	}
	return nil
}

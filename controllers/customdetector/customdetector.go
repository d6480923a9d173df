// Package customdetector runs the administrator-defined detectors of the policy (key
// detectors, docs/detectors.md): one controller per detector over its kind, read through a
// cache of its own (unstructured, managedFields and the last-applied annotation dropped), each
// object judged by the detector's CEL expressions (internal/detector/custom) and its incident
// written through the shared incident writer (one incident per object, the detector's reason a
// signal, spec.reason Custom).
//
// A detector starts once its kind is served by the API server (its CRD installed) and the
// operator may list and watch it (RBAC, aggregated into itops-operator-owner-reader); until
// then it logs why it waits, sets itops_custom_detector_ready{detector} to 0 and checks again
// every RetryInterval. The rest of the operator runs meanwhile.
package customdetector

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/controllers/incidentwriter"
	"github.com/itops-dev/itops-operator/internal/config"
	"github.com/itops-dev/itops-operator/internal/detector/custom"
	"github.com/itops-dev/itops-operator/internal/health"
	"github.com/itops-dev/itops-operator/internal/priority"
	"github.com/itops-dev/itops-operator/internal/readaccess"
)

// raceRetry is how soon a write that lost a race with another writer is retried (the cache
// catches up within it).
const raceRetry = 200 * time.Millisecond

// RetryInterval is how often a waiting detector checks again for its kind and its RBAC grant.
var RetryInterval = 30 * time.Second

// LastAppliedAnnotation is kubectl's copy of the applied object: often the biggest part of a
// custom resource, never read by a detector.
const LastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

var ready = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Name: "itops_custom_detector_ready",
	Help: "1 when the custom detector watches its kind; 0 while it waits for the kind to be served or for RBAC to allow list and watch.",
}, []string{"detector"})

var evaluationErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "itops_custom_detector_evaluation_errors_total",
	Help: "Evaluations of a custom detector's unhealthy expression that failed (a missing field without has(), a wrong type, the cost limit); the object is not judged.",
}, []string{"detector"})

func init() { crmetrics.Registry.MustRegister(ready, evaluationErrors) }

// Trim drops what no detector reads from a cached object: managedFields and the last-applied
// annotation. Other objects pass through.
func Trim(obj any) (any, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return obj, nil
	}
	unstructured.RemoveNestedField(u.Object, "metadata", "managedFields")
	if a := u.GetAnnotations(); a != nil {
		if _, ok := a[LastAppliedAnnotation]; ok {
			delete(a, LastAppliedAnnotation)
			if len(a) == 0 {
				a = nil
			}
			u.SetAnnotations(a)
		}
	}
	return u, nil
}

// Setup compiles the detectors (the policy was validated: an error here names the key
// anyway) and adds one starter per detector to the manager, with their shared cache.
func Setup(mgr manager.Manager, w *incidentwriter.Writer, detectors []config.Detector) error {
	if len(detectors) == 0 {
		return nil
	}
	c, err := cache.New(mgr.GetConfig(), cache.Options{
		Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(), HTTPClient: mgr.GetHTTPClient(),
		DefaultTransform: Trim, ReaderFailOnMissingInformer: false,
	})
	if err != nil {
		return fmt.Errorf("creating the custom detectors' cache: %w", err)
	}
	if err := mgr.Add(c); err != nil {
		return err
	}
	for i, d := range detectors {
		prg, err := custom.Compile(d.Expressions())
		if err != nil {
			return fmt.Errorf("detectors[%d]: %w", i, err)
		}
		ready.WithLabelValues(d.Name).Set(0)
		s := &starter{mgr: mgr, cache: c, detector: d, index: i, reconciler: &Reconciler{
			Reader: c, Writer: w, Detector: d, Program: prg, GVK: d.GVK(), firstSeen: map[types.NamespacedName]time.Time{},
			Log: ctrl.Log.WithName("customdetector").WithValues("detector", d.Name),
		}}
		if err := mgr.Add(s); err != nil {
			return err
		}
	}
	return nil
}

// starter waits until the detector's kind is served and readable, then starts its controller.
type starter struct {
	mgr        manager.Manager
	cache      cache.Cache
	detector   config.Detector
	index      int
	reconciler *Reconciler
}

// NeedLeaderElection is true: only the leader detects.
func (s *starter) NeedLeaderElection() bool { return true }

// Start checks now and every RetryInterval until the controller runs.
func (s *starter) Start(ctx context.Context) error {
	log, every := s.reconciler.Log, RetryInterval
	started, err := readaccess.Await(ctx, every, s.try, func(why string) {
		log.Error(nil, "custom detector waiting", "key", fmt.Sprintf("detectors[%d]", s.index), "why", why, "retryEvery", every.String())
	})
	if started {
		ready.WithLabelValues(s.detector.Name).Set(1)
		log.Info("custom detector watching", "apiVersion", s.detector.APIVersion, "kind", s.detector.Kind)
	}
	return err
}

// try starts the controller when it can; otherwise it says why not ("" when started).
func (s *starter) try(ctx context.Context) (string, error) {
	gvk := s.detector.GVK()
	mapping, err := s.mgr.GetRESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		if meta.IsNoMatchError(err) {
			return fmt.Sprintf("the API server does not serve %s in %s: install its CRD (or fix apiVersion/kind)", gvk.Kind, gvk.GroupVersion()), nil
		}
		return fmt.Sprintf("resolving %s: %v", gvk, err), nil
	}
	for _, verb := range []string{"list", "watch"} {
		allowed, err := s.allowed(ctx, mapping.Resource, verb)
		if err != nil {
			return fmt.Sprintf("checking RBAC for %s %s: %v", verb, mapping.Resource.GroupResource(), err), nil
		}
		if !allowed {
			return fmt.Sprintf("the operator may not %s %s in every namespace: grant get, list and watch on it in a ClusterRole labelled itops.dev/aggregate-to-owner-reader=true (docs/detectors.md)",
				verb, mapping.Resource.GroupResource()), nil
		}
	}
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(gvk)
	err = ctrl.NewControllerManagedBy(s.mgr).
		Named("customdetector-" + s.detector.Name).
		WatchesRawSource(source.Kind[*unstructured.Unstructured](s.cache, obj, &handler.TypedEnqueueRequestForObject[*unstructured.Unstructured]{})).
		Complete(s.reconciler)
	if err != nil {
		return "", fmt.Errorf("detectors[%d]: starting the controller: %w", s.index, err)
	}
	return "", nil
}

func (s *starter) allowed(ctx context.Context, gvr schema.GroupVersionResource, verb string) (bool, error) {
	review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: &authorizationv1.ResourceAttributes{Group: gvr.Group, Version: gvr.Version, Resource: gvr.Resource, Verb: verb},
	}}
	if err := s.mgr.GetClient().Create(ctx, review); err != nil {
		return false, err
	}
	return review.Status.Allowed, nil
}

// Reconciler judges the objects of one detector's kind.
type Reconciler struct {
	Reader   client.Reader
	Writer   *incidentwriter.Writer
	Detector config.Detector
	Program  *custom.Program
	GVK      schema.GroupVersionKind
	Clock    clock.PassiveClock
	Log      logr.Logger

	mu sync.Mutex
	// firstSeen is when each object was first seen unhealthy in this occurrence, for the
	// grace period of detectors without a since expression (in memory: a restart starts the
	// grace period again, while an open incident's signal stays active, see Problem.Sustain).
	firstSeen map[types.NamespacedName]time.Time
}

func (r *Reconciler) now() time.Time {
	if r.Clock == nil {
		return time.Now()
	}
	return r.Clock.Now()
}

// Reconcile gets the object, judges it and writes its incident's signal; a deleted object
// clears it. Within the grace period it requeues exactly at its end.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	subj := health.Subject{APIVersion: r.GVK.GroupVersion().String(), Kind: r.GVK.Kind, Namespace: req.Namespace, Name: req.Name}
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(r.GVK)
	err := r.Reader.Get(ctx, req.NamespacedName, obj)
	if apierrors.IsNotFound(err) {
		r.forget(req.NamespacedName)
		return r.sync(ctx, subj, nil)
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	if obj.GetDeletionTimestamp() != nil {
		r.forget(req.NamespacedName)
		return r.sync(ctx, subj, nil)
	}
	now := r.now()
	v, err := r.Program.Evaluate(obj.Object)
	if err != nil {
		// The expression cannot judge this object (a field it reads is missing: use has()).
		// Nothing changes on its incident; the next change of the object is judged again.
		evaluationErrors.WithLabelValues(r.Detector.Name).Inc()
		r.Log.V(1).Info("expression failed", "object", req.String(), "error", err.Error())
		return reconcile.Result{}, nil
	}
	r.mu.Lock()
	first := r.firstSeen[req.NamespacedName]
	j := custom.Judge(v, first, r.Detector.Grace(), now)
	switch {
	case !v.Unhealthy:
		delete(r.firstSeen, req.NamespacedName)
	case first.IsZero():
		r.firstSeen[req.NamespacedName] = now
	}
	r.mu.Unlock()
	if !j.Firing && !j.Pending {
		return r.sync(ctx, subj, nil)
	}
	msg := v.Message
	if msg == "" {
		msg = fmt.Sprintf("%s %s matches the detector %s: %s", r.GVK.Kind, req.String(), r.Detector.Name, r.Detector.Unhealthy)
	}
	// The signal (and a new incident's detectedAt) starts when it fires, as every detector's
	// does (docs/detectors.md, "When a signal starts"): an object unhealthy since long before
	// (the since expression) must not open an incident with its SLAs already breached. The
	// message says since when.
	if !j.Since.IsZero() {
		msg += "; unhealthy since " + j.Since.UTC().Format(time.RFC3339)
	}
	p := &custom.Problem{Reason: r.Detector.Reason, Message: msg,
		Priority: priority.For(r.Detector.Impact, r.Detector.Urgency), Sustain: j.Pending}
	res, err := r.sync(ctx, subj, p)
	if err == nil && j.Pending {
		res.RequeueAfter = j.RequeueAfter
	}
	return res, err
}

func (r *Reconciler) forget(key types.NamespacedName) {
	r.mu.Lock()
	delete(r.firstSeen, key)
	r.mu.Unlock()
}

func (r *Reconciler) sync(ctx context.Context, subj health.Subject, p *custom.Problem) (reconcile.Result, error) {
	err := r.Writer.SyncSignal(ctx, incidentwriter.SignalObservation{
		Subject: subj, Reason: r.Detector.Reason, IncidentReason: itopsv1alpha1.ReasonCustom, Problem: p,
		Impact: r.Detector.Impact, Urgency: r.Detector.Urgency,
	})
	if incidentwriter.IsRace(err) {
		return reconcile.Result{RequeueAfter: raceRetry}, nil
	}
	return reconcile.Result{}, err
}

// Package readaccess answers whether the operator may read a kind through its cache before it
// tries: a controller-runtime cache serves a Get of a new kind from an informer it starts on
// the first read, and an informer that may not list and watch never syncs, so the Get waits
// until its context ends (for a reconcile, forever) while the informer retries in the
// background. The operator reads the owners of pods (Argo Rollouts, operators' custom
// resources) through whatever RBAC an administrator grants (docs/incidents.md, "Owner
// kinds"), so it asks first: one SelfSubjectAccessReview per verb and GroupResource,
// remembered for a TTL.
package readaccess

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// DefaultTTL is how long an answer is remembered: an administrator who grants a kind sees its
// objects rolled up within this time, and a revoked grant is noticed as quickly.
const DefaultTTL = time.Minute

// Verbs are what an informer needs, cluster-wide: list, then watch.
var Verbs = []string{"list", "watch"}

// ReviewFunc reports whether the caller may perform verb on resource in every namespace.
type ReviewFunc func(ctx context.Context, verb string, resource schema.GroupResource) (bool, error)

// Checker remembers, per GroupResource, whether the operator may list and watch it
// cluster-wide. Safe for concurrent use. The zero value is not usable: use New.
type Checker struct {
	mapper meta.RESTMapper
	review ReviewFunc
	ttl    time.Duration
	clock  clock.PassiveClock
	log    logr.Logger

	mu      sync.Mutex
	answers map[schema.GroupResource]answer
}

type answer struct {
	allowed bool
	at      time.Time
}

// New returns a Checker that maps kinds to resources with c's RESTMapper and asks the API
// server with SelfSubjectAccessReviews created through c (any authenticated user may create
// them: the system:basic-user ClusterRole).
func New(c client.Client, log logr.Logger) *Checker {
	return NewWith(c.RESTMapper(), SelfSubjectAccessReview(c), DefaultTTL, clock.RealClock{}, log)
}

// NewWith returns a Checker with every dependency given (tests: a fake review and clock).
func NewWith(mapper meta.RESTMapper, review ReviewFunc, ttl time.Duration, clk clock.PassiveClock, log logr.Logger) *Checker {
	return &Checker{mapper: mapper, review: review, ttl: ttl, clock: clk, log: log, answers: map[schema.GroupResource]answer{}}
}

// SelfSubjectAccessReview returns a ReviewFunc that creates a SelfSubjectAccessReview through c.
func SelfSubjectAccessReview(c client.Client) ReviewFunc {
	return func(ctx context.Context, verb string, gr schema.GroupResource) (bool, error) {
		r := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: verb, Group: gr.Group, Resource: gr.Resource},
		}}
		if err := c.Create(ctx, r); err != nil {
			return false, fmt.Errorf("reviewing access to %s %s: %w", verb, gr, err)
		}
		return r.Status.Allowed, nil
	}
}

// CanList reports whether the operator may list and watch gvk's resource in every namespace,
// that is whether a cache read of that kind can be served. It returns the RESTMapper's error
// for a kind the API server does not serve (meta.IsNoMatchError) and a review's error as is;
// neither is remembered.
func (c *Checker) CanList(ctx context.Context, gvk schema.GroupVersionKind) (bool, error) {
	mapping, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return false, err
	}
	gr := mapping.Resource.GroupResource()
	now := c.clock.Now()
	c.mu.Lock()
	prev, known := c.answers[gr]
	c.mu.Unlock()
	if known && Fresh(prev.at, now, c.ttl) {
		return prev.allowed, nil
	}
	allowed := true
	for _, verb := range Verbs {
		ok, err := c.review(ctx, verb, gr)
		if err != nil {
			return false, err
		}
		allowed = allowed && ok
	}
	c.mu.Lock()
	c.answers[gr] = answer{allowed: allowed, at: now}
	c.mu.Unlock()
	if Changed(known, prev.allowed, allowed) {
		if allowed {
			c.log.Info("may now read the owner kind: pods roll up through it", "resource", gr.String())
		} else {
			c.log.Info("may not list and watch this owner kind: pods roll up to the last object that can be read; "+
				"to roll up through it, grant get, list and watch with a ClusterRole labelled itops.dev/aggregate-to-owner-reader=true (docs/incidents.md)",
				"resource", gr.String())
		}
	}
	return allowed, nil
}

// Fresh reports whether an answer given at `at` may still be used at now (ttl > 0).
func Fresh(at, now time.Time, ttl time.Duration) bool {
	return now.Sub(at) < ttl
}

// Changed reports whether a new answer is worth a log line: the first denial of a resource,
// and every change of an earlier answer. A first "allowed" is the ordinary case and is not
// logged.
func Changed(known, was, now bool) bool {
	if !known {
		return !now
	}
	return was != now
}

// Watchable says why the operator cannot watch a kind in every namespace ("" when it can): the
// API server does not serve it (notServed says what that means, for example "cert-manager not
// installed"), or a SelfSubjectAccessReview denies list or watch. For the detectors that start
// once a kind appears (a CRD installed after the operator) and check again on a timer; an
// error resolving the kind or reviewing access is returned as the reason, to retry.
func Watchable(ctx context.Context, mapper meta.RESTMapper, c client.Client, gvk schema.GroupVersionKind, notServed string) string {
	mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		if meta.IsNoMatchError(err) {
			return fmt.Sprintf("the API server does not serve %s in %s (%s)", gvk.Kind, gvk.GroupVersion(), notServed)
		}
		return fmt.Sprintf("resolving %s: %v", gvk, err)
	}
	for _, verb := range Verbs {
		review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{Group: mapping.Resource.Group, Version: mapping.Resource.Version,
				Resource: mapping.Resource.Resource, Verb: verb},
		}}
		if err := c.Create(ctx, review); err != nil {
			return fmt.Sprintf("checking RBAC for %s %s: %v", verb, mapping.Resource.GroupResource(), err)
		}
		if !review.Status.Allowed {
			return fmt.Sprintf("the operator may not %s %s in every namespace", verb, mapping.Resource.GroupResource())
		}
	}
	return ""
}

// Await runs the start-up of a detector that needs a kind served and readable: it calls try at
// once and then every interval (apimachinery's wait.PollUntilContextCancel) until try says it
// started ("" and nil: started is true), fails (its error is returned), or ctx ends (false,
// nil: the manager is stopping). try returns why it cannot start yet; waiting is called with
// each new reason, once per reason and not at every retry, so the log says why once and again
// only when the cause changes (a CRD installed, then RBAC missing).
func Await(ctx context.Context, interval time.Duration, try func(context.Context) (string, error), waiting func(why string)) (bool, error) {
	last := ""
	err := wait.PollUntilContextCancel(ctx, interval, true, func(ctx context.Context) (bool, error) {
		why, err := try(ctx)
		if err != nil || why == "" {
			return err == nil, err
		}
		if why != last {
			waiting(why)
			last = why
		}
		return false, nil
	})
	if err != nil && ctx.Err() != nil {
		return false, nil
	}
	return err == nil, err
}

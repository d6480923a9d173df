// Package uninstall releases what the operator holds on to in a cluster once it is removed for
// good: the itops.dev/audit finalizer on Incidents and ChangeRequests (any itops.dev/
// finalizer on the four kinds), and its self-managed webhook certificate Secret. Without this,
// `kubectl delete incident x` hangs after `helm uninstall` (nothing is left to record the final
// state and remove the finalizer), and a CRD deleted with its objects stays Terminating.
//
// The Helm chart runs it as a post-delete hook (`itops-operator --release-finalizers`), the way
// Kyverno's and cert-manager's charts clean up after themselves: after Helm removed the
// webhook configurations and the Deployment, it waits for the operator's pods to be gone (a
// terminating replica would add the finalizer back), then releases. The admission webhooks are
// gone by then, so their rule that only the operator removes the audit finalizer
// (internal/webhook.ValidateOperatorMarks) no longer applies; see docs/install.md.
package uninstall

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// FinalizerPrefix marks the operator's finalizers (today only itopsv1alpha1.AuditFinalizer).
const FinalizerPrefix = "itops.dev/"

// Kinds are the list kinds whose objects may carry the operator's finalizers.
var Kinds = []string{"IncidentList", "ChangeRequestList", "MaintenanceWindowList", "ServiceLevelList"}

// Options say what to release and how long to wait.
type Options struct {
	// OperatorNamespace holds the operator's pods and its webhook certificate Secret.
	OperatorNamespace string
	// PodSelector selects the operator's pods (label selector syntax); empty waits for none.
	PodSelector string
	// WebhookCertSecret is the self-managed certificate Secret to delete; empty deletes none.
	WebhookCertSecret string
	// WaitTimeout bounds the wait for the operator's pods to be gone (default 2m).
	WaitTimeout time.Duration
	// PollInterval is how often the wait looks again (default 1s).
	PollInterval time.Duration
}

// Result counts what was released.
type Result struct {
	// Released are "Kind namespace/name" of the objects whose finalizers were removed.
	Released []string
	// SecretDeleted is true when the webhook certificate Secret existed and was deleted.
	SecretDeleted bool
}

// Run waits for the operator's pods to be gone, removes the operator's finalizers from every
// object of the four kinds in every namespace, and deletes the webhook certificate Secret. A
// kind whose CRD is not installed is skipped. It returns an error when the pods are still there
// after WaitTimeout (nothing is released then: a running replica would add the finalizers back)
// or when an object could not be patched; Run is idempotent, so the hook's retry or a second
// run finishes the job.
func Run(ctx context.Context, c client.Client, log logr.Logger, o Options) (Result, error) {
	var res Result
	if o.WaitTimeout <= 0 {
		o.WaitTimeout = 2 * time.Minute
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if err := waitPodsGone(ctx, c, log, o); err != nil {
		return res, err
	}
	var errs []error
	for _, kind := range Kinds {
		released, err := releaseKind(ctx, c, log, kind)
		res.Released = append(res.Released, released...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	if o.WebhookCertSecret != "" && o.OperatorNamespace != "" {
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: o.OperatorNamespace, Name: o.WebhookCertSecret}}
		switch err := c.Delete(ctx, secret); {
		case err == nil:
			res.SecretDeleted = true
			log.Info("deleted the self-managed webhook certificate", "namespace", o.OperatorNamespace, "name", o.WebhookCertSecret)
		case apierrors.IsNotFound(err):
		default:
			errs = append(errs, fmt.Errorf("deleting Secret %s/%s: %w", o.OperatorNamespace, o.WebhookCertSecret, err))
		}
	}
	return res, errors.Join(errs...)
}

func waitPodsGone(ctx context.Context, c client.Client, log logr.Logger, o Options) error {
	if o.PodSelector == "" {
		return nil
	}
	sel, err := labels.Parse(o.PodSelector)
	if err != nil {
		return fmt.Errorf("pod selector %q: %w", o.PodSelector, err)
	}
	var left int
	err = wait.PollUntilContextTimeout(ctx, o.PollInterval, o.WaitTimeout, true, func(ctx context.Context) (bool, error) {
		pods := &corev1.PodList{}
		if err := c.List(ctx, pods, client.InNamespace(o.OperatorNamespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
			return false, err
		}
		if left != len(pods.Items) && len(pods.Items) > 0 {
			log.Info("waiting for the operator's pods to be gone", "namespace", o.OperatorNamespace, "selector", o.PodSelector, "pods", len(pods.Items))
		}
		left = len(pods.Items)
		return left == 0, nil
	})
	if err != nil {
		return fmt.Errorf("%d operator pod(s) %q in %s still there after %s (a running replica would add the finalizers back): %w",
			left, o.PodSelector, o.OperatorNamespace, o.WaitTimeout, err)
	}
	return nil
}

// releaseKind removes the operator's finalizers from every object of one list kind.
func releaseKind(ctx context.Context, c client.Client, log logr.Logger, listKind string) ([]string, error) {
	gvk := itopsv1alpha1.GroupVersion.WithKind(listKind)
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(gvk)
	if err := c.List(ctx, list); err != nil {
		if meta.IsNoMatchError(err) || apierrors.IsNotFound(err) {
			return nil, nil // CRD not installed (or already gone)
		}
		return nil, fmt.Errorf("listing %s: %w", listKind, err)
	}
	kind := strings.TrimSuffix(listKind, "List")
	var released []string
	var errs []error
	for i := range list.Items {
		item := &list.Items[i]
		if len(Foreign(item.GetFinalizers())) == len(item.GetFinalizers()) {
			continue
		}
		key := client.ObjectKeyFromObject(item)
		err := releaseOne(ctx, c, itopsv1alpha1.GroupVersion.WithKind(kind), key)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", kind, key, err))
			continue
		}
		released = append(released, kind+" "+key.String())
		log.Info("released the operator's finalizers", "kind", kind, "namespace", key.Namespace, "name", key.Name)
	}
	return released, errors.Join(errs...)
}

// releaseOne patches one object's finalizers to Foreign(finalizers), with optimistic locking so
// that finalizers other controllers add meanwhile are kept, retrying on conflict.
func releaseOne(ctx context.Context, c client.Client, gvk schema.GroupVersionKind, key client.ObjectKey) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		obj := &metav1.PartialObjectMetadata{}
		obj.SetGroupVersionKind(gvk)
		if err := c.Get(ctx, key, obj); err != nil {
			return client.IgnoreNotFound(err)
		}
		kept := Foreign(obj.GetFinalizers())
		if len(kept) == len(obj.GetFinalizers()) {
			return nil
		}
		base := obj.DeepCopy()
		obj.SetFinalizers(kept)
		return client.IgnoreNotFound(c.Patch(ctx, obj, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})))
	})
}

// Foreign returns finalizers without the operator's own (those with FinalizerPrefix), in
// order; never nil, so that a merge patch writes an empty list rather than omitting it.
func Foreign(finalizers []string) []string {
	out := []string{}
	for _, f := range finalizers {
		if !strings.HasPrefix(f, FinalizerPrefix) {
			out = append(out, f)
		}
	}
	return out
}

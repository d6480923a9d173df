// Package webhookscope keeps the scaling bounds webhooks (vscaling.itops.dev,
// vscalinghpa.itops.dev) scoped to the namespaces where they can deny anything: those holding a
// ServiceLevel with spec.scaling. It patches the namespaceSelector of those two webhooks in the
// operator's own ValidatingWebhookConfiguration, so that Deployment, StatefulSet and
// HorizontalPodAutoscaler writes in every other namespace never wait for the operator, while
// the bounds are enforced wherever a ServiceLevel sets them, with no namespace label
// (docs/scaling.md, "Which requests reach the operator").
package webhookscope

import (
	"context"
	"fmt"
	"slices"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// ScopedWebhooks are the webhooks whose namespaceSelector this package maintains.
var ScopedWebhooks = []string{"vscaling.itops.dev", "vscalinghpa.itops.dev"}

// NoNamespace is the value the selector lists when no namespace holds a ServiceLevel with
// scaling: the In operator needs at least one value, and a name with dots is never a Namespace's
// (namespace names are RFC 1123 labels), so the webhooks then match nothing. It is also the
// static default shipped in config/webhook and the Helm chart (hack/webhook-selectors.sh).
const NoNamespace = "none.itops.dev"

// ScalingNamespaces returns the sorted, deduplicated namespaces that hold at least one
// ServiceLevel with spec.scaling set that is not being deleted.
func ScalingNamespaces(serviceLevels []itopsv1alpha1.ServiceLevel) []string {
	var out []string
	for i := range serviceLevels {
		if scoped(&serviceLevels[i]) {
			out = append(out, serviceLevels[i].Namespace)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// scoped reports whether a ServiceLevel puts its namespace in the webhooks' scope.
func scoped(sl *itopsv1alpha1.ServiceLevel) bool {
	return sl.Spec.Scaling != nil && sl.DeletionTimestamp == nil
}

// ScopedSelector returns current with its `kubernetes.io/metadata.name In` expression (the
// label the API server sets on every Namespace to its name, immutable) set to
// namespaces (NoNamespace when empty), prepended when current has none. Every other expression
// (the NotIn exclusions of kube-system and the operator and cluster namespaces) and the
// matchLabels are kept as they are. current is not modified.
func ScopedSelector(current *metav1.LabelSelector, namespaces []string) *metav1.LabelSelector {
	values := slices.Clone(namespaces)
	if len(values) == 0 {
		values = []string{NoNamespace}
	}
	in := metav1.LabelSelectorRequirement{Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpIn, Values: values}
	out := &metav1.LabelSelector{}
	if current != nil {
		out = current.DeepCopy()
	}
	for i, e := range out.MatchExpressions {
		if e.Key == corev1.LabelMetadataName && e.Operator == metav1.LabelSelectorOpIn {
			out.MatchExpressions[i] = in
			return out
		}
	}
	out.MatchExpressions = append([]metav1.LabelSelectorRequirement{in}, out.MatchExpressions...)
	return out
}

// Reconciler keeps the namespaceSelector of ScopedWebhooks in the ValidatingWebhookConfiguration
// named WebhookConfiguration equal to ScopedSelector of the ServiceLevels' namespaces. It
// patches only when a selector differs (so a ServiceLevel added in a namespace already in scope
// costs nothing), touching only those two webhooks' namespaceSelector (a strategic merge patch
// keyed by webhook name, with the resourceVersion, so that it never overwrites the CA injector's
// caBundle nor a concurrent change: a conflict is retried from a fresh read). It also watches the
// configuration, so a `helm upgrade` or GitOps sync that resets the selector is re-patched within
// seconds. A configuration that does not exist, or has none of the two webhooks (the scaling
// webhook turned off), is left alone.
type Reconciler struct {
	// Client reads ServiceLevels and the configuration from the cache and patches.
	Client client.Client
	// WebhookConfiguration is the name of the operator's ValidatingWebhookConfiguration
	// (--webhook-configuration-name).
	WebhookConfiguration string
}

// The operator lists and watches its own ValidatingWebhookConfiguration only (a list by
// metadata.name field selector is authorised by resourceNames), and patches it (also the CA).
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=validatingwebhookconfigurations,verbs=get;list;watch;patch,resourceNames=itops-operator
// +kubebuilder:rbac:groups=itops.dev,resources=servicelevels,verbs=get;list;watch

// ConfigurationCache restricts the manager's cache of ValidatingWebhookConfigurations to the one
// named name: the only one the operator may list and watch.
func ConfigurationCache(name string) cache.ByObject {
	return cache.ByObject{Field: fields.OneTermEqualSelector("metadata.name", name)}
}

// Reconcile computes the scope from the cached ServiceLevels and patches the configuration
// when it differs.
func (r *Reconciler) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	log := ctrl.LoggerFrom(ctx)
	cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := r.Client.Get(ctx, client.ObjectKey{Name: r.WebhookConfiguration}, cfg); err != nil {
		if apierrors.IsNotFound(err) {
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, fmt.Errorf("reading ValidatingWebhookConfiguration %s: %w", r.WebhookConfiguration, err)
	}
	list := &itopsv1alpha1.ServiceLevelList{}
	if err := r.Client.List(ctx, list); err != nil {
		return reconcile.Result{}, fmt.Errorf("listing ServiceLevels: %w", err)
	}
	namespaces := ScalingNamespaces(list.Items)
	base := cfg.DeepCopy()
	if !Apply(cfg, namespaces) {
		return reconcile.Result{}, nil
	}
	patch := client.StrategicMergeFrom(base, client.MergeFromWithOptimisticLock{})
	if err := r.Client.Patch(ctx, cfg, patch); err != nil {
		// A conflict (the CA injector, helm, a GitOps sync wrote meanwhile) comes back here
		// through the backoff and the watch, with a fresh read.
		return reconcile.Result{}, fmt.Errorf("scoping the scaling webhooks of ValidatingWebhookConfiguration %s: %w", r.WebhookConfiguration, err)
	}
	log.Info("scoped the scaling bounds webhooks to the namespaces with scaling ServiceLevels",
		"webhookConfiguration", r.WebhookConfiguration, "namespaces", namespaces)
	return reconcile.Result{}, nil
}

// Apply sets the namespaceSelector of the ScopedWebhooks in cfg for namespaces and reports
// whether anything changed.
func Apply(cfg *admissionregistrationv1.ValidatingWebhookConfiguration, namespaces []string) bool {
	changed := false
	for i := range cfg.Webhooks {
		wh := &cfg.Webhooks[i]
		if !slices.Contains(ScopedWebhooks, wh.Name) {
			continue
		}
		want := ScopedSelector(wh.NamespaceSelector, namespaces)
		if !apiequality.Semantic.DeepEqual(wh.NamespaceSelector, want) {
			wh.NamespaceSelector, changed = want, true
		}
	}
	return changed
}

// SetupWithManager runs the reconciler (leader only: one writer) on ServiceLevel events that
// can change the scope and on changes to the configuration itself.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	key := func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: r.WebhookConfiguration}}}
	}
	scopeChanged := predicate.Funcs{
		CreateFunc: func(e event.CreateEvent) bool { return isScoped(e.Object) },
		DeleteFunc: func(e event.DeleteEvent) bool {
			sl, ok := e.Object.(*itopsv1alpha1.ServiceLevel)
			return !ok || sl.Spec.Scaling != nil
		},
		UpdateFunc:  func(e event.UpdateEvent) bool { return isScoped(e.ObjectOld) != isScoped(e.ObjectNew) },
		GenericFunc: func(event.GenericEvent) bool { return true },
	}
	ours := predicate.NewPredicateFuncs(func(o client.Object) bool { return o.GetName() == r.WebhookConfiguration })
	return ctrl.NewControllerManagedBy(mgr).
		Named("webhookscope").
		Watches(&itopsv1alpha1.ServiceLevel{}, handler.EnqueueRequestsFromMapFunc(key), builder.WithPredicates(scopeChanged)).
		Watches(&admissionregistrationv1.ValidatingWebhookConfiguration{}, handler.EnqueueRequestsFromMapFunc(key), builder.WithPredicates(ours)).
		Complete(r)
}

func isScoped(o client.Object) bool {
	sl, ok := o.(*itopsv1alpha1.ServiceLevel)
	return ok && scoped(sl)
}

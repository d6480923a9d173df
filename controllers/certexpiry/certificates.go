package certexpiry

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/itops-dev/itops-operator/internal/certexpiry"
	"github.com/itops-dev/itops-operator/internal/readaccess"
)

// +kubebuilder:rbac:groups=cert-manager.io,resources=certificates,verbs=get;list;watch

// CertificateReconciler judges cert-manager Certificates by their status.notAfter (through
// the Reconciler's shared judgement of a Certificate and the Secrets that name it).
type CertificateReconciler struct {
	*Reconciler
}

// Reconcile judges the Certificate and requeues at its next threshold; a deleted Certificate
// is judged by its Secret when Secrets are watched, else its signal clears.
func (r CertificateReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	return r.judgeCertificate(ctx, req.Namespace, req.Name, false)
}

// CertificateStarter starts the Certificate source once the API server serves
// cert-manager.io/v1 Certificate and the operator may list and watch it (the installation
// grants it), checking at start and every RetryInterval: cert-manager installed later is
// picked up without a restart.
type CertificateStarter struct {
	Manager    manager.Manager
	Reconciler *Reconciler
}

// NeedLeaderElection is true: only the leader detects.
func (s *CertificateStarter) NeedLeaderElection() bool { return true }

// Start checks now and every RetryInterval until the Certificate controller runs.
func (s *CertificateStarter) Start(ctx context.Context) error {
	log, every := s.Reconciler.Log, RetryInterval
	started, err := readaccess.Await(ctx, every, s.try, func(why string) {
		log.Info("certificate expiry detection does not read cert-manager Certificates yet", "why", why, "retryEvery", every.String())
	})
	if started {
		log.Info("certificate expiry detection reads cert-manager Certificates")
	}
	return err
}

// try starts the controller when it can; otherwise it says why not ("" when started).
func (s *CertificateStarter) try(ctx context.Context) (string, error) {
	gvk := certexpiry.CertificateGVK
	if why := readaccess.Watchable(ctx, s.Manager.GetRESTMapper(), s.Manager.GetClient(), gvk, "cert-manager not installed"); why != "" {
		return why, nil
	}
	// A cache of its own, trimmed to what CertificateOf reads, created only now: the manager's
	// cache would fail its start on a kind that is not served.
	c, err := cache.New(s.Manager.GetConfig(), cache.Options{
		Scheme: s.Manager.GetScheme(), Mapper: s.Manager.GetRESTMapper(), HTTPClient: s.Manager.GetHTTPClient(),
		DefaultTransform: certexpiry.TrimCertificate,
	})
	if err != nil {
		return "", fmt.Errorf("creating the Certificate cache: %w", err)
	}
	if err := s.Manager.Add(c); err != nil {
		return "", err
	}
	s.Reconciler.Sources.SetCertificates(c)
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(gvk)
	err = ctrl.NewControllerManagedBy(s.Manager).Named("certexpiry-certificates").
		WatchesRawSource(source.Kind[*unstructured.Unstructured](c, obj, &handler.TypedEnqueueRequestForObject[*unstructured.Unstructured]{})).
		Complete(CertificateReconciler{s.Reconciler})
	if err != nil {
		return "", fmt.Errorf("starting the Certificate expiry controller: %w", err)
	}
	return "", nil
}

// Setup adds the detector's two sources to the manager (docs/detectors.md): cert-manager
// Certificates once served, TLS Secrets once the operator may read them; both share one
// judgement (Reconciler.Sources).
func Setup(mgr manager.Manager, r *Reconciler) error {
	if r.Sources == nil {
		r.Sources = &Sources{}
	}
	if err := mgr.Add(&Starter{Manager: mgr, Reconciler: r}); err != nil {
		return err
	}
	return mgr.Add(&CertificateStarter{Manager: mgr, Reconciler: r})
}

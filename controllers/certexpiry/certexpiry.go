// Package certexpiry runs the CertificateExpiring detector (docs/detectors.md): TLS Secrets
// (type kubernetes.io/tls) whose leaf certificate expires within the policy's warnBefore or
// criticalBefore, or has expired, open an incident about the cert-manager Certificate that
// issues the Secret (annotation cert-manager.io/certificate-name), or about the Secret itself.
// The Secrets are read through a cache restricted to type=kubernetes.io/tls and trimmed by
// internal/certexpiry.TrimSecret: no data, no key material stays in memory. Each Secret is
// judged again exactly at its next threshold; a renewed certificate clears the signal.
package certexpiry

import (
	"context"
	"time"

	"github.com/go-logr/logr"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/controllers/incidentwriter"
	"github.com/itops-dev/itops-operator/internal/certexpiry"
	"github.com/itops-dev/itops-operator/internal/config"
	"github.com/itops-dev/itops-operator/internal/detector/custom"
	"github.com/itops-dev/itops-operator/internal/health"
)

// CacheOptions is the manager cache's entry for Secrets: TLS Secrets only, trimmed to the
// parsed certificate facts. The operator reads no other Secret through its cache (its own
// Secrets are read from the API server directly).
func CacheOptions() cache.ByObject {
	return cache.ByObject{
		Field:     fields.OneTermEqualSelector("type", string(corev1.SecretTypeTLS)),
		Transform: certexpiry.TrimSecret,
	}
}

// Allowed reports whether the operator may list and watch Secrets in every namespace (a
// SelfSubjectAccessReview each): the installation does not grant it, the administrator does
// (docs/detectors.md).
func Allowed(ctx context.Context, c client.Client) (bool, error) {
	for _, verb := range []string{"list", "watch"} {
		review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{Version: "v1", Resource: "secrets", Verb: verb},
		}}
		if err := c.Create(ctx, review); err != nil {
			return false, err
		}
		if !review.Status.Allowed {
			return false, nil
		}
	}
	return true, nil
}

// Reconciler judges one TLS Secret.
type Reconciler struct {
	Client client.Client
	Writer *incidentwriter.Writer
	Policy config.CertificateExpiryPolicy
	Clock  clock.PassiveClock
	Log    logr.Logger
}

// RetryInterval is how often the detector checks again whether it may read Secrets.
var RetryInterval = time.Minute

// Starter adds the Reconciler to the manager once the operator may list and watch Secrets,
// checking at start and every RetryInterval (an administrator's grant takes effect without a
// restart). Until then it says why once, in the log.
type Starter struct {
	Manager    ctrl.Manager
	Reconciler *Reconciler
}

// NeedLeaderElection is true: only the leader detects.
func (s *Starter) NeedLeaderElection() bool { return true }

// Start checks now and every RetryInterval until the detector runs.
func (s *Starter) Start(ctx context.Context) error {
	told := false
	for {
		ok, err := Allowed(ctx, s.Manager.GetClient())
		switch {
		case err == nil && ok:
			s.Reconciler.Log.Info("certificate expiry detection on", "warnBefore", s.Reconciler.Policy.WarnBefore.Duration.String(),
				"criticalBefore", s.Reconciler.Policy.CriticalBefore.Duration.String())
			return s.Reconciler.SetupWithManager(s.Manager)
		case !told:
			msg := "certificate expiry detection waits: the operator may not list and watch Secrets; grant it (docs/detectors.md) " +
				"or set detection.certificateExpiry.enabled: false"
			if err != nil {
				msg = "certificate expiry detection waits: checking whether the operator may read Secrets failed: " + err.Error()
			}
			s.Reconciler.Log.Info(msg, "retryEvery", RetryInterval.String())
			told = true
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(RetryInterval):
		}
	}
}

// raceRetry is how soon a write that lost a race with another writer is retried.
const raceRetry = 200 * time.Millisecond

// SetupWithManager watches TLS Secrets (through the cache CacheOptions configures).
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).Named("certexpiry").For(&corev1.Secret{}).Complete(r)
}

func (r *Reconciler) now() time.Time {
	if r.Clock == nil {
		return time.Now()
	}
	return r.Clock.Now()
}

// Subject is the incident subject of a TLS Secret: the cert-manager Certificate that issues
// it (annotation cert-manager.io/certificate-name), else the Secret.
func Subject(s *corev1.Secret) health.Subject {
	if c := s.Annotations[certexpiry.CertManagerCertificateAnnotation]; c != "" {
		return health.Subject{APIVersion: "cert-manager.io/v1", Kind: "Certificate", Namespace: s.Namespace, Name: c}
	}
	return health.Subject{APIVersion: "v1", Kind: "Secret", Namespace: s.Namespace, Name: s.Name}
}

// Reconcile judges the Secret's certificate and requeues at its next threshold.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	s := &corev1.Secret{}
	err := r.Client.Get(ctx, req.NamespacedName, s)
	if apierrors.IsNotFound(err) || (err == nil && s.DeletionTimestamp != nil) {
		return r.cleared(ctx, req)
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	subj := Subject(s)
	info, ok := certexpiry.InfoOf(s)
	if !ok {
		r.Log.V(1).Info("tls.crt not parsable, not judged", "secret", req.String(), "error", s.Annotations[certexpiry.AnnotationError])
		return r.write(ctx, s, subj, nil, reconcile.Result{})
	}
	now := r.now()
	j := certexpiry.Judge(info, now, r.Policy.WarnBefore.Duration, r.Policy.CriticalBefore.Duration)
	res := reconcile.Result{}
	if !j.Next.IsZero() {
		res.RequeueAfter = j.Next.Sub(now)
	}
	if j.Stage == certexpiry.Valid {
		return r.write(ctx, s, subj, nil, res)
	}
	// The signal (and a new incident's detectedAt) starts when it fires, as every detector's
	// does (docs/detectors.md, "When a signal starts"): a certificate first seen with 3 days
	// left opens an incident detected now, not 27 days ago with its SLAs breached. The message
	// says since when it is within warnBefore.
	p := &custom.Problem{Reason: itopsv1alpha1.ReasonCertificateExpiring, Priority: j.Priority,
		Message: "Secret " + s.Name + ": " + j.Message + "; within warnBefore since " +
			info.NotAfter.Add(-r.Policy.WarnBefore.Duration).UTC().Format(time.RFC3339)}
	return r.write(ctx, s, subj, &judged{problem: p, impact: j.Impact, urgency: j.Urgency}, res)
}

type judged struct {
	problem         *custom.Problem
	impact, urgency itopsv1alpha1.Level
}

func (r *Reconciler) write(ctx context.Context, s *corev1.Secret, subj health.Subject, j *judged, res reconcile.Result) (reconcile.Result, error) {
	o := incidentwriter.SignalObservation{Subject: subj, Reason: itopsv1alpha1.ReasonCertificateExpiring,
		IncidentReason: itopsv1alpha1.ReasonCertificateExpiring}
	if subj.Kind != "Secret" {
		o.Affected = []itopsv1alpha1.ObjectReference{{APIVersion: "v1", Kind: "Secret", Namespace: s.Namespace, Name: s.Name}}
	}
	if j != nil {
		o.Problem, o.Impact, o.Urgency = j.problem, j.impact, j.urgency
	}
	err := r.Writer.SyncSignal(ctx, o)
	if incidentwriter.IsRace(err) {
		return reconcile.Result{RequeueAfter: raceRetry}, nil
	}
	return res, err
}

// cleared clears the signal of a deleted Secret: on the Secret's incident, and on the open
// CertificateExpiring incidents in its namespace that list it in spec.affected (a
// Certificate's; the deleted Secret's annotation is no longer known).
func (r *Reconciler) cleared(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	subjects := []health.Subject{{APIVersion: "v1", Kind: "Secret", Namespace: req.Namespace, Name: req.Name}}
	list := &itopsv1alpha1.IncidentList{}
	if err := r.Client.List(ctx, list, client.InNamespace(req.Namespace),
		client.MatchingLabels{itopsv1alpha1.LabelReason: itopsv1alpha1.ReasonCertificateExpiring}); err != nil {
		return reconcile.Result{}, err
	}
	for _, inc := range list.Items {
		for i, a := range inc.Spec.Affected {
			if i > 0 && a.Kind == "Secret" && a.Name == req.Name && len(inc.Spec.Affected) > 0 {
				first := inc.Spec.Affected[0]
				subjects = append(subjects, health.Subject{APIVersion: first.APIVersion, Kind: first.Kind, Namespace: req.Namespace, Name: first.Name})
			}
		}
	}
	for _, subj := range subjects {
		err := r.Writer.SyncSignal(ctx, incidentwriter.SignalObservation{Subject: subj,
			Reason: itopsv1alpha1.ReasonCertificateExpiring, IncidentReason: itopsv1alpha1.ReasonCertificateExpiring})
		if incidentwriter.IsRace(err) {
			return reconcile.Result{RequeueAfter: raceRetry}, nil
		}
		if err != nil {
			return reconcile.Result{}, err
		}
	}
	return reconcile.Result{}, nil
}

// Package certexpiry runs the CertificateExpiring detector (docs/detectors.md): certificates
// that expire within the policy's warnBefore or criticalBefore, or have expired, open an
// incident. Two sources, each used once the operator may watch it:
//
//   - cert-manager Certificates (cert-manager.io/v1), by their status.notAfter, when the API
//     server serves the kind: the installation grants list and watch on them, so clusters
//     running cert-manager are covered without reading any Secret. Cached through their own
//     cache, trimmed by internal/certexpiry.TrimCertificate.
//   - TLS Secrets (type kubernetes.io/tls), by the leaf certificate of tls.crt, once an
//     administrator grants list and watch on Secrets (the installation does not). Read through
//     a cache restricted to type=kubernetes.io/tls and trimmed by TrimSecret: no data, no key
//     material stays in memory.
//
// A Secret issued by cert-manager (annotation cert-manager.io/certificate-name) and its
// Certificate are one subject: the incident is about the Certificate, judged from the
// Certificate while it exists and is issued, else from the Secret (a Certificate deleted while
// its Secret stays in use). Both controllers compute that one judgement the same way, so they
// never contradict each other. Each object is judged again exactly at its next threshold; a
// renewed certificate clears the signal.
package certexpiry

import (
	"context"
	"sync"
	"time"

	"github.com/go-logr/logr"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
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

// Reconciler judges TLS Secrets (Reconcile) and, through CertificateReconciler, cert-manager
// Certificates.
type Reconciler struct {
	// Client reads Secrets (through the manager's trimmed cache) and Incidents.
	Client client.Client
	Writer *incidentwriter.Writer
	Policy config.CertificateExpiryPolicy
	Clock  clock.PassiveClock
	Log    logr.Logger
	// Sources are the caches each source is read from once watched, shared by both
	// controllers (set it before either starts; nil: Secrets judged alone).
	Sources *Sources
}

// Sources records which sources the detector watches, and the readers of their caches: a
// Certificate's judgement falls back to its Secret only where Secrets are watched, and an
// annotated Secret's defers to its Certificate only where Certificates are.
type Sources struct {
	mu                    sync.RWMutex
	secrets, certificates client.Reader
}

// SetSecrets records that TLS Secrets are watched, read through r.
func (s *Sources) SetSecrets(r client.Reader) { s.mu.Lock(); s.secrets = r; s.mu.Unlock() }

// SetCertificates records that Certificates are watched, read through r.
func (s *Sources) SetCertificates(r client.Reader) { s.mu.Lock(); s.certificates = r; s.mu.Unlock() }

func (s *Sources) get() (secrets, certificates client.Reader) {
	if s == nil {
		return nil, nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.secrets, s.certificates
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
			msg := "certificate expiry detection does not read TLS Secrets: the operator may not list and watch Secrets; grant it (docs/detectors.md) " +
				"to judge Secrets not issued by cert-manager (cert-manager Certificates are judged without it)"
			if err != nil {
				msg = "certificate expiry detection does not read TLS Secrets yet: checking whether the operator may read Secrets failed: " + err.Error()
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
	if err := ctrl.NewControllerManagedBy(mgr).Named("certexpiry").For(&corev1.Secret{}).Complete(r); err != nil {
		return err
	}
	if r.Sources != nil {
		r.Sources.SetSecrets(r.Client)
	}
	return nil
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
		return certificateSubject(s.Namespace, c)
	}
	return health.Subject{APIVersion: "v1", Kind: "Secret", Namespace: s.Namespace, Name: s.Name}
}

func certificateSubject(namespace, name string) health.Subject {
	return health.Subject{APIVersion: certexpiry.CertificateGVK.GroupVersion().String(), Kind: certexpiry.CertificateGVK.Kind,
		Namespace: namespace, Name: name}
}

// Reconcile judges the Secret's certificate (or, for a Secret cert-manager issues, its
// Certificate) and requeues at the next threshold.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	s := &corev1.Secret{}
	err := r.Client.Get(ctx, req.NamespacedName, s)
	if apierrors.IsNotFound(err) || (err == nil && s.DeletionTimestamp != nil) {
		return r.cleared(ctx, req)
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	if c := s.Annotations[certexpiry.CertManagerCertificateAnnotation]; c != "" {
		return r.judgeCertificate(ctx, s.Namespace, c, true)
	}
	subj := Subject(s)
	info, ok := certexpiry.InfoOf(s)
	if !ok {
		r.Log.V(1).Info("tls.crt not parsable, not judged", "secret", req.String(), "error", s.Annotations[certexpiry.AnnotationError])
		return r.clear(ctx, subj)
	}
	return r.judge(ctx, subj, verdict{what: "Secret " + s.Name, info: info})
}

// verdict is what a subject is judged on: a certificate, who carries it (for the message),
// what cert-manager says about it, and the Secret it lives in when the subject is another
// object.
type verdict struct {
	what    string
	info    certexpiry.Info
	explain func(now time.Time) string
	secret  string
}

// judge judges one certificate for subj and writes its signal, requeueing at the next
// threshold.
func (r *Reconciler) judge(ctx context.Context, subj health.Subject, v verdict) (reconcile.Result, error) {
	now := r.now()
	j := certexpiry.Judge(v.info, now, r.Policy.WarnBefore.Duration, r.Policy.CriticalBefore.Duration)
	res := reconcile.Result{}
	if !j.Next.IsZero() {
		res.RequeueAfter = j.Next.Sub(now)
	}
	o := observation(subj, v.secret)
	if j.Stage != certexpiry.Valid {
		// The signal (and a new incident's detectedAt) starts when it fires, as every
		// detector's does (docs/detectors.md, "When a signal starts"): a certificate first
		// seen with 3 days left opens an incident detected now, not 27 days ago with its SLAs
		// breached. The message says since when it is within warnBefore.
		msg := v.what + ": " + j.Message
		if v.explain != nil {
			msg += v.explain(now)
		}
		msg += "; within warnBefore since " + v.info.NotAfter.Add(-r.Policy.WarnBefore.Duration).UTC().Format(time.RFC3339)
		o.Problem = &custom.Problem{Reason: itopsv1alpha1.ReasonCertificateExpiring, Priority: j.Priority, Message: msg}
		o.Impact, o.Urgency = j.Impact, j.Urgency
	}
	return r.sync(ctx, o, res)
}

// judgeCertificate judges the Certificate namespace/name: from the Certificate while it is
// watched, exists and has been issued, else from the newest certificate among the watched
// TLS Secrets that name it; nothing when neither says anything (the signal clears).
// fromSecretController is true when the Secret controller asks (Secrets are then watched,
// read through r.Client, whatever Sources says yet).
func (r *Reconciler) judgeCertificate(ctx context.Context, namespace, name string, fromSecretController bool) (reconcile.Result, error) {
	subj := certificateSubject(namespace, name)
	secrets, certificates := r.Sources.get()
	if fromSecretController {
		secrets = r.Client
	}
	if certificates != nil {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(certexpiry.CertificateGVK)
		err := certificates.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, u)
		switch {
		case err == nil && u.GetDeletionTimestamp() == nil:
			c, err := certexpiry.CertificateOf(u)
			if err != nil {
				r.Log.V(1).Info("Certificate status not readable, judged by its Secret if watched", "certificate", namespace+"/"+name, "error", err.Error())
			} else if c.Issued {
				return r.judge(ctx, subj, verdict{what: "Certificate " + name, info: c.Info, explain: c.Explain, secret: c.SecretName})
			}
		case err != nil && !apierrors.IsNotFound(err):
			return reconcile.Result{}, err
		}
	}
	if secrets != nil {
		list := &corev1.SecretList{}
		if err := secrets.List(ctx, list, client.InNamespace(namespace)); err != nil {
			return reconcile.Result{}, err
		}
		var best *corev1.Secret
		var bestInfo certexpiry.Info
		for i := range list.Items {
			s := &list.Items[i]
			if s.Annotations[certexpiry.CertManagerCertificateAnnotation] != name || s.DeletionTimestamp != nil {
				continue
			}
			if info, ok := certexpiry.InfoOf(s); ok && (best == nil || info.NotAfter.After(bestInfo.NotAfter)) {
				best, bestInfo = s, info
			}
		}
		if best != nil {
			return r.judge(ctx, subj, verdict{what: "Secret " + best.Name, info: bestInfo, secret: best.Name})
		}
	}
	return r.clear(ctx, subj)
}

// observation is the CertificateExpiring observation of subj, with the Secret in
// spec.affected when the subject is another object.
func observation(subj health.Subject, secret string) incidentwriter.SignalObservation {
	o := incidentwriter.SignalObservation{Subject: subj, Reason: itopsv1alpha1.ReasonCertificateExpiring,
		IncidentReason: itopsv1alpha1.ReasonCertificateExpiring}
	if subj.Kind != "Secret" && secret != "" {
		o.Affected = []itopsv1alpha1.ObjectReference{{APIVersion: "v1", Kind: "Secret", Namespace: subj.Namespace, Name: secret}}
	}
	return o
}

// clear clears subj's signal.
func (r *Reconciler) clear(ctx context.Context, subj health.Subject) (reconcile.Result, error) {
	return r.sync(ctx, observation(subj, ""), reconcile.Result{})
}

func (r *Reconciler) sync(ctx context.Context, o incidentwriter.SignalObservation, res reconcile.Result) (reconcile.Result, error) {
	err := r.Writer.SyncSignal(ctx, o)
	if incidentwriter.IsRace(err) {
		return reconcile.Result{RequeueAfter: raceRetry}, nil
	}
	return res, err
}

// cleared handles a deleted Secret: its own signal clears, and each Certificate whose open
// CertificateExpiring incident lists it in spec.affected is judged again (from the Certificate,
// or another Secret that names it; the deleted Secret's annotation is no longer known).
func (r *Reconciler) cleared(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	if res, err := r.clear(ctx, health.Subject{APIVersion: "v1", Kind: "Secret", Namespace: req.Namespace, Name: req.Name}); err != nil || res.RequeueAfter > 0 {
		return res, err
	}
	list := &itopsv1alpha1.IncidentList{}
	if err := r.Client.List(ctx, list, client.InNamespace(req.Namespace),
		client.MatchingLabels{itopsv1alpha1.LabelReason: itopsv1alpha1.ReasonCertificateExpiring}); err != nil {
		return reconcile.Result{}, err
	}
	res := reconcile.Result{}
	for _, inc := range list.Items {
		if len(inc.Spec.Affected) < 2 || inc.Spec.Affected[0].Kind != certexpiry.CertificateGVK.Kind {
			continue
		}
		for _, a := range inc.Spec.Affected[1:] {
			if a.Kind != "Secret" || a.Name != req.Name {
				continue
			}
			got, err := r.judgeCertificate(ctx, req.Namespace, inc.Spec.Affected[0].Name, true)
			if err != nil {
				return reconcile.Result{}, err
			}
			res = earliest(res, got)
		}
	}
	return res, nil
}

// earliest is the result that requeues first (a zero RequeueAfter never requeues).
func earliest(a, b reconcile.Result) reconcile.Result {
	if a.RequeueAfter == 0 || (b.RequeueAfter > 0 && b.RequeueAfter < a.RequeueAfter) {
		return b
	}
	return a
}

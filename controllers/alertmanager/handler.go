// Package alertmanager serves "Alertmanager in": POST /alertmanager/v4 on the webhook
// server's port (HTTPS, the webhook serving certificate), where an Alertmanager webhook
// receiver delivers its notifications. Firing alerts become signals (source Alertmanager) of
// the incident of the thing they are about, through the shared incident writer; resolved
// alerts clear them (docs/alertmanager.md).
//
// The handler is thin: authenticate, bound and decode the body (internal/alertmanager decides
// what is valid and what each alert means), gather the subjects from the cache, write. It
// answers 200 only once every write succeeded, and 503 when one failed, so that Alertmanager
// retries the notification and nothing is lost; writes are idempotent (alerts are keyed by
// fingerprint in the incident's status), so a retried notification changes nothing twice.
package alertmanager

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/controllers/incidentwriter"
	am "github.com/itops-dev/itops-operator/internal/alertmanager"
	"github.com/itops-dev/itops-operator/internal/config"
	"github.com/itops-dev/itops-operator/internal/health"
)

// Path is where the endpoint is served on the webhook server.
const Path = "/alertmanager/v4"

// tokenTTL bounds how long the token read from its Secret is trusted before it is read again
// (a rotated token is honoured within this time, at once after a refusal: see token).
const tokenTTL = time.Minute

// writeConcurrency bounds the incidents one notification writes at a time.
const writeConcurrency = 8

// writeBackoff retries a write that lost a race (an optimistic-lock conflict, an incident
// another writer just created) for about 6 seconds before the notification is answered 503.
var writeBackoff = wait.Backoff{Duration: 50 * time.Millisecond, Factor: 2, Jitter: 0.2, Steps: 8}

// Receiver is the endpoint's http.Handler.
type Receiver struct {
	// Policy is the administrator's alertmanager policy (defaults applied).
	Policy config.AlertmanagerPolicy
	// Reader reads from the cache: pods and owners, for the roll-up.
	Reader client.Reader
	// APIReader reads from the API server: the token Secret, and the subject's incidents (so a
	// resolution never misses an incident the cache has not seen yet).
	APIReader client.Reader
	// Writer writes the incidents.
	Writer *incidentwriter.Writer
	// Namespace is the operator namespace, which holds the token Secret.
	Namespace string
	// Log receives one line per notification (never the token).
	Log   logr.Logger
	Clock clock.PassiveClock

	caOnce    sync.Once
	clientCAs *x509.CertPool

	mu        sync.Mutex
	token     string
	tokenRead time.Time
}

// response is the JSON body of every answer.
type response struct {
	// Status is "ok" or "error".
	Status string `json:"status"`
	// Error says what is wrong, for the Alertmanager operator reading its logs.
	Error string `json:"error,omitempty"`
	// Alerts counts the alerts received; Ignored those dropped by severity.
	Alerts  int `json:"alerts,omitempty"`
	Ignored int `json:"ignored,omitempty"`
	// Subjects are the things whose incidents were written (Kind/namespace/name).
	Subjects []string `json:"subjects,omitempty"`
}

func reply(w http.ResponseWriter, code int, r response) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(r)
}

func fail(w http.ResponseWriter, code int, format string, args ...any) {
	reply(w, code, response{Status: "error", Error: fmt.Sprintf(format, args...)})
}

// ServeHTTP handles one notification, counted in itops_alertmanager_requests_total by its
// status code.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	promhttp.InstrumentHandlerCounter(requestsTotal, http.HandlerFunc(r.serve)).ServeHTTP(w, req)
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	log := r.Log.WithValues("remote", req.RemoteAddr)
	if !r.Policy.Enabled {
		fail(w, http.StatusNotFound, "the Alertmanager endpoint is disabled: set alertmanager.enabled in the operator's policy (--config)")
		return
	}
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		fail(w, http.StatusMethodNotAllowed, "method %s not allowed: Alertmanager's webhook receiver POSTs its notifications", req.Method)
		return
	}
	switch ok, err := r.authenticate(req); {
	case err != nil:
		log.Error(err, "cannot authenticate Alertmanager notifications")
		w.Header().Set("Retry-After", "10")
		fail(w, http.StatusServiceUnavailable, "authentication is unavailable: the operator cannot read its token (see the operator's log)")
		return
	case !ok:
		if r.Policy.TokenSecretRef != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="itops-operator"`)
		}
		log.Info("refused an unauthenticated Alertmanager notification")
		fail(w, http.StatusUnauthorized, "unauthenticated: send Authorization: Bearer <token> (http_config.authorization.credentials) or a client certificate the policy's clientCA trusts")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, r.Policy.MaxBodyBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		fail(w, http.StatusRequestEntityTooLarge, "the body exceeds %d bytes (alertmanager.maxBodyBytes): set max_alerts on the webhook receiver", r.Policy.MaxBodyBytes)
		return
	case err != nil:
		fail(w, http.StatusBadRequest, "reading the body: %v", err)
		return
	}
	msg, err := am.Decode(body)
	var invalid *am.InvalidError
	switch {
	case errors.Is(err, am.ErrBadJSON):
		fail(w, http.StatusBadRequest, "%v", err)
		return
	case errors.As(err, &invalid):
		fail(w, http.StatusUnprocessableEntity, "%v", err)
		return
	case err != nil:
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	obs, ignored, err := r.observations(req.Context(), msg)
	if err != nil {
		log.Error(err, "mapping alerts to their subjects", "groupKey", msg.GroupKey)
		alertsTotal.WithLabelValues(OutcomeRefused).Add(float64(len(msg.Alerts)))
		fail(w, http.StatusServiceUnavailable, "mapping alerts to their subjects: %v", err)
		return
	}
	// Subjects are independent incidents: write them a few at a time.
	errs := make([]error, len(obs))
	sem := make(chan struct{}, writeConcurrency)
	var wg sync.WaitGroup
	for i := range obs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = retry.OnError(writeBackoff, incidentwriter.IsRace, func() error {
				return r.Writer.SyncAlerts(req.Context(), obs[i])
			})
		}()
	}
	wg.Wait()
	subjects := make([]string, 0, len(obs))
	for i, o := range obs {
		if err := errs[i]; err != nil {
			log.Error(err, "writing the incident of an alerted subject", "subject", o.Subject.String(), "groupKey", msg.GroupKey)
			w.Header().Set("Retry-After", "5")
			alertsTotal.WithLabelValues(OutcomeRefused).Add(float64(len(msg.Alerts)))
			fail(w, http.StatusServiceUnavailable, "writing the incident of %s: %v (Alertmanager retries)", o.Subject, err)
			return
		}
		subjects = append(subjects, o.Subject.String())
	}
	if msg.TruncatedAlerts > 0 {
		log.Info("Alertmanager left alerts out of a notification (max_alerts): those are not recorded until it sends them",
			"receiver", msg.Receiver, "groupKey", msg.GroupKey, "truncatedAlerts", msg.TruncatedAlerts)
	}
	alertsTotal.WithLabelValues(OutcomeAccepted).Add(float64(len(msg.Alerts) - ignored))
	alertsTotal.WithLabelValues(OutcomeIgnored).Add(float64(ignored))
	log.V(1).Info("Alertmanager notification recorded", "receiver", msg.Receiver, "groupKey", msg.GroupKey, "status", msg.Status,
		"alerts", len(msg.Alerts), "ignored", ignored, "subjects", subjects)
	reply(w, http.StatusOK, response{Status: "ok", Alerts: len(msg.Alerts), Ignored: ignored, Subjects: subjects})
}

// observations groups the notification's alerts by the subject they are about (pods and
// jobs rolled up to their workload), in a stable order.
func (r *Receiver) observations(ctx context.Context, msg *am.Message) ([]incidentwriter.AlertObservation, int, error) {
	now := r.now()
	bySubject := map[health.Subject]*incidentwriter.AlertObservation{}
	placed := map[string]map[string]health.Subject{} // namespace -> fingerprint -> subject
	ignored := 0
	for _, a := range msg.Alerts {
		sig, ignore := am.SignalOf(a, &r.Policy, now)
		if ignore {
			ignored++
			continue
		}
		target := am.TargetOf(a.Labels, r.Policy.Labels, msg.GroupLabels)
		// An alert stays on the incident it joined: its pod may be gone by the time it
		// resolves (a rollout replaced it), and then its labels no longer lead to the workload.
		ns := r.Writer.IncidentNamespace(target.Subject)
		if _, ok := placed[ns]; !ok {
			index, err := r.alertPlacement(ctx, ns)
			if err != nil {
				return nil, 0, err
			}
			placed[ns] = index
		}
		subj, ok := placed[ns][a.Fingerprint]
		if !ok {
			var err error
			if subj, err = r.subject(ctx, target); err != nil {
				return nil, 0, err
			}
		}
		o, ok := bySubject[subj]
		if !ok {
			service, err := r.serviceOf(ctx, subj)
			if err != nil {
				return nil, 0, err
			}
			o = &incidentwriter.AlertObservation{Subject: subj, Service: service, Reader: r.APIReader}
			bySubject[subj] = o
		}
		o.Alerts = append(o.Alerts, sig)
	}
	out := make([]incidentwriter.AlertObservation, 0, len(bySubject))
	for _, o := range bySubject {
		out = append(out, *o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Subject.String() < out[j].Subject.String() })
	return out, ignored, nil
}

// serviceOf is the ServiceLevel selecting a workload subject, as the detectors find it: the
// first by name in its namespace whose selector matches the workload's labels ("" for none,
// and for subjects that are not workloads the cache holds).
func (r *Receiver) serviceOf(ctx context.Context, subj health.Subject) (string, error) {
	var obj client.Object
	switch subj.Group() + "/" + subj.Kind {
	case "apps/Deployment":
		obj = &appsv1.Deployment{}
	case "apps/StatefulSet":
		obj = &appsv1.StatefulSet{}
	case "apps/DaemonSet":
		obj = &appsv1.DaemonSet{}
	case "batch/CronJob":
		obj = &batchv1.CronJob{}
	default:
		return "", nil
	}
	err := r.Reader.Get(ctx, client.ObjectKey{Namespace: subj.Namespace, Name: subj.Name}, obj)
	switch {
	case apierrors.IsNotFound(err):
		return "", nil
	case err != nil:
		return "", err
	}
	list := &itopsv1alpha1.ServiceLevelList{}
	if err := r.Reader.List(ctx, list, client.InNamespace(subj.Namespace)); err != nil {
		return "", err
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	for _, sl := range list.Items {
		sel, err := metav1.LabelSelectorAsSelector(&sl.Spec.Selector)
		if err == nil && !sel.Empty() && sel.Matches(labels.Set(obj.GetLabels())) {
			return sl.Name, nil
		}
	}
	return "", nil
}

// alertPlacement maps the fingerprints of the alerts recorded on the incidents of namespace ns
// (read from the cache) to the subject of the incident that holds them.
func (r *Receiver) alertPlacement(ctx context.Context, ns string) (map[string]health.Subject, error) {
	list := &itopsv1alpha1.IncidentList{}
	if err := r.Reader.List(ctx, list, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	index := map[string]health.Subject{}
	for _, inc := range list.Items {
		if inc.Spec.Fingerprint == "" || len(inc.Spec.Affected) == 0 {
			continue
		}
		ref := inc.Spec.Affected[0]
		subj := health.Subject{APIVersion: ref.APIVersion, Kind: ref.Kind, Namespace: ref.Namespace, Name: ref.Name}
		if health.Fingerprint(subj) != inc.Spec.Fingerprint {
			continue // not a subject's incident (a legacy one, or a person's)
		}
		for _, s := range inc.Status.Signals {
			for _, a := range s.Alerts {
				index[a.Fingerprint] = subj
			}
		}
	}
	return index, nil
}

// subject rolls a Pod or Job target up through its controllers, as the detectors do; a pod
// or job not in the cache (deleted, replaced) is its own subject.
func (r *Receiver) subject(ctx context.Context, t am.Target) (health.Subject, error) {
	if !t.RollUp {
		return t.Subject, nil
	}
	var obj client.Object = &corev1.Pod{}
	if t.Kind == "Job" {
		obj = &batchv1.Job{}
	}
	err := r.Reader.Get(ctx, client.ObjectKey{Namespace: t.Namespace, Name: t.Name}, obj)
	switch {
	case apierrors.IsNotFound(err):
		return t.Subject, nil
	case err != nil:
		return health.Subject{}, err
	}
	return health.Rollup(obj, t.APIVersion, t.Kind, r.lookup(ctx))
}

// lookup reads an owner's controller from the cache: typed reads for the kinds the detectors
// watch, metadata for ReplicaSets; an owner of any other kind ends the roll-up naming it (as
// the detectors do for a kind the operator may read: an Argo Rollout, an operator's resource).
func (r *Receiver) lookup(ctx context.Context) health.OwnerLookup {
	return func(namespace string, ref metav1.OwnerReference) (*metav1.OwnerReference, bool, error) {
		var obj client.Object
		gk := health.Subject{APIVersion: ref.APIVersion, Kind: ref.Kind}
		switch gk.Group() + "/" + gk.Kind {
		case "apps/Deployment":
			obj = &appsv1.Deployment{}
		case "apps/StatefulSet":
			obj = &appsv1.StatefulSet{}
		case "apps/DaemonSet":
			obj = &appsv1.DaemonSet{}
		case "batch/Job":
			obj = &batchv1.Job{}
		case "batch/CronJob":
			obj = &batchv1.CronJob{}
		case "apps/ReplicaSet":
			m := &metav1.PartialObjectMetadata{}
			m.APIVersion, m.Kind = ref.APIVersion, ref.Kind
			obj = m
		default:
			return nil, false, nil
		}
		err := r.Reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: ref.Name}, obj)
		switch {
		case apierrors.IsNotFound(err):
			return nil, false, nil
		case err != nil:
			return nil, false, err
		}
		if obj.GetUID() != "" && ref.UID != "" && obj.GetUID() != ref.UID {
			return nil, false, nil // a namesake, not the owner
		}
		return metav1.GetControllerOfNoCopy(obj), true, nil
	}
}

func (r *Receiver) now() time.Time {
	if r.Clock == nil {
		return time.Now()
	}
	return r.Clock.Now()
}

package incidentwriter

import (
	"context"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/alertmanager"
	"github.com/itops-dev/itops-operator/internal/health"
	"github.com/itops-dev/itops-operator/internal/lifecycle"
	"github.com/itops-dev/itops-operator/internal/metrics"
	"github.com/itops-dev/itops-operator/internal/priority"
)

// AlertObservation is what one Alertmanager notification says about one subject: its alerts,
// firing and resolved.
type AlertObservation struct {
	// Subject is the affected thing (after roll-up).
	Subject health.Subject
	// Alerts are the notification's alerts about it.
	Alerts []alertmanager.Signal
	// Service is the ServiceLevel selecting the subject ("" if none): an incident the alerts
	// open names it (its SLA sets the deadlines).
	Service string
	// Reader lists the subject's incidents (nil: the writer's client). The Alertmanager
	// endpoint reads from the API server, so that a resolution never misses an incident
	// opened a moment before, which the cache may not hold yet.
	Reader client.Reader
}

// SyncAlerts records alerts as signals (source Alertmanager) of the subject's incident, the
// same incident the detectors write to: a firing alert joins the open incident (or reopens
// one auto-resolved recently) as a signal, or opens one (spec.source Alertmanager); a
// resolved alert clears its fingerprint, and its signal once none is left, after which the
// incident auto-resolves through the normal lifecycle when no signal is active. A notification
// with only resolved alerts never opens an incident. Errors are the API's: a conflict or an
// incident the cache has not seen yet is a race (IsRace) the caller retries.
func (w *Writer) SyncAlerts(ctx context.Context, o AlertObservation) error {
	ns := w.IncidentNamespace(o.Subject)
	fp := health.Fingerprint(o.Subject)
	reader := o.Reader
	if reader == nil {
		reader = w.Client
	}
	list := &itopsv1alpha1.IncidentList{}
	if err := reader.List(ctx, list, client.InNamespace(ns), client.MatchingLabels{itopsv1alpha1.LabelFingerprint: fp}); err != nil {
		return err
	}
	latest := lifecycle.Latest(list.Items)
	now := w.Now()
	firing := false
	for _, a := range o.Alerts {
		firing = firing || a.Firing
	}
	if firing && lifecycle.Decide(latest, now, w.Policy) == lifecycle.OpenNew {
		return w.openForAlerts(ctx, o, ns, fp, latest, nextSequence(list.Items), now)
	}
	if latest == nil || latest.DeletionTimestamp != nil {
		return nil
	}
	// Attach, or a person resolved it while it fired (Continue): record on it either way, so
	// that resolutions find their fingerprints.
	return w.updateAlerts(ctx, latest, o, now)
}

// openForAlerts creates the subject's next incident from firing alerts.
func (w *Writer) openForAlerts(ctx context.Context, o AlertObservation, ns, fp string, previous *itopsv1alpha1.Incident, seq int, now time.Time) error {
	merged := alertmanager.Merge(nil, o.Alerts, now)
	reason := health.MostSpecific(merged.Signals)
	var impact, urgency itopsv1alpha1.Level
	var best itopsv1alpha1.Priority
	detected := now
	var description []string
	for _, a := range o.Alerts {
		if !a.Firing {
			continue
		}
		if best == "" || priority.Rank(a.Priority) < priority.Rank(best) {
			best, impact, urgency = a.Priority, a.Impact, a.Urgency
		}
		if a.Since.Before(detected) {
			detected = a.Since
		}
		description = append(description, a.Reason+": "+a.Message)
	}
	inc := draft{
		subject: o.Subject, namespace: ns, fingerprint: fp, seq: seq, previous: previous,
		reason: reason, source: itopsv1alpha1.SourceAlertmanager, detected: detected, description: description,
		impact: impact, urgency: urgency, service: o.Service,
		affected: []itopsv1alpha1.ObjectReference{o.Subject.Reference()},
	}.incident()
	if err := w.create(ctx, inc, o.Subject, o.Service, seq); err != nil {
		return err
	}
	return w.updateAlerts(ctx, inc, o, now)
}

// updateAlerts merges the alerts into the incident's signals and writes the writer's fields
// (one status patch under optimistic locking, then the reason and title if they change).
func (w *Writer) updateAlerts(ctx context.Context, inc *itopsv1alpha1.Incident, o AlertObservation, now time.Time) error {
	merged := alertmanager.Merge(inc.Status.Signals, o.Alerts, now)
	st := inc.Status.DeepCopy()
	st.Signals = merged.Signals
	applyPresence(st, inc, merged, now, false)
	if !apiequality.Semantic.DeepEqual(*st, inc.Status) {
		base := inc.DeepCopy()
		inc.Status = *st
		if err := w.Client.Status().Patch(ctx, inc, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
			return err
		}
		for _, r := range merged.Started {
			metrics.Detections.WithLabelValues(r).Inc()
		}
	}
	return w.name(ctx, inc, o.Subject)
}

// ExpireAlerts records alerts that expired without a resolved notification (their endsAt
// passed, or Alertmanager stopped sending them: alertmanager.Stale) as resolved on the
// incident, through the same merge as a notification, so that the signal fields keep one
// writer. inc is the incident as read (its resourceVersion guards the patch: a conflict is a
// race the caller retries with a fresh read).
func (w *Writer) ExpireAlerts(ctx context.Context, inc *itopsv1alpha1.Incident, resolved []alertmanager.Signal) error {
	if len(resolved) == 0 {
		return nil
	}
	o := AlertObservation{Alerts: resolved}
	if len(inc.Spec.Affected) > 0 {
		ref := inc.Spec.Affected[0]
		o.Subject = health.Subject{APIVersion: ref.APIVersion, Kind: ref.Kind, Namespace: ref.Namespace, Name: ref.Name}
	}
	return w.updateAlerts(ctx, inc, o, w.Now())
}

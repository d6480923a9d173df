package incidentwriter

import (
	"context"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/detector/custom"
	"github.com/itops-dev/itops-operator/internal/health"
	"github.com/itops-dev/itops-operator/internal/lifecycle"
	"github.com/itops-dev/itops-operator/internal/metrics"
)

// SignalObservation is one judgement of one reason on one subject by a detector whose
// signals carry their own priority: the administrator-defined detectors (reason: the
// detector's own, incident reason Custom) and CertificateExpiring (its priority depends on how
// close the expiry is).
type SignalObservation struct {
	// Subject is the affected thing.
	Subject health.Subject
	// Reason is the signal's reason.
	Reason string
	// IncidentReason is the incident's spec.reason and itops.dev/reason label while this
	// signal is its most specific active one: Custom for administrator-defined detectors, the
	// reason itself otherwise.
	IncidentReason string
	// Problem is what is observed now; nil: the subject is healthy (or gone), the signal
	// clears. A Sustain problem keeps an active signal and opens nothing.
	Problem *custom.Problem
	// Affected are further objects listed in a new incident's spec.affected (after Subject).
	Affected []itopsv1alpha1.ObjectReference
	// Impact and Urgency are the opening severity (their matrix value is Problem.Priority).
	Impact, Urgency itopsv1alpha1.Level
	// Service is the ServiceLevel covering the subject ("" if none): a new incident's
	// spec.service.
	Service string
	// CauseJudged says the detector judged what explains the problem; Cause is then the open
	// incident that does (status.causedBy; nil: nothing does). A recovered observation keeps
	// the cause the incident had, as Sync does.
	CauseJudged bool
	Cause       *itopsv1alpha1.IncidentReference
}

// SyncSignal makes the subject's incident reflect the observation with the lifecycle every
// detector shares (lifecycle.Decide): a problem opens an incident when none is open or
// reopenable, joins the open one otherwise; a healthy observation clears the signal on the
// latest incident, which then auto-resolves when no signal is active. A healthy subject
// without an incident writes nothing. Errors are the API's; IsRace tells the ones to retry.
func (w *Writer) SyncSignal(ctx context.Context, o SignalObservation) error {
	ns := w.IncidentNamespace(o.Subject)
	fp := health.Fingerprint(o.Subject)
	list := &itopsv1alpha1.IncidentList{}
	if err := w.Client.List(ctx, list, client.InNamespace(ns), client.MatchingLabels{itopsv1alpha1.LabelFingerprint: fp}); err != nil {
		return err
	}
	latest := lifecycle.Latest(list.Items)
	now := w.Now()
	if o.Problem != nil && !o.Problem.Sustain {
		switch lifecycle.Decide(latest, now, w.Policy) {
		case lifecycle.OpenNew:
			return w.openForSignal(ctx, o, ns, fp, latest, nextSequence(list.Items), now)
		case lifecycle.Attach:
			return w.updateSignal(ctx, latest, o, now)
		case lifecycle.Continue:
		}
	}
	if latest == nil || latest.DeletionTimestamp != nil {
		return nil
	}
	return w.updateSignal(ctx, latest, o, now)
}

// openForSignal creates the subject's next incident from a problem.
func (w *Writer) openForSignal(ctx context.Context, o SignalObservation, ns, fp string, previous *itopsv1alpha1.Incident, seq int, now time.Time) error {
	detected := now
	if s := o.Problem.Since; !s.IsZero() && s.Before(now) {
		detected = s
	}
	inc := draft{
		subject: o.Subject, namespace: ns, fingerprint: fp, seq: seq, previous: previous,
		reason: o.IncidentReason, source: itopsv1alpha1.SourceHealthCheck, detected: detected,
		description: []string{o.Reason + ": " + o.Problem.Message},
		impact:      o.Impact, urgency: o.Urgency, service: o.Service,
		affected: append([]itopsv1alpha1.ObjectReference{o.Subject.Reference()}, o.Affected...),
	}.incident()
	// The title names the detector's own reason, not Custom.
	inc.Spec.Title = title(o.Subject, o.Reason)
	if err := w.create(ctx, inc, o.Subject, o.Service, seq); err != nil {
		return err
	}
	return w.updateSignal(ctx, inc, o, now)
}

// updateSignal merges the observation into the incident's signals (one status patch under
// optimistic locking), then names the incident after it when it is the most specific.
func (w *Writer) updateSignal(ctx context.Context, inc *itopsv1alpha1.Incident, o SignalObservation, now time.Time) error {
	merged := custom.MergeSignal(inc.Status.Signals, o.Reason, o.Problem, now)
	st := inc.Status.DeepCopy()
	st.Signals = merged.Signals
	applyPresence(st, inc, merged, now, false)
	if o.CauseJudged && o.Problem != nil {
		st.CausedBy = linkCause(st.CausedBy, o.Cause)
	}
	if !apiequality.Semantic.DeepEqual(*st, inc.Status) {
		base := inc.DeepCopy()
		inc.Status = *st
		if err := w.Client.Status().Patch(ctx, inc, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
			return err
		}
		for range merged.Started {
			// By incident reason: a custom detector's own reasons are the administrator's,
			// unbounded in number; Custom keeps the metric's cardinality fixed.
			metrics.Detections.WithLabelValues(o.IncidentReason).Inc()
		}
	}
	return w.nameSignal(ctx, inc, o)
}

// incidentReason is the incident reason of a signal reason: Custom for an administrator-defined
// detector's (CustomReasons), the reason itself otherwise.
func (w *Writer) incidentReason(signal string) string {
	if w.CustomReasons[signal] {
		return itopsv1alpha1.ReasonCustom
	}
	return signal
}

// nameSignal sets spec.reason and the itops.dev/reason label to the observation's incident
// reason, and the generated title to its signal, while that signal is the incident's most
// specific active one. Other cases are the other writers' (name).
func (w *Writer) nameSignal(ctx context.Context, inc *itopsv1alpha1.Incident, o SignalObservation) error {
	if !health.AnyActive(inc.Status.Signals) {
		return nil
	}
	if health.MostSpecific(inc.Status.Signals) != o.Reason {
		return w.name(ctx, inc, o.Subject)
	}
	want := title(o.Subject, o.Reason)
	generated := inc.Spec.Title == title(o.Subject, inc.Spec.Reason) || inc.Spec.Title == want
	if inc.Spec.Reason == o.IncidentReason && inc.Labels[itopsv1alpha1.LabelReason] == o.IncidentReason && (!generated || inc.Spec.Title == want) {
		return nil
	}
	base := inc.DeepCopy()
	if generated {
		inc.Spec.Title = want
	}
	inc.Spec.Reason = o.IncidentReason
	if inc.Labels == nil {
		inc.Labels = map[string]string{}
	}
	inc.Labels[itopsv1alpha1.LabelReason] = o.IncidentReason
	return w.Client.Patch(ctx, inc, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
}

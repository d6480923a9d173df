// Package incidentwriter is the one place where detectors (health, change, service-level
// controllers) write what they observe onto Incidents: one incident per affected thing (its
// subject), every problem seen on it a signal.
//
// # Who writes what
//
// Incident status has two writers, each owning a disjoint set of fields; both patch with
// optimistic locking (a conflict is retried with fresh data, never overwrites the other's
// fields):
//
//   - this writer (detectors): metadata labels itops.dev/reason, fingerprint and sequence;
//     spec.title (while it is the generated one), spec.reason, spec.affected, spec.fingerprint
//     at creation; status.signals (each detector only the reasons it judges), status.lastSeenAt,
//     status.occurrences, status.causedBy, status.evidence, and the ProblemPresent condition.
//   - the incident controller (controllers/incident): status.phase, priority, detectedAt,
//     acknowledgedAt, resolvedAt, resolvedBy, closedAt, responseDueAt, resolutionDueAt,
//     suppressedBy, relatedChanges, previous, timeline, timelineOmitted, symptoms,
//     observedGeneration, and the Ready, Reconciling, Stalled, Suppressed, AutoResolved,
//     Symptom, ResponseSLABreached and ResolutionSLABreached conditions.
//
// People own spec.acknowledgement, spec.resolution, spec.assignee, spec.impact, spec.urgency
// and spec.description; neither writer changes them after creation.
package incidentwriter

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/health"
	"github.com/itops-dev/itops-operator/internal/lifecycle"
	"github.com/itops-dev/itops-operator/internal/metrics"
	"github.com/itops-dev/itops-operator/internal/notify"
	"github.com/itops-dev/itops-operator/internal/priority"
)

// Writer keeps the incident of each subject in line with the problems observed on it.
type Writer struct {
	Client           client.Client
	Policy           lifecycle.Policy
	ClusterNamespace string
	Clock            clock.PassiveClock
	// CustomReasons are the signal reasons of the administrator-defined detectors: an
	// incident whose most specific active signal has one of them is named Custom (spec.reason
	// and the itops.dev/reason label; see signal.go).
	CustomReasons map[string]bool
	// Logs reads the last lines of a crashed container's log into the evidence (nil: never;
	// see LogCapturer). It is called only when the evidence is written: once per detection.
	Logs LogCapturer
}

// Observation is one detector's judgement of one subject at one moment.
type Observation struct {
	// Subject is the affected thing (after roll-up through its controllers).
	Subject health.Subject
	// Judged are the reasons this detector judges on the subject; signals of other reasons
	// (another detector's) are left as they are.
	Judged []string
	// Problems are those observed now (a subset of Judged).
	Problems []health.Problem
	// Service is the ServiceLevel selecting the subject ("" if none).
	Service string
	// CauseJudged says the detector judged what explains the subject's problems; Cause is
	// then that open incident (nil: nothing does). A link to a ChangeRequest is kept when
	// the detector finds no incident cause.
	CauseJudged bool
	Cause       *itopsv1alpha1.IncidentReference
	// Evidence is what the detector captured about the problems (nil: nothing). It is written
	// to status.evidence when a signal starts (detection) or the incident has none yet, so it
	// says what was seen when the problem was detected, and is not rewritten while it lasts.
	Evidence *itopsv1alpha1.IncidentEvidence
	// Logs names the crashed container whose log belongs in the evidence (nil: none); it is
	// read through Writer.Logs only when Evidence is written.
	Logs *health.LogTarget
}

// Now is the writer's clock.
func (w *Writer) Now() time.Time {
	if w.Clock == nil {
		return time.Now()
	}
	return w.Clock.Now()
}

// IncidentNamespace is where a subject's incidents live: its own namespace, or the cluster
// namespace for cluster-scoped subjects.
func (w *Writer) IncidentNamespace(subj health.Subject) string {
	if subj.Namespace == "" {
		return w.ClusterNamespace
	}
	return subj.Namespace
}

// Latest returns the subject's most recent incident (nil if none), from the cache.
func (w *Writer) Latest(ctx context.Context, subj health.Subject) (*itopsv1alpha1.Incident, error) {
	list := &itopsv1alpha1.IncidentList{}
	if err := w.Client.List(ctx, list, client.InNamespace(w.IncidentNamespace(subj)),
		client.MatchingLabels{itopsv1alpha1.LabelFingerprint: health.Fingerprint(subj)}); err != nil {
		return nil, err
	}
	return lifecycle.Latest(list.Items), nil
}

// Reference names an incident as a cause or symptom.
func Reference(inc *itopsv1alpha1.Incident) *itopsv1alpha1.IncidentReference {
	return &itopsv1alpha1.IncidentReference{Kind: "Incident", Namespace: inc.Namespace, Name: inc.Name}
}

// OpenIncidentWith returns the subject's open incident if its signal of reason is active
// (nil otherwise): what a symptom is linked to.
func (w *Writer) OpenIncidentWith(ctx context.Context, subj health.Subject, reason string) (*itopsv1alpha1.IncidentReference, error) {
	inc, err := w.Latest(ctx, subj)
	if err != nil || inc == nil || !lifecycle.IsOpen(inc) || inc.DeletionTimestamp != nil {
		return nil, err
	}
	for _, s := range inc.Status.Signals {
		if s.Reason == reason && s.Active {
			return Reference(inc), nil
		}
	}
	return nil, nil
}

// FirstOpenNodeNotReady returns the open incident (first by name) of a node whose
// NodeNotReady signal is active, or nil: the cluster has lost capacity (health.NodeCause).
// It reads the cache, by the itops.dev/reason label.
func (w *Writer) FirstOpenNodeNotReady(ctx context.Context) (*itopsv1alpha1.IncidentReference, error) {
	list := &itopsv1alpha1.IncidentList{}
	if err := w.Client.List(ctx, list, client.InNamespace(w.ClusterNamespace),
		client.MatchingLabels{itopsv1alpha1.LabelReason: itopsv1alpha1.ReasonNodeNotReady}); err != nil {
		return nil, err
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	for i := range list.Items {
		inc := &list.Items[i]
		if !lifecycle.IsOpen(inc) || inc.DeletionTimestamp != nil {
			continue
		}
		for _, s := range inc.Status.Signals {
			if s.Reason == itopsv1alpha1.ReasonNodeNotReady && s.Active {
				return Reference(inc), nil
			}
		}
	}
	return nil, nil
}

// Sync makes the subject's incident reflect the observation: it opens one when a problem
// is observed and none is open (or reopenable), records each problem as a signal, clears
// the signals no longer observed, and keeps the title and reason on the most specific active
// signal.
func (w *Writer) Sync(ctx context.Context, o Observation) error {
	if err := w.recoverLegacy(ctx, o); err != nil {
		return err
	}
	ns := w.IncidentNamespace(o.Subject)
	fp := health.Fingerprint(o.Subject)
	list := &itopsv1alpha1.IncidentList{}
	if err := w.Client.List(ctx, list, client.InNamespace(ns), client.MatchingLabels{itopsv1alpha1.LabelFingerprint: fp}); err != nil {
		return err
	}
	latest := lifecycle.Latest(list.Items)
	now := w.Now()
	opening := false
	for _, p := range o.Problems {
		opening = opening || !p.Sustain
	}
	switch {
	case opening:
		switch lifecycle.Decide(latest, now, w.Policy) {
		case lifecycle.OpenNew:
			return w.open(ctx, o, ns, fp, latest, nextSequence(list.Items), now)
		case lifecycle.Attach:
			return w.update(ctx, latest, o, now)
		case lifecycle.Continue:
		}
	case latest != nil && latest.DeletionTimestamp == nil:
		// Recovered or sustained: record it on the latest incident whatever its phase, so
		// that a later return is told apart from a problem that never went away.
		return w.update(ctx, latest, o, now)
	}
	return nil
}

// title is the generated title of a subject's incident about reason.
func title(subj health.Subject, reason string) string {
	return health.Truncate(fmt.Sprintf("%s %s: %s", subj.Kind, subj.Name, reason), 256)
}

// ownerTeam is the team owning the incidents of service in namespace ns: the ServiceLevel's
// spec.owner.team, else the namespace annotation itops.dev/owner-team ("" when neither, or
// when they cannot be read: ownership never holds up detection).
func (w *Writer) ownerTeam(ctx context.Context, ns, service string) string {
	var slOwner *itopsv1alpha1.ServiceOwner
	if service != "" {
		sl := &itopsv1alpha1.ServiceLevel{}
		if err := w.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: service}, sl); err == nil {
			slOwner = sl.Spec.Owner
		}
	}
	namespace := &corev1.Namespace{}
	if err := w.Client.Get(ctx, client.ObjectKey{Name: ns}, namespace); err != nil {
		namespace.Annotations = nil
	}
	return notify.OwnerOf(slOwner, namespace.Annotations).Team
}

// open creates the subject's next incident.
func (w *Writer) open(ctx context.Context, o Observation, ns, fp string, previous *itopsv1alpha1.Incident, seq int, now time.Time) error {
	merged := health.MergeSignals(nil, o.Judged, o.Problems, o.Service != "", now)
	reason := health.MostSpecific(merged.Signals)
	// The opening severity: that of the most urgent problem.
	var impact, urgency itopsv1alpha1.Level
	var best itopsv1alpha1.Priority
	source := itopsv1alpha1.SourceHealthCheck
	detected := now
	affected := []itopsv1alpha1.ObjectReference{o.Subject.Reference()}
	var description []string
	for _, p := range o.Problems {
		if p.Sustain {
			continue
		}
		if pr := health.PriorityFor(p.Reason, o.Service != ""); best == "" || priority.Rank(pr) < priority.Rank(best) {
			best = pr
			impact, urgency = health.SeverityFor(p.Reason, o.Service != "")
		}
		if p.Source != "" && p.Reason == reason {
			source = p.Source
		}
		if !p.Since.IsZero() && p.Since.Before(detected) {
			detected = p.Since
		}
		description = append(description, p.Message)
		for _, a := range p.Affected {
			if len(affected) < 32 {
				affected = append(affected, a)
			}
		}
	}
	inc := draft{
		subject: o.Subject, namespace: ns, fingerprint: fp, seq: seq, previous: previous,
		reason: reason, source: source, detected: detected, description: description,
		impact: impact, urgency: urgency, service: o.Service, affected: affected,
	}.incident()
	if err := w.create(ctx, inc, o.Subject, o.Service, seq); err != nil {
		return err
	}
	return w.update(ctx, inc, o, now)
}

// create creates an automated incident of subject in ns: the owning team (of service, else of
// the namespace) inherits it; a name held by another subject's (or a person's) incident makes it
// take the subject's collision name, deterministic too. Errors name the incident; a missing
// cluster namespace says the installation creates it.
func (w *Writer) create(ctx context.Context, inc *itopsv1alpha1.Incident, subject health.Subject, service string, seq int) error {
	ns, fp := inc.Namespace, inc.Spec.Fingerprint
	if team := w.ownerTeam(ctx, ns, service); team != "" {
		// The owning team inherits the incident; people may reassign it.
		inc.Spec.Team, inc.Spec.Assignee = team, team
	}
	err := w.Client.Create(ctx, inc)
	if apierrors.IsNotFound(err) && ns == w.ClusterNamespace {
		// The installation creates the cluster namespace (config/manager, the Helm chart); the
		// operator has no right to create namespaces (least privilege, docs/security.md).
		return fmt.Errorf("the cluster namespace %s does not exist: the installation creates it (or set --cluster-namespace): %w", ns, err)
	}
	if apierrors.IsAlreadyExists(err) {
		taken := &itopsv1alpha1.Incident{}
		if gerr := w.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: inc.Name}, taken); gerr == nil && taken.Spec.Fingerprint != fp {
			inc.Name = health.CollisionName(subject, seq)
			err = w.Client.Create(ctx, inc)
		}
	}
	if err != nil {
		if apierrors.IsAlreadyExists(err) {
			// Another replica, another detector of the same subject or an earlier attempt
			// created it; our cache has not seen it yet.
			return fmt.Errorf("incident %s/%s already exists, waiting for the cache: %w", ns, inc.Name, err)
		}
		return fmt.Errorf("opening incident %s/%s: %w", ns, inc.Name, err)
	}
	return nil
}

// update merges the observation into the incident's signals and writes the writer's fields.
func (w *Writer) update(ctx context.Context, inc *itopsv1alpha1.Incident, o Observation, now time.Time) error {
	merged := health.MergeSignals(inc.Status.Signals, o.Judged, o.Problems, o.Service != "", now)
	st := inc.Status.DeepCopy()
	st.Signals = merged.Signals
	// The detector that judges the reason the incident opened with also ends an incident whose
	// first signals never landed (the status patch after create lost a race and the problem was
	// gone before the retry): else it would stay open with nothing to clear.
	applyPresence(st, inc, merged, now, slices.Contains(o.Judged, inc.Spec.Reason))
	if o.CauseJudged {
		st.CausedBy = linkCause(st.CausedBy, o.Cause)
	}
	if o.Evidence != nil && health.AnyActive(merged.Signals) && (len(merged.Started) > 0 || st.Evidence == nil) {
		st.Evidence = o.Evidence.DeepCopy()
		if o.Logs != nil && w.Logs != nil {
			st.Evidence.PreviousLogs = w.Logs.Capture(ctx, *o.Logs)
		}
	}
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

// linkCause is the causedBy a detector's judgement leads to: its incident cause, else a
// ChangeRequest link the change controller made (kept), else none.
func linkCause(current, judged *itopsv1alpha1.IncidentReference) *itopsv1alpha1.IncidentReference {
	switch {
	case judged != nil:
		return judged.DeepCopy()
	case current != nil && current.Kind == "ChangeRequest":
		return current
	}
	return nil
}

// applyPresence sets ProblemPresent, lastSeenAt and occurrences from the merged signals: the
// problem is present while any signal is active; it recurs (one more occurrence) when a
// signal starts while it was absent. An incident this writer never observed (no signals, no
// ProblemPresent) is left alone unless judgesOpening: the caller judges the reason it opened
// with, so the problem it was opened for is known to be gone.
func applyPresence(st *itopsv1alpha1.IncidentStatus, inc *itopsv1alpha1.Incident, merged health.MergeResult, now time.Time, judgesOpening bool) {
	t := metav1.NewTime(now)
	cond := meta.FindStatusCondition(st.Conditions, itopsv1alpha1.IncidentConditionProblemPresent)
	if !health.AnyActive(merged.Signals) {
		if cond != nil && cond.Status == metav1.ConditionFalse {
			return
		}
		if cond == nil && len(merged.Signals) == 0 && !judgesOpening {
			return // never observed by this writer: nothing to recover
		}
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{
			Type: itopsv1alpha1.IncidentConditionProblemPresent, Status: metav1.ConditionFalse,
			Reason: "Recovered", Message: "the problem is no longer observed", ObservedGeneration: inc.Generation, LastTransitionTime: t,
		})
		return
	}
	if cond != nil && cond.Status == metav1.ConditionFalse {
		st.Occurrences++ // it went away and came back
	}
	if st.Occurrences == 0 {
		st.Occurrences = 1
	}
	if merged.Changed || st.LastSeenAt == nil {
		st.LastSeenAt = &t
	}
	reason := health.MostSpecific(merged.Signals)
	message := ""
	for _, s := range merged.Signals {
		if s.Reason == reason {
			message = s.Message
		}
	}
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{
		Type: itopsv1alpha1.IncidentConditionProblemPresent, Status: metav1.ConditionTrue,
		Reason: reason, Message: message, ObservedGeneration: inc.Generation, LastTransitionTime: t,
	})
}

// name keeps spec.reason, the itops.dev/reason label and the generated title on the most
// specific active signal. When none is active they keep naming what the incident was last
// about. A title a person edited is left alone.
func (w *Writer) name(ctx context.Context, inc *itopsv1alpha1.Incident, subj health.Subject) error {
	if !health.AnyActive(inc.Status.Signals) {
		return nil
	}
	reason := w.incidentReason(health.MostSpecific(inc.Status.Signals))
	if reason == "" || (inc.Spec.Reason == reason && inc.Labels[itopsv1alpha1.LabelReason] == reason) {
		return nil
	}
	base := inc.DeepCopy()
	if inc.Spec.Title == title(subj, inc.Spec.Reason) {
		inc.Spec.Title = title(subj, reason)
	}
	inc.Spec.Reason = reason
	if inc.Labels == nil {
		inc.Labels = map[string]string{}
	}
	inc.Labels[itopsv1alpha1.LabelReason] = reason
	return w.Client.Patch(ctx, inc, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
}

// RecoverLegacy marks recovered the per-reason incidents an earlier version opened for a
// subject that now rolls up to another (a CronJob's run Job): the owner's incident follows
// the problem from now on.
func (w *Writer) RecoverLegacy(ctx context.Context, subj health.Subject, judged []string) error {
	return w.recoverLegacy(ctx, Observation{Subject: subj, Judged: judged})
}

// recoverLegacy clears incidents opened per reason before signals existed (their
// fingerprint names the reason): they would otherwise stay open after an upgrade.
func (w *Writer) recoverLegacy(ctx context.Context, o Observation) error {
	fps := make([]string, 0, len(o.Judged))
	for _, r := range o.Judged {
		fps = append(fps, health.LegacyFingerprint(r, o.Subject))
	}
	if len(fps) == 0 {
		return nil
	}
	req, err := labels.NewRequirement(itopsv1alpha1.LabelFingerprint, selection.In, fps)
	if err != nil {
		return err
	}
	list := &itopsv1alpha1.IncidentList{}
	if err := w.Client.List(ctx, list, client.InNamespace(w.IncidentNamespace(o.Subject)),
		client.MatchingLabelsSelector{Selector: labels.NewSelector().Add(*req)}); err != nil {
		return err
	}
	for i := range list.Items {
		inc := &list.Items[i]
		c := lifecycle.ProblemPresent(inc)
		if inc.DeletionTimestamp != nil || c == nil || c.Status == metav1.ConditionFalse {
			continue
		}
		base := inc.DeepCopy()
		meta.SetStatusCondition(&inc.Status.Conditions, metav1.Condition{
			Type: itopsv1alpha1.IncidentConditionProblemPresent, Status: metav1.ConditionFalse, Reason: "Superseded",
			Message: "now followed by the subject's incident " + health.IncidentName(o.Subject, 1), ObservedGeneration: inc.Generation,
			LastTransitionTime: metav1.NewTime(w.Now()),
		})
		if err := w.Client.Status().Patch(ctx, inc, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
			return err
		}
	}
	return nil
}

// LinkChange records on the open incidents of a failed change's targets that the change
// explains them (status.causedBy names the ChangeRequest, unless another incident already
// does). It returns the names of the incidents linked: the change's status.incidents lists
// them, and no separate ChangeFailed incident opens for a failure they explain.
func (w *Writer) LinkChange(ctx context.Context, cr client.Object, targets []itopsv1alpha1.ObjectReference) ([]string, error) {
	var linked []string
	for _, t := range targets {
		subj := health.Subject{APIVersion: t.APIVersion, Kind: t.Kind, Namespace: cr.GetNamespace(), Name: t.Name}
		inc, err := w.Latest(ctx, subj)
		if err != nil {
			return nil, err
		}
		if inc == nil || inc.DeletionTimestamp != nil {
			continue
		}
		if !lifecycle.IsOpen(inc) {
			if c := inc.Status.CausedBy; c != nil && c.Kind == "ChangeRequest" && c.Name == cr.GetName() {
				linked = append(linked, inc.Name) // linked earlier, resolved since
			}
			continue
		}
		linked = append(linked, inc.Name)
		if inc.Status.CausedBy != nil {
			continue
		}
		base := inc.DeepCopy()
		inc.Status.CausedBy = &itopsv1alpha1.IncidentReference{Kind: "ChangeRequest", Namespace: cr.GetNamespace(), Name: cr.GetName()}
		if err := w.Client.Status().Patch(ctx, inc, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
			return nil, err
		}
	}
	sort.Strings(linked)
	return linked, nil
}

// IsRace reports whether err is a write that lost a race with another writer and should be
// retried at once with fresh data: an optimistic-lock conflict, or an incident that another
// detector (or replica) created first.
func IsRace(err error) bool {
	return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err)
}

// nextSequence is one more than the highest sequence among a fingerprint's incidents.
func nextSequence(incidents []itopsv1alpha1.Incident) int {
	highest := 0
	for _, inc := range incidents {
		if n, err := strconv.Atoi(inc.Labels[itopsv1alpha1.LabelSequence]); err == nil && n > highest {
			highest = n
		}
	}
	return highest + 1
}

// draft is what an automated incident opens with; incident builds it the same way for every
// source (detectors, alerts, custom signals): the deterministic name of its subject and
// sequence, the reason/source/fingerprint/sequence labels, the detection time, the audit
// finalizer (the final state must reach the audit trail even if the incident is deleted before
// the incident controller first sees it) and the link to the previous incident of the subject.
type draft struct {
	subject     health.Subject
	namespace   string
	fingerprint string
	seq         int
	previous    *itopsv1alpha1.Incident
	reason      string
	source      itopsv1alpha1.IncidentSource
	detected    time.Time
	// description lines, sorted and joined (at most 8 KiB).
	description []string
	impact      itopsv1alpha1.Level
	urgency     itopsv1alpha1.Level
	service     string
	affected    []itopsv1alpha1.ObjectReference
}

func (d draft) incident() *itopsv1alpha1.Incident {
	lines := append([]string(nil), d.description...)
	sort.Strings(lines)
	inc := &itopsv1alpha1.Incident{
		ObjectMeta: metav1.ObjectMeta{
			Name:      health.IncidentName(d.subject, d.seq),
			Namespace: d.namespace,
			Labels: map[string]string{
				itopsv1alpha1.LabelReason:      d.reason,
				itopsv1alpha1.LabelSource:      string(d.source),
				itopsv1alpha1.LabelFingerprint: d.fingerprint,
				itopsv1alpha1.LabelSequence:    strconv.Itoa(d.seq),
			},
			Annotations: map[string]string{itopsv1alpha1.AnnotationDetectedAt: d.detected.UTC().Format(time.RFC3339)},
			Finalizers:  []string{itopsv1alpha1.AuditFinalizer},
		},
		Spec: itopsv1alpha1.IncidentSpec{
			Title:       title(d.subject, d.reason),
			Description: health.Truncate(strings.Join(lines, "\n"), 8192),
			Impact:      d.impact,
			Urgency:     d.urgency,
			Source:      d.source,
			Reason:      d.reason,
			Fingerprint: d.fingerprint,
			Service:     d.service,
			Affected:    d.affected,
		},
	}
	if d.previous != nil {
		inc.Annotations[itopsv1alpha1.AnnotationPrevious] = d.previous.Name
	}
	return inc
}

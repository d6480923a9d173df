// Package health watches cluster health (Pods rolled up to their workloads, Deployments,
// StatefulSets, DaemonSets, Jobs, Nodes, PersistentVolumeClaims) and keeps one Incident per
// problem: opened on detection, told when the problem recovers or returns.
package health

import (
	"context"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
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
)

// lastSeenRefresh bounds how often an ongoing problem's lastSeenAt is rewritten.
const lastSeenRefresh = time.Minute

// Syncer keeps the incidents of one subject in line with the problems observed on it.
type Syncer struct {
	Client           client.Client
	Policy           lifecycle.Policy
	ClusterNamespace string
	Clock            clock.PassiveClock
}

func (s *Syncer) now() time.Time {
	if s.Clock == nil {
		return time.Now()
	}
	return s.Clock.Now()
}

// incidentNamespace is where a subject's incidents live: its own namespace, or the cluster
// namespace for cluster-scoped subjects.
func (s *Syncer) incidentNamespace(subj health.Subject) string {
	if subj.Namespace == "" {
		return s.ClusterNamespace
	}
	return subj.Namespace
}

// Sync makes the incidents of subj reflect problems, for each of the reasons the caller
// judges. service names the ServiceLevel that selects the subject ("" if none).
func (s *Syncer) Sync(ctx context.Context, subj health.Subject, reasons []string, problems []health.Problem, service string) error {
	ns := s.incidentNamespace(subj)
	fps := make([]string, 0, len(reasons))
	for _, r := range reasons {
		fps = append(fps, health.Fingerprint(r, subj))
	}
	req, err := labels.NewRequirement(itopsv1alpha1.LabelFingerprint, selection.In, fps)
	if err != nil {
		return err
	}
	list := &itopsv1alpha1.IncidentList{}
	if err := s.Client.List(ctx, list, client.InNamespace(ns), client.MatchingLabelsSelector{Selector: labels.NewSelector().Add(*req)}); err != nil {
		return err
	}
	byFingerprint := map[string][]itopsv1alpha1.Incident{}
	for _, inc := range list.Items {
		fp := inc.Labels[itopsv1alpha1.LabelFingerprint]
		byFingerprint[fp] = append(byFingerprint[fp], inc)
	}
	byReason := map[string]health.Problem{}
	for _, p := range problems {
		byReason[p.Reason] = p
	}

	now := s.now()
	for i, reason := range reasons {
		fp := fps[i]
		latest := lifecycle.Latest(byFingerprint[fp])
		p, present := byReason[reason]
		var err error
		switch {
		case present && p.Sustain:
			// Evidence that keeps an open incident present, but opens and reopens nothing.
			if latest != nil && lifecycle.IsOpen(latest) {
				err = s.observe(ctx, latest, p, now)
			}
		case present:
			switch lifecycle.Decide(latest, now, s.Policy) {
			case lifecycle.OpenNew:
				err = s.open(ctx, subj, ns, fp, p, latest, nextSequence(byFingerprint[fp]), service, now)
			case lifecycle.Attach:
				err = s.observe(ctx, latest, p, now)
			case lifecycle.Continue:
			}
		case latest != nil && latest.DeletionTimestamp == nil:
			// Recovered: record it on the latest incident whatever its phase, so that a later
			// return is told apart from a problem that never went away.
			err = s.recover(ctx, latest, now)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// open creates the next incident for a problem.
func (s *Syncer) open(ctx context.Context, subj health.Subject, ns, fp string, p health.Problem,
	previous *itopsv1alpha1.Incident, seq int, service string, now time.Time) error {
	impact, urgency := severityFor(p.Reason, service != "")
	detected := now
	if !p.Since.IsZero() && p.Since.Before(now) {
		detected = p.Since
	}
	source := p.Source
	if source == "" {
		source = itopsv1alpha1.SourceHealthCheck
	}
	inc := &itopsv1alpha1.Incident{
		ObjectMeta: metav1.ObjectMeta{
			Name:      health.IncidentName(p.Reason, subj, seq),
			Namespace: ns,
			Labels: map[string]string{
				itopsv1alpha1.LabelReason:      p.Reason,
				itopsv1alpha1.LabelSource:      string(source),
				itopsv1alpha1.LabelFingerprint: fp,
				itopsv1alpha1.LabelSequence:    strconv.Itoa(seq),
			},
			Annotations: map[string]string{itopsv1alpha1.AnnotationDetectedAt: detected.UTC().Format(time.RFC3339)},
			// The incident's final state must reach the audit trail, even if it is deleted
			// before the incident controller first sees it.
			Finalizers: []string{itopsv1alpha1.AuditFinalizer},
		},
		Spec: itopsv1alpha1.IncidentSpec{
			Title:       health.Truncate(fmt.Sprintf("%s %s: %s", subj.Kind, subj.Name, p.Reason), 256),
			Description: health.Truncate(p.Message, 8192),
			Impact:      impact,
			Urgency:     urgency,
			Source:      source,
			Reason:      p.Reason,
			Fingerprint: fp,
			Service:     service,
			Affected:    append([]itopsv1alpha1.ObjectReference{subj.Reference()}, p.Affected...),
		},
	}
	if previous != nil {
		inc.Annotations[itopsv1alpha1.AnnotationPrevious] = previous.Name
	}
	err := s.Client.Create(ctx, inc)
	if apierrors.IsNotFound(err) && ns == s.ClusterNamespace {
		// The cluster namespace is created on first use.
		nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"app.kubernetes.io/managed-by": "itops-operator"}}}
		if cerr := s.Client.Create(ctx, nsObj); cerr != nil && !apierrors.IsAlreadyExists(cerr) {
			return fmt.Errorf("creating the cluster namespace %s: %w", ns, cerr)
		}
		err = s.Client.Create(ctx, inc)
	}
	if err != nil {
		if apierrors.IsAlreadyExists(err) {
			// Another replica or an earlier attempt created it; our cache has not seen it yet.
			return fmt.Errorf("incident %s/%s already exists, waiting for the cache: %w", ns, inc.Name, err)
		}
		return fmt.Errorf("opening incident %s/%s: %w", ns, inc.Name, err)
	}
	metrics.Detections.WithLabelValues(p.Reason).Inc()
	return s.observe(ctx, inc, p, now)
}

// observe records that the problem is present: ProblemPresent=True (a recurrence if it was
// False), lastSeenAt.
func (s *Syncer) observe(ctx context.Context, inc *itopsv1alpha1.Incident, p health.Problem, now time.Time) error {
	cond := meta.FindStatusCondition(inc.Status.Conditions, itopsv1alpha1.IncidentConditionProblemPresent)
	message := health.Truncate(p.Message, 1024)
	fresh := inc.Status.LastSeenAt != nil && now.Sub(inc.Status.LastSeenAt.Time) < lastSeenRefresh
	if cond != nil && cond.Status == metav1.ConditionTrue && cond.Message == message && fresh {
		return nil
	}
	patch := client.MergeFromWithOptions(inc.DeepCopy(), client.MergeFromWithOptimisticLock{})
	t := metav1.NewTime(now)
	recurrence := cond != nil && cond.Status == metav1.ConditionFalse
	if recurrence {
		inc.Status.Occurrences++ // it went away and came back
	}
	if inc.Status.Occurrences == 0 {
		inc.Status.Occurrences = 1
	}
	inc.Status.LastSeenAt = &t
	meta.SetStatusCondition(&inc.Status.Conditions, metav1.Condition{
		Type: itopsv1alpha1.IncidentConditionProblemPresent, Status: metav1.ConditionTrue,
		Reason: p.Reason, Message: message, ObservedGeneration: inc.Generation, LastTransitionTime: t,
	})
	if err := s.Client.Status().Patch(ctx, inc, patch); err != nil {
		return err
	}
	if recurrence {
		metrics.Detections.WithLabelValues(p.Reason).Inc()
	}
	return nil
}

// recover records that the problem is no longer observed: ProblemPresent=False since now.
func (s *Syncer) recover(ctx context.Context, inc *itopsv1alpha1.Incident, now time.Time) error {
	cond := meta.FindStatusCondition(inc.Status.Conditions, itopsv1alpha1.IncidentConditionProblemPresent)
	if cond != nil && cond.Status == metav1.ConditionFalse {
		return nil
	}
	patch := client.MergeFromWithOptions(inc.DeepCopy(), client.MergeFromWithOptimisticLock{})
	meta.SetStatusCondition(&inc.Status.Conditions, metav1.Condition{
		Type: itopsv1alpha1.IncidentConditionProblemPresent, Status: metav1.ConditionFalse,
		Reason: "Recovered", Message: "the problem is no longer observed", ObservedGeneration: inc.Generation,
		LastTransitionTime: metav1.NewTime(now),
	})
	return s.Client.Status().Patch(ctx, inc, patch)
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

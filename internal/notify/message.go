package notify

import (
	"fmt"
	"time"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// Message is what every receiver renders: the incident as it is when the delivery is sent and
// the transition it announces.
type Message struct {
	Namespace   string
	Name        string
	UID         string
	Title       string
	Priority    itopsv1alpha1.Priority
	Phase       itopsv1alpha1.IncidentPhase
	Reason      string
	Source      itopsv1alpha1.IncidentSource
	Service     string
	Team        string
	Assignee    string
	Fingerprint string
	RunbookURL  string
	// Since is when the problem was detected (status.detectedAt).
	Since time.Time
	// What says what is wrong: the most specific active signal's message, else the title.
	What string
	// AcknowledgedBy and ResolvedBy name the people, when the transition is theirs.
	AcknowledgedBy string
	ResolvedBy     string

	Transition string
	Sequence   int32
	// Key is the delivery's idempotency key.
	Key string
	// At is when the delivery was planned (the transition as the operator saw it).
	At time.Time
}

// NewMessage builds the message of delivery n of incident inc.
func NewMessage(inc *itopsv1alpha1.Incident, n itopsv1alpha1.Notification) Message {
	m := Message{
		Namespace: inc.Namespace, Name: inc.Name, UID: string(inc.UID), Title: inc.Spec.Title,
		Priority: inc.Status.Priority, Phase: inc.Status.Phase, Reason: inc.Spec.Reason, Source: inc.Spec.Source,
		Service: inc.Spec.Service, Team: inc.Spec.Team, Assignee: inc.Spec.Assignee, Fingerprint: inc.Spec.Fingerprint,
		RunbookURL: inc.Status.RunbookURL, What: inc.Spec.Title,
		Transition: n.Transition, Sequence: n.Sequence, Key: n.Key, At: n.At.Time,
	}
	if inc.Status.DetectedAt != nil {
		m.Since = inc.Status.DetectedAt.Time
	}
	for _, s := range inc.Status.Signals {
		if s.Active && s.Reason == inc.Spec.Reason && s.Message != "" {
			m.What = s.Message
		}
	}
	if a := inc.Spec.Acknowledgement; a != nil {
		m.AcknowledgedBy = a.By
	}
	m.ResolvedBy = inc.Status.ResolvedBy
	return m
}

// DedupKey is the key receivers that deduplicate (PagerDuty) group the incident's events by:
// its fingerprint, else its namespace/name.
func (m Message) DedupKey() string {
	if m.Fingerprint != "" {
		return m.Fingerprint
	}
	return m.Namespace + "/" + m.Name
}

// AckCommand is how a person acknowledges the incident with the kubectl plugin.
func (m Message) AckCommand() string {
	return fmt.Sprintf("kubectl itops ack %s -n %s", m.Name, m.Namespace)
}

// Headline is a one-line subject: "[P1] Opened: <title> (<namespace>/<name>)".
func (m Message) Headline() string {
	verb := m.Transition
	switch m.Transition {
	case itopsv1alpha1.NotifyOpened:
		if m.Sequence > 0 {
			verb = "Reopened"
		}
	case itopsv1alpha1.NotifyReprioritized:
		verb = "Priority raised to " + string(m.Priority)
	case itopsv1alpha1.NotifyRepeated:
		verb = fmt.Sprintf("Still open (reminder %d)", m.Sequence)
	case itopsv1alpha1.NotifySLABreached:
		verb = "Response SLA breached"
		if m.Sequence == 1 {
			verb = "Resolution SLA breached"
		}
	case itopsv1alpha1.NotifyAcknowledged:
		verb = "Acknowledged by " + orDash(m.AcknowledgedBy)
	case itopsv1alpha1.NotifyResolved:
		verb = "Resolved by " + orDash(m.ResolvedBy)
	}
	return fmt.Sprintf("[%s] %s: %s (%s/%s)", m.Priority, verb, m.Title, m.Namespace, m.Name)
}

// Lines are the message's details, label and value, in reading order (empty ones left out).
func (m Message) Lines() [][2]string {
	var out [][2]string
	add := func(k, v string) {
		if v != "" {
			out = append(out, [2]string{k, v})
		}
	}
	add("Priority", string(m.Priority))
	add("Service", m.Service)
	add("Team", m.Team)
	add("What", m.What)
	add("Reason", m.Reason)
	if !m.Since.IsZero() {
		add("Since", m.Since.UTC().Format(time.RFC3339))
	}
	add("Phase", string(m.Phase))
	add("Runbook", m.RunbookURL)
	if m.Transition != itopsv1alpha1.NotifyResolved && m.Transition != itopsv1alpha1.NotifyAcknowledged {
		add("Acknowledge", m.AckCommand())
	}
	return out
}

// PagerDutySeverity maps a priority to an Events API v2 severity: P1 critical, P2 error,
// P3 warning, P4 and P5 info.
func PagerDutySeverity(p itopsv1alpha1.Priority) string {
	switch p {
	case itopsv1alpha1.PriorityP1:
		return "critical"
	case itopsv1alpha1.PriorityP2:
		return "error"
	case itopsv1alpha1.PriorityP3:
		return "warning"
	}
	return "info"
}

// PagerDutyAction maps a transition to an Events API v2 event_action: Acknowledged
// acknowledges, Resolved resolves, everything else triggers (PagerDuty folds a trigger with the
// same dedup_key into the open alert).
func PagerDutyAction(transition string) string {
	switch transition {
	case itopsv1alpha1.NotifyAcknowledged:
		return "acknowledge"
	case itopsv1alpha1.NotifyResolved:
		return "resolve"
	}
	return "trigger"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

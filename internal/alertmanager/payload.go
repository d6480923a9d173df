// Package alertmanager is the pure part of "Alertmanager in": it decodes and validates
// Alertmanager's webhook payload (version 4), maps each alert to the thing it is about and to
// an incident signal, and merges alerts into an incident's signals. It has no client: the
// handler in controllers/alertmanager gathers what these functions decide on.
//
// # Why our own payload types
//
// Alertmanager's own types (github.com/prometheus/alertmanager/notify/webhook.Message, which
// embeds template.Data) live in packages that import the notification pipeline and the
// template engine: `go list -deps .../notify/webhook` (v0.35.0) counts 322 non-standard
// packages, among them hashicorp/memberlist, miekg/dns and a Kafka client (franz-go), and the
// module would raise github.com/prometheus/common (0.70 -> 0.72) and client_golang (1.24 ->
// 1.25) to the versions Alertmanager pins, for ten JSON fields. The payload is a documented, versioned contract
// (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config), so the fields
// are declared here, with the version checked: a payload of another version is refused with
// the version this endpoint supports.
package alertmanager

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// SupportedVersion is the webhook payload version this endpoint accepts (Alertmanager has
// sent "4" since 0.8).
const SupportedVersion = "4"

// Alert statuses.
const (
	StatusFiring   = "firing"
	StatusResolved = "resolved"
)

// Message is Alertmanager's webhook payload, version 4: one notification for one alert group.
type Message struct {
	// Version of the payload format: "4".
	Version string `json:"version"`
	// GroupKey identifies the alert group (the route and its group_by labels' values).
	GroupKey string `json:"groupKey"`
	// TruncatedAlerts counts alerts left out by the receiver's max_alerts.
	TruncatedAlerts uint64 `json:"truncatedAlerts"`
	// Status is firing when at least one alert of the group fires, else resolved.
	Status string `json:"status"`
	// Receiver is the name of the Alertmanager receiver that sent it.
	Receiver string `json:"receiver"`
	// GroupLabels are the labels the route groups by, with the group's values.
	GroupLabels map[string]string `json:"groupLabels"`
	// CommonLabels and CommonAnnotations are those every alert of the notification shares.
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	// ExternalURL is the sending Alertmanager's external URL.
	ExternalURL string `json:"externalURL"`
	// Alerts are the group's alerts: those firing and those resolved since the last
	// notification.
	Alerts []Alert `json:"alerts"`
}

// Alert is one alert of a notification.
type Alert struct {
	// Status is firing or resolved.
	Status string `json:"status"`
	// Labels identify the alert (alertname, severity, namespace, pod, ...).
	Labels map[string]string `json:"labels"`
	// Annotations describe it (summary, description, runbook_url, ...).
	Annotations map[string]string `json:"annotations"`
	// StartsAt is when it started firing; EndsAt when it resolved (zero or in the future
	// while it fires).
	StartsAt time.Time `json:"startsAt"`
	EndsAt   time.Time `json:"endsAt"`
	// GeneratorURL links to the rule's expression in Prometheus.
	GeneratorURL string `json:"generatorURL"`
	// Fingerprint is Alertmanager's hash of the alert's labels: its identity.
	Fingerprint string `json:"fingerprint"`
}

// MaxAlerts bounds the alerts of one notification (Alertmanager sends a group's alerts; a
// receiver's max_alerts truncates it further).
const MaxAlerts = 1000

// ErrBadJSON is returned by Decode for a body that is not a JSON payload (HTTP 400).
var ErrBadJSON = errors.New("the body is not Alertmanager's JSON webhook payload")

// InvalidError is a well-formed payload that this endpoint cannot accept (HTTP 422): another
// payload version, or alerts without the fields every version-4 alert has.
type InvalidError struct{ Reasons []string }

func (e *InvalidError) Error() string {
	msg := "invalid Alertmanager webhook payload:"
	for i, r := range e.Reasons {
		if i > 0 {
			msg += ";"
		}
		msg += " " + r
	}
	return msg
}

// fingerprintPattern: Alertmanager's fingerprints are 16 hexadecimal digits; any short token
// of letters and digits is accepted (the signal keeps it as the alert's identity).
var fingerprintPattern = regexp.MustCompile(`^[A-Za-z0-9]{1,64}$`)

// Decode parses and validates a version-4 payload. Unknown fields are ignored (Alertmanager
// may add some within a version). It returns an error wrapping ErrBadJSON for malformed JSON
// and an *InvalidError naming every problem (at most ten) for a payload it refuses.
func Decode(body []byte) (*Message, error) {
	var m Message
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadJSON, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the JSON object", ErrBadJSON)
	}
	if err := Validate(&m); err != nil {
		return nil, err
	}
	return &m, nil
}

// Validate checks what the mapping relies on: version 4, at most MaxAlerts alerts, each with
// a status of firing or resolved, a fingerprint and labels.
func Validate(m *Message) error {
	if m.Version != SupportedVersion {
		return &InvalidError{Reasons: []string{fmt.Sprintf("version %q is not supported: this endpoint accepts version %q (Alertmanager 0.8 and later)", m.Version, SupportedVersion)}}
	}
	var reasons []string
	if len(m.Alerts) > MaxAlerts {
		reasons = append(reasons, fmt.Sprintf("alerts: %d alerts, at most %d per notification (set max_alerts on the webhook receiver)", len(m.Alerts), MaxAlerts))
	}
	for i, a := range m.Alerts {
		if len(reasons) >= 10 {
			break
		}
		switch a.Status {
		case StatusFiring, StatusResolved:
		default:
			reasons = append(reasons, fmt.Sprintf("alerts[%d].status: %q, must be %q or %q", i, a.Status, StatusFiring, StatusResolved))
		}
		if !fingerprintPattern.MatchString(a.Fingerprint) {
			reasons = append(reasons, fmt.Sprintf("alerts[%d].fingerprint: %q, must be 1 to 64 letters and digits", i, a.Fingerprint))
		}
		if len(a.Labels) == 0 {
			reasons = append(reasons, fmt.Sprintf("alerts[%d].labels: required", i))
		}
	}
	if len(reasons) > 0 {
		return &InvalidError{Reasons: reasons}
	}
	return nil
}

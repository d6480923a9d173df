package notification

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/smtp"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/PagerDuty/go-pagerduty"
	"github.com/slack-go/slack"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/config"
	"github.com/itops-dev/itops-operator/internal/notify"
)

// Sender delivers a message to one receiver. An error wrapped by Permanent is not retried.
type Sender interface {
	Send(ctx context.Context, m notify.Message) error
}

// SecretFunc reads one key of a Secret in the operator namespace.
type SecretFunc func(ctx context.Context, ref config.SecretKeyRef) ([]byte, error)

// permanentError marks a failure retrying cannot fix (the receiver refused the message).
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying.
func Permanent(err error) error { return permanentError{err} }

// IsPermanent reports whether err was marked by Permanent.
func IsPermanent(err error) bool { return errors.As(err, new(permanentError)) }

// NewSender builds the sender of receiver r. client carries no timeout of its own: each
// attempt's context has the receiver's timeout.
func NewSender(r config.Receiver, secret SecretFunc, client *http.Client, now func() time.Time) Sender {
	switch {
	case r.Webhook != nil:
		return &webhookSender{cfg: *r.Webhook, secret: secret, client: client, now: now}
	case r.Slack != nil:
		return &slackSender{cfg: *r.Slack, secret: secret, client: client}
	case r.PagerDuty != nil:
		return &pagerDutySender{cfg: *r.PagerDuty, secret: secret, client: client}
	case r.Email != nil:
		return &emailSender{cfg: *r.Email, secret: secret, now: now}
	}
	return nil
}

// httpStatusError turns a non-2xx answer into an error: 4xx other than 408 and 429 are
// permanent (the message is wrong for the receiver), everything else is retried.
func httpStatusError(resp *http.Response) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	err := fmt.Errorf("receiver answered %s: %s", resp.Status, strings.TrimSpace(string(body)))
	if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests {
		return Permanent(err)
	}
	return err
}

// redact removes a secret URL from an error message (the Slack webhook URL is the credential).
func redact(err error, secret string) error {
	if err == nil || secret == "" {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), secret, "<redacted>"))
}

// WebhookPayload is the JSON body of a webhook delivery (docs/notifications.md).
type WebhookPayload struct {
	// Incident is the incident as it is when the delivery is sent.
	Incident WebhookIncident `json:"incident"`
	// Transition is Opened (sequence > 0: reopened), Repeated, Escalated, SLABreached,
	// Acknowledged, Resolved or Reprioritized.
	Transition string `json:"transition"`
	// Sequence tells repeated deliveries of a transition apart.
	Sequence int32 `json:"sequence"`
	// At is when the operator planned the delivery (RFC 3339).
	At time.Time `json:"at"`
	// Delivery is the idempotency key (also the X-Itops-Delivery header).
	Delivery string `json:"delivery"`
	// Timestamp is the send time in Unix seconds, equal to the X-Itops-Timestamp header; it is
	// signed with the body.
	Timestamp int64 `json:"timestamp"`
}

// WebhookIncident is the incident in a webhook payload.
type WebhookIncident struct {
	Namespace   string `json:"namespace"`
	Name        string `json:"name"`
	UID         string `json:"uid"`
	Priority    string `json:"priority"`
	Phase       string `json:"phase"`
	Reason      string `json:"reason,omitempty"`
	Title       string `json:"title"`
	Source      string `json:"source,omitempty"`
	Service     string `json:"service,omitempty"`
	Team        string `json:"team,omitempty"`
	Assignee    string `json:"assignee,omitempty"`
	Fingerprint string `json:"fingerprint,omitempty"`
	RunbookURL  string `json:"runbookURL,omitempty"`
	Since       string `json:"since,omitempty"`
}

type webhookSender struct {
	cfg    config.WebhookReceiver
	secret SecretFunc
	client *http.Client
	now    func() time.Time
}

func (s *webhookSender) Send(ctx context.Context, m notify.Message) error {
	ts := s.now().Unix()
	p := WebhookPayload{
		Incident: WebhookIncident{Namespace: m.Namespace, Name: m.Name, UID: m.UID, Priority: string(m.Priority), Phase: string(m.Phase),
			Reason: m.Reason, Title: m.Title, Source: string(m.Source), Service: m.Service, Team: m.Team, Assignee: m.Assignee,
			Fingerprint: m.Fingerprint, RunbookURL: m.RunbookURL},
		Transition: m.Transition, Sequence: m.Sequence, At: m.At.UTC(), Delivery: m.Key, Timestamp: ts,
	}
	if !m.Since.IsZero() {
		p.Incident.Since = m.Since.UTC().Format(time.RFC3339)
	}
	body, err := json.Marshal(p)
	if err != nil {
		return Permanent(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return Permanent(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "itops-operator")
	req.Header.Set(notify.HeaderDelivery, m.Key)
	req.Header.Set(notify.HeaderTimestamp, strconv.FormatInt(ts, 10))
	if s.cfg.SecretRef != nil {
		key, err := s.secret(ctx, *s.cfg.SecretRef)
		if err != nil {
			return err
		}
		req.Header.Set(notify.HeaderSignature, notify.Sign(key, body))
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	return httpStatusError(resp)
}

type slackSender struct {
	cfg    config.SlackReceiver
	secret SecretFunc
	client *http.Client
}

// SlackMessage renders m as a Block Kit message: a header with priority and headline, the
// details as fields, the runbook and how to acknowledge.
func SlackMessage(m notify.Message, channel string) *slack.WebhookMessage {
	header := slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, truncate(m.Headline(), 150), false, false))
	var fields []*slack.TextBlockObject
	var ack string
	for _, l := range m.Lines() {
		switch l[0] {
		case "Acknowledge":
			ack = l[1]
		case "Runbook":
			fields = append(fields, slack.NewTextBlockObject(slack.MarkdownType, "*Runbook*\n<"+l[1]+"|runbook>", false, false))
		default:
			fields = append(fields, slack.NewTextBlockObject(slack.MarkdownType, "*"+l[0]+"*\n"+truncate(l[1], 500), false, false))
		}
	}
	if len(fields) > 10 { // Block Kit allows ten fields in a section
		fields = fields[:10]
	}
	blocks := []slack.Block{header, slack.NewSectionBlock(nil, fields, nil)}
	if ack != "" {
		blocks = append(blocks, slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType, "Acknowledge: `"+ack+"`", false, false)))
	}
	return &slack.WebhookMessage{Text: m.Headline(), Channel: channel, Blocks: &slack.Blocks{BlockSet: blocks}}
}

func (s *slackSender) Send(ctx context.Context, m notify.Message) error {
	u, err := s.secret(ctx, s.cfg.WebhookURLSecretRef)
	if err != nil {
		return err
	}
	url := strings.TrimSpace(string(u))
	err = slack.PostWebhookCustomHTTPContext(ctx, url, s.client, SlackMessage(m, s.cfg.Channel))
	var se slack.StatusCodeError
	if errors.As(err, &se) && se.Code >= 400 && se.Code < 500 && se.Code != http.StatusTooManyRequests && se.Code != http.StatusRequestTimeout {
		return Permanent(redact(err, url))
	}
	return redact(err, url)
}

type pagerDutySender struct {
	cfg    config.PagerDutyReceiver
	secret SecretFunc
	client *http.Client
}

// PagerDutyEvent renders m as an Events API v2 event (go-pagerduty's types): dedup_key the
// incident's fingerprint, severity from its priority, action from the transition.
func PagerDutyEvent(m notify.Message, routingKey string) pagerduty.V2Event {
	e := pagerduty.V2Event{RoutingKey: routingKey, Action: notify.PagerDutyAction(m.Transition), DedupKey: m.DedupKey()}
	if e.Action == "trigger" {
		details := map[string]string{"incident": m.Namespace + "/" + m.Name, "transition": m.Transition, "acknowledge": m.AckCommand()}
		for _, l := range m.Lines() {
			details[strings.ToLower(l[0])] = l[1]
		}
		e.Payload = &pagerduty.V2Payload{
			Summary: truncate(m.Headline(), 1024), Source: m.Namespace + "/" + m.Name, Severity: notify.PagerDutySeverity(m.Priority),
			Component: m.Service, Group: m.Team, Class: m.Reason, Details: details,
		}
		if !m.Since.IsZero() {
			e.Payload.Timestamp = m.Since.UTC().Format(time.RFC3339)
		}
		if m.RunbookURL != "" {
			e.Links = []any{map[string]string{"href": m.RunbookURL, "text": "Runbook"}}
		}
	}
	return e
}

func (s *pagerDutySender) Send(ctx context.Context, m notify.Message) error {
	key, err := s.secret(ctx, s.cfg.RoutingKeySecretRef)
	if err != nil {
		return err
	}
	return s.post(ctx, "/v2/enqueue", PagerDutyEvent(m, strings.TrimSpace(string(key))))
}

// SendChange sends a change event (/v2/change/enqueue).
func (s *pagerDutySender) SendChange(ctx context.Context, summary, source string, at time.Time, details map[string]any) error {
	key, err := s.secret(ctx, s.cfg.RoutingKeySecretRef)
	if err != nil {
		return err
	}
	return s.post(ctx, "/v2/change/enqueue", pagerduty.ChangeEvent{RoutingKey: strings.TrimSpace(string(key)),
		Payload: pagerduty.ChangeEventPayload{Summary: truncate(summary, 1024), Source: source, Timestamp: at.UTC().Format(time.RFC3339), CustomDetails: details}})
}

func (s *pagerDutySender) post(ctx context.Context, path string, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return Permanent(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(s.cfg.URL, "/")+path, bytes.NewReader(body))
	if err != nil {
		return Permanent(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	return httpStatusError(resp)
}

type emailSender struct {
	cfg    config.EmailReceiver
	secret SecretFunc
	now    func() time.Time
}

// ThreadID is the Message-ID of the first mail about an incident; later mails refer to it
// (In-Reply-To, References) so that mail clients and ticket systems (OTRS) thread them.
func ThreadID(m notify.Message) string { return "<incident-" + m.UID + "@itops.dev>" }

// MessageID is the Message-ID of one delivery: the thread's for the first Opened, else derived
// from the idempotency key (a reopening's Opened included), so a resend after a crash carries
// the same Message-ID and no two mails share one.
func MessageID(m notify.Message) string {
	if m.Transition == itopsv1alpha1.NotifyOpened && m.Sequence == 0 {
		return ThreadID(m)
	}
	return "<" + m.Key + "@itops.dev>"
}

// EmailMessage renders m as an RFC 5322 text/plain message.
func EmailMessage(m notify.Message, from string, to []string, date time.Time) []byte {
	var b strings.Builder
	h := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	h("From", from)
	h("To", strings.Join(to, ", "))
	h("Subject", headerSafe(m.Headline()))
	h("Date", date.UTC().Format(time.RFC1123Z))
	h("Message-ID", MessageID(m))
	if MessageID(m) != ThreadID(m) {
		h("In-Reply-To", ThreadID(m))
		h("References", ThreadID(m))
	}
	h("X-Itops-Delivery", m.Key)
	h("X-Itops-Incident", m.Namespace+"/"+m.Name)
	h("X-Itops-Transition", m.Transition)
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=utf-8")
	h("Content-Transfer-Encoding", "8bit")
	b.WriteString("\r\n")
	b.WriteString(m.Headline() + "\r\n\r\n")
	for _, l := range m.Lines() {
		b.WriteString(l[0] + ": " + strings.ReplaceAll(l[1], "\n", " ") + "\r\n")
	}
	return []byte(b.String())
}

func headerSafe(s string) string {
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
}

func (s *emailSender) Send(ctx context.Context, m notify.Message) error {
	addr := net.JoinHostPort(s.cfg.SMTP.Host, strconv.Itoa(int(s.cfg.SMTP.Port)))
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	c, err := smtp.NewClient(conn, s.cfg.SMTP.Host)
	if err != nil {
		_ = conn.Close()
		return err
	}
	defer func() { _ = c.Close() }()
	if err := c.Hello("itops-operator"); err != nil {
		return err
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: s.cfg.SMTP.Host, MinVersion: tls.VersionTLS12}); err != nil {
			return err
		}
	}
	if s.cfg.SMTP.Username != "" && s.cfg.SMTP.PasswordSecretRef != nil {
		pw, err := s.secret(ctx, *s.cfg.SMTP.PasswordSecretRef)
		if err != nil {
			return err
		}
		// PlainAuth refuses to send the password without TLS (except to localhost).
		if err := c.Auth(smtp.PlainAuth("", s.cfg.SMTP.Username, strings.TrimSpace(string(pw)), s.cfg.SMTP.Host)); err != nil {
			return Permanent(err)
		}
	}
	if err := c.Mail(s.cfg.From); err != nil {
		return smtpError(err)
	}
	for _, rcpt := range s.cfg.To {
		if err := c.Rcpt(rcpt); err != nil {
			return smtpError(err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return smtpError(err)
	}
	if _, err := w.Write(EmailMessage(m, s.cfg.From, s.cfg.To, s.now())); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return smtpError(err)
	}
	return c.Quit()
}

// smtpError: 5xx replies are permanent, 4xx transient.
func smtpError(err error) error {
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 500 {
		return Permanent(err)
	}
	return err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

package config

import (
	"fmt"
	"net/url"
	"regexp"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// NotificationPolicy is the `notifications` key of the policy: the receivers incidents reach
// and the routes that choose them. Credentials are never in the policy: receivers name Secrets
// in the operator namespace (docs/notifications.md).
type NotificationPolicy struct {
	// Receivers are the destinations, referenced by name from routes and escalations.
	Receivers []Receiver `json:"receivers,omitempty"`
	// Routes choose receivers for an incident. Every matching route delivers (unlike
	// Alertmanager's first-match tree): an incident reaches the union of their receivers.
	Routes []Route `json:"routes,omitempty"`
}

// SecretKeyRef names a key of a Secret in the operator namespace.
type SecretKeyRef struct {
	// Name of the Secret (in the operator namespace; never another namespace).
	Name string `json:"name"`
	// Key in the Secret's data.
	Key string `json:"key"`
}

// Receiver is one destination. Exactly one of webhook, slack, pagerduty, email is set.
type Receiver struct {
	// Name identifies the receiver in routes, escalations and status.notifications.
	Name string `json:"name"`
	// Webhook posts signed JSON (HMAC-SHA256).
	Webhook *WebhookReceiver `json:"webhook,omitempty"`
	// Slack posts to an incoming webhook.
	Slack *SlackReceiver `json:"slack,omitempty"`
	// PagerDuty sends Events API v2 events (and change events for ChangeRequests).
	PagerDuty *PagerDutyReceiver `json:"pagerduty,omitempty"`
	// Email sends mail over SMTP, one thread per incident.
	Email *EmailReceiver `json:"email,omitempty"`
	// Timeout bounds one delivery attempt (default 10s, at most 2m).
	Timeout metav1.Duration `json:"timeout,omitempty"`
	// RateLimit bounds how many messages the receiver gets (default 60 a minute, burst 20).
	RateLimit *RateLimit `json:"rateLimit,omitempty"`
	// MaxAttempts is how often a delivery is tried before it is Failed (default 12, with
	// exponential backoff from 5s capped at 5m: about 40 minutes).
	MaxAttempts int32 `json:"maxAttempts,omitempty"`
}

// RateLimit is a token bucket: PerMinute messages a minute on average, Burst at once.
type RateLimit struct {
	// PerMinute is the sustained rate (1 to 60000).
	PerMinute int32 `json:"perMinute"`
	// Burst is the bucket size (1 to 1000; default 20).
	Burst int32 `json:"burst,omitempty"`
}

// WebhookReceiver posts JSON to URL, signed with the key in SecretRef.
type WebhookReceiver struct {
	// URL receives POSTs (http or https).
	URL string `json:"url"`
	// SecretRef holds the HMAC-SHA256 signing key; optional (unsigned without it).
	SecretRef *SecretKeyRef `json:"secretRef,omitempty"`
}

// SlackReceiver posts to a Slack incoming webhook whose URL is in a Secret (the URL is the
// credential).
type SlackReceiver struct {
	// WebhookURLSecretRef holds the incoming webhook URL.
	WebhookURLSecretRef SecretKeyRef `json:"webhookURLSecretRef"`
	// Channel overrides the webhook's default channel (legacy webhooks only).
	Channel string `json:"channel,omitempty"`
}

// PagerDutyReceiver sends Events API v2 events with the routing key in a Secret.
type PagerDutyReceiver struct {
	// RoutingKeySecretRef holds the integration's routing key.
	RoutingKeySecretRef SecretKeyRef `json:"routingKeySecretRef"`
	// URL is the Events API base URL (default https://events.pagerduty.com; the EU service
	// is https://events.eu.pagerduty.com).
	URL string `json:"url,omitempty"`
	// ChangeEvents sends a change event (/v2/change/enqueue) when a ChangeRequest starts or
	// fails in a namespace a route to this receiver matches.
	ChangeEvents bool `json:"changeEvents,omitempty"`
}

// EmailReceiver sends mail over SMTP.
type EmailReceiver struct {
	// SMTP is the server.
	SMTP SMTPServer `json:"smtp"`
	// From is the sender address.
	From string `json:"from"`
	// To are the recipients (at least one).
	To []string `json:"to"`
}

// SMTPServer is an SMTP submission server. STARTTLS is used whenever the server offers it
// (required when credentials are given).
type SMTPServer struct {
	// Host name of the server.
	Host string `json:"host"`
	// Port (default 587).
	Port int32 `json:"port,omitempty"`
	// Username for PLAIN authentication (optional).
	Username string `json:"username,omitempty"`
	// PasswordSecretRef holds the password (with username).
	PasswordSecretRef *SecretKeyRef `json:"passwordSecretRef,omitempty"`
}

// Route chooses receivers for the incidents its match selects.
type Route struct {
	// Name identifies the route in escalations (spec.owner.escalation, itops.dev/escalation);
	// optional.
	Name string `json:"name,omitempty"`
	// Match selects incidents; every listed criterion must hold, an empty list matches all.
	Match RouteMatch `json:"match,omitempty"`
	// Receivers are the receiver names notified.
	Receivers []string `json:"receivers"`
	// RepeatInterval re-notifies an open, unacknowledged incident this often (0: never).
	RepeatInterval metav1.Duration `json:"repeatInterval,omitempty"`
	// Escalation names a route or receiver notified (transition Escalated) when an incident
	// this route matches is not acknowledged by its response SLA deadline; the incident's own
	// owner escalation (ServiceLevel spec.owner.escalation) takes precedence.
	Escalation string `json:"escalation,omitempty"`
}

// RouteMatch selects incidents. Every non-empty criterion must hold.
type RouteMatch struct {
	// NamespaceSelector over the incident's namespace labels; absent or empty matches all.
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`
	// Services: spec.service is one of these.
	Services []string `json:"services,omitempty"`
	// Teams: spec.team is one of these.
	Teams []string `json:"teams,omitempty"`
	// Priorities: status.priority is one of these (P1..P5).
	Priorities []itopsv1alpha1.Priority `json:"priorities,omitempty"`
	// Reasons: spec.reason is one of these.
	Reasons []string `json:"reasons,omitempty"`
	// Sources: spec.source is one of these.
	Sources []itopsv1alpha1.IncidentSource `json:"sources,omitempty"`
}

// Notification defaults.
const (
	DefaultReceiverTimeout      = 10 * time.Second
	DefaultRatePerMinute        = 60
	DefaultRateBurst            = 20
	DefaultMaxAttempts          = 12
	DefaultPagerDutyURL         = "https://events.pagerduty.com"
	DefaultSMTPPort             = 587
	maxReceiverTimeout          = 2 * time.Minute
	minRepeatInterval           = time.Minute
	maxNotificationNameLength   = 63
	maxNotificationListEntries  = 64
	maxNotificationMatchEntries = 64
)

var notificationName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9._]*[a-z0-9])?$`)

func (n *NotificationPolicy) applyDefaults() {
	for i := range n.Receivers {
		r := &n.Receivers[i]
		defaultDuration(&r.Timeout, DefaultReceiverTimeout)
		if r.RateLimit == nil {
			r.RateLimit = &RateLimit{PerMinute: DefaultRatePerMinute}
		}
		if r.RateLimit.Burst == 0 {
			r.RateLimit.Burst = DefaultRateBurst
		}
		if r.MaxAttempts == 0 {
			r.MaxAttempts = DefaultMaxAttempts
		}
		if r.PagerDuty != nil && r.PagerDuty.URL == "" {
			r.PagerDuty.URL = DefaultPagerDutyURL
		}
		if r.Email != nil && r.Email.SMTP.Port == 0 {
			r.Email.SMTP.Port = DefaultSMTPPort
		}
	}
}

// Receiver returns the receiver named name, or nil.
func (n *NotificationPolicy) Receiver(name string) *Receiver {
	for i := range n.Receivers {
		if n.Receivers[i].Name == name {
			return &n.Receivers[i]
		}
	}
	return nil
}

// RouteNamed returns the route named name, or nil.
func (n *NotificationPolicy) RouteNamed(name string) *Route {
	for i := range n.Routes {
		if name != "" && n.Routes[i].Name == name {
			return &n.Routes[i]
		}
	}
	return nil
}

// EscalationReceivers resolves an escalation target: a route's receivers, else a receiver of
// that name; nil when it names neither.
func (n *NotificationPolicy) EscalationReceivers(target string) []string {
	if r := n.RouteNamed(target); r != nil {
		return r.Receivers
	}
	if n.Receiver(target) != nil {
		return []string{target}
	}
	return nil
}

func (n *NotificationPolicy) validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := map[string]bool{}
	rp := p.Child("receivers")
	for i, r := range n.Receivers {
		ip := rp.Index(i)
		errs = append(errs, validName(ip.Child("name"), r.Name)...)
		if names[r.Name] {
			errs = append(errs, field.Duplicate(ip.Child("name"), r.Name))
		}
		names[r.Name] = true
		kinds := 0
		if r.Webhook != nil {
			kinds++
			errs = append(errs, validURL(ip.Child("webhook", "url"), r.Webhook.URL)...)
			if r.Webhook.SecretRef != nil {
				errs = append(errs, validSecretRef(ip.Child("webhook", "secretRef"), *r.Webhook.SecretRef)...)
			}
		}
		if r.Slack != nil {
			kinds++
			errs = append(errs, validSecretRef(ip.Child("slack", "webhookURLSecretRef"), r.Slack.WebhookURLSecretRef)...)
		}
		if r.PagerDuty != nil {
			kinds++
			errs = append(errs, validSecretRef(ip.Child("pagerduty", "routingKeySecretRef"), r.PagerDuty.RoutingKeySecretRef)...)
			if r.PagerDuty.URL != "" {
				errs = append(errs, validURL(ip.Child("pagerduty", "url"), r.PagerDuty.URL)...)
			}
		}
		if r.Email != nil {
			kinds++
			ep := ip.Child("email")
			if r.Email.SMTP.Host == "" {
				errs = append(errs, field.Required(ep.Child("smtp", "host"), "the SMTP server's host name"))
			}
			if r.Email.SMTP.Port < 0 || r.Email.SMTP.Port > 65535 {
				errs = append(errs, field.Invalid(ep.Child("smtp", "port"), r.Email.SMTP.Port, "must be a port number (default 587)"))
			}
			if (r.Email.SMTP.Username == "") != (r.Email.SMTP.PasswordSecretRef == nil) {
				errs = append(errs, field.Invalid(ep.Child("smtp"), r.Email.SMTP.Username, "username and passwordSecretRef go together"))
			}
			if r.Email.SMTP.PasswordSecretRef != nil {
				errs = append(errs, validSecretRef(ep.Child("smtp", "passwordSecretRef"), *r.Email.SMTP.PasswordSecretRef)...)
			}
			if r.Email.From == "" {
				errs = append(errs, field.Required(ep.Child("from"), "the sender address"))
			}
			if len(r.Email.To) == 0 {
				errs = append(errs, field.Required(ep.Child("to"), "at least one recipient"))
			}
		}
		if kinds != 1 {
			errs = append(errs, field.Invalid(ip, r.Name, fmt.Sprintf("exactly one of webhook, slack, pagerduty, email must be set (found %d)", kinds)))
		}
		if r.Timeout.Duration < 0 || r.Timeout.Duration > maxReceiverTimeout {
			errs = append(errs, field.Invalid(ip.Child("timeout"), r.Timeout.Duration.String(), "must be between 0 (default 10s) and 2m"))
		}
		if rl := r.RateLimit; rl != nil {
			if rl.PerMinute < 1 || rl.PerMinute > 60000 {
				errs = append(errs, field.Invalid(ip.Child("rateLimit", "perMinute"), rl.PerMinute, "must be between 1 and 60000"))
			}
			if rl.Burst < 0 || rl.Burst > 1000 {
				errs = append(errs, field.Invalid(ip.Child("rateLimit", "burst"), rl.Burst, "must be between 1 and 1000 (0: default 20)"))
			}
		}
		if r.MaxAttempts < 0 || r.MaxAttempts > 100 {
			errs = append(errs, field.Invalid(ip.Child("maxAttempts"), r.MaxAttempts, "must be between 1 and 100 (0: default 12)"))
		}
	}
	routes := map[string]bool{}
	for i, r := range n.Routes {
		ip := p.Child("routes").Index(i)
		if r.Name != "" {
			errs = append(errs, validName(ip.Child("name"), r.Name)...)
			if routes[r.Name] {
				errs = append(errs, field.Duplicate(ip.Child("name"), r.Name))
			}
			routes[r.Name] = true
		}
		if len(r.Receivers) == 0 {
			errs = append(errs, field.Required(ip.Child("receivers"), "at least one receiver name"))
		}
		for j, name := range r.Receivers {
			if !names[name] {
				errs = append(errs, field.NotFound(ip.Child("receivers").Index(j), name))
			}
		}
		if d := r.RepeatInterval.Duration; d != 0 && d < minRepeatInterval {
			errs = append(errs, field.Invalid(ip.Child("repeatInterval"), d.String(), "must be 0 (never) or at least 1m"))
		}
		m := r.Match
		mp := ip.Child("match")
		if m.NamespaceSelector != nil {
			if _, err := metav1.LabelSelectorAsSelector(m.NamespaceSelector); err != nil {
				errs = append(errs, field.Invalid(mp.Child("namespaceSelector"), m.NamespaceSelector, err.Error()))
			}
		}
		for j, pr := range m.Priorities {
			switch pr {
			case itopsv1alpha1.PriorityP1, itopsv1alpha1.PriorityP2, itopsv1alpha1.PriorityP3, itopsv1alpha1.PriorityP4, itopsv1alpha1.PriorityP5:
			default:
				errs = append(errs, field.NotSupported(mp.Child("priorities").Index(j), pr, []string{"P1", "P2", "P3", "P4", "P5"}))
			}
		}
		for j, s := range m.Sources {
			switch s {
			case itopsv1alpha1.SourceManual, itopsv1alpha1.SourceHealthCheck, itopsv1alpha1.SourceServiceLevel,
				itopsv1alpha1.SourceChangeGate, itopsv1alpha1.SourceAlertmanager:
			default:
				errs = append(errs, field.NotSupported(mp.Child("sources").Index(j), s,
					[]string{"Manual", "HealthCheck", "ServiceLevel", "ChangeGate", "Alertmanager"}))
			}
		}
		if len(m.Services)+len(m.Teams)+len(m.Reasons) > maxNotificationMatchEntries {
			errs = append(errs, field.TooMany(mp, len(m.Services)+len(m.Teams)+len(m.Reasons), maxNotificationMatchEntries))
		}
	}
	for i, r := range n.Routes {
		if r.Escalation != "" && n.EscalationReceivers(r.Escalation) == nil {
			errs = append(errs, field.NotFound(p.Child("routes").Index(i).Child("escalation"), r.Escalation))
		}
	}
	if len(n.Receivers) > maxNotificationListEntries {
		errs = append(errs, field.TooMany(rp, len(n.Receivers), maxNotificationListEntries))
	}
	return errs
}

func validName(p *field.Path, name string) field.ErrorList {
	if len(name) == 0 || len(name) > maxNotificationNameLength || !notificationName.MatchString(name) {
		return field.ErrorList{field.Invalid(p, name, "must be a lower-case name of at most 63 characters (letters, digits, '-', '.', '_')")}
	}
	return nil
}

func validURL(p *field.Path, s string) field.ErrorList {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return field.ErrorList{field.Invalid(p, s, "must be an absolute http or https URL")}
	}
	if u.User != nil {
		return field.ErrorList{field.Invalid(p, u.Redacted(), "must not carry credentials: put them in a Secret")}
	}
	return nil
}

func validSecretRef(p *field.Path, r SecretKeyRef) field.ErrorList {
	var errs field.ErrorList
	if r.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), "a Secret in the operator namespace"))
	}
	if r.Key == "" {
		errs = append(errs, field.Required(p.Child("key"), "the key in the Secret's data"))
	}
	return errs
}

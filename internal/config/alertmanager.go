package config

import (
	"crypto/x509"
	"fmt"
	"slices"
	"strings"

	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// AlertmanagerPolicy configures "Alertmanager in": the HTTPS endpoint POST /alertmanager/v4 on
// the webhook server's port, where Alertmanager's webhook receiver delivers alerts that become
// signals of incidents (docs/alertmanager.md).
//
//	alertmanager:
//	  enabled: true
//	  tokenSecretRef: {name: itops-alertmanager, key: token}   # Authorization: Bearer <token>
//	  clientCA: |                                              # optional: mTLS instead of (or besides) the token
//	    -----BEGIN CERTIFICATE-----
//	  maxBodyBytes: 1048576
//	  staleAfter: 25h                                          # a firing alert not sent again within this is resolved
//	  labels: {namespace: [namespace], deployment: [deployment], pod: [pod], ...}
//	  severities: [{severity: critical, impact: High, urgency: High}, ...]
type AlertmanagerPolicy struct {
	// Enabled serves the endpoint; when false it answers 404.
	Enabled bool `json:"enabled,omitempty"`
	// TokenSecretRef names the Secret (in the operator namespace) and key holding the bearer
	// token Alertmanager sends (http_config.authorization.credentials). The token is compared
	// in constant time and never logged.
	// The same {name, key} shape as the notification receivers' Secret references.
	TokenSecretRef *SecretKeyRef `json:"tokenSecretRef,omitempty"`
	// ClientCA is a PEM bundle of CAs: a request whose TLS client certificate chains to one of
	// them (extended key usage client auth) is authenticated (mTLS, Alertmanager's
	// http_config.tls_config.cert_file). Optional; with TokenSecretRef either one suffices.
	ClientCA string `json:"clientCA,omitempty"`
	// MaxBodyBytes bounds a request body (default 1 MiB; at most 16 MiB): larger ones are
	// answered 413.
	MaxBodyBytes int64 `json:"maxBodyBytes,omitempty"`
	// StaleAfter is how long a firing alert stays a signal without Alertmanager sending it
	// again: past it, the alert is treated as resolved (as Alertmanager resolves an alert its
	// source stopped sending), so a lost resolved notification (an Alertmanager restarted
	// without its storage, send_resolved: false, a changed route) cannot keep an incident open
	// forever. Alertmanager re-sends a firing alert every repeat_interval of its route: set
	// this above the longest repeat_interval that leads to the operator, with room for one
	// lost re-send (about twice it). Default 25h (kube-prometheus-stack repeats every 12h,
	// Alertmanager's own default is 4h); between 10m and 168h (7 days).
	StaleAfter metav1.Duration `json:"staleAfter,omitempty"`
	// Labels are the alert label names that name the affected thing, each list tried in order.
	Labels AlertmanagerLabels `json:"labels,omitempty"`
	// Severities maps the alert's severity label to the signal's impact and urgency (and so its
	// ITIL priority). Entries given here replace the built-in entry of the same severity; the
	// other built-in entries stay.
	Severities []AlertSeverity `json:"severities,omitempty"`
}

// AlertmanagerLabels are the alert label names the operator reads, each a list tried in order
// (the first label present wins). A key left out takes its default; an explicit empty list
// turns that mapping off.
type AlertmanagerLabels struct {
	// Namespace of the affected thing (default [namespace]).
	Namespace []string `json:"namespace,omitempty"`
	// Deployment name (default [deployment]).
	Deployment []string `json:"deployment,omitempty"`
	// StatefulSet name (default [statefulset]).
	StatefulSet []string `json:"statefulSet,omitempty"`
	// DaemonSet name (default [daemonset]).
	DaemonSet []string `json:"daemonSet,omitempty"`
	// CronJob name (default [cronjob]).
	CronJob []string `json:"cronJob,omitempty"`
	// Job name (default [job_name], kube-state-metrics' label: Prometheus' own job label is the
	// scrape job, not a Kubernetes Job).
	Job []string `json:"job,omitempty"`
	// Pod name; the pod is rolled up to its owning workload (default [pod]).
	Pod []string `json:"pod,omitempty"`
	// PersistentVolumeClaim name (default [persistentvolumeclaim]).
	PersistentVolumeClaim []string `json:"persistentVolumeClaim,omitempty"`
	// Service name (default [service]). Read after the workload labels: Prometheus sets
	// service to the scrape target's Service on every series it scrapes through one.
	Service []string `json:"service,omitempty"`
	// Node name, for alerts without a namespace (default [node]).
	Node []string `json:"node,omitempty"`
	// Severity label (default [severity]).
	Severity []string `json:"severity,omitempty"`
}

// AlertSeverity maps one value of the severity label.
type AlertSeverity struct {
	// Severity is the label value, matched case-insensitively (critical, warning, ...).
	Severity string `json:"severity"`
	// Impact and Urgency of the signal: High, Medium or Low (its priority by the ITIL matrix).
	Impact  itopsv1alpha1.Level `json:"impact,omitempty"`
	Urgency itopsv1alpha1.Level `json:"urgency,omitempty"`
	// Ignore drops alerts of this severity (the built-in "none": Watchdog, InfoInhibitor).
	Ignore bool `json:"ignore,omitempty"`
}

// Limits and defaults of the Alertmanager endpoint.
const (
	DefaultAlertmanagerMaxBodyBytes int64 = 1 << 20
	MaxAlertmanagerMaxBodyBytes     int64 = 16 << 20

	// DefaultAlertmanagerStaleAfter is twice kube-prometheus-stack's repeat_interval (12h)
	// plus its group_interval margin: one lost re-send never resolves a firing alert.
	DefaultAlertmanagerStaleAfter = 25 * time.Hour
	MinAlertmanagerStaleAfter     = 10 * time.Minute
	MaxAlertmanagerStaleAfter     = 7 * 24 * time.Hour
)

// DefaultAlertSeverities is the built-in severity table (docs/alertmanager.md): severities
// Alertmanager setups commonly use, as PagerDuty's Events API names them, plus "none" (the
// always-firing Watchdog and InfoInhibitor alerts of kube-prometheus), ignored. Any other
// value, or no severity label, is Medium/Medium (P3).
var DefaultAlertSeverities = []AlertSeverity{
	{Severity: "critical", Impact: itopsv1alpha1.LevelHigh, Urgency: itopsv1alpha1.LevelHigh},    // P1
	{Severity: "error", Impact: itopsv1alpha1.LevelHigh, Urgency: itopsv1alpha1.LevelMedium},     // P2
	{Severity: "warning", Impact: itopsv1alpha1.LevelMedium, Urgency: itopsv1alpha1.LevelMedium}, // P3
	{Severity: "info", Impact: itopsv1alpha1.LevelLow, Urgency: itopsv1alpha1.LevelLow},          // P5
	{Severity: "none", Ignore: true},
}

// DefaultAlertmanagerLabels are the built-in label names (kube-state-metrics' and
// kube-prometheus' conventions).
var DefaultAlertmanagerLabels = AlertmanagerLabels{
	Namespace:             []string{"namespace"},
	Deployment:            []string{"deployment"},
	StatefulSet:           []string{"statefulset"},
	DaemonSet:             []string{"daemonset"},
	CronJob:               []string{"cronjob"},
	Job:                   []string{"job_name"},
	Pod:                   []string{"pod"},
	PersistentVolumeClaim: []string{"persistentvolumeclaim"},
	Service:               []string{"service"},
	Node:                  []string{"node"},
	Severity:              []string{"severity"},
}

func (p *AlertmanagerPolicy) applyDefaults() {
	if p.MaxBodyBytes == 0 {
		p.MaxBodyBytes = DefaultAlertmanagerMaxBodyBytes
	}
	if p.StaleAfter.Duration == 0 {
		p.StaleAfter.Duration = DefaultAlertmanagerStaleAfter
	}
	l, d := &p.Labels, DefaultAlertmanagerLabels
	for _, f := range []struct{ field, def *[]string }{
		{&l.Namespace, &d.Namespace}, {&l.Deployment, &d.Deployment}, {&l.StatefulSet, &d.StatefulSet},
		{&l.DaemonSet, &d.DaemonSet}, {&l.CronJob, &d.CronJob}, {&l.Job, &d.Job}, {&l.Pod, &d.Pod},
		{&l.PersistentVolumeClaim, &d.PersistentVolumeClaim}, {&l.Service, &d.Service}, {&l.Node, &d.Node},
		{&l.Severity, &d.Severity},
	} {
		if *f.field == nil { // absent; an explicit [] turns the mapping off
			*f.field = slices.Clone(*f.def)
		}
	}
	given := map[string]bool{}
	for _, s := range p.Severities {
		given[strings.ToLower(s.Severity)] = true
	}
	for _, s := range DefaultAlertSeverities {
		if !given[strings.ToLower(s.Severity)] {
			p.Severities = append(p.Severities, s)
		}
	}
}

func (p *AlertmanagerPolicy) validate(path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if p.Enabled && p.TokenSecretRef == nil && p.ClientCA == "" {
		errs = append(errs, field.Required(path.Child("tokenSecretRef"),
			"the Alertmanager endpoint needs authentication: a bearer token Secret, a clientCA for mTLS, or both"))
	}
	if r := p.TokenSecretRef; r != nil {
		rp := path.Child("tokenSecretRef")
		for _, msg := range validation.IsDNS1123Subdomain(r.Name) {
			errs = append(errs, field.Invalid(rp.Child("name"), r.Name, msg))
		}
		if r.Key == "" {
			errs = append(errs, field.Required(rp.Child("key"), "the key of the Secret's data that holds the token"))
		} else {
			for _, msg := range validation.IsConfigMapKey(r.Key) {
				errs = append(errs, field.Invalid(rp.Child("key"), r.Key, msg))
			}
		}
	}
	if p.ClientCA != "" {
		if pool := x509.NewCertPool(); !pool.AppendCertsFromPEM([]byte(p.ClientCA)) {
			errs = append(errs, field.Invalid(path.Child("clientCA"), "<PEM>", "holds no PEM-encoded certificate"))
		}
	}
	if p.MaxBodyBytes < 0 || p.MaxBodyBytes > MaxAlertmanagerMaxBodyBytes {
		errs = append(errs, field.Invalid(path.Child("maxBodyBytes"), p.MaxBodyBytes,
			fmt.Sprintf("must be between 1 and %d (0: the default, %d)", MaxAlertmanagerMaxBodyBytes, DefaultAlertmanagerMaxBodyBytes)))
	}
	if d := p.StaleAfter.Duration; d != 0 && (d < MinAlertmanagerStaleAfter || d > MaxAlertmanagerStaleAfter) {
		errs = append(errs, field.Invalid(path.Child("staleAfter"), p.StaleAfter.Duration.String(),
			fmt.Sprintf("must be between %s and %s (above the longest repeat_interval of the routes to the operator; 0: the default, %s)",
				MinAlertmanagerStaleAfter, MaxAlertmanagerStaleAfter, DefaultAlertmanagerStaleAfter)))
	}
	lp := path.Child("labels")
	for name, names := range map[string][]string{
		"namespace": p.Labels.Namespace, "deployment": p.Labels.Deployment, "statefulSet": p.Labels.StatefulSet,
		"daemonSet": p.Labels.DaemonSet, "cronJob": p.Labels.CronJob, "job": p.Labels.Job, "pod": p.Labels.Pod,
		"persistentVolumeClaim": p.Labels.PersistentVolumeClaim, "service": p.Labels.Service, "node": p.Labels.Node,
		"severity": p.Labels.Severity,
	} {
		for i, n := range names {
			if !isLabelName(n) {
				errs = append(errs, field.Invalid(lp.Child(name).Index(i), n, "must be a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)"))
			}
		}
	}
	seen := map[string]bool{}
	sp := path.Child("severities")
	for i, s := range p.Severities {
		ip := sp.Index(i)
		switch {
		case s.Severity == "":
			errs = append(errs, field.Required(ip.Child("severity"), "the severity label's value"))
		case seen[strings.ToLower(s.Severity)]:
			errs = append(errs, field.Duplicate(ip.Child("severity"), s.Severity))
		}
		seen[strings.ToLower(s.Severity)] = true
		if s.Ignore {
			if s.Impact != "" || s.Urgency != "" {
				errs = append(errs, field.Forbidden(ip.Child("impact"), "an ignored severity has no impact or urgency"))
			}
			continue
		}
		for _, l := range []struct {
			name  string
			level itopsv1alpha1.Level
		}{{"impact", s.Impact}, {"urgency", s.Urgency}} {
			switch l.level {
			case itopsv1alpha1.LevelHigh, itopsv1alpha1.LevelMedium, itopsv1alpha1.LevelLow:
			case "":
				errs = append(errs, field.Required(ip.Child(l.name), "High, Medium or Low"))
			default:
				errs = append(errs, field.NotSupported(ip.Child(l.name), l.level, []string{"High", "Medium", "Low"}))
			}
		}
	}
	return errs
}

// isLabelName reports whether n is a valid Prometheus label name.
func isLabelName(n string) bool {
	if n == "" {
		return false
	}
	for i, r := range n {
		if r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9' {
			continue
		}
		return false
	}
	return true
}

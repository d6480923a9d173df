package alertmanager

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strings"
	"time"
	"unicode"

	"k8s.io/apimachinery/pkg/util/validation"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/config"
	"github.com/itops-dev/itops-operator/internal/health"
	"github.com/itops-dev/itops-operator/internal/priority"
)

// Target is the thing an alert is about, as its labels name it. Pods and Jobs are rolled up
// to their owning workload by the caller (through the cache); every other target is the
// incident's subject as is.
type Target struct {
	health.Subject
	// RollUp is true for a Pod or a Job: the caller follows its controllers to the workload.
	RollUp bool
}

// AlertGroupKind names the subject of an alert that names nothing in the cluster: its
// Alertmanager group (docs/alertmanager.md). It is not a Kubernetes kind.
const (
	AlertGroupKind       = "AlertGroup"
	AlertGroupAPIVersion = "alertmanager.prometheus.io/v2"
)

// TargetOf maps an alert's labels to the thing it is about, trying in order (each key's label
// names in their configured order; the first present wins):
//
//	labels                                     target
//	namespace + deployment                     apps/v1 Deployment
//	namespace + statefulset                    apps/v1 StatefulSet
//	namespace + daemonset                      apps/v1 DaemonSet
//	namespace + cronjob                        batch/v1 CronJob
//	namespace + job_name                       batch/v1 Job (rolled up to its CronJob)
//	namespace + pod                            v1 Pod (rolled up to its workload)
//	namespace + persistentvolumeclaim          v1 PersistentVolumeClaim
//	namespace + service                        v1 Service
//	namespace only                             v1 Namespace (its incident lives in that namespace)
//	node, no namespace                         v1 Node (its incident lives in the cluster namespace)
//	none of these                              the alert's Alertmanager group (cluster namespace)
//
// A label value that is not a valid object name is ignored (the next key is tried).
// groupLabels are the notification's group labels, which name an alert group.
func TargetOf(labels map[string]string, names config.AlertmanagerLabels, groupLabels map[string]string) Target {
	ns := first(labels, names.Namespace, validNamespace)
	if ns != "" {
		for _, k := range []struct {
			names            []string
			apiVersion, kind string
			rollUp           bool
		}{
			{names.Deployment, "apps/v1", "Deployment", false},
			{names.StatefulSet, "apps/v1", "StatefulSet", false},
			{names.DaemonSet, "apps/v1", "DaemonSet", false},
			{names.CronJob, "batch/v1", "CronJob", false},
			{names.Job, "batch/v1", "Job", true},
			{names.Pod, "v1", "Pod", true},
			{names.PersistentVolumeClaim, "v1", "PersistentVolumeClaim", false},
			{names.Service, "v1", "Service", false},
		} {
			if name := first(labels, k.names, validName); name != "" {
				return Target{Subject: health.Subject{APIVersion: k.apiVersion, Kind: k.kind, Namespace: ns, Name: name}, RollUp: k.rollUp}
			}
		}
		return Target{Subject: health.Subject{APIVersion: "v1", Kind: "Namespace", Namespace: ns, Name: ns}}
	}
	if node := first(labels, names.Node, validName); node != "" {
		return Target{Subject: health.Subject{APIVersion: "v1", Kind: "Node", Name: node}}
	}
	return Target{Subject: health.Subject{APIVersion: AlertGroupAPIVersion, Kind: AlertGroupKind, Name: GroupName(groupLabels)}}
}

// GroupName names an alert group by its group labels' values, ordered by label name
// ("etcdNoLeader-prod" for group_by [alertname, cluster]); "all" for a route that does not
// group. Long names are cut and keep a hash of the whole, so they stay distinct.
func GroupName(groupLabels map[string]string) string {
	keys := make([]string, 0, len(groupLabels))
	for k := range groupLabels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		if v := groupLabels[k]; v != "" {
			parts = append(parts, v)
		}
	}
	if len(parts) == 0 {
		return "all"
	}
	name := strings.Join(parts, "-")
	clean := strings.Trim(strings.Map(func(r rune) rune {
		if r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)) || r == '-' || r == '.' {
			return r
		}
		return '-'
	}, name), "-.")
	if clean == name && len(clean) <= 63 {
		return clean
	}
	sum := sha256.Sum256([]byte(name))
	if len(clean) > 54 {
		clean = strings.TrimRight(clean[:54], "-.")
	}
	if clean == "" {
		return hex.EncodeToString(sum[:])[:8]
	}
	return clean + "-" + hex.EncodeToString(sum[:])[:8]
}

func first(labels map[string]string, names []string, valid func(string) bool) string {
	for _, n := range names {
		if v := labels[n]; v != "" && valid(v) {
			return v
		}
	}
	return ""
}

func validNamespace(v string) bool { return len(validation.IsDNS1123Label(v)) == 0 }

// validName accepts what Kubernetes object names may be (DNS subdomains; a Service or
// Namespace name is narrower, but the lookup of a wrong one merely finds nothing).
func validName(v string) bool { return len(validation.IsDNS1123Subdomain(v)) == 0 }

// Signal is what one alert says about its target.
type Signal struct {
	// Reason is the signal's reason: the alertname as a reason (ReasonFor).
	Reason string
	// Fingerprint is the alert's identity.
	Fingerprint string
	// Firing is false for a resolved alert, and for a firing one whose endsAt has passed
	// (Alertmanager's rule: an alert is resolved once its end time is reached).
	Firing bool
	// EndsAt is the end time a firing alert carries (zero: none; Alertmanager leaves it out of
	// firing alerts, other senders may set it in the future).
	EndsAt time.Time
	// Since is when the alert started firing (never in the future).
	Since time.Time
	// Message is the alert's summary and description, for a person.
	Message string
	// Impact and Urgency come from the severity label; Priority from both.
	Impact, Urgency itopsv1alpha1.Level
	Priority        itopsv1alpha1.Priority
	// GeneratorURL and RunbookURL are kept on the signal.
	GeneratorURL, RunbookURL string
}

// SignalOf maps an alert to its signal; ignore is true for an alert of an ignored severity
// (the built-in "none": Watchdog, InfoInhibitor).
func SignalOf(a Alert, p *config.AlertmanagerPolicy, now time.Time) (s Signal, ignore bool) {
	sev := first(a.Labels, p.Labels.Severity, func(string) bool { return true })
	impact, urgency, ignore := SeverityFor(sev, p.Severities)
	since := a.StartsAt
	if since.IsZero() || since.After(now) {
		since = now
	}
	firing := a.Status == StatusFiring && (a.EndsAt.IsZero() || a.EndsAt.After(now))
	var endsAt time.Time
	if firing {
		endsAt = a.EndsAt.Truncate(time.Second)
	}
	s = Signal{
		Reason:       ReasonFor(a.Labels["alertname"]),
		Fingerprint:  a.Fingerprint,
		Firing:       firing,
		EndsAt:       endsAt,
		Since:        since.Truncate(time.Second),
		Message:      MessageOf(a),
		Impact:       impact,
		Urgency:      urgency,
		Priority:     priority.For(impact, urgency),
		GeneratorURL: boundedURL(a.GeneratorURL),
		RunbookURL:   boundedURL(firstNonEmpty(a.Annotations["runbook_url"], a.Annotations["runbook"])),
	}
	return s, ignore
}

// SeverityFor maps a severity label value (case-insensitively) through the policy's table;
// a value not in it, or none, is Medium/Medium (P3).
func SeverityFor(severity string, table []config.AlertSeverity) (impact, urgency itopsv1alpha1.Level, ignore bool) {
	for _, s := range table {
		if strings.EqualFold(s.Severity, severity) {
			return s.Impact, s.Urgency, s.Ignore
		}
	}
	return itopsv1alpha1.LevelMedium, itopsv1alpha1.LevelMedium, false
}

// MessageOf is the alert's summary, then its description (or message) when it adds to it;
// else the alertname and its identifying labels.
func MessageOf(a Alert) string {
	summary := a.Annotations["summary"]
	desc := firstNonEmpty(a.Annotations["description"], a.Annotations["message"])
	switch {
	case summary != "" && desc != "" && desc != summary:
		return health.Truncate(summary+" — "+desc, 1024)
	case summary != "":
		return health.Truncate(summary, 1024)
	case desc != "":
		return health.Truncate(desc, 1024)
	}
	keys := make([]string, 0, len(a.Labels))
	for k := range a.Labels {
		if k != "alertname" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("alert ")
	b.WriteString(firstNonEmpty(a.Labels["alertname"], "(no alertname)"))
	for _, k := range keys {
		b.WriteString(" " + k + "=" + a.Labels[k])
	}
	return health.Truncate(b.String(), 1024)
}

// reservedReasons are the operator's own reasons: an alert named like one (an alert rule
// called CrashLoopBackOff) gets the prefix "Alert", so that a detector clearing its own
// signal never clears the alert's, and the other way round.
var reservedReasons = map[string]bool{
	"PodUnschedulable": true, "PodCreationFailed": true, "VolumeMountFailed": true, "ProbeFailing": true,
	"ContainerRestarting": true, "ServiceWithoutEndpoints": true, "WebhookUnavailable": true,
	"AutoscalerLimited": true, "DisruptionBlocked": true, "CronJobMissedSchedule": true,
	"CertificateExpiring": true, "NodeCondition": true, "Custom": true, "MemoryNearLimit": true,
	"RouteBackendMissing": true,
}

// ReasonFor turns an alertname into a signal reason (^[A-Z][A-Za-z0-9]*$, at most 63
// characters): KubePodCrashLooping stays as it is, etcd_no_leader becomes EtcdNoLeader; an
// alertname of one of the operator's own reasons gets the prefix "Alert"; an empty one is
// "Alert". Names cut to fit keep a hash of the whole, so they stay distinct.
func ReasonFor(alertname string) string {
	var b strings.Builder
	upper := true
	for _, r := range alertname {
		if r >= unicode.MaxASCII || !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			upper = true
			continue
		}
		if upper {
			r = unicode.ToUpper(r)
			upper = false
		}
		b.WriteRune(r)
	}
	reason := b.String()
	if reason == "" || reason[0] < 'A' || reason[0] > 'Z' || reservedReasons[reason] || isDetectorReason(reason) {
		reason = "Alert" + reason
	}
	if len(reason) > 63 {
		sum := sha256.Sum256([]byte(alertname))
		reason = reason[:55] + hex.EncodeToString(sum[:])[:8]
	}
	return reason
}

// isDetectorReason: the reasons of the built-in detectors (the specificity table).
func isDetectorReason(reason string) bool {
	_, ok := health.Specificity[reason]
	return ok
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// boundedURL keeps a URL that fits the signal's field (2048 characters), else drops it: a cut
// URL would mislead.
func boundedURL(u string) string {
	if len(u) > 2048 {
		return ""
	}
	return u
}

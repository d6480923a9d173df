// Package config loads and validates the administrator-owned policy file given to the
// operator with --config (normally mounted from a ConfigMap in the operator namespace).
//
// Requesters must not be able to choose their own approvers, so these policies live with the
// administrator, not in ChangeRequests: a ChangeRequest's approvalPolicy can only tighten them.
package config

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// Config is the administrator-owned policy.
type Config struct {
	// ChangePolicies are matched in order by namespace selector; the first match wins.
	ChangePolicies []ChangePolicy `json:"changePolicies,omitempty"`
	// Incidents holds the incident lifecycle policy.
	Incidents IncidentPolicy `json:"incidents,omitempty"`
	// Detection holds health-detection thresholds.
	Detection DetectionPolicy `json:"detection,omitempty"`
	// Changes holds change lifecycle settings that do not vary by namespace.
	Changes ChangeLifecyclePolicy `json:"changes,omitempty"`
	// Alertmanager configures the endpoint that turns Alertmanager's alerts into incident
	// signals (alertmanager.go).
	Alertmanager AlertmanagerPolicy `json:"alertmanager,omitempty"`
	// Notifications holds the receivers and routes incidents are notified through
	// (notifications.go).
	Notifications NotificationPolicy `json:"notifications,omitempty"`
	// Detectors are the administrator-defined detectors over any kind (detectors.go).
	Detectors []Detector `json:"detectors,omitempty"`
	// Prometheus is the Prometheus queried for ServiceLevel SLIs from Prometheus
	// (prometheus.go).
	Prometheus PrometheusPolicy `json:"prometheus,omitempty"`
}

// ChangePolicy is the approval policy for the namespaces its selector matches.
type ChangePolicy struct {
	// NamespaceSelector selects namespaces by label; empty matches every namespace.
	NamespaceSelector metav1.LabelSelector `json:"namespaceSelector"`
	// ApproverGroups may approve; empty: any authenticated user but the requester.
	ApproverGroups []string `json:"approverGroups,omitempty"`
	// MinApprovals is the minimum number of approvals by risk (Low, Medium, High).
	MinApprovals map[itopsv1alpha1.Level]int32 `json:"minApprovals,omitempty"`
	// EmergencyGroups may raise Emergency changes; absent means the default, [] means nobody.
	EmergencyGroups []string `json:"emergencyGroups,omitempty"`
	// ApprovalLifetime is how long approvals of a change without a schedule stay valid;
	// absent or 0 means the default.
	ApprovalLifetime metav1.Duration `json:"approvalLifetime,omitempty"`
	// StandardChanges are the pre-approved change patterns: a ChangeRequest of type Standard
	// whose every target a pattern lists needs no approvals, and the gate admits under it only
	// what the pattern allows.
	StandardChanges []StandardChange `json:"standardChanges,omitempty"`
	// GitOps tightens the approval of changes applied by automation (see GitOpsPolicy).
	GitOps GitOpsPolicy `json:"gitops,omitempty"`
	// TrustedControllers are the usernames (usually ServiceAccounts, such as
	// system:serviceaccount:argo-rollouts:argo-rollouts) of other operators' controllers whose
	// Pods, ReplicaSets and Jobs pass the change gate in change-controlled namespaces, as the
	// cluster's own workload controllers do: Argo Rollouts, Tekton, KEDA, database operators. The
	// gate cannot tell such a controller from a person holding its token, so only the
	// administrator may name them; the custom resources they act on are the thing to govern
	// (RBAC, GitOps review). Every admission under this key is audited. Empty by default.
	TrustedControllers []string `json:"trustedControllers,omitempty"`
}

// GitOpsPolicy tightens the approval of ChangeRequests applied by automation: created by a
// ServiceAccount (a GitOps controller such as Flux's kustomize-controller or Argo CD's
// application controller, or a pipeline) or by one of Appliers. For such a change the cluster
// knows who applied it, not who wrote it: spec.requester is whatever the Git author declared,
// and the author's groups are unknown. These rules make separation of duties hold whatever the
// author declares. All are off by default; see docs/policy.md and docs/security.md.
type GitOpsPolicy struct {
	// Appliers are further usernames that apply changes from Git (a CI user with a client
	// certificate, say), besides every ServiceAccount, which always counts as one.
	Appliers []string `json:"appliers,omitempty"`
	// MinApprovals is the least number of approvals, from distinct people, a change applied by
	// automation needs, whatever its risk (0 to 10; 0: the risk-based minimum alone). With 2, no
	// single person can both write a change in Git and authorise it.
	MinApprovals int32 `json:"minApprovals,omitempty"`
	// RequireRequester refuses a change applied by automation that does not declare
	// spec.requester (the Git author), so that the author is at least named and excluded.
	RequireRequester bool `json:"requireRequester,omitempty"`
	// ApproverGroups: every approver of a change applied by automation must also be in one of
	// these groups (for example a change advisory board that does not write to the repository).
	ApproverGroups []string `json:"approverGroups,omitempty"`
	// ExcludedApproverGroups: no member of these groups approves a change applied by
	// automation (for example the group of everyone who can push to the repository).
	ExcludedApproverGroups []string `json:"excludedApproverGroups,omitempty"`
}

// StandardChangeAllowance is what a Standard change pattern pre-approves.
type StandardChangeAllowance string

// Standard change allowances.
const (
	// AllowImageWithinRepository pre-approves changes of container images, each within its
	// repository (a new tag or digest of the same image), and nothing else.
	AllowImageWithinRepository StandardChangeAllowance = "ImageWithinRepository"
)

// StandardChange is a pre-approved change pattern.
type StandardChange struct {
	// Name identifies the pattern in messages.
	Name string `json:"name"`
	// Targets are the workloads the pattern covers.
	Targets []StandardChangeTarget `json:"targets"`
	// Allow is what the pattern pre-approves.
	Allow StandardChangeAllowance `json:"allow"`
}

// StandardChangeTarget is a workload a Standard change pattern covers.
type StandardChangeTarget struct {
	// Kind is Deployment, StatefulSet, DaemonSet or CronJob.
	Kind itopsv1alpha1.TargetKind `json:"kind"`
	// Name of the workload; "*" covers every workload of the kind.
	Name string `json:"name"`
}

// StandardChangeFor returns the pattern that covers every one of targets, or nil.
func (p ChangePolicy) StandardChangeFor(targets []itopsv1alpha1.ChangeTarget) *StandardChange {
	if len(targets) == 0 {
		return nil
	}
	for i := range p.StandardChanges {
		sc := &p.StandardChanges[i]
		all := true
		for _, t := range targets {
			if !sc.Covers(t.Kind, t.Name) {
				all = false
				break
			}
		}
		if all {
			return sc
		}
	}
	return nil
}

// Covers reports whether the pattern lists the workload.
func (s StandardChange) Covers(kind itopsv1alpha1.TargetKind, name string) bool {
	for _, t := range s.Targets {
		if t.Kind == kind && (t.Name == "*" || t.Name == name) {
			return true
		}
	}
	return false
}

// IncidentPolicy holds the incident lifecycle settings.
type IncidentPolicy struct {
	// ReopenWindow: an auto-resolved incident reopens when its problem returns within it.
	ReopenWindow metav1.Duration `json:"reopenWindow,omitempty"`
	// CloseAfter: a resolved incident is closed after it.
	CloseAfter metav1.Duration `json:"closeAfter,omitempty"`
	// DeleteClosedAfter: a closed incident is garbage-collected after it.
	DeleteClosedAfter metav1.Duration `json:"deleteClosedAfter,omitempty"`
}

// DetectionPolicy holds thresholds and grace periods of health detection.
type DetectionPolicy struct {
	// WorkloadGracePeriod: a StatefulSet or DaemonSet may run below its desired ready replicas
	// this long before an incident opens.
	WorkloadGracePeriod metav1.Duration `json:"workloadGracePeriod,omitempty"`
	// VolumeClaimPendingGracePeriod: a PVC may stay Pending this long before an incident opens.
	VolumeClaimPendingGracePeriod metav1.Duration `json:"volumeClaimPendingGracePeriod,omitempty"`
	// NodeNotReadyGracePeriod: a Node may be NotReady this long before an incident opens.
	NodeNotReadyGracePeriod metav1.Duration `json:"nodeNotReadyGracePeriod,omitempty"`
	// StartupGracePeriod: image pull and container configuration errors of a younger pod are
	// a pod still starting.
	StartupGracePeriod metav1.Duration `json:"startupGracePeriod,omitempty"`
	// NodeConditionsIgnored are Node condition types that are not faults when True (a
	// vendor add-on's healthy-when-True condition, or one nobody should be paged for): every
	// other condition besides Ready and the pressure ones that is True is a NodeCondition
	// (docs/incidents.md). Each a qualified name (KernelDeadlock, example.com/Maintenance);
	// at most 32.
	NodeConditionsIgnored []string `json:"nodeConditionsIgnored,omitempty"`
	// ContainerRestarting configures the restart rate of ContainerRestarting (restarts.go).
	ContainerRestarting ContainerRestartingPolicy `json:"containerRestarting,omitempty"`
	// CertificateExpiry configures the CertificateExpiring detector (detectors.go).
	CertificateExpiry CertificateExpiryPolicy `json:"certificateExpiry,omitempty"`
	// AutoscalerLimited, DisruptionBlocked, CronJobMissedSchedule and MemoryNearLimit
	// configure the capacity and schedule detectors (capacity.go).
	AutoscalerLimited     AutoscalerLimitedPolicy     `json:"autoscalerLimited,omitempty"`
	DisruptionBlocked     DisruptionBlockedPolicy     `json:"disruptionBlocked,omitempty"`
	CronJobMissedSchedule CronJobMissedSchedulePolicy `json:"cronJobMissedSchedule,omitempty"`
	MemoryNearLimit       MemoryNearLimitPolicy       `json:"memoryNearLimit,omitempty"`
	// ServicesWithoutEndpoints configures ServiceWithoutEndpoints (netcheck.go).
	ServicesWithoutEndpoints ServicesWithoutEndpointsPolicy `json:"servicesWithoutEndpoints,omitempty"`
	// RouteBackends configures RouteBackendMissing (netcheck.go).
	RouteBackends RouteBackendsPolicy `json:"routeBackends,omitempty"`
	// Webhooks configures WebhookUnavailable (netcheck.go).
	Webhooks WebhooksPolicy `json:"webhooks,omitempty"`
	// EvidenceLogs configures the previous container's log in incident evidence (evidencelogs.go).
	EvidenceLogs EvidenceLogsPolicy `json:"evidenceLogs,omitempty"`
}

// ChangeLifecyclePolicy holds change settings that do not vary by namespace.
type ChangeLifecyclePolicy struct {
	// EmergencyReviewWithin: an Emergency change not approved within it opens an
	// EmergencyChangeUnreviewed incident.
	EmergencyReviewWithin metav1.Duration `json:"emergencyReviewWithin,omitempty"`
	// Retention: completed, failed, rejected and expired changes are garbage-collected after it.
	Retention metav1.Duration `json:"retention,omitempty"`
	// RolloutTimeout: a StatefulSet or DaemonSet rollout that has not completed this long after
	// it was admitted fails its change (Deployments report ProgressDeadlineExceeded themselves).
	RolloutTimeout metav1.Duration `json:"rolloutTimeout,omitempty"`
	// RelatedWithin: an incident detected on a workload within this time after a change was
	// applied to it lists the change in status.relatedChanges.
	RelatedWithin metav1.Duration `json:"relatedWithin,omitempty"`
}

// Built-in defaults, used when no file is given and for every key a file leaves out.
var (
	DefaultMinApprovals = map[itopsv1alpha1.Level]int32{
		itopsv1alpha1.LevelLow: 1, itopsv1alpha1.LevelMedium: 1, itopsv1alpha1.LevelHigh: 2,
	}
	DefaultEmergencyGroups       = []string{"system:masters"}
	DefaultApprovalLifetime      = 24 * time.Hour
	DefaultReopenWindow          = time.Hour
	DefaultCloseAfter            = 24 * time.Hour
	DefaultDeleteClosedAfter     = 30 * 24 * time.Hour
	DefaultWorkloadGracePeriod   = 5 * time.Minute
	DefaultPVCPendingGracePeriod = 5 * time.Minute
	DefaultNodeNotReadyGrace     = 40 * time.Second
	DefaultStartupGracePeriod    = time.Minute
	DefaultEmergencyReviewWithin = 24 * time.Hour
	DefaultChangeRetention       = 30 * 24 * time.Hour
	DefaultRolloutTimeout        = 10 * time.Minute
	DefaultRelatedWithin         = time.Hour
)

// Default returns the built-in policy: one change policy for every namespace.
func Default() *Config {
	c := &Config{}
	c.applyDefaults()
	return c
}

// Load reads, defaults and validates the policy file at path. An empty path gives Default().
func Load(path string) (*Config, error) {
	if path == "" {
		return Default(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading policy file: %w", err)
	}
	return Parse(data)
}

// Parse decodes a policy document strictly (unknown keys are errors), applies defaults and
// validates it.
func Parse(data []byte) (*Config, error) {
	c := &Config{}
	if len(bytes.TrimSpace(data)) > 0 {
		if err := yaml.UnmarshalStrict(data, c); err != nil {
			return nil, fmt.Errorf("invalid policy file: %w", err)
		}
	}
	if errs := c.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("invalid policy file: %w", errs.ToAggregate())
	}
	c.applyDefaults()
	return c, nil
}

func (c *Config) applyDefaults() {
	if len(c.ChangePolicies) == 0 {
		c.ChangePolicies = []ChangePolicy{{}}
	}
	for i := range c.ChangePolicies {
		p := &c.ChangePolicies[i]
		if p.EmergencyGroups == nil { // absent; an explicit [] means nobody
			p.EmergencyGroups = DefaultEmergencyGroups
		}
		if p.MinApprovals == nil {
			p.MinApprovals = map[itopsv1alpha1.Level]int32{}
		}
		for level, n := range DefaultMinApprovals {
			if _, ok := p.MinApprovals[level]; !ok {
				p.MinApprovals[level] = n
			}
		}
		defaultDuration(&p.ApprovalLifetime, DefaultApprovalLifetime)
	}
	defaultDuration(&c.Incidents.ReopenWindow, DefaultReopenWindow)
	defaultDuration(&c.Incidents.CloseAfter, DefaultCloseAfter)
	defaultDuration(&c.Incidents.DeleteClosedAfter, DefaultDeleteClosedAfter)
	defaultDuration(&c.Detection.WorkloadGracePeriod, DefaultWorkloadGracePeriod)
	defaultDuration(&c.Detection.VolumeClaimPendingGracePeriod, DefaultPVCPendingGracePeriod)
	defaultDuration(&c.Detection.NodeNotReadyGracePeriod, DefaultNodeNotReadyGrace)
	defaultDuration(&c.Detection.StartupGracePeriod, DefaultStartupGracePeriod)
	defaultDuration(&c.Changes.EmergencyReviewWithin, DefaultEmergencyReviewWithin)
	defaultDuration(&c.Changes.Retention, DefaultChangeRetention)
	defaultDuration(&c.Changes.RolloutTimeout, DefaultRolloutTimeout)
	defaultDuration(&c.Changes.RelatedWithin, DefaultRelatedWithin)
	c.Alertmanager.applyDefaults()
	c.Notifications.applyDefaults()
	c.Prometheus.applyDefaults()
	c.Detection.CertificateExpiry.applyDefaults()
	c.Detection.ContainerRestarting.applyDefaults()
	c.Detection.applyCapacityDefaults()
	c.Detection.applyNetworkDefaults()
	c.Detection.EvidenceLogs.applyDefaults()
	for i := range c.Detectors {
		c.Detectors[i].applyDefaults()
	}
}

func defaultDuration(d *metav1.Duration, def time.Duration) {
	if d.Duration == 0 {
		d.Duration = def
	}
}

// Validate reports every problem in the policy with its path in the file.
func (c *Config) Validate() field.ErrorList {
	var errs field.ErrorList
	root := field.NewPath("changePolicies")
	for i, p := range c.ChangePolicies {
		fp := root.Index(i)
		if _, err := metav1.LabelSelectorAsSelector(&p.NamespaceSelector); err != nil {
			errs = append(errs, field.Invalid(fp.Child("namespaceSelector"), p.NamespaceSelector, err.Error()))
		}
		for level, n := range p.MinApprovals {
			lp := fp.Child("minApprovals").Key(string(level))
			switch level {
			case itopsv1alpha1.LevelLow, itopsv1alpha1.LevelMedium, itopsv1alpha1.LevelHigh:
			default:
				errs = append(errs, field.NotSupported(lp, level, []string{"Low", "Medium", "High"}))
				continue
			}
			if n < 0 || n > 10 {
				errs = append(errs, field.Invalid(lp, n, "must be between 0 and 10"))
			}
		}
		errs = append(errs, validateGroups(fp.Child("approverGroups"), p.ApproverGroups)...)
		errs = append(errs, validateGroups(fp.Child("emergencyGroups"), p.EmergencyGroups)...)
		errs = append(errs, nonNegative(fp.Child("approvalLifetime"), p.ApprovalLifetime)...)
		errs = append(errs, validateStandardChanges(fp.Child("standardChanges"), p.StandardChanges)...)
		errs = append(errs, validateGitOps(fp.Child("gitops"), p.GitOps)...)
		errs = append(errs, validateGroups(fp.Child("trustedControllers"), p.TrustedControllers)...)
	}
	errs = append(errs, nonNegative(field.NewPath("incidents", "reopenWindow"), c.Incidents.ReopenWindow)...)
	errs = append(errs, nonNegative(field.NewPath("incidents", "closeAfter"), c.Incidents.CloseAfter)...)
	errs = append(errs, nonNegative(field.NewPath("incidents", "deleteClosedAfter"), c.Incidents.DeleteClosedAfter)...)
	errs = append(errs, nonNegative(field.NewPath("detection", "workloadGracePeriod"), c.Detection.WorkloadGracePeriod)...)
	errs = append(errs, nonNegative(field.NewPath("detection", "volumeClaimPendingGracePeriod"), c.Detection.VolumeClaimPendingGracePeriod)...)
	errs = append(errs, nonNegative(field.NewPath("detection", "nodeNotReadyGracePeriod"), c.Detection.NodeNotReadyGracePeriod)...)
	errs = append(errs, nonNegative(field.NewPath("detection", "startupGracePeriod"), c.Detection.StartupGracePeriod)...)
	errs = append(errs, validateConditionTypes(field.NewPath("detection", "nodeConditionsIgnored"), c.Detection.NodeConditionsIgnored)...)
	errs = append(errs, nonNegative(field.NewPath("changes", "emergencyReviewWithin"), c.Changes.EmergencyReviewWithin)...)
	errs = append(errs, nonNegative(field.NewPath("changes", "retention"), c.Changes.Retention)...)
	errs = append(errs, nonNegative(field.NewPath("changes", "rolloutTimeout"), c.Changes.RolloutTimeout)...)
	errs = append(errs, nonNegative(field.NewPath("changes", "relatedWithin"), c.Changes.RelatedWithin)...)
	errs = append(errs, c.Alertmanager.validate(field.NewPath("alertmanager"))...)
	errs = append(errs, c.Notifications.validate(field.NewPath("notifications"))...)
	errs = append(errs, c.Detection.CertificateExpiry.validate(field.NewPath("detection", "certificateExpiry"))...)
	errs = append(errs, c.Detection.ContainerRestarting.validate(field.NewPath("detection", "containerRestarting"))...)
	errs = append(errs, c.Detection.validateCapacity(field.NewPath("detection"))...)
	errs = append(errs, c.Detection.validateNetwork(field.NewPath("detection"))...)
	errs = append(errs, c.Detection.EvidenceLogs.validate(field.NewPath("detection", "evidenceLogs"))...)
	errs = append(errs, validateDetectors(field.NewPath("detectors"), c.Detectors)...)
	errs = append(errs, c.Prometheus.validate(field.NewPath("prometheus"))...)
	return errs
}

var targetKinds = []string{
	string(itopsv1alpha1.TargetDeployment), string(itopsv1alpha1.TargetStatefulSet),
	string(itopsv1alpha1.TargetDaemonSet), string(itopsv1alpha1.TargetCronJob),
}

func validateStandardChanges(p *field.Path, patterns []StandardChange) field.ErrorList {
	var errs field.ErrorList
	names := map[string]bool{}
	for i, sc := range patterns {
		ip := p.Index(i)
		switch {
		case sc.Name == "":
			errs = append(errs, field.Required(ip.Child("name"), "name the pattern, for messages and audit records"))
		case names[sc.Name]:
			errs = append(errs, field.Duplicate(ip.Child("name"), sc.Name))
		}
		names[sc.Name] = true
		if sc.Allow != AllowImageWithinRepository {
			errs = append(errs, field.NotSupported(ip.Child("allow"), sc.Allow, []string{string(AllowImageWithinRepository)}))
		}
		if len(sc.Targets) == 0 {
			errs = append(errs, field.Required(ip.Child("targets"), "list the workloads the pattern pre-approves"))
		}
		for j, t := range sc.Targets {
			tp := ip.Child("targets").Index(j)
			known := false
			for _, k := range targetKinds {
				known = known || string(t.Kind) == k
			}
			if !known {
				errs = append(errs, field.NotSupported(tp.Child("kind"), t.Kind, targetKinds))
			}
			if t.Name == "" {
				errs = append(errs, field.Required(tp.Child("name"), `a workload name, or "*" for every workload of the kind`))
			}
		}
	}
	return errs
}

func validateGitOps(p *field.Path, g GitOpsPolicy) field.ErrorList {
	var errs field.ErrorList
	if g.MinApprovals < 0 || g.MinApprovals > 10 {
		errs = append(errs, field.Invalid(p.Child("minApprovals"), g.MinApprovals, "must be between 0 and 10"))
	}
	errs = append(errs, validateGroups(p.Child("appliers"), g.Appliers)...)
	errs = append(errs, validateGroups(p.Child("approverGroups"), g.ApproverGroups)...)
	errs = append(errs, validateGroups(p.Child("excludedApproverGroups"), g.ExcludedApproverGroups)...)
	for i, x := range g.ExcludedApproverGroups {
		if slices.Contains(g.ApproverGroups, x) {
			errs = append(errs, field.Invalid(p.Child("excludedApproverGroups").Index(i), x,
				"is also one of gitops.approverGroups: nobody could approve a change applied by automation"))
		}
	}
	return errs
}

func validateGroups(p *field.Path, groups []string) field.ErrorList {
	var errs field.ErrorList
	seen := map[string]bool{}
	for i, g := range groups {
		switch {
		case g == "":
			errs = append(errs, field.Required(p.Index(i), "group names must not be empty"))
		case seen[g]:
			errs = append(errs, field.Duplicate(p.Index(i), g))
		}
		seen[g] = true
	}
	return errs
}

func nonNegative(p *field.Path, d metav1.Duration) field.ErrorList {
	if d.Duration < 0 {
		return field.ErrorList{field.Invalid(p, d.Duration.String(), "must not be negative")}
	}
	return nil
}

// ChangePolicyFor returns the first change policy whose namespace selector matches the
// namespace's labels. It always returns a policy when the config has been defaulted; a
// config whose selectors all miss falls back to the built-in default policy.
func (c *Config) ChangePolicyFor(namespaceLabels map[string]string) ChangePolicy {
	for _, p := range c.ChangePolicies {
		sel, err := metav1.LabelSelectorAsSelector(&p.NamespaceSelector)
		if err != nil {
			continue // rejected by Validate; never reached for a loaded config
		}
		if sel.Matches(labels.Set(namespaceLabels)) {
			return p
		}
	}
	return Default().ChangePolicies[0]
}

// validateConditionTypes checks a list of Node condition types: qualified names, at most 32.
func validateConditionTypes(fp *field.Path, types []string) field.ErrorList {
	var errs field.ErrorList
	if len(types) > 32 {
		errs = append(errs, field.TooMany(fp, len(types), 32))
	}
	for i, t := range types {
		for _, msg := range validation.IsQualifiedName(t) {
			errs = append(errs, field.Invalid(fp.Index(i), t, "a node condition type: "+msg))
		}
	}
	return errs
}

package config

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/detector/custom"
)

// Detector is an administrator-defined detector (policy key detectors, docs/detectors.md): a
// CEL expression over every object of one kind that says when the object is unhealthy. An
// object unhealthy for GracePeriod opens (or joins) the incident of that object, with a signal
// of Reason; the incident's spec.reason is Custom while that signal is its most specific one.
type Detector struct {
	// Name identifies the detector in logs, metrics and messages (a DNS label, unique).
	Name string `json:"name"`
	// APIVersion and Kind name the watched kind (group/version, or v1 for the core group).
	// The kind is resolved through the API server's discovery; a kind not served yet (its CRD
	// not installed) is waited for, see docs/detectors.md.
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Unhealthy is a CEL expression over object (the whole object as a map) that evaluates
	// to true while it is unhealthy, for example object.status.health.status == 'Degraded'.
	Unhealthy string `json:"unhealthy"`
	// Message (optional) is a CEL expression giving the signal's text, a string.
	Message string `json:"message,omitempty"`
	// Since (optional) is a CEL expression giving when the problem started (a timestamp or an
	// RFC 3339 string, such as a condition's lastTransitionTime): the grace period counts from
	// it, also across operator restarts. Absent: from when the operator first saw it.
	Since string `json:"since,omitempty"`
	// Reason is the signal's reason, CamelCase (^[A-Z][A-Za-z0-9]*$, at most 63 characters),
	// not one of the built-in reasons.
	Reason string `json:"reason"`
	// Impact and Urgency give the signal's priority through the ITIL matrix (Low, Medium,
	// High; default Medium each, P3).
	Impact  itopsv1alpha1.Level `json:"impact,omitempty"`
	Urgency itopsv1alpha1.Level `json:"urgency,omitempty"`
	// GracePeriod is how long the object must stay unhealthy before a signal fires (absent:
	// DefaultCustomGracePeriod; 0s fires at once).
	GracePeriod *metav1.Duration `json:"gracePeriod,omitempty"`
}

// CertificateExpiryPolicy configures the CertificateExpiring detector (policy key
// detection.certificateExpiry): TLS Secrets whose leaf certificate expires within WarnBefore
// (low priority) or CriticalBefore (high priority), or has expired (high).
type CertificateExpiryPolicy struct {
	// Enabled turns the detector on (default true). It also needs list and watch on Secrets,
	// which the installation does not grant by default (docs/detectors.md).
	Enabled *bool `json:"enabled,omitempty"`
	// WarnBefore: a certificate expiring within it opens a low-priority (P4) incident.
	WarnBefore metav1.Duration `json:"warnBefore,omitempty"`
	// CriticalBefore: within it (at most WarnBefore) the signal becomes high priority (P2).
	CriticalBefore metav1.Duration `json:"criticalBefore,omitempty"`
}

// Defaults of the detectors' keys.
var (
	DefaultCustomGracePeriod  = 5 * time.Minute
	DefaultCertWarnBefore     = 30 * 24 * time.Hour
	DefaultCertCriticalBefore = 7 * 24 * time.Hour
	customReasonPattern       = regexp.MustCompile(`^[A-Z][A-Za-z0-9]*$`)
	builtInReasons            = map[string]bool{}
	errBuiltInReason          = errors.New("is a built-in reason; name the detector's own problem")
)

// init refuses, as a custom detector's reason, every reason the operator itself writes: the
// automated incident reasons and the condition reasons (api/v1alpha1 lists both).
func init() {
	for _, list := range [][]string{itopsv1alpha1.IncidentReasons, itopsv1alpha1.ConditionReasons} {
		for _, r := range list {
			builtInReasons[r] = true
		}
	}
}

// GVK is the detector's kind.
func (d Detector) GVK() schema.GroupVersionKind {
	gv, _ := schema.ParseGroupVersion(d.APIVersion) // validated
	return gv.WithKind(d.Kind)
}

// Grace is the detector's grace period (defaulted).
func (d Detector) Grace() time.Duration {
	if d.GracePeriod == nil {
		return DefaultCustomGracePeriod
	}
	return d.GracePeriod.Duration
}

// Expressions are the detector's CEL sources.
func (d Detector) Expressions() custom.Expressions {
	return custom.Expressions{Unhealthy: d.Unhealthy, Message: d.Message, Since: d.Since}
}

// CertificateExpiryEnabled reports whether the CertificateExpiring detector is on.
func (p CertificateExpiryPolicy) CertificateExpiryEnabled() bool {
	return p.Enabled == nil || *p.Enabled
}

func (p *CertificateExpiryPolicy) applyDefaults() {
	defaultDuration(&p.WarnBefore, DefaultCertWarnBefore)
	defaultDuration(&p.CriticalBefore, DefaultCertCriticalBefore)
}

func (p CertificateExpiryPolicy) validate(fp *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, nonNegative(fp.Child("warnBefore"), p.WarnBefore)...)
	errs = append(errs, nonNegative(fp.Child("criticalBefore"), p.CriticalBefore)...)
	warn, crit := p.WarnBefore.Duration, p.CriticalBefore.Duration
	if warn == 0 {
		warn = DefaultCertWarnBefore
	}
	if crit == 0 {
		crit = DefaultCertCriticalBefore
	}
	if crit > warn {
		errs = append(errs, field.Invalid(fp.Child("criticalBefore"), crit.String(),
			fmt.Sprintf("must not exceed warnBefore (%s)", warn)))
	}
	return errs
}

func (d *Detector) applyDefaults() {
	if d.Impact == "" {
		d.Impact = itopsv1alpha1.LevelMedium
	}
	if d.Urgency == "" {
		d.Urgency = itopsv1alpha1.LevelMedium
	}
}

// validateDetectors checks every detector, compiling its expressions (a CEL error names the
// key: detectors[1].unhealthy).
func validateDetectors(p *field.Path, ds []Detector) field.ErrorList {
	var errs field.ErrorList
	names := map[string]bool{}
	reasons := map[string]bool{}
	levels := []string{string(itopsv1alpha1.LevelLow), string(itopsv1alpha1.LevelMedium), string(itopsv1alpha1.LevelHigh)}
	for i, d := range ds {
		ip := p.Index(i)
		switch {
		case d.Name == "":
			errs = append(errs, field.Required(ip.Child("name"), "name the detector, for logs and messages"))
		case names[d.Name]:
			errs = append(errs, field.Duplicate(ip.Child("name"), d.Name))
		default:
			for _, m := range validation.IsDNS1123Label(d.Name) {
				errs = append(errs, field.Invalid(ip.Child("name"), d.Name, m))
			}
		}
		names[d.Name] = true
		gv, err := schema.ParseGroupVersion(d.APIVersion)
		switch {
		case d.APIVersion == "":
			errs = append(errs, field.Required(ip.Child("apiVersion"), "the watched kind's group/version, for example argoproj.io/v1alpha1"))
		case err != nil || gv.Version == "":
			errs = append(errs, field.Invalid(ip.Child("apiVersion"), d.APIVersion, "must be group/version, or v1 for the core group"))
		}
		if d.Kind == "" {
			errs = append(errs, field.Required(ip.Child("kind"), "the watched kind, for example Application"))
		}
		switch {
		case d.Reason == "":
			errs = append(errs, field.Required(ip.Child("reason"), "a CamelCase reason for the signal, for example ArgoApplicationDegraded"))
		case len(d.Reason) > 63 || !customReasonPattern.MatchString(d.Reason):
			errs = append(errs, field.Invalid(ip.Child("reason"), d.Reason, "must be CamelCase (^[A-Z][A-Za-z0-9]*$), at most 63 characters"))
		case builtInReasons[d.Reason]:
			errs = append(errs, field.Invalid(ip.Child("reason"), d.Reason, errBuiltInReason.Error()))
		default:
			key := gv.Group + "/" + d.Kind + "/" + d.Reason
			if reasons[key] {
				errs = append(errs, field.Invalid(ip.Child("reason"), d.Reason,
					"another detector of the same kind has this reason: each signal has one detector"))
			}
			reasons[key] = true
		}
		for _, l := range []struct {
			name string
			v    itopsv1alpha1.Level
		}{{"impact", d.Impact}, {"urgency", d.Urgency}} {
			if l.v != "" && l.v != itopsv1alpha1.LevelLow && l.v != itopsv1alpha1.LevelMedium && l.v != itopsv1alpha1.LevelHigh {
				errs = append(errs, field.NotSupported(ip.Child(l.name), l.v, levels))
			}
		}
		if d.GracePeriod != nil {
			errs = append(errs, nonNegative(ip.Child("gracePeriod"), *d.GracePeriod)...)
		}
		if _, err := custom.Compile(d.Expressions()); err != nil {
			var fe *custom.FieldError
			if errors.As(err, &fe) {
				errs = append(errs, field.Invalid(ip.Child(fe.Field), expressionOf(d, fe.Field), fe.Err.Error()))
			} else {
				errs = append(errs, field.Invalid(ip.Child("unhealthy"), d.Unhealthy, err.Error()))
			}
		}
	}
	return errs
}

func expressionOf(d Detector, name string) string {
	switch name {
	case "message":
		return d.Message
	case "since":
		return d.Since
	}
	return d.Unhealthy
}

package config

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ServiceScope says which Services the ServiceWithoutEndpoints detector judges.
type ServiceScope string

// Scopes of detection.servicesWithoutEndpoints.
const (
	// ServiceScopeAll judges every Service with a selector (the default).
	ServiceScopeAll ServiceScope = "All"
	// ServiceScopeCovered judges only the Services a ServiceLevel covers: a ServiceLevel of the
	// Service's namespace selects a workload (by its labels) that the Service's pods belong to.
	ServiceScopeCovered ServiceScope = "Covered"
	// ServiceScopeNone turns the detector off.
	ServiceScopeNone ServiceScope = "None"
)

// ServicesWithoutEndpointsPolicy configures the ServiceWithoutEndpoints detector (policy key
// detection.servicesWithoutEndpoints, docs/detectors.md).
type ServicesWithoutEndpointsPolicy struct {
	// Scope is All (default), Covered or None.
	Scope ServiceScope `json:"scope,omitempty"`
	// GracePeriod: a Service may have no ready endpoint this long before its signal fires.
	// Default: detection.workloadGracePeriod plus one minute, so that the incident of the
	// workload whose pods are not ready opens first and the Service's joins it as a symptom.
	GracePeriod metav1.Duration `json:"gracePeriod,omitempty"`
}

// RouteBackendsPolicy configures the RouteBackendMissing detector (policy key
// detection.routeBackends): Ingresses, Gateway API routes and Gateways naming a backend
// Service or a TLS Secret that does not exist.
type RouteBackendsPolicy struct {
	// Enabled turns the detector on (default true). The TLS Secret checks also need list and
	// watch on Secrets, which the installation does not grant by default (docs/detectors.md).
	Enabled *bool `json:"enabled,omitempty"`
	// GracePeriod: a reference may stay missing this long before the signal fires (default
	// 1m: a route and its Service applied together arrive in any order).
	GracePeriod metav1.Duration `json:"gracePeriod,omitempty"`
}

// WebhooksPolicy configures the WebhookUnavailable detector (policy key detection.webhooks):
// admission webhook configurations whose Service does not exist or has no ready endpoint.
type WebhooksPolicy struct {
	// Enabled turns the detector on (default true).
	Enabled *bool `json:"enabled,omitempty"`
	// GracePeriod: a webhook's Service may have no ready endpoint this long before the signal
	// fires (default 1m: the rolling restart of a single-replica webhook).
	GracePeriod metav1.Duration `json:"gracePeriod,omitempty"`
}

// Defaults of the network detectors' keys.
var (
	// DefaultServiceGraceMargin is added to detection.workloadGracePeriod for the default
	// grace period of ServiceWithoutEndpoints.
	DefaultServiceGraceMargin = time.Minute
	DefaultRouteGracePeriod   = time.Minute
	DefaultWebhookGracePeriod = time.Minute
)

// RouteBackendsEnabled reports whether the RouteBackendMissing detector is on.
func (p RouteBackendsPolicy) RouteBackendsEnabled() bool { return p.Enabled == nil || *p.Enabled }

// WebhooksEnabled reports whether the WebhookUnavailable detector is on.
func (p WebhooksPolicy) WebhooksEnabled() bool { return p.Enabled == nil || *p.Enabled }

// applyNetworkDefaults defaults the three network detectors' keys; workloadGrace is the
// defaulted detection.workloadGracePeriod.
func (d *DetectionPolicy) applyNetworkDefaults() {
	if d.ServicesWithoutEndpoints.Scope == "" {
		d.ServicesWithoutEndpoints.Scope = ServiceScopeAll
	}
	defaultDuration(&d.ServicesWithoutEndpoints.GracePeriod, d.WorkloadGracePeriod.Duration+DefaultServiceGraceMargin)
	defaultDuration(&d.RouteBackends.GracePeriod, DefaultRouteGracePeriod)
	defaultDuration(&d.Webhooks.GracePeriod, DefaultWebhookGracePeriod)
}

// validateNetwork checks the three network detectors' keys.
func (d *DetectionPolicy) validateNetwork(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	sp := p.Child("servicesWithoutEndpoints")
	switch d.ServicesWithoutEndpoints.Scope {
	case "", ServiceScopeAll, ServiceScopeCovered, ServiceScopeNone:
	default:
		errs = append(errs, field.NotSupported(sp.Child("scope"), d.ServicesWithoutEndpoints.Scope,
			[]ServiceScope{ServiceScopeAll, ServiceScopeCovered, ServiceScopeNone}))
	}
	errs = append(errs, nonNegative(sp.Child("gracePeriod"), d.ServicesWithoutEndpoints.GracePeriod)...)
	errs = append(errs, nonNegative(p.Child("routeBackends", "gracePeriod"), d.RouteBackends.GracePeriod)...)
	errs = append(errs, nonNegative(p.Child("webhooks", "gracePeriod"), d.Webhooks.GracePeriod)...)
	return errs
}

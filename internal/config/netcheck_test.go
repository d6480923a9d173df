package config

import (
	"testing"
	"time"
)

func TestNetworkDetectorKeys(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"defaults", ``, ""},
		{"covered scope", `detection: {servicesWithoutEndpoints: {scope: Covered, gracePeriod: 2m}}`, ""},
		{"off", `detection: {servicesWithoutEndpoints: {scope: None}, routeBackends: {enabled: false}, webhooks: {enabled: false}}`, ""},
		{"unknown scope", `detection: {servicesWithoutEndpoints: {scope: covered}}`, `detection.servicesWithoutEndpoints.scope: Unsupported value: "covered"`},
		{"negative service grace", `detection: {servicesWithoutEndpoints: {gracePeriod: -1m}}`, "detection.servicesWithoutEndpoints.gracePeriod"},
		{"negative route grace", `detection: {routeBackends: {gracePeriod: -1s}}`, "detection.routeBackends.gracePeriod"},
		{"negative webhook grace", `detection: {webhooks: {gracePeriod: -1s}}`, "detection.webhooks.gracePeriod"},
		{"unknown key", `detection: {webhooks: {failurePolicy: Fail}}`, "unknown field"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			parseAs(t, tc.yaml, tc.want)
		})
	}
}

func TestNetworkDetectorDefaults(t *testing.T) {
	c, err := Parse([]byte(`detection: {workloadGracePeriod: 2m}`))
	if err != nil {
		t.Fatal(err)
	}
	d := c.Detection
	if d.ServicesWithoutEndpoints.Scope != ServiceScopeAll || d.ServicesWithoutEndpoints.GracePeriod.Duration != 3*time.Minute {
		t.Fatalf("services: %+v, want scope All and the workload grace plus 1m", d.ServicesWithoutEndpoints)
	}
	if !d.RouteBackends.RouteBackendsEnabled() || d.RouteBackends.GracePeriod.Duration != time.Minute {
		t.Fatalf("routes: %+v", d.RouteBackends)
	}
	if !d.Webhooks.WebhooksEnabled() || d.Webhooks.GracePeriod.Duration != time.Minute {
		t.Fatalf("webhooks: %+v", d.Webhooks)
	}
	if c := Default(); c.Detection.ServicesWithoutEndpoints.GracePeriod.Duration != DefaultWorkloadGracePeriod+time.Minute {
		t.Fatalf("built-in default: %s", c.Detection.ServicesWithoutEndpoints.GracePeriod.Duration)
	}
}

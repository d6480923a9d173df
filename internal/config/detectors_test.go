package config

import (
	"testing"
	"time"
)

func TestDetectorsPolicy(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		want string // "" means valid
	}{
		{"valid", `
detectors:
- {name: argocd-app-degraded, apiVersion: argoproj.io/v1alpha1, kind: Application, reason: ArgoApplicationDegraded,
   unhealthy: "object.status.health.status == 'Degraded'", impact: Medium, urgency: High, gracePeriod: 2m}`, ""},
		{"invalid expression names the key", `
detectors:
- {name: a, apiVersion: v1, kind: ConfigMap, reason: A, unhealthy: "true"}
- {name: b, apiVersion: argoproj.io/v1alpha1, kind: Application, reason: B, unhealthy: "object.status.health.status =="}`,
			"detectors[1].unhealthy"},
		{"not bool", `
detectors:
- {name: a, apiVersion: v1, kind: ConfigMap, reason: A, unhealthy: "object.metadata.name"}
- {name: b, apiVersion: v1, kind: ConfigMap, reason: B, unhealthy: "'yes'"}`, "detectors[1].unhealthy: Invalid value: \"'yes'\": must evaluate to bool"},
		{"message type", `
detectors:
- {name: a, apiVersion: v1, kind: ConfigMap, reason: A, unhealthy: "true", message: "1"}`, "detectors[0].message"},
		{"reason pattern", `
detectors:
- {name: a, apiVersion: v1, kind: ConfigMap, reason: not-camel, unhealthy: "true"}`, "detectors[0].reason"},
		{"built-in reason", `
detectors:
- {name: a, apiVersion: v1, kind: ConfigMap, reason: CrashLoopBackOff, unhealthy: "true"}`, "is a built-in reason"},
		{"duplicate name", `
detectors:
- {name: a, apiVersion: v1, kind: ConfigMap, reason: A, unhealthy: "true"}
- {name: a, apiVersion: v1, kind: Secret, reason: B, unhealthy: "true"}`, "detectors[1].name: Duplicate"},
		{"same reason same kind", `
detectors:
- {name: a, apiVersion: v1, kind: ConfigMap, reason: A, unhealthy: "true"}
- {name: b, apiVersion: v1, kind: ConfigMap, reason: A, unhealthy: "false"}`, "another detector of the same kind"},
		{"missing kind and apiVersion", `
detectors:
- {name: a, reason: A, unhealthy: "true"}`, "detectors[0].apiVersion: Required"},
		{"bad level", `
detectors:
- {name: a, apiVersion: v1, kind: ConfigMap, reason: A, unhealthy: "true", impact: Huge}`, "detectors[0].impact: Unsupported"},
		{"negative grace", `
detectors:
- {name: a, apiVersion: v1, kind: ConfigMap, reason: A, unhealthy: "true", gracePeriod: -1m}`, "detectors[0].gracePeriod"},
		{"unknown key", `
detectors:
- {name: a, apiVersion: v1, kind: ConfigMap, reason: A, unhealthy: "true", severity: high}`, "unknown field"},
		{"certificate expiry", `
detection: {certificateExpiry: {warnBefore: 720h, criticalBefore: 168h}}`, ""},
		{"critical beyond warn", `
detection: {certificateExpiry: {warnBefore: 24h, criticalBefore: 48h}}`, "detection.certificateExpiry.criticalBefore"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			parseAs(t, tc.yaml, tc.want)
		})
	}
}

func TestDetectorsDefaults(t *testing.T) {
	c, err := Parse([]byte(`
detectors:
- {name: a, apiVersion: v1, kind: ConfigMap, reason: A, unhealthy: "true"}
- {name: b, apiVersion: v1, kind: ConfigMap, reason: B, unhealthy: "true", gracePeriod: 0s}`))
	if err != nil {
		t.Fatal(err)
	}
	d := c.Detectors[0]
	if d.Impact != "Medium" || d.Urgency != "Medium" || d.Grace() != DefaultCustomGracePeriod {
		t.Fatalf("defaults: %+v grace %s", d, d.Grace())
	}
	if c.Detectors[1].Grace() != 0 {
		t.Fatalf("explicit 0s grace: %s", c.Detectors[1].Grace())
	}
	ce := c.Detection.CertificateExpiry
	if !ce.CertificateExpiryEnabled() || ce.WarnBefore.Duration != 30*24*time.Hour || ce.CriticalBefore.Duration != 7*24*time.Hour {
		t.Fatalf("certificate expiry defaults: %+v", ce)
	}
}

package config

import (
	"strings"
	"testing"
	"time"
)

func TestPrometheusPolicy(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		wantErr    string // a substring of the error; empty: valid
	}{
		{name: "absent: defaults", yaml: "{}"},
		{name: "url only", yaml: "prometheus: {url: http://prometheus.monitoring.svc:9090}"},
		{name: "all keys", yaml: "prometheus: {url: https://p:9090/prom, bearerTokenSecretRef: {name: p, key: token}, caSecretRef: {name: p, key: ca.crt}, timeout: 5s, interval: 1m}"},
		{name: "not a URL", yaml: "prometheus: {url: prometheus:9090}", wantErr: "prometheus.url"},
		{name: "credentials in the URL", yaml: "prometheus: {url: 'http://u:p@prometheus:9090'}", wantErr: "must not carry credentials"},
		{name: "token without url", yaml: "prometheus: {bearerTokenSecretRef: {name: p, key: token}}", wantErr: "prometheus.url: Required"},
		{name: "secret ref without key", yaml: "prometheus: {url: http://p:9090, bearerTokenSecretRef: {name: p}}", wantErr: "prometheus.bearerTokenSecretRef.key"},
		{name: "ca ref without name", yaml: "prometheus: {url: http://p:9090, caSecretRef: {key: ca}}", wantErr: "prometheus.caSecretRef.name"},
		{name: "timeout too short", yaml: "prometheus: {url: http://p:9090, timeout: 500ms}", wantErr: "prometheus.timeout"},
		{name: "timeout too long", yaml: "prometheus: {url: http://p:9090, timeout: 3m}", wantErr: "prometheus.timeout"},
		{name: "interval too short", yaml: "prometheus: {url: http://p:9090, interval: 5s}", wantErr: "prometheus.interval"},
		{name: "interval too long", yaml: "prometheus: {url: http://p:9090, interval: 2h}", wantErr: "prometheus.interval"},
		{name: "unknown key", yaml: "prometheus: {url: http://p:9090, token: x}", wantErr: "token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.yaml))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Parse: got %v, want an error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if c.Prometheus.Timeout.Duration == 0 || c.Prometheus.Interval.Duration == 0 {
				t.Fatalf("defaults not applied: %+v", c.Prometheus)
			}
		})
	}
	c := Default()
	if c.Prometheus.Timeout.Duration != 10*time.Second || c.Prometheus.Interval.Duration != 30*time.Second {
		t.Fatalf("defaults: %+v", c.Prometheus)
	}
}

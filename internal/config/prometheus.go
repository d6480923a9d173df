package config

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// PrometheusPolicy names the Prometheus the operator queries for the SLIs of ServiceLevels
// of type PrometheusRatio and PrometheusLatency (docs/servicelevels.md, "SLIs from
// Prometheus"). Only the administrator sets it: a ServiceLevel never names an endpoint or
// credentials.
//
//	prometheus:
//	  url: https://prometheus.monitoring.svc:9090      # the HTTP API's base URL (/api/v1 is appended)
//	  bearerTokenSecretRef: {name: itops-prometheus, key: token}   # optional: Authorization: Bearer <token>
//	  caSecretRef: {name: itops-prometheus, key: ca.crt}           # optional: PEM CAs for https
//	  timeout: 10s                                      # per query; 1s to 2m
//	  interval: 30s                                     # how often each SLI is evaluated; 10s to 1h
//
// The Secrets are in the operator namespace and read directly from the API server when the
// SLIs are evaluated (never cached cluster-wide), as the notification receivers' Secrets are.
type PrometheusPolicy struct {
	// URL is the base URL of Prometheus' HTTP API (http or https, no credentials), for
	// example http://prometheus-operated.monitoring.svc:9090; empty: no Prometheus, and
	// Prometheus SLIs report PrometheusUnavailable.
	URL string `json:"url,omitempty"`
	// BearerTokenSecretRef names the Secret and key holding the bearer token sent with every
	// query (a ServiceAccount token for a kube-rbac-proxy, a Grafana Cloud or Thanos key).
	BearerTokenSecretRef *SecretKeyRef `json:"bearerTokenSecretRef,omitempty"`
	// CASecretRef names the Secret and key holding PEM CA certificates that verify an https
	// URL's server certificate (default: the system roots).
	CASecretRef *SecretKeyRef `json:"caSecretRef,omitempty"`
	// Timeout bounds one query (default 10s; between 1s and 2m).
	Timeout metav1.Duration `json:"timeout,omitempty"`
	// Interval is how often the SLI of every Prometheus ServiceLevel is evaluated (default
	// 30s; between 10s and 1h). Each evaluation costs 2 + 4 x len(burnRateAlerts) instant
	// queries per ServiceLevel (good and total over the window and each alert window).
	Interval metav1.Duration `json:"interval,omitempty"`
}

// Defaults and bounds of the prometheus key.
const (
	DefaultPrometheusTimeout  = 10 * time.Second
	MinPrometheusTimeout      = time.Second
	MaxPrometheusTimeout      = 2 * time.Minute
	DefaultPrometheusInterval = 30 * time.Second
	MinPrometheusInterval     = 10 * time.Second
	MaxPrometheusInterval     = time.Hour
)

func (p *PrometheusPolicy) applyDefaults() {
	defaultDuration(&p.Timeout, DefaultPrometheusTimeout)
	defaultDuration(&p.Interval, DefaultPrometheusInterval)
}

func (p *PrometheusPolicy) validate(path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if p.URL != "" {
		errs = append(errs, validURL(path.Child("url"), p.URL)...)
	} else if p.BearerTokenSecretRef != nil || p.CASecretRef != nil {
		errs = append(errs, field.Required(path.Child("url"), "the Prometheus the credentials are for"))
	}
	if p.BearerTokenSecretRef != nil {
		errs = append(errs, validSecretRef(path.Child("bearerTokenSecretRef"), *p.BearerTokenSecretRef)...)
	}
	if p.CASecretRef != nil {
		errs = append(errs, validSecretRef(path.Child("caSecretRef"), *p.CASecretRef)...)
	}
	errs = append(errs, durationBetween(path.Child("timeout"), p.Timeout, MinPrometheusTimeout, MaxPrometheusTimeout)...)
	errs = append(errs, durationBetween(path.Child("interval"), p.Interval, MinPrometheusInterval, MaxPrometheusInterval)...)
	return errs
}

// within checks a duration that is 0 (the default) or in [lo, hi].
func durationBetween(p *field.Path, d metav1.Duration, lo, hi time.Duration) field.ErrorList {
	if d.Duration == 0 || (d.Duration >= lo && d.Duration <= hi) {
		return nil
	}
	return field.ErrorList{field.Invalid(p, d.Duration.String(), fmt.Sprintf("must be between %s and %s", lo, hi))}
}

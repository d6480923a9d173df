package config

import (
	"strings"
	"testing"
	"time"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

func TestAlertmanagerPolicy(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		wantErr []string
		check   func(t *testing.T, p AlertmanagerPolicy)
	}{
		{
			name: "absent: disabled, with the built-in labels and severities",
			doc:  "",
			check: func(t *testing.T, p AlertmanagerPolicy) {
				if p.Enabled || p.MaxBodyBytes != 1<<20 || p.StaleAfter.Duration != 25*time.Hour {
					t.Errorf("enabled=%v maxBodyBytes=%d staleAfter=%s", p.Enabled, p.MaxBodyBytes, p.StaleAfter.Duration)
				}
				if strings.Join(p.Labels.Deployment, ",") != "deployment" || strings.Join(p.Labels.Job, ",") != "job_name" {
					t.Errorf("labels %+v", p.Labels)
				}
				if len(p.Severities) != len(DefaultAlertSeverities) {
					t.Errorf("severities %+v", p.Severities)
				}
			},
		},
		{
			name: "the contract example",
			doc:  "alertmanager:\n  enabled: true\n  tokenSecretRef: {name: itops-alertmanager, key: token}\n",
			check: func(t *testing.T, p AlertmanagerPolicy) {
				if !p.Enabled || p.TokenSecretRef.Name != "itops-alertmanager" || p.TokenSecretRef.Key != "token" {
					t.Errorf("%+v", p)
				}
			},
		},
		{
			name: "a severity overrides its built-in entry, the others stay; an empty label list turns a mapping off",
			doc: "alertmanager:\n  severities: [{severity: Warning, impact: High, urgency: Low}]\n" +
				"  labels: {service: [], pod: [pod, exported_pod]}\n",
			check: func(t *testing.T, p AlertmanagerPolicy) {
				n := 0
				for _, s := range p.Severities {
					if strings.EqualFold(s.Severity, "warning") {
						n++
						if s.Impact != itopsv1alpha1.LevelHigh || s.Urgency != itopsv1alpha1.LevelLow {
							t.Errorf("warning = %+v", s)
						}
					}
				}
				if n != 1 || len(p.Severities) != len(DefaultAlertSeverities) {
					t.Errorf("severities %+v", p.Severities)
				}
				if p.Labels.Service == nil || len(p.Labels.Service) != 0 || strings.Join(p.Labels.Pod, ",") != "pod,exported_pod" {
					t.Errorf("labels %+v", p.Labels)
				}
			},
		},
		{
			name:    "enabled without authentication",
			doc:     "alertmanager: {enabled: true}\n",
			wantErr: []string{"alertmanager.tokenSecretRef: Required value: the Alertmanager endpoint needs authentication"},
		},
		{
			name: "a bad Secret reference, CA, limit, label and severity",
			doc: "alertmanager:\n  enabled: true\n  tokenSecretRef: {name: Bad_Name, key: ''}\n  clientCA: nope\n" +
				"  maxBodyBytes: 99999999999\n  staleAfter: 1m\n  labels: {pod: ['0pod']}\n" +
				"  severities: [{severity: page, impact: Huge, urgency: High}, {severity: PAGE, impact: High, urgency: High}, {severity: none, ignore: true, impact: Low}]\n",
			wantErr: []string{
				"alertmanager.tokenSecretRef.name: Invalid value: \"Bad_Name\"",
				"alertmanager.tokenSecretRef.key: Required value",
				"alertmanager.clientCA: Invalid value: \"<PEM>\": holds no PEM-encoded certificate",
				"alertmanager.maxBodyBytes: Invalid value: 99999999999: must be between 1 and 16777216",
				"alertmanager.staleAfter: Invalid value: \"1m0s\": must be between 10m0s and 168h0m0s",
				"alertmanager.labels.pod[0]: Invalid value: \"0pod\": must be a Prometheus label name",
				"alertmanager.severities[0].impact: Unsupported value: \"Huge\"",
				"alertmanager.severities[1].severity: Duplicate value: \"PAGE\"",
				"alertmanager.severities[2].impact: Forbidden: an ignored severity has no impact or urgency",
			},
		},
		{
			name: "staleAfter set: kept",
			doc:  "alertmanager: {staleAfter: 3h}\n",
			check: func(t *testing.T, p AlertmanagerPolicy) {
				if p.StaleAfter.Duration != 3*time.Hour {
					t.Errorf("staleAfter %s", p.StaleAfter.Duration)
				}
			},
		},
		{
			name:    "staleAfter above a week",
			doc:     "alertmanager: {staleAfter: 200h}\n",
			wantErr: []string{"alertmanager.staleAfter: Invalid value: \"200h0m0s\""},
		},
		{
			// The token Secret reference has the receivers' {name, key} shape: a
			// corev1.SecretKeySelector's optional is not a key of it.
			name:    "tokenSecretRef.optional is not a key",
			doc:     "alertmanager:\n  enabled: true\n  tokenSecretRef: {name: t, key: token, optional: true}\n",
			wantErr: []string{`unknown field "optional"`},
		},
		{
			name:    "unknown keys are refused",
			doc:     "alertmanager: {enable: true}\n",
			wantErr: []string{`unknown field "enable"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.doc))
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("want errors %q, got none", tt.wantErr)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q\n does not contain %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c.Alertmanager)
		})
	}
}

package config

import (
	"strings"
	"testing"
)

func TestProblemsMatchesParse(t *testing.T) {
	cases := []struct {
		name   string
		policy string
		want   []string // each in one problem; none: valid
	}{
		{"empty", "", nil},
		{"valid notifications", "notifications:\n  receivers: [{name: a, webhook: {url: 'https://h'}}]\n  routes: [{receivers: [a], repeatInterval: 1h}]\n", nil},
		{"unknown key", "grafana: {url: x}\n", []string{`unknown field "grafana"`}},
		{"every validation problem with its path", "notifications:\n  receivers: [{name: Sre_Hook, timeout: 10m, webhook: {url: 'https://h'}}]\n  routes: [{receivers: [nope], repeatInterval: 10s}]\n",
			[]string{"notifications.receivers[0].name", "notifications.receivers[0].timeout", `notifications.routes[0].receivers[0]: Not found: "nope"`, "notifications.routes[0].repeatInterval"}},
		{"alertmanager without authentication", "alertmanager: {enabled: true}\n", []string{"alertmanager.tokenSecretRef: Required value"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			problems := Problems([]byte(c.policy))
			_, err := Parse([]byte(c.policy))
			if (len(problems) == 0) != (err == nil) {
				t.Fatalf("Problems %q disagrees with Parse: %v", problems, err)
			}
			if len(problems) != len(c.want) && (len(c.want) != 1 || len(problems) == 0) {
				t.Errorf("problems %q, want %d", problems, len(c.want))
			}
			for _, w := range c.want {
				if !strings.Contains(strings.Join(problems, "\n"), w) {
					t.Errorf("problems %q lack %q", problems, w)
				}
			}
		})
	}
}

func TestPolicyFromManifests(t *testing.T) {
	stream := "---\n# Source: x/templates/sa.yaml\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: x}\n" +
		"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: other}\ndata: {a: b}\n" +
		"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x-policy}\ndata:\n  policy.yaml: |\n    incidents: {closeAfter: 1h}\n"
	got, ok, err := PolicyFromManifests([]byte(stream))
	if err != nil || !ok || string(got) != "incidents: {closeAfter: 1h}\n" {
		t.Errorf("from manifests: %q %v %v", got, ok, err)
	}
	plain := []byte("incidents: {closeAfter: 1h}\n")
	got, ok, err = PolicyFromManifests(plain)
	if err != nil || ok || string(got) != string(plain) {
		t.Errorf("a plain policy file: %q %v %v", got, ok, err)
	}
}

package install

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/itops-dev/itops-operator/internal/certs"
	"github.com/itops-dev/itops-operator/internal/config"
)

// The policy is checked in two layers, so that a policy the operator refuses never reaches its
// pods (they would crash-loop): values.schema.json at `helm template`/install/upgrade for what a
// JSON Schema can say, and the pre-install/pre-upgrade hook running `itops-operator
// --check-config` (config.Problems, the operator's own validation) for the rest: references
// between entries, duration ranges the schema's patterns do not catch, certificates.

const (
	layerSchema   = "schema"   // refused by `helm template` (values.schema.json)
	layerOperator = "operator" // renders; refused by --check-config (the pre-install hook)
)

// renderPolicy renders the chart's policy ConfigMap with args and returns the policy file in it.
func renderPolicy(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := helmTemplate(t, append(args, "--show-only", "templates/policy.yaml")...)
	if err != nil {
		return out, err
	}
	policy, ok, perr := config.PolicyFromManifests([]byte(out))
	if perr != nil || !ok {
		t.Fatalf("no policy ConfigMap in the rendering (%v):\n%s", perr, out)
	}
	return string(policy), nil
}

func TestBadPoliciesAreRefusedBeforeTheOperatorStarts(t *testing.T) {
	recv := `{"name":"sre-hook","webhook":{"url":"https://hooks.example/itops"}}`
	cases := []struct {
		name  string
		args  []string
		layer string
		want  string // in the schema error, or in one of --check-config's problems
	}{
		{"receiver name not lower-case", []string{"--set-json", `policy.notifications={"receivers":[{"name":"Sre_Hook","webhook":{"url":"https://h"}}]}`},
			layerSchema, "/policy/notifications/receivers/0/name"},
		{"receiver timeout 10m (at most 2m)", []string{"--set-json", `policy.notifications={"receivers":[{"name":"a","timeout":"10m","webhook":{"url":"https://h"}}]}`},
			layerSchema, "/policy/notifications/receivers/0/timeout': value must be 'a Go duration from 0 (the default, 10s) to 2m'"},
		{"receiver timeout 1h", []string{"--set-json", `policy.notifications={"receivers":[{"name":"a","timeout":"1h","webhook":{"url":"https://h"}}]}`},
			layerSchema, "/policy/notifications/receivers/0/timeout"},
		{"receiver timeout 120.5s (just over 2m)", []string{"--set-json", `policy.notifications={"receivers":[{"name":"a","timeout":"120.5s","webhook":{"url":"https://h"}}]}`},
			layerOperator, "notifications.receivers[0].timeout"},
		{"repeatInterval 10s (at least 1m)", []string{"--set-json", `policy.notifications={"receivers":[` + recv + `],"routes":[{"receivers":["sre-hook"],"repeatInterval":"10s"}]}`},
			layerSchema, "/policy/notifications/routes/0/repeatInterval': value must be 'a Go duration of 0 (never) or at least 1m'"},
		{"repeatInterval 0.5m", []string{"--set-json", `policy.notifications={"receivers":[` + recv + `],"routes":[{"receivers":["sre-hook"],"repeatInterval":"0.5m"}]}`},
			layerOperator, "notifications.routes[0].repeatInterval"},
		{"route naming an unknown receiver", []string{"--set-json", `policy.notifications={"receivers":[` + recv + `],"routes":[{"receivers":["sre-hok"]}]}`},
			layerOperator, `notifications.routes[0].receivers[0]: Not found: "sre-hok"`},
		{"route escalating to an unknown route or receiver", []string{"--set-json", `policy.notifications={"receivers":[` + recv + `],"routes":[{"receivers":["sre-hook"],"escalation":"managers"}]}`},
			layerOperator, `notifications.routes[0].escalation: Not found: "managers"`},
		{"two receivers of one name", []string{"--set-json", `policy.notifications={"receivers":[` + recv + `,` + recv + `]}`},
			layerOperator, `notifications.receivers[1].name: Duplicate value: "sre-hook"`},
		{"receiver without a kind", []string{"--set-json", `policy.notifications={"receivers":[{"name":"a"}]}`},
			layerSchema, "missing property 'webhook'"},
		{"receiver with two kinds", []string{"--set-json", `policy.notifications={"receivers":[{"name":"a","webhook":{"url":"https://h"},"slack":{"webhookURLSecretRef":{"name":"s","key":"k"}}}]}`},
			layerSchema, "'oneOf' failed, subschemas 0, 1 matched"},
		{"webhook URL with credentials", []string{"--set-json", `policy.notifications={"receivers":[{"name":"a","webhook":{"url":"https://user:pw@h"}}]}`},
			layerSchema, "/policy/notifications/receivers/0/webhook/url"},
		{"SMTP username without a password", []string{"--set-json", `policy.notifications={"receivers":[{"name":"a","email":{"smtp":{"host":"smtp","username":"itops"},"from":"a@b","to":["c@d"]}}]}`},
			layerSchema, "missing property 'passwordSecretRef'"},
		{"rate limit above 60000 a minute", []string{"--set-json", `policy.notifications={"receivers":[{"name":"a","webhook":{"url":"https://h"},"rateLimit":{"perMinute":100000}}]}`},
			layerSchema, "/policy/notifications/receivers/0/rateLimit/perMinute"},
		{"alertmanager enabled without authentication", []string{"--set", "policy.alertmanager.enabled=true"},
			layerSchema, "missing property 'tokenSecretRef'"},
		{"alertmanager token optional", []string{"--set-json", `policy.alertmanager={"enabled":true,"tokenSecretRef":{"name":"am","key":"token","optional":true}}`},
			layerSchema, "additional properties 'optional' not allowed"},
		{"alertmanager token Secret name not a name", []string{"--set-json", `policy.alertmanager={"enabled":true,"tokenSecretRef":{"name":"AM_Token","key":"token"}}`},
			layerSchema, "/policy/alertmanager/tokenSecretRef/name"},
		{"severity without urgency", []string{"--set-json", `policy.alertmanager={"severities":[{"severity":"page","impact":"High"}]}`},
			layerSchema, "missing property 'urgency'"},
		{"ignored severity with an impact", []string{"--set-json", `policy.alertmanager={"severities":[{"severity":"none","ignore":true,"impact":"Low"}]}`},
			layerSchema, "/policy/alertmanager/severities/0"},
		{"clientCA not PEM", []string{"--set-json", `policy.alertmanager={"enabled":true,"clientCA":"my CA"}`},
			layerSchema, "/policy/alertmanager/clientCA"},
		{"clientCA PEM markers around no certificate", []string{"--set-json", `policy.alertmanager={"enabled":true,"clientCA":"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"}`},
			layerOperator, "alertmanager.clientCA: Invalid value"},
		{"alert label name not a Prometheus label", []string{"--set-json", `policy.alertmanager={"labels":{"namespace":["kubernetes-namespace"]}}`},
			layerSchema, "/policy/alertmanager/labels/namespace/0"},
		{"maxBodyBytes above 16 MiB", []string{"--set", "policy.alertmanager.maxBodyBytes=1073741824"},
			layerSchema, "/policy/alertmanager/maxBodyBytes"},
		{"policy.grafana (no such key in the operator's policy)", []string{"--set", "policy.grafana.url=http://grafana:3000"},
			layerSchema, "additional properties 'grafana' not allowed"},
		{"prometheus URL with credentials in it", []string{"--set", "policy.prometheus.url=http://user:secret@prometheus:9090"},
			layerSchema, "/policy/prometheus/url"},
		{"empty approver group", []string{"--set-json", `policy.changePolicies=[{"namespaceSelector":{},"approverGroups":[""]}]`},
			layerSchema, "/policy/changePolicies/0/approverGroups/0"},
		{"duplicate approver group", []string{"--set-json", `policy.changePolicies=[{"namespaceSelector":{},"approverGroups":["sre","sre"]}]`},
			layerSchema, "/policy/changePolicies/0/approverGroups"},
		{"a group both approving and excluded for GitOps", []string{"--set-json", `policy.changePolicies=[{"namespaceSelector":{},"gitops":{"approverGroups":["cab"],"excludedApproverGroups":["cab"]}}]`},
			layerOperator, "changePolicies[0].gitops.excludedApproverGroups[0]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			policy, err := renderPolicy(t, c.args...)
			switch c.layer {
			case layerSchema:
				if err == nil {
					t.Fatalf("rendered; want values.schema.json to refuse it with %q; the policy:\n%s", c.want, policy)
				}
				if !strings.Contains(policy, "values don't meet the specifications of the schema") || !strings.Contains(policy, c.want) {
					t.Errorf("want a schema error with %q, got:\n%s", c.want, policy)
				}
			case layerOperator:
				if err != nil {
					t.Fatalf("refused by the schema; the case expects the operator's check (update the case if the schema now catches it):\n%s", policy)
				}
				problems := config.Problems([]byte(policy))
				if !containsAny(problems, c.want) {
					t.Errorf("--check-config problems %q lack %q", problems, c.want)
				}
				if _, err := config.Parse([]byte(policy)); err == nil {
					t.Errorf("config.Parse (start-up) accepts what --check-config refuses")
				}
			}
		})
	}
}

// validPolicies are policies the operator accepts: the schema must accept each too (it is never
// stricter than the operator), and the operator must accept what the chart renders.
func validPolicies(t *testing.T) map[string][]string {
	t.Helper()
	ca, err := certs.Issue(nil, []string{"alertmanager"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	caJSON, _ := json.Marshal(string(ca.CACert))
	return map[string][]string{
		"the chart's default": nil,
		"every receiver kind and route option": {"--set-json", `policy.notifications={
			"receivers":[
			 {"name":"sre-hook","webhook":{"url":"https://hooks.example/itops?team=sre","secretRef":{"name":"itops-hmac","key":"key"}},"timeout":"2m","maxAttempts":0},
			 {"name":"slack.sre","slack":{"webhookURLSecretRef":{"name":"itops-slack","key":"url"},"channel":"#sre"},"timeout":"1m30s","rateLimit":{"perMinute":60000,"burst":1000}},
			 {"name":"pager_eu","pagerduty":{"routingKeySecretRef":{"name":"itops-pd","key":"routingKey"},"url":"https://events.eu.pagerduty.com","changeEvents":true},"timeout":"90s","maxAttempts":100},
			 {"name":"mail","email":{"smtp":{"host":"smtp.example","port":0,"username":"itops","passwordSecretRef":{"name":"itops-smtp","key":"password"}},"from":"itops@example","to":["sre@example"]},"timeout":"500ms"},
			 {"name":"mail2","email":{"smtp":{"host":"smtp.example","port":25},"from":"itops@example","to":["sre@example"]},"timeout":"0"},
			 {"name":"fractional","webhook":{"url":"http://10.0.0.1:8080"},"timeout":"1.5m"},
			 {"name":"zero-min","webhook":{"url":"http://h"},"timeout":"2m0s"}],
			"routes":[
			 {"name":"p1","match":{"namespaceSelector":{"matchLabels":{"tier":"prod"}},"services":["checkout"],"teams":["payments"],"priorities":["P1","P2"],"reasons":["CrashLoopBackOff"],"sources":["HealthCheck","Alertmanager"]},"receivers":["pager_eu","slack.sre"],"repeatInterval":"30m","escalation":"managers"},
			 {"name":"managers","receivers":["mail"],"repeatInterval":"1h30m"},
			 {"receivers":["sre-hook"],"repeatInterval":"0","escalation":"mail2"},
			 {"receivers":["fractional"],"repeatInterval":"60s"},
			 {"receivers":["zero-min"],"repeatInterval":"1m"},
			 {"receivers":["mail2"],"repeatInterval":"4h"}]}`},
		"alertmanager with a token": {"--set-json", `policy.alertmanager={"enabled":true,"tokenSecretRef":{"name":"itops-alertmanager","key":"token"}}`},
		"alertmanager with mTLS and every option": {"--set-json", `policy.alertmanager={"enabled":true,"clientCA":` + string(caJSON) + `,"maxBodyBytes":16777216,
			"labels":{"namespace":["exported_namespace","namespace"],"pod":[],"severity":["priority"]},
			"severities":[{"severity":"critical","impact":"High","urgency":"High"},{"severity":"page","impact":"Medium","urgency":"High"},{"severity":"none","ignore":true},{"severity":"debug","ignore":true}]}`},
		"alertmanager off, with a token and a default body limit": {"--set-json", `policy.alertmanager={"enabled":false,"tokenSecretRef":{"name":"a.b","key":"tok.en_1"},"maxBodyBytes":0}`},
		"change policies with GitOps and standard changes": {"--set-json", `policy.changePolicies=[{"namespaceSelector":{"matchExpressions":[{"key":"tier","operator":"In","values":["prod"]}]},
			"approverGroups":["sre","cab"],"minApprovals":{"Low":0,"Medium":1,"High":3},"emergencyGroups":[],"approvalLifetime":"0",
			"standardChanges":[{"name":"image-bumps","targets":[{"kind":"Deployment","name":"*"}],"allow":"ImageWithinRepository"}],
			"gitops":{"appliers":["ci"],"minApprovals":2,"requireRequester":true,"approverGroups":["cab"],"excludedApproverGroups":["devs"]},
			"trustedControllers":["system:serviceaccount:argo-rollouts:argo-rollouts"]},{"namespaceSelector":{}}]`},
	}
}

func TestValidPoliciesPassBothLayers(t *testing.T) {
	for name, args := range validPolicies(t) {
		t.Run(name, func(t *testing.T) {
			policy, err := renderPolicy(t, args...)
			if err != nil {
				t.Fatalf("values.schema.json refuses a policy the operator accepts (the schema must never be stricter):\n%s", policy)
			}
			if problems := config.Problems([]byte(policy)); len(problems) > 0 {
				t.Errorf("--check-config refuses the rendered policy: %q\n%s", problems, policy)
			}
			if _, err := config.Parse([]byte(policy)); err != nil {
				t.Errorf("config.Parse (start-up) refuses the rendered policy: %v", err)
			}
		})
	}
}

// TestSchemaDurationBoundsNeverStricterThanOperator sweeps many duration spellings through the
// schema's patterns for a receiver's timeout (0 to 2m) and a route's repeatInterval (0 or at
// least 1m), evaluated with Go's regexp as Helm's validator does, and through the operator's
// validation: whatever the operator accepts, the schema accepts.
func TestSchemaDurationBoundsNeverStricterThanOperator(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(chartDir(), "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatal(err)
	}
	dig := func(path ...string) map[string]any {
		n := schema
		for _, p := range path {
			n = n[p].(map[string]any)
		}
		return n
	}
	notif := []string{"properties", "policy", "properties", "notifications", "properties"}
	fields := map[string]map[string]any{
		"timeout":        dig(append(notif, "receivers", "items", "properties", "timeout")...),
		"repeatInterval": dig(append(notif, "routes", "items", "properties", "repeatInterval")...),
	}
	accepts := func(node map[string]any, v string) bool {
		if !regexp.MustCompile(node["pattern"].(string)).MatchString(v) {
			return false
		}
		// if: surely out of range, then: a const naming the range (never the value itself).
		if out, ok := node["if"].(map[string]any); ok && regexp.MustCompile(out["pattern"].(string)).MatchString(v) {
			return false
		}
		return true
	}
	values := make([]string, 0, 256)
	for _, unit := range []string{"ns", "us", "µs", "ms", "s", "m", "h"} {
		for _, n := range []string{"0", "1", "2", "3", "9", "10", "30", "59", "60", "61", "90", "119", "120", "121", "125", "150", "180", "999",
			"1000", "59999", "60000", "120000", "0.5", "1.5", "2.0", "2.5", "0.0001", "120.5", "1.99", "00", "02", "0120"} {
			values = append(values, n+unit)
		}
	}
	values = append(values, "0", "1m0s", "1m30s", "1m59s", "1m60s", "1m61s", "2m0s", "2m1s", "2m0.5s", "2m0.000s", "1m59.999s",
		"0h2m", "0h0m90s", "0m120s", "0m121s", "1h30m", "0h1m", "30s500ms", "59s999ms", "1m1ns", "2m1ns", "0h0m0s")
	caught := map[string]int{}
	for field, node := range fields {
		for _, v := range values {
			policy := "notifications:\n  receivers:\n  - {name: a, webhook: {url: 'https://h'}, timeout: '0'}\n  routes:\n  - {receivers: [a]}\n"
			if field == "timeout" {
				policy = strings.Replace(policy, "timeout: '0'", "timeout: '"+v+"'", 1)
			} else {
				policy = strings.Replace(policy, "{receivers: [a]}", "{receivers: [a], repeatInterval: '"+v+"'}", 1)
			}
			operatorOK := len(config.Problems([]byte(policy))) == 0
			schemaOK := accepts(node, v)
			if operatorOK && !schemaOK {
				t.Errorf("%s %q: the operator accepts it, values.schema.json refuses it", field, v)
			}
			if !operatorOK && !schemaOK {
				caught[field]++
			}
		}
	}
	// The schema catches most out-of-range values at `helm template` already.
	for field, n := range caught {
		t.Logf("%s: %d out-of-range spellings refused by the schema itself", field, n)
	}
	if caught["timeout"] < 50 || caught["repeatInterval"] < 20 {
		t.Errorf("the schema's duration bounds catch too little: %v", caught)
	}
}

// TestCheckConfigBinary: the binary's --check-config (what the chart's pre-install/pre-upgrade
// hook runs) refuses a rendered policy the schema lets through with the operator's own errors
// and field paths (exit 1), accepts a valid one (exit 0), and reads `helm template` output on
// standard input as docs/install.md shows.
func TestCheckConfigBinary(t *testing.T) {
	bin := operatorBinary()
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s: %v (run `make build`, or `make test-install`)", bin, err)
	}
	hook, err := helmTemplate(t, "--set-json", `policy.notifications={"receivers":[{"name":"sre-hook","webhook":{"url":"https://h"},"timeout":"120.5s"}],"routes":[{"receivers":["sre-hok"]}]}`,
		"--show-only", "templates/policy-check.yaml")
	if err != nil {
		t.Fatal(hook)
	}
	if !strings.Contains(hook, "helm.sh/hook: pre-install,pre-upgrade") || !strings.Contains(hook, "- --check-config=/etc/itops/policy.yaml") {
		t.Errorf("the policy check hook is not a pre-install,pre-upgrade Job running --check-config:\n%s", hook)
	}
	file := filepath.Join(t.TempDir(), "hook.yaml")
	if err := os.WriteFile(file, []byte(hook), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--check-config="+file)
	out, err := cmd.CombinedOutput()
	if code := exitCode(err); code != 1 {
		t.Errorf("--check-config on a bad policy: exit %d, want 1:\n%s", code, out)
	}
	for _, want := range []string{"2 problem(s)", `notifications.receivers[0].timeout: Invalid value: "2m0.5s"`, `notifications.routes[0].receivers[0]: Not found: "sre-hok"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("--check-config output lacks %q:\n%s", want, out)
		}
	}

	whole, err := helmTemplate(t, "--set-json", `policy.alertmanager={"enabled":true,"tokenSecretRef":{"name":"itops-alertmanager","key":"token"}}`)
	if err != nil {
		t.Fatal(whole)
	}
	cmd = exec.Command(bin, "--check-config=-")
	cmd.Stdin = strings.NewReader(whole)
	out, err = cmd.CombinedOutput()
	if code := exitCode(err); code != 0 || !strings.Contains(string(out), "the policy is valid") {
		t.Errorf("helm template | itops-operator --check-config=-: exit %d:\n%s", code, out)
	}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

func containsAny(list []string, want string) bool {
	for _, s := range list {
		if strings.Contains(s, want) {
			return true
		}
	}
	return false
}

package install

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/itops-dev/itops-operator/internal/config"
	"github.com/itops-dev/itops-operator/test/testenv"
)

func helmTemplate(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return run(t, []string{"HELM_CACHE_HOME=" + t.TempDir(), "HELM_CONFIG_HOME=" + t.TempDir(), "HELM_DATA_HOME=" + t.TempDir()},
		helmBinary(), append([]string{"template", release, chartDir(), "-n", namespace}, args...)...)
}

// TestValuesSchemaRejectsBadValues: values.schema.json refuses at `helm template` (and so at
// install and upgrade) what used to render and then break the install.
func TestValuesSchemaRejectsBadValues(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"replicas not a number (the PDB silently disappeared)", []string{"--set", "replicas=two"}, "/replicas': got string, want integer"},
		{"zero replicas", []string{"--set", "replicas=0"}, "/replicas"},
		{"unknown top-level key", []string{"--set", "replica=2"}, "additional properties 'replica' not allowed"},
		{"policy key typo (the operator crash-looped)", []string{"--set", "policy.changePolcies[0].approverGroups[0]=x"}, "additional properties 'changePolcies' not allowed"},
		{"policy entry key typo", []string{"--set-json", `policy.changePolicies=[{"namespaceSelector":{},"aproverGroups":["x"]}]`}, "additional properties 'aproverGroups' not allowed"},
		{"list --set replaces the whole entry", []string{"--set", "policy.changePolicies[0].approverGroups[0]=sre"}, "missing property 'namespaceSelector'"},
		{"minApprovals not a number", []string{"--set", "policy.changePolicies[0].namespaceSelector.matchLabels.a=b", "--set", "policy.changePolicies[0].minApprovals.High=two"}, "/minApprovals/High"},
		{"unknown risk level", []string{"--set-json", `policy.changePolicies=[{"namespaceSelector":{},"minApprovals":{"Critical":3}}]`}, "'Critical' not allowed"},
		{"duration not a duration", []string{"--set", "policy.incidents.closeAfter=tomorrow"}, "/policy/incidents/closeAfter"},
		{"resolveAfter a number", []string{"--set", "resolveAfter=5"}, "/resolveAfter': got number, want string"},
		{"webhook timeout above the API server's 30s", []string{"--set", "webhook.timeoutSeconds=60"}, "/webhook/timeoutSeconds"},
		{"unknown certificate source", []string{"--set", "webhook.certificate.source=vault"}, "/webhook/certificate/source"},
		{"secret source without a Secret", []string{"--set", "webhook.certificate.source=secret"}, "secretName"},
		{"digest not a digest", []string{"--set", "image.digest=latest"}, "/image/digest"},
		{"wrong type for crds.keep", []string{"--set", "crds.keep=maybe"}, "/crds/keep': got string, want boolean"},
		{"log level", []string{"--set", "logLevel=verbose"}, "/logLevel"},
		{"detector without an expression", []string{"--set-json", `policy.detectors=[{"name":"argo","apiVersion":"argoproj.io/v1alpha1","kind":"Application","reason":"Degraded"}]`}, "missing property 'unhealthy'"},
		{"detector reason not CamelCase", []string{"--set-json", `policy.detectors=[{"name":"argo","apiVersion":"argoproj.io/v1alpha1","kind":"Application","reason":"degraded","unhealthy":"true"}]`}, "/policy/detectors/0/reason"},
		{"certificate expiry key typo", []string{"--set", "policy.detection.certificateExpiry.warnBfore=720h"}, "additional properties 'warnBfore' not allowed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := helmTemplate(t, c.args...)
			if err == nil {
				t.Fatalf("rendered; want a schema error with %q", c.want)
			}
			if !strings.Contains(out, "values don't meet the specifications of the schema") || !strings.Contains(out, c.want) {
				t.Errorf("want a schema error with %q, got:\n%s", c.want, out)
			}
		})
	}
	// The new wave-2 policy keys are accepted (their schemas belong to their features).
	out, err := helmTemplate(t, "--set-json", `policy.notifications={"receivers":[{"name":"x","webhook":{"url":"https://h"}}]}`,
		"--set-json", `policy.detectors=[{"name":"argo","apiVersion":"argoproj.io/v1alpha1","kind":"Application","reason":"ArgoApplicationDegraded","unhealthy":"object.status.health.status == 'Degraded'","gracePeriod":"2m"}]`,
		"--set", "policy.detection.certificateExpiry.warnBefore=720h",
		"--set", "policy.alertmanager.enabled=true",
		"--set", "policy.alertmanager.tokenSecretRef.name=itops-alertmanager,policy.alertmanager.tokenSecretRef.key=token")
	if err != nil {
		t.Errorf("wave-2 policy keys refused:\n%s", out)
	}
}

// TestChartRenders checks what the values switch on and off.
func TestChartRenders(t *testing.T) {
	def, err := helmTemplate(t)
	if err != nil {
		t.Fatal(def)
	}
	for _, want := range []string{
		"helm.sh/resource-policy: keep",                                // crds.keep
		"helm.sh/hook: post-delete",                                    // the uninstall hook
		"- --release-finalizers",                                       // ... runs the one-shot mode
		"helm.sh/hook: pre-install,pre-upgrade",                        // the policy check
		"- --check-config=/etc/itops/policy.yaml",                      // ... runs the operator's own validation
		"name: itops-view", "name: itops-edit", "name: itops-approver", // rbac.aggregatedRoles
		"rbac.authorization.k8s.io/aggregate-to-edit: \"true\"",
		"name: itops-itops-operator-metrics-reader",
		"nonResourceURLs:",
		"whenUnsatisfiable: ScheduleAnyway",
		"topologyKey: topology.kubernetes.io/zone",
		"name: vscaling.itops.dev",
		"- deployments/scale",
		"timeoutSeconds: 5",
		"kind: PodDisruptionBudget",
		"readOnlyRootFilesystem: true",
		`image: "ghcr.io/itops-dev/itops-operator:0.1.0"`,
	} {
		if !strings.Contains(def, want) {
			t.Errorf("default rendering lacks %q", want)
		}
	}
	for _, unwanted := range []string{"kind: ServiceMonitor", "kind: PrometheusRule", "kind: NetworkPolicy", "grafana_dashboard", "--enable-scaling-webhook",
		"-secrets-reader", "resources: [secrets]\n  verbs: [list, watch]"} {
		if strings.Contains(def, unwanted) {
			t.Errorf("default rendering has %q", unwanted)
		}
	}

	all, err := helmTemplate(t, "--set", "metrics.serviceMonitor.enabled=true,metrics.prometheusRule.enabled=true,grafana.dashboards.enabled=true",
		"--set", "networkPolicy.enabled=true,webhook.certificate.source=certManager,scalingWebhook.enabled=false,crds.keep=false",
		"--set", "image.digest=sha256:"+strings.Repeat("a", 64)+",fullnameOverride=ops,priorityClassName=system-cluster-critical",
		"--set", "rbac.aggregatedRoles=false,rbac.readSecrets=true,webhook.timeoutSeconds=3,policyCheck.enabled=false")
	if err != nil {
		t.Fatal(all)
	}
	for _, want := range []string{
		"kind: ServiceMonitor", "kind: PrometheusRule", "kind: NetworkPolicy", `grafana_dashboard: "1"`,
		"kind: Certificate", "cert-manager.io/inject-ca-from: itops-system/ops-webhook", "secretName: ops-webhook-tls",
		"- --enable-scaling-webhook=false", "@sha256:", "priorityClassName: system-cluster-critical", "timeoutSeconds: 3",
		"name: ops-secrets-reader\n  labels:\n    itops.dev/aggregate-to-owner-reader: \"true\"", "resources: [secrets]\n  verbs: [list, watch]",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("rendering with every option lacks %q", want)
		}
	}
	for _, unwanted := range []string{"vscaling.itops.dev", "deployments/scale", "--check-config", "helm.sh/resource-policy: keep\n  name: incidents", "name: itops-approver"} {
		if strings.Contains(all, unwanted) {
			t.Errorf("rendering with every option has %q", unwanted)
		}
	}
	if none, err := helmTemplate(t, "--set", "crds.enabled=false"); err != nil || strings.Contains(none, "kind: CustomResourceDefinition") {
		t.Errorf("crds.enabled=false still renders CRDs (or fails: %v)", err)
	}
}

// TestDashboardAndAlertsUseRealMetrics: the Grafana dashboard is valid JSON, and every itops_
// metric it and the PrometheusRule query is one the operator exports.
func TestDashboardAndAlertsUseRealMetrics(t *testing.T) {
	root := testenv.RepoRoot()
	dash, err := os.ReadFile(filepath.Join(chartDir(), "dashboards", "itops-operator.json"))
	if err != nil {
		t.Fatal(err)
	}
	var parsed struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(dash, &parsed); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	if len(parsed.Panels) < 5 {
		t.Errorf("dashboard has %d panels", len(parsed.Panels))
	}
	var exported string
	for _, f := range []string{"internal/metrics/metrics.go", "controllers/servicelevel/metrics.go"} {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		exported += string(data)
	}
	rule, err := os.ReadFile(filepath.Join(chartDir(), "templates", "prometheusrule.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	metric := regexp.MustCompile(`itops_[a-z_]+`)
	for _, name := range metric.FindAllString(string(dash)+string(rule), -1) {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_sum"), "_count"), "_bucket")
		if !strings.Contains(exported, `"`+base+`"`) {
			t.Errorf("%s is not a metric the operator exports", name)
		}
	}
	for _, want := range []string{"Open incidents by priority", "MTTA", "MTTR", "Error budget", "Change throughput", "Gate decisions"} {
		if !strings.Contains(string(dash), want) {
			t.Errorf("dashboard lacks a %q panel", want)
		}
	}
}

// wave2PolicyKeys are policy keys whose features other changes add; the schema accepts them
// with loose inner schemas until their types exist in internal/config.
var wave2PolicyKeys = []string{}

// TestSchemaPolicyMatchesConfig: the schema's policy object has exactly the keys of the
// operator's config.Config (internal/config), at every level of nested structs, so a key added
// to the operator's policy file must be added to values.schema.json too (else `helm install`
// would refuse a valid policy), and a schema key the operator does not know would crash-loop it.
func TestSchemaPolicyMatchesConfig(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(chartDir(), "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatalf("values.schema.json: %v", err)
	}
	policy := schema["properties"].(map[string]any)["policy"].(map[string]any)
	compareStruct(t, "policy", reflect.TypeFor[config.Config](), policy, wave2PolicyKeys)
}

func compareStruct(t *testing.T, path string, typ reflect.Type, node map[string]any, extra []string) {
	t.Helper()
	props, _ := node["properties"].(map[string]any)
	if node["additionalProperties"] != false {
		t.Errorf("%s: the schema must refuse unknown keys (additionalProperties: false)", path)
	}
	fields := map[string]reflect.Type{}
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		fields[name] = f.Type
	}
	for name, ft := range fields {
		sub, ok := props[name].(map[string]any)
		if !ok {
			t.Errorf("%s.%s: a key of the operator's policy file missing from values.schema.json", path, name)
			continue
		}
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Struct && ft.PkgPath() == typ.PkgPath():
			compareStruct(t, path+"."+name, ft, sub, nil)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct && ft.Elem().PkgPath() == typ.PkgPath():
			items, _ := sub["items"].(map[string]any)
			if items == nil {
				t.Errorf("%s.%s: a list without an items schema", path, name)
				continue
			}
			compareStruct(t, path+"."+name+"[]", ft.Elem(), items, nil)
		}
	}
	for name := range props {
		if _, ok := fields[name]; !ok && !slices.Contains(extra, name) {
			t.Errorf("%s.%s: in values.schema.json but not a key of the operator's policy file (the operator would refuse it)", path, name)
		}
	}
}

// TestNetworkPolicyAdmitsAlertmanager: Alertmanager posts to /alertmanager/v4 on the webhook
// port; with webhookFrom narrowed to the API server, alertmanagerFrom gets its own rule on that
// port when policy.alertmanager is enabled (any peer when empty: the endpoint authenticates),
// and no such rule without it.
func TestNetworkPolicyAdmitsAlertmanager(t *testing.T) {
	np := []string{"--show-only", "templates/networkpolicy.yaml", "--set", "networkPolicy.enabled=true",
		"--set-json", `networkPolicy.webhookFrom=[{"ipBlock":{"cidr":"172.20.0.10/32"}}]`}
	am := make([]string, 0, 4)
	am = append(am, "--set", "policy.alertmanager.enabled=true,policy.alertmanager.tokenSecretRef.name=itops-alertmanager,policy.alertmanager.tokenSecretRef.key=token")
	type rule struct {
		Ports []struct {
			Port int `json:"port"`
		} `json:"ports"`
		From []map[string]any `json:"from"`
	}
	rules := func(args ...string) []rule {
		t.Helper()
		out, err := helmTemplate(t, append(np, args...)...)
		if err != nil {
			t.Fatal(out)
		}
		var obj struct {
			Spec struct {
				Ingress []rule `json:"ingress"`
			} `json:"spec"`
		}
		if err := sigsyaml.Unmarshal([]byte(out), &obj); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return obj.Spec.Ingress
	}
	webhookRules := func(rs []rule) []rule {
		var out []rule
		for _, r := range rs {
			if len(r.Ports) == 1 && r.Ports[0].Port == 9443 {
				out = append(out, r)
			}
		}
		return out
	}

	if got := webhookRules(rules()); len(got) != 1 {
		t.Errorf("without Alertmanager: %d rules on the webhook port, want 1 (webhookFrom): %+v", len(got), got)
	}
	got := webhookRules(rules(append(am, "--set-json", `networkPolicy.alertmanagerFrom=[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"monitoring"}}}]`)...))
	if len(got) != 2 {
		t.Fatalf("with Alertmanager: %d rules on the webhook port, want 2 (webhookFrom, alertmanagerFrom): %+v", len(got), got)
	}
	if fmt.Sprint(got[0].From) != "[map[ipBlock:map[cidr:172.20.0.10/32]]]" ||
		fmt.Sprint(got[1].From) != "[map[namespaceSelector:map[matchLabels:map[kubernetes.io/metadata.name:monitoring]]]]" {
		t.Errorf("webhook port rules: %+v", got)
	}
	if got := webhookRules(rules(am...)); len(got) != 2 || got[1].From != nil {
		t.Errorf("with Alertmanager and no alertmanagerFrom: want a second webhook-port rule from any peer: %+v", got)
	}
}

// TestOperatorRoleSecretsLeastPrivilege: in its namespace the operator gets, creates and
// updates Secrets (its webhook certificate; receivers' credentials and the Alertmanager token
// are read by name through the uncached API reader), and never lists or watches them.
func TestOperatorRoleSecretsLeastPrivilege(t *testing.T) {
	out, err := helmTemplate(t, "--show-only", "templates/rbac.yaml")
	if err != nil {
		t.Fatal(out)
	}
	found := false
	for _, doc := range strings.Split(out, "\n---\n") {
		var role rbacv1.Role
		if err := sigsyaml.Unmarshal([]byte(doc), &role); err != nil || role.Kind != "Role" {
			continue
		}
		for _, r := range role.Rules {
			if !slices.Contains(r.Resources, "secrets") && !slices.Contains(r.Resources, "*") {
				continue
			}
			found = true
			for _, v := range r.Verbs {
				if v == "list" || v == "watch" || v == "*" {
					t.Errorf("Role %s grants %q on secrets: the operator reads Secrets by name (get) only", role.Name, v)
				}
			}
			if !slices.Contains(r.Verbs, "get") {
				t.Errorf("Role %s does not grant get on secrets (webhook certificate, receivers' credentials, Alertmanager token): %v", role.Name, r.Verbs)
			}
		}
	}
	if !found {
		t.Errorf("no Role rule on secrets in templates/rbac.yaml:\n%s", out)
	}
}

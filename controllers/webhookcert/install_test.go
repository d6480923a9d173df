package webhookcert

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/itops-dev/itops-operator/test/testenv"
)

// TestKustomizeInstallNames: the kustomize install's webhook configurations carry a name of
// their own (not kubebuilder's default, which every such operator shares and would overwrite),
// the operator is told that name, and its ClusterRole lets it patch those configurations only.
func TestKustomizeInstallNames(t *testing.T) {
	out, err := exec.Command(filepath.Join(testenv.AssetsDir(), "kubectl"), "kustomize", filepath.Join(testenv.RepoRoot(), "config", "default")).Output()
	if err != nil {
		t.Fatalf("kubectl kustomize config/default: %v (run `make envtest-assets`)", err)
	}
	var webhookConfigs, resourceNames []string
	var args []string
	for _, doc := range bytes.Split(out, []byte("\n---\n")) {
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(doc, &obj.Object); err != nil || obj.Object == nil {
			continue
		}
		switch obj.GetKind() {
		case "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration":
			webhookConfigs = append(webhookConfigs, obj.GetName())
		case "ClusterRole":
			rules, _, _ := unstructured.NestedSlice(obj.Object, "rules")
			for _, r := range rules {
				rule, _ := r.(map[string]any)
				// Reading every configuration is the WebhookUnavailable detector's (get, list,
				// watch); any rule that may change one must name the install's own.
				verbs, _ := rule["verbs"].([]any)
				writes := slices.ContainsFunc(verbs, func(v any) bool { return v != "get" && v != "list" && v != "watch" })
				if groups, _ := rule["apiGroups"].([]any); slices.Contains(groups, any("admissionregistration.k8s.io")) && writes {
					names, _ := rule["resourceNames"].([]any)
					if len(names) == 0 {
						t.Errorf("a ClusterRole rule may %v every webhook configuration", verbs)
					}
					for _, n := range names {
						resourceNames = append(resourceNames, n.(string))
					}
				}
			}
		case "Deployment":
			containers, _, _ := unstructured.NestedSlice(obj.Object, "spec", "template", "spec", "containers")
			for _, c := range containers {
				for _, a := range c.(map[string]any)["args"].([]any) {
					args = append(args, a.(string))
				}
			}
		}
	}
	if len(webhookConfigs) != 2 || webhookConfigs[0] != "itops-operator" || webhookConfigs[1] != "itops-operator" {
		t.Errorf("webhook configurations = %v, want both named itops-operator", webhookConfigs)
	}
	// One writing rule per kind (get/patch on both; list/watch on the validating one, which
	// the scaling webhooks' scope watches), each naming the install's configurations only.
	slices.Sort(resourceNames)
	if resourceNames = slices.Compact(resourceNames); !slices.Equal(resourceNames, []string{"itops-operator"}) {
		t.Errorf("the ClusterRole names webhook configurations %v, want [itops-operator] only", resourceNames)
	}
	if !slices.Contains(args, "--webhook-configuration-name=itops-operator") {
		t.Errorf("the Deployment's args %v do not name the webhook configurations", args)
	}
	if !strings.Contains(string(out), "name: itops-cluster") {
		t.Errorf("the install does not create the cluster namespace itops-cluster")
	}
}

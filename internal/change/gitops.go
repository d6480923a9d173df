package change

import (
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/itops-dev/itops-operator/internal/config"
)

// serviceAccountPrefix starts the username of every ServiceAccount
// (system:serviceaccount:<namespace>:<name>).
const serviceAccountPrefix = "system:serviceaccount:"

// IsServiceAccount reports whether user is a ServiceAccount's username.
func IsServiceAccount(user string) bool { return strings.HasPrefix(user, serviceAccountPrefix) }

// NamespaceServiceAccount reports whether user is a ServiceAccount of namespace ns
// (system:serviceaccount:<ns>:<name>). Whoever may create Pods in ns (the built-in edit role),
// impersonate its ServiceAccounts or create their tokens (edit again) can act as any of them,
// so for a change such an identity created in its own namespace, the cluster cannot tell which
// person made the request: any developer of the namespace could have.
func NamespaceServiceAccount(user, ns string) bool {
	rest, ok := strings.CutPrefix(user, serviceAccountPrefix)
	if !ok || ns == "" {
		return false
	}
	saNamespace, name, ok := strings.Cut(rest, ":")
	return ok && name != "" && saNamespace == ns
}

// AppliedByAutomation reports whether a change requested (spec.requestedBy, stamped from the
// authenticated user) by requestedBy was applied by automation: a ServiceAccount (a GitOps
// controller, a pipeline) or one of the policy's declared appliers. For such a change the
// cluster knows who applied it, not who wrote it.
func AppliedByAutomation(requestedBy string, g config.GitOpsPolicy) bool {
	return IsServiceAccount(requestedBy) || slices.Contains(g.Appliers, requestedBy)
}

// gitOpsMarks are the labels and annotations GitOps tools put on the objects they apply, by tool.
var gitOpsMarks = []struct {
	tool, key  string
	annotation bool
}{
	{"Flux", "kustomize.toolkit.fluxcd.io/name", false},
	{"Flux", "helm.toolkit.fluxcd.io/name", false},
	{"Argo CD", "argocd.argoproj.io/tracking-id", true},
	{"Argo CD", "argocd.argoproj.io/instance", false},
	{"Argo CD or Helm", "app.kubernetes.io/instance", false},
}

// ManagedByGitOps names the GitOps tool that applied obj, or "" when none did. Git owns the
// lifetime of such a ChangeRequest: garbage-collecting it would only make the tool re-create it
// as a new, unapproved change that holds the next sync.
func ManagedByGitOps(obj metav1.Object) string {
	for _, m := range gitOpsMarks {
		src := obj.GetLabels()
		if m.annotation {
			src = obj.GetAnnotations()
		}
		if _, ok := src[m.key]; ok {
			return m.tool
		}
	}
	return ""
}

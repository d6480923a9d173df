package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"
)

// OperatorNamespace and OperatorUser are where the install's RBAC (config/rbac) binds the
// operator: its ServiceAccount, as the API server names it.
const (
	OperatorNamespace = "itops-system"
	OperatorUser      = "system:serviceaccount:" + OperatorNamespace + ":itops-operator"
)

// rbacFiles are the install's RBAC objects, as kustomize applies them (config/rbac).
var rbacFiles = []string{
	"service_account.yaml", "role.yaml", "role_binding.yaml", "owner_reader_role.yaml",
	"leader_election_role.yaml", "leader_election_role_binding.yaml",
}

// OperatorConfig applies the install's RBAC (config/rbac, in OperatorNamespace) and returns a
// REST config that authenticates as the operator's ServiceAccount: a suite whose manager uses
// it needs no more than what an installation grants. envtest runs no kube-controller-manager,
// so OperatorConfig aggregates ClusterRoles itself, once, as its clusterrole-aggregation
// controller would (itops-operator-owner-reader gets the rules of the install's defaults).
func (e *Env) OperatorConfig(ctx context.Context) (*rest.Config, error) {
	if err := EnsureNamespace(ctx, e.Client, OperatorNamespace); err != nil {
		return nil, err
	}
	for _, file := range rbacFiles {
		data, err := os.ReadFile(filepath.Join(RepoRoot(), "config", "rbac", file))
		if err != nil {
			return nil, err
		}
		for _, doc := range strings.Split(string(data), "\n---") {
			if strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(doc), "---")) == "" {
				continue
			}
			obj := &unstructured.Unstructured{}
			if err := yaml.Unmarshal([]byte(doc), &obj.Object); err != nil {
				return nil, fmt.Errorf("%s: %w", file, err)
			}
			if obj.GetKind() != "ClusterRole" && obj.GetKind() != "ClusterRoleBinding" {
				obj.SetNamespace(OperatorNamespace)
			}
			if err := client.IgnoreAlreadyExists(e.Client.Create(ctx, obj)); err != nil {
				return nil, fmt.Errorf("%s: creating %s %s: %w", file, obj.GetKind(), obj.GetName(), err)
			}
		}
	}
	if err := e.aggregateClusterRoles(ctx); err != nil {
		return nil, err
	}
	u, err := e.AddUser(envtest.User{Name: OperatorUser, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + OperatorNamespace}}, nil)
	if err != nil {
		return nil, err
	}
	return u.Config(), nil
}

// aggregateClusterRoles fills every ClusterRole that has an aggregationRule with the rules of
// the ClusterRoles its selectors match, as kube-controller-manager does.
func (e *Env) aggregateClusterRoles(ctx context.Context) error {
	roles := &rbacv1.ClusterRoleList{}
	if err := e.Client.List(ctx, roles); err != nil {
		return err
	}
	for i := range roles.Items {
		agg := &roles.Items[i]
		if agg.AggregationRule == nil {
			continue
		}
		var rules []rbacv1.PolicyRule
		for _, sel := range agg.AggregationRule.ClusterRoleSelectors {
			s, err := metav1.LabelSelectorAsSelector(&sel)
			if err != nil {
				return err
			}
			for _, r := range roles.Items {
				if r.Name != agg.Name && s.Matches(labels.Set(r.Labels)) {
					rules = append(rules, r.Rules...)
				}
			}
		}
		agg.Rules = rules
		if err := e.Client.Update(ctx, agg); err != nil {
			return fmt.Errorf("aggregating ClusterRole %s: %w", agg.Name, err)
		}
	}
	return nil
}

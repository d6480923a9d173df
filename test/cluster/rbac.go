package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"
)

// operatorKubeconfig applies the RBAC objects of Options.OperatorRBACDir (the kustomize
// install's config/rbac: every YAML file but kustomization.yaml) with namespaced objects in
// namespace and bindings to the itops-operator ServiceAccount moved there, and writes a
// kubeconfig that authenticates as that ServiceAccount.
func (c *Cluster) operatorKubeconfig(ctx context.Context, namespace string) (string, error) {
	files, err := filepath.Glob(filepath.Join(c.opts.OperatorRBACDir, "*.yaml"))
	if err != nil {
		return "", err
	}
	for _, file := range files {
		if filepath.Base(file) == "kustomization.yaml" {
			continue
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return "", err
		}
		for _, doc := range strings.Split(string(data), "\n---") {
			if strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(doc), "---")) == "" {
				continue
			}
			obj := &unstructured.Unstructured{}
			if err := yaml.Unmarshal([]byte(doc), &obj.Object); err != nil {
				return "", fmt.Errorf("%s: %w", file, err)
			}
			if obj.GetKind() != "ClusterRole" && obj.GetKind() != "ClusterRoleBinding" {
				obj.SetNamespace(namespace)
			}
			if subjects, ok, _ := unstructured.NestedSlice(obj.Object, "subjects"); ok {
				for _, s := range subjects {
					if m, ok := s.(map[string]any); ok && m["kind"] == "ServiceAccount" {
						m["namespace"] = namespace
					}
				}
				_ = unstructured.SetNestedSlice(obj.Object, subjects, "subjects")
			}
			if err := client.IgnoreAlreadyExists(c.Client.Create(ctx, obj)); err != nil {
				return "", fmt.Errorf("%s: creating %s %s: %w", file, obj.GetKind(), obj.GetName(), err)
			}
		}
	}
	u, err := c.env.AddUser(envtest.User{Name: "system:serviceaccount:" + namespace + ":itops-operator",
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace}}, nil)
	if err != nil {
		return "", err
	}
	kubeconfig, err := u.KubeConfig()
	if err != nil {
		return "", err
	}
	path := filepath.Join(c.opts.Dir, "operator-"+namespace+".kubeconfig")
	return path, os.WriteFile(path, kubeconfig, 0o600)
}

// ApplyFile creates the objects of a multi-document YAML file (cluster-scoped ones, or
// namespaced ones with their namespace set), leaving those that already exist as they are:
// for installing the roles for people (config/rbac/aggregated_roles.yaml) into a cluster
// whose operator runs as the cluster admin.
func (c *Cluster) ApplyFile(ctx context.Context, file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	for _, doc := range strings.Split(string(data), "\n---") {
		if strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(doc), "---")) == "" {
			continue
		}
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &obj.Object); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		if len(obj.Object) == 0 {
			continue // only comments
		}
		if err := client.IgnoreAlreadyExists(c.Client.Create(ctx, obj)); err != nil {
			return fmt.Errorf("%s: creating %s %s: %w", file, obj.GetKind(), obj.GetName(), err)
		}
	}
	return nil
}

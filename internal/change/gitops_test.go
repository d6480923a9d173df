package change

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestManagedByGitOps(t *testing.T) {
	tests := []struct {
		name        string
		labels      map[string]string
		annotations map[string]string
		want        string
	}{
		{name: "applied by hand", labels: map[string]string{"app": "shop"}, want: ""},
		{name: "Flux Kustomization", labels: map[string]string{"kustomize.toolkit.fluxcd.io/name": "shop-changes"}, want: "Flux"},
		{name: "Flux HelmRelease", labels: map[string]string{"helm.toolkit.fluxcd.io/name": "shop"}, want: "Flux"},
		{name: "Argo CD annotation tracking", annotations: map[string]string{"argocd.argoproj.io/tracking-id": "shop:itops.dev/ChangeRequest:shop/c"}, want: "Argo CD"},
		{name: "Argo CD label tracking", labels: map[string]string{"app.kubernetes.io/instance": "shop"}, want: "Argo CD or Helm"},
		{name: "Argo CD custom tracking label", labels: map[string]string{"argocd.argoproj.io/instance": "shop"}, want: "Argo CD"},
		{name: "sync wave alone is no tracking", annotations: map[string]string{"argocd.argoproj.io/sync-wave": "-1"}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := &metav1.ObjectMeta{Labels: tt.labels, Annotations: tt.annotations}
			if got := ManagedByGitOps(obj); got != tt.want {
				t.Errorf("ManagedByGitOps = %q, want %q", got, tt.want)
			}
		})
	}
}

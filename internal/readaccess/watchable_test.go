package readaccess

import (
	"context"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/itops-dev/itops-operator/test/cluster"
)

// TestWatchable: a kind not served says what that means; list and watch are both reviewed;
// "" only when both are allowed.
func TestWatchable(t *testing.T) {
	for _, tc := range []struct {
		name    string
		gvk     schema.GroupVersionKind
		granted map[string]bool
		want    string
	}{
		{name: "not served", gvk: schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"},
			want: "the API server does not serve Certificate in cert-manager.io/v1 (cert-manager not installed)"},
		{name: "watch denied", gvk: rollout, granted: map[string]bool{"list": true},
			want: "the operator may not watch rollouts.argoproj.io in every namespace"},
		{name: "list denied", gvk: rollout, granted: map[string]bool{"watch": true},
			want: "the operator may not list rollouts.argoproj.io in every namespace"},
		{name: "both allowed", gvk: rollout, granted: map[string]bool{"list": true, "watch": true}, want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fake.NewClientBuilder().WithScheme(cluster.Scheme()).WithInterceptorFuncs(interceptor.Funcs{
				Create: func(_ context.Context, _ client.WithWatch, obj client.Object, _ ...client.CreateOption) error {
					r := obj.(*authorizationv1.SelfSubjectAccessReview)
					a := r.Spec.ResourceAttributes
					r.Status.Allowed = a.Group == "argoproj.io" && a.Resource == "rollouts" && a.Namespace == "" && tc.granted[a.Verb]
					return nil
				}}).Build()
			if got := Watchable(context.Background(), mapper(), c, tc.gvk, "cert-manager not installed"); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

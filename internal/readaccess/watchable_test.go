package readaccess

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

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

// TestAwait: try runs at once and until it starts; each new reason is told once, a repeated
// one not; an error ends the wait with it; a context that ends stops quietly.
func TestAwait(t *testing.T) {
	t.Run("starts after waiting, each reason told once", func(t *testing.T) {
		answers := []string{"not served", "not served", "may not watch", "may not watch", ""}
		calls := 0
		var told []string
		started, err := Await(context.Background(), time.Millisecond, func(context.Context) (string, error) {
			why := answers[calls]
			calls++
			return why, nil
		}, func(why string) { told = append(told, why) })
		if !started || err != nil || calls != len(answers) {
			t.Fatalf("Await = %t, %v after %d calls; want started after %d", started, err, calls, len(answers))
		}
		if want := []string{"not served", "may not watch"}; !slices.Equal(told, want) {
			t.Errorf("told %q, want %q", told, want)
		}
	})
	t.Run("at once when it can", func(t *testing.T) {
		started, err := Await(context.Background(), time.Hour, func(context.Context) (string, error) { return "", nil },
			func(why string) { t.Errorf("told %q", why) })
		if !started || err != nil {
			t.Fatalf("Await = %t, %v; want started at once", started, err)
		}
	})
	t.Run("an error ends the wait", func(t *testing.T) {
		boom := errors.New("setting up the controller: boom")
		started, err := Await(context.Background(), time.Millisecond, func(context.Context) (string, error) { return "", boom },
			func(string) {})
		if started || !errors.Is(err, boom) {
			t.Fatalf("Await = %t, %v; want the error", started, err)
		}
	})
	t.Run("the context ends", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		started, err := Await(ctx, time.Millisecond, func(context.Context) (string, error) {
			cancel()
			return "not served", nil
		}, func(string) {})
		if started || err != nil {
			t.Fatalf("Await = %t, %v; want false, nil once the manager stops", started, err)
		}
	})
}

package readaccess

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clocktesting "k8s.io/utils/clock/testing"
)

var (
	rollout = schema.GroupVersionKind{Group: "argoproj.io", Version: "v1alpha1", Kind: "Rollout"}
	widget  = schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Widget"}
)

func mapper() meta.RESTMapper {
	m := meta.NewDefaultRESTMapper(nil)
	m.Add(rollout, meta.RESTScopeNamespace)
	m.Add(widget, meta.RESTScopeNamespace)
	return m
}

func TestCanList(t *testing.T) {
	granted := map[string]bool{"list rollouts.argoproj.io": true, "watch rollouts.argoproj.io": true, "list widgets.example.com": true}
	asked := 0
	review := func(_ context.Context, verb string, gr schema.GroupResource) (bool, error) {
		asked++
		return granted[verb+" "+gr.String()], nil
	}
	clk := clocktesting.NewFakePassiveClock(time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC))
	c := NewWith(mapper(), review, time.Minute, clk, logr.Discard())
	ctx := context.Background()

	tests := []struct {
		step      string
		gvk       schema.GroupVersionKind
		advance   time.Duration
		want      bool
		wantAsked int
	}{
		{"list and watch granted", rollout, 0, true, 2},
		{"remembered: no second review", rollout, 30 * time.Second, true, 2},
		{"list without watch is not enough (an informer needs both)", widget, 0, false, 4},
		{"a denial is remembered too", widget, 10 * time.Second, false, 4},
		{"asked again after the TTL", widget, time.Minute, false, 6},
	}
	for _, tt := range tests {
		clk.SetTime(clk.Now().Add(tt.advance))
		got, err := c.CanList(ctx, tt.gvk)
		if err != nil || got != tt.want || asked != tt.wantAsked {
			t.Errorf("%s: CanList = %v, %v after %d reviews; want %v after %d", tt.step, got, err, asked, tt.want, tt.wantAsked)
		}
	}

	granted["watch widgets.example.com"] = true
	clk.SetTime(clk.Now().Add(time.Minute))
	if got, _ := c.CanList(ctx, widget); !got {
		t.Error("a grant added later is seen after the TTL")
	}
}

func TestCanListErrors(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("apiserver unavailable")
	fails := func(context.Context, string, schema.GroupResource) (bool, error) { return false, boom }
	c := NewWith(mapper(), fails, time.Minute, clocktesting.NewFakePassiveClock(time.Now()), logr.Discard())
	if _, err := c.CanList(ctx, rollout); !errors.Is(err, boom) {
		t.Errorf("review error = %v, want it returned", err)
	}
	if _, err := c.CanList(ctx, schema.GroupVersionKind{Group: "gone.example.com", Version: "v1", Kind: "Gone"}); !meta.IsNoMatchError(err) {
		t.Errorf("unserved kind: err = %v, want a no-match error", err)
	}
}

func TestChanged(t *testing.T) {
	tests := []struct {
		known, was, now, want bool
	}{
		{false, false, true, false}, // first answer, allowed: the ordinary case
		{false, false, false, true}, // first denial
		{true, false, false, false}, // still denied: logged once
		{true, false, true, true},   // granted since
		{true, true, false, true},   // revoked
		{true, true, true, false},
	}
	for _, tt := range tests {
		if got := Changed(tt.known, tt.was, tt.now); got != tt.want {
			t.Errorf("Changed(%v, %v, %v) = %v, want %v", tt.known, tt.was, tt.now, got, tt.want)
		}
	}
}

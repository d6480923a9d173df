package notification

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/config"
	"github.com/itops-dev/itops-operator/test/cluster"
)

func TestChangeEventsFor(t *testing.T) {
	both := []string{"pd-a", "pd-b"}
	cases := []struct {
		name    string
		phase   itopsv1alpha1.ChangePhase
		started bool
		sent    []string
		want    []string
	}{
		{"not started", itopsv1alpha1.ChangePhase("Approved"), false, nil, nil},
		{"started: each receiver", itopsv1alpha1.ChangeInProgress, true, nil, []string{"started/pd-a", "started/pd-b"}},
		{"started, one receiver recorded: only the other", itopsv1alpha1.ChangeInProgress, true, []string{"started/pd-a"}, []string{"started/pd-b"}},
		{"started everywhere", itopsv1alpha1.ChangeInProgress, true, []string{"started/pd-a", "started/pd-b"}, nil},
		{"failed after started", itopsv1alpha1.ChangeFailed, true, []string{"started/pd-a", "started/pd-b"}, []string{"failed/pd-a", "failed/pd-b"}},
		{"failed, nothing sent", itopsv1alpha1.ChangeFailed, true, nil, []string{"started/pd-a", "started/pd-b", "failed/pd-a", "failed/pd-b"}},
		{"a bare event (older record) counts for every receiver", itopsv1alpha1.ChangeFailed, true, []string{"started", "failed/pd-b"}, []string{"failed/pd-a"}},
		{"completed", itopsv1alpha1.ChangePhase("Completed"), true, []string{"started/pd-a", "started/pd-b"}, nil},
	}
	for _, c := range cases {
		var got []string
		for _, e := range ChangeEventsFor(c.phase, c.started, both, c.sent) {
			got = append(got, e.String())
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: ChangeEventsFor(%s, %v, %v) = %v, want %v", c.name, c.phase, c.started, c.sent, got, c.want)
		}
	}
}

func TestChangeEventReceivers(t *testing.T) {
	p := &config.NotificationPolicy{
		Receivers: []config.Receiver{
			{Name: "pd", PagerDuty: &config.PagerDutyReceiver{ChangeEvents: true}},
			{Name: "pd-quiet", PagerDuty: &config.PagerDutyReceiver{}},
			{Name: "slack", Slack: &config.SlackReceiver{}},
		},
		Routes: []config.Route{
			{Match: config.RouteMatch{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "prod"}}}, Receivers: []string{"pd", "pd-quiet", "slack"}},
		},
	}
	if got := ChangeEventReceivers(p, map[string]string{"tier": "prod"}); !slices.Equal(got, []string{"pd"}) {
		t.Fatalf("prod: %v", got)
	}
	if got := ChangeEventReceivers(p, map[string]string{"tier": "dev"}); len(got) != 0 {
		t.Fatalf("dev: %v", got)
	}
}

// TestChangeEventsNeverDoubledAcrossReceivers: with two PagerDuty receivers, a failure of the
// second does not resend to the first (review finding: PagerDuty does not deduplicate change
// events, and the record used to be per event, not per receiver).
func TestChangeEventsNeverDoubledAcrossReceivers(t *testing.T) {
	var mu sync.Mutex
	got := map[string]int{}
	failB := true
	server := func(name string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			if name == "pd-b" && failB {
				w.WriteHeader(http.StatusInternalServerError)
				return
			}
			got[name]++
			w.WriteHeader(http.StatusAccepted)
		}))
	}
	a, b := server("pd-a"), server("pd-b")
	defer a.Close()
	defer b.Close()
	receiver := func(name, url string) config.Receiver {
		return config.Receiver{Name: name, Timeout: metav1.Duration{Duration: 5 * time.Second},
			PagerDuty: &config.PagerDutyReceiver{URL: url, ChangeEvents: true, RoutingKeySecretRef: config.SecretKeyRef{Name: "pd", Key: "routingKey"}}}
	}
	policy := &config.NotificationPolicy{
		Receivers: []config.Receiver{receiver("pd-a", a.URL), receiver("pd-b", b.URL)},
		Routes:    []config.Route{{Receivers: []string{"pd-a", "pd-b"}}},
	}
	started := metav1.NewTime(t0)
	cr := &itopsv1alpha1.ChangeRequest{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "deploy-1"},
		Status: itopsv1alpha1.ChangeRequestStatus{Phase: itopsv1alpha1.ChangeInProgress, StartedAt: &started}}
	c := fake.NewClientBuilder().WithScheme(cluster.Scheme()).WithObjects(cr,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: "pd"}, Data: map[string][]byte{"routingKey": []byte("R0UTINGKEY")}}).Build()
	r := &ChangeReconciler{Client: c, APIReader: c, OperatorNamespace: operatorNamespace, Policy: policy, HTTPClient: http.DefaultClient}
	req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(cr)}
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := r.Reconcile(ctx, req); err == nil {
			t.Fatalf("attempt %d: pd-b failing, want an error", i)
		}
	}
	mu.Lock()
	failB = false
	mu.Unlock()
	if _, err := r.Reconcile(ctx, req); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reconcile(ctx, req); err != nil {
		t.Fatal(err)
	}
	if got["pd-a"] != 1 || got["pd-b"] != 1 {
		t.Fatalf("change events sent: %v, want exactly one each", got)
	}
	after := &itopsv1alpha1.ChangeRequest{}
	if err := c.Get(ctx, req.NamespacedName, after); err != nil {
		t.Fatal(err)
	}
	if v := after.Annotations[AnnotationChangeEvents]; v != "started/pd-a,started/pd-b" {
		t.Fatalf("record %q", v)
	}
}

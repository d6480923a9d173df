package metrics

import (
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// openBaselineText is the exposition of the zero series of itops_incidents_open, except the
// (priority, source) pairs in skip.
func openBaselineText(skip ...string) string {
	var b strings.Builder
	for _, p := range Priorities {
		for _, s := range Sources {
			if !contains(skip, string(p)+"/"+string(s)) {
				fmt.Fprintf(&b, "itops_incidents_open{priority=%q,reason=\"\",source=%q} 0\n", p, s)
			}
		}
	}
	return b.String()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func newFakeReader(t *testing.T, objs ...*itopsv1alpha1.Incident) openIncidents {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := itopsv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	b := fake.NewClientBuilder().WithScheme(scheme)
	for _, o := range objs {
		b = b.WithObjects(o)
	}
	return openIncidents{reader: b.Build()}
}

// Issue 15: with nothing open, itops_incidents_open has a 0 series per priority and source, so
// that dashboards and absent() alerts tell zero from not scraped.
func TestOpenIncidentsZeroWhenNothingIsOpen(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(newFakeReader(t))
	want := "# HELP itops_incidents_open Incidents not yet resolved (Open or Acknowledged), by priority, reason and source.\n" +
		"# TYPE itops_incidents_open gauge\n" + openBaselineText()
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "itops_incidents_open"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(newFakeReader(t), "itops_incidents_open"); n != len(Priorities)*len(Sources) {
		t.Errorf("series = %d, want %d", n, len(Priorities)*len(Sources))
	}
}

// An open incident without a reason takes the place of its zero series (no duplicate).
func TestOpenIncidentsWithoutReasonReplacesZero(t *testing.T) {
	inc := &itopsv1alpha1.Incident{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "shop"},
		Spec:   itopsv1alpha1.IncidentSpec{Title: "x", Source: itopsv1alpha1.SourceManual},
		Status: itopsv1alpha1.IncidentStatus{Priority: itopsv1alpha1.PriorityP2, Phase: "Open"}}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(newFakeReader(t, inc))
	want := "# HELP itops_incidents_open Incidents not yet resolved (Open or Acknowledged), by priority, reason and source.\n" +
		"# TYPE itops_incidents_open gauge\n" + openBaselineText("P2/Manual") +
		"itops_incidents_open{priority=\"P2\",reason=\"\",source=\"Manual\"} 1\n"
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "itops_incidents_open"); err != nil {
		t.Error(err)
	}
}

// The counters and histograms start with every bounded label combination at 0.
func TestZeroSeriesOfVectors(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(Detections, GateDecisions, TimeToAcknowledge, TimeToResolve)
	for _, tt := range []struct {
		name string
		want int
	}{
		{"itops_incident_detections_total", len(DetectionReasons)},
		{"itops_change_gate_decisions_total", len(GateDecisionValues) * len(GatedKinds)},
		{"itops_incident_time_to_acknowledge_seconds", len(Priorities)},
		{"itops_incident_time_to_resolve_seconds", len(Priorities) * len(Resolvers)},
	} {
		if n, err := testutil.GatherAndCount(reg, tt.name); err != nil || n < tt.want {
			t.Errorf("%s: %d series (err %v), want at least %d", tt.name, n, err, tt.want)
		}
	}
	if v := testutil.ToFloat64(GateDecisions.WithLabelValues("denied", "Deployment")); v != 0 {
		t.Errorf("gate denied Deployment = %v before any decision, want 0", v)
	}
}

func TestBuildInfo(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	registerBuildInfo(reg, "0.2.0", "abc123", "go1.26.8")
	want := `
# HELP itops_build_info Always 1; the operator's version, the source commit (revision) and the Go version that built it.
# TYPE itops_build_info gauge
itops_build_info{goversion="go1.26.8",revision="abc123",version="0.2.0"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "itops_build_info"); err != nil {
		t.Error(err)
	}
}

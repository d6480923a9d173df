package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

func TestOpenIncidents(t *testing.T) {
	mk := func(name string, p itopsv1alpha1.Priority, reason string, phase itopsv1alpha1.IncidentPhase) *itopsv1alpha1.Incident {
		return &itopsv1alpha1.Incident{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"},
			Spec:   itopsv1alpha1.IncidentSpec{Title: name, Reason: reason, Source: "HealthCheck"},
			Status: itopsv1alpha1.IncidentStatus{Priority: p, Phase: phase}}
	}
	scheme := runtime.NewScheme()
	if err := itopsv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(
		mk("a", "P1", "CrashLoopBackOff", "Open"),
		mk("b", "P1", "CrashLoopBackOff", "Acknowledged"),
		mk("c", "P3", "OOMKilled", "Open"),
		mk("d", "P1", "CrashLoopBackOff", "Resolved"),
		mk("e", "P2", "NodeNotReady", "Closed"),
	).Build()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(openIncidents{reader: c})
	want := `
# HELP itops_incidents_open Incidents not yet resolved (Open or Acknowledged), by priority, reason and source.
# TYPE itops_incidents_open gauge
itops_incidents_open{priority="P1",reason="CrashLoopBackOff",source="HealthCheck"} 2
itops_incidents_open{priority="P3",reason="OOMKilled",source="HealthCheck"} 1
` + openBaselineText()
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "itops_incidents_open"); err != nil {
		t.Error(err)
	}
}

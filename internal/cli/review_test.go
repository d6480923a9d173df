package cli

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

func TestAssignPatch(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		team     string
		want     map[string]any
		wantLine string
		wantErr  string
	}{
		{name: "a person", args: []string{"carol"}, want: map[string]any{"assignee": "carol"}, wantLine: "assigned to carol"},
		{name: "a team", team: "payments", want: map[string]any{"team": "payments"}, wantLine: "assigned to - (team payments)"},
		{name: "both", args: []string{"carol"}, team: "payments", want: map[string]any{"assignee": "carol", "team": "payments"}, wantLine: "assigned to carol (team payments)"},
		{name: "neither", wantErr: "assign needs an ASSIGNEE, --team TEAM, or both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AssignPatch(tt.args, tt.team)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("AssignPatch = %v %v, want %v", got, err, tt.want)
			}
			inc := &itopsv1alpha1.Incident{ObjectMeta: metav1.ObjectMeta{Name: "x"}}
			inc.Spec.Assignee, _ = got["assignee"].(string)
			inc.Spec.Team, _ = got["team"].(string)
			if line := AssignedLine(inc); line != "incident.itops.dev/x "+tt.wantLine {
				t.Errorf("line %q", line)
			}
		})
	}
}

func TestReadNotice(t *testing.T) {
	forbidden := apierrors.NewForbidden(schema.GroupResource{Group: "itops.dev", Resource: "maintenancewindows"}, "", errors.New("no"))
	if got := readNotice("the MaintenanceWindows of namespace itops-cluster", forbidden, "the answer may miss cluster-wide freezes"); got !=
		"could not read the MaintenanceWindows of namespace itops-cluster: forbidden; the answer may miss cluster-wide freezes" {
		t.Errorf("forbidden: %q", got)
	}
	if got := readNotice("namespace shop", errors.New("connection refused"), "x"); got != "could not read namespace shop: connection refused; x" {
		t.Errorf("other: %q", got)
	}
}

func TestClusterNamespaceDefault(t *testing.T) {
	if got := clusterNamespaceDefault(func(string) string { return "" }); got != "itops-cluster" {
		t.Errorf("default %q", got)
	}
	if got := clusterNamespaceDefault(func(k string) string {
		if k == "ITOPS_CLUSTER_NAMESPACE" {
			return "ops-cluster"
		}
		return ""
	}); got != "ops-cluster" {
		t.Errorf("from the environment %q", got)
	}
}

// status lists the cluster namespace's windows that cover the namespace, and says what it
// could not read.
func TestStatusClusterWindows(t *testing.T) {
	window := func(ns, name string, nsSel map[string]string) itopsv1alpha1.MaintenanceWindow {
		mw := itopsv1alpha1.MaintenanceWindow{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec:   itopsv1alpha1.MaintenanceWindowSpec{Type: "Freeze"},
			Status: itopsv1alpha1.MaintenanceWindowStatus{Phase: "Active", CurrentStart: at(-time.Hour), CurrentEnd: at(time.Hour)}}
		if nsSel != nil {
			mw.Spec.NamespaceSelector = &metav1.LabelSelector{MatchLabels: nsSel}
		}
		return mw
	}
	in := StatusInputs{
		Windows: []itopsv1alpha1.MaintenanceWindow{window("shop", "own", nil)},
		ClusterWindows: []itopsv1alpha1.MaintenanceWindow{
			window("itops-cluster", "everywhere", nil),
			window("itops-cluster", "prod-only", map[string]string{"env": "prod"}),
			window("itops-cluster", "dev-only", map[string]string{"env": "dev"}),
		},
		ClusterNamespace: "itops-cluster",
		NamespaceLabels:  map[string]string{"env": "prod"},
	}
	r := BuildStatus(in, "shop", now)
	got := make([]string, 0, len(r.Windows))
	for _, w := range r.Windows {
		got = append(got, w.Namespace+"/"+w.Name+" "+w.Scope)
	}
	want := "itops-cluster/everywhere cluster-wide (itops-cluster/everywhere): all workloads|itops-cluster/prod-only cluster-wide (itops-cluster/prod-only): all workloads|shop/own all workloads"
	if strings.Join(got, "|") != want {
		t.Errorf("windows\n%s\nwant\n%s", strings.Join(got, "|"), want)
	}
	if all := BuildStatus(in, "", now); len(all.Windows) != 1 {
		t.Errorf("-A lists every namespace's windows from its own list: %+v", all.Windows)
	}

	in = StatusInputs{Windows: in.Windows, ClusterNamespace: "itops-cluster",
		Notices: []string{"could not read the MaintenanceWindows of namespace itops-cluster: forbidden; the report may miss cluster-wide freezes"}}
	r = BuildStatus(in, "shop", now)
	var out strings.Builder
	if err := r.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "\nwarning: could not read the MaintenanceWindows of namespace itops-cluster: forbidden; the report may miss cluster-wide freezes\n") {
		t.Errorf("text:\n%s", out.String())
	}
}

// "(suppressed)" follows the Suppressed condition: a window that ended with the problem still
// present leaves suppressedBy on the record, and the incident is a normal open one (seen in
// the demo's maintenance story).
func TestStatusSuppressed(t *testing.T) {
	during := incident("shop", "during", "P1", itopsv1alpha1.IncidentOpen, time.Hour, 4*time.Hour)
	during.Status.SuppressedBy = "db-migration"
	during.Status.Conditions = []metav1.Condition{{Type: itopsv1alpha1.IncidentConditionSuppressed, Status: metav1.ConditionTrue}}
	after := incident("shop", "after", "P1", itopsv1alpha1.IncidentOpen, time.Hour, 4*time.Hour)
	after.Status.SuppressedBy = "db-migration"
	after.Status.Conditions = []metav1.Condition{{Type: itopsv1alpha1.IncidentConditionSuppressed, Status: metav1.ConditionFalse}}
	r := BuildStatus(StatusInputs{Incidents: []itopsv1alpha1.Incident{during, after}}, "shop", now)
	got := map[string]string{}
	for _, i := range r.Incidents {
		got[i.Name] = i.Phase
	}
	if got["during"] != "Open (suppressed)" || got["after"] != "Open" {
		t.Errorf("phases %v", got)
	}
}

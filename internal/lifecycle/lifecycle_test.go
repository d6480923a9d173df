package lifecycle

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

var now = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

func at(ago time.Duration) *metav1.Time { t := metav1.NewTime(now.Add(-ago)); return &t }

func TestDecide(t *testing.T) {
	open := &itopsv1alpha1.Incident{Status: itopsv1alpha1.IncidentStatus{Phase: itopsv1alpha1.IncidentOpen}}
	fresh := &itopsv1alpha1.Incident{} // created, not yet processed by the controller
	acked := &itopsv1alpha1.Incident{Status: itopsv1alpha1.IncidentStatus{Phase: itopsv1alpha1.IncidentAcknowledged}}
	autoCond := []metav1.Condition{{Type: itopsv1alpha1.IncidentConditionAutoResolved, Status: metav1.ConditionTrue}}
	autoRecent := &itopsv1alpha1.Incident{Status: itopsv1alpha1.IncidentStatus{Phase: itopsv1alpha1.IncidentResolved, ResolvedBy: "operator", ResolvedAt: at(10 * time.Minute), Conditions: autoCond}}
	autoOld := &itopsv1alpha1.Incident{Status: itopsv1alpha1.IncidentStatus{Phase: itopsv1alpha1.IncidentResolved, ResolvedBy: "operator", ResolvedAt: at(2 * time.Hour), Conditions: autoCond}}
	// A person whose user name is "operator" resolved it and withdrew the resolution: the
	// controller never marked it AutoResolved, so it is no auto-resolution to reopen.
	personNamedOperator := &itopsv1alpha1.Incident{Status: itopsv1alpha1.IncidentStatus{Phase: itopsv1alpha1.IncidentResolved, ResolvedBy: "operator", ResolvedAt: at(10 * time.Minute)}}
	manual := &itopsv1alpha1.Incident{
		Spec:   itopsv1alpha1.IncidentSpec{Resolution: &itopsv1alpha1.Resolution{Code: "Fixed", By: "bob"}},
		Status: itopsv1alpha1.IncidentStatus{Phase: itopsv1alpha1.IncidentResolved, ResolvedBy: "bob", ResolvedAt: at(time.Minute)},
	}
	manualNotYetProcessed := &itopsv1alpha1.Incident{
		Spec:   itopsv1alpha1.IncidentSpec{Resolution: &itopsv1alpha1.Resolution{Code: "Fixed", By: "bob"}},
		Status: itopsv1alpha1.IncidentStatus{Phase: itopsv1alpha1.IncidentOpen},
	}
	resolvedWhilePresent := manual.DeepCopy()
	resolvedWhilePresent.Status.Conditions = []metav1.Condition{{Type: itopsv1alpha1.IncidentConditionProblemPresent, Status: metav1.ConditionTrue}}
	resolvedThenRecovered := manual.DeepCopy()
	resolvedThenRecovered.Status.Conditions = []metav1.Condition{{Type: itopsv1alpha1.IncidentConditionProblemPresent, Status: metav1.ConditionFalse}}
	closed := &itopsv1alpha1.Incident{Status: itopsv1alpha1.IncidentStatus{Phase: itopsv1alpha1.IncidentClosed, ResolvedBy: "operator", ResolvedAt: at(time.Minute)}}
	deleting := &itopsv1alpha1.Incident{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: at(0)}}

	tests := []struct {
		name   string
		latest *itopsv1alpha1.Incident
		want   Decision
	}{
		{"no incident yet", nil, OpenNew},
		{"open", open, Attach},
		{"just created", fresh, Attach},
		{"acknowledged", acked, Attach},
		{"auto-resolved within the reopen window", autoRecent, Attach},
		{"auto-resolved beyond the reopen window", autoOld, OpenNew},
		{"resolvedBy operator without the AutoResolved mark is no auto-resolution", personNamedOperator, OpenNew},
		{"resolved by a person", manual, OpenNew},
		{"resolution given, not yet processed", manualNotYetProcessed, OpenNew},
		{"resolved by a person while the problem persists: the same occurrence", resolvedWhilePresent, Continue},
		{"resolved by a person, recovered, then back: a recurrence", resolvedThenRecovered, OpenNew},
		{"closed", closed, OpenNew},
		{"being deleted", deleting, OpenNew},
	}
	for _, tt := range tests {
		if got := Decide(tt.latest, now, DefaultPolicy); got != tt.want {
			t.Errorf("%s: Decide = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestLatest(t *testing.T) {
	mk := func(name string, created time.Duration) itopsv1alpha1.Incident {
		return itopsv1alpha1.Incident{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: *at(created)}}
	}
	if Latest(nil) != nil {
		t.Error("Latest(nil) != nil")
	}
	got := Latest([]itopsv1alpha1.Incident{mk("web-crash-2", time.Hour), mk("web-crash", 2*time.Hour), mk("web-crash-3", 10*time.Minute)})
	if got.Name != "web-crash-3" {
		t.Errorf("Latest = %s, want the newest", got.Name)
	}
	// Created within the same second: the higher sequence wins (-10 after -9).
	got = Latest([]itopsv1alpha1.Incident{mk("web-crash-10", 0), mk("web-crash-9", 0)})
	if got.Name != "web-crash-10" {
		t.Errorf("Latest = %s, want web-crash-10", got.Name)
	}
}

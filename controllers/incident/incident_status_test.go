package incident

import (
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

var now = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

func TestComputeStatus(t *testing.T) {
	ackAt := metav1.NewTime(now.Add(-time.Minute))
	tests := []struct {
		name            string
		inc             itopsv1alpha1.Incident
		wantPhase       itopsv1alpha1.IncidentPhase
		wantPriority    itopsv1alpha1.Priority
		wantTransitions []string
	}{
		{
			name:            "a new manual incident opens with its priority",
			inc:             itopsv1alpha1.Incident{Spec: itopsv1alpha1.IncidentSpec{Title: "x", Impact: "High", Urgency: "High", Source: "Manual"}},
			wantPhase:       itopsv1alpha1.IncidentOpen,
			wantPriority:    "P1",
			wantTransitions: []string{"Opened"},
		},
		{
			name: "acknowledgement moves it to Acknowledged",
			inc: itopsv1alpha1.Incident{
				Spec: itopsv1alpha1.IncidentSpec{Title: "x", Impact: "Low", Urgency: "Medium",
					Acknowledgement: &itopsv1alpha1.Acknowledgement{By: "alice", At: &ackAt}},
				Status: itopsv1alpha1.IncidentStatus{DetectedAt: &ackAt, Priority: "P4", Phase: "Open"},
			},
			wantPhase:       itopsv1alpha1.IncidentAcknowledged,
			wantPriority:    "P4",
			wantTransitions: []string{"Acknowledged"},
		},
		{
			name: "resolution wins over acknowledgement",
			inc: itopsv1alpha1.Incident{
				Spec: itopsv1alpha1.IncidentSpec{Title: "x", Impact: "Low", Urgency: "Low",
					Acknowledgement: &itopsv1alpha1.Acknowledgement{By: "alice", At: &ackAt},
					Resolution:      &itopsv1alpha1.Resolution{By: "bob", Code: "Fixed"}},
				Status: itopsv1alpha1.IncidentStatus{DetectedAt: &ackAt, AcknowledgedAt: &ackAt, Priority: "P5", Phase: "Acknowledged"},
			},
			wantPhase:       itopsv1alpha1.IncidentResolved,
			wantPriority:    "P5",
			wantTransitions: []string{"Resolved"},
		},
		{
			name: "a priority change is recorded",
			inc: itopsv1alpha1.Incident{
				Spec:   itopsv1alpha1.IncidentSpec{Title: "x", Impact: "High", Urgency: "Medium"},
				Status: itopsv1alpha1.IncidentStatus{DetectedAt: &ackAt, Priority: "P3", Phase: "Open"},
			},
			wantPhase:       itopsv1alpha1.IncidentOpen,
			wantPriority:    "P2",
			wantTransitions: []string{"Reprioritized"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, trs := computeStatus(&tt.inc, now)
			if st.Phase != tt.wantPhase || st.Priority != tt.wantPriority {
				t.Errorf("phase/priority = %s/%s, want %s/%s", st.Phase, st.Priority, tt.wantPhase, tt.wantPriority)
			}
			var got []string
			for _, tr := range trs {
				got = append(got, tr.Type)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.wantTransitions) {
				t.Errorf("transitions = %v, want %v", got, tt.wantTransitions)
			}
			if !meta.IsStatusConditionTrue(st.Conditions, itopsv1alpha1.ConditionReady) {
				t.Errorf("Ready condition not True: %v", st.Conditions)
			}
			// A second pass over the result is a no-op: the reconciler is idempotent.
			again := tt.inc.DeepCopy()
			again.Status = st
			if _, trs2 := computeStatus(again, now.Add(time.Minute)); len(trs2) != 0 {
				t.Errorf("second pass produced transitions %v", trs2)
			}
		})
	}
}

func TestAppendTimelineIsBounded(t *testing.T) {
	var tl []itopsv1alpha1.TimelineEntry
	var omitted int32
	for i := range 120 {
		tl, omitted = appendTimeline(tl, omitted, itopsv1alpha1.TimelineEntry{Type: fmt.Sprint(i)})
	}
	if len(tl) != itopsv1alpha1.MaxTimelineEntries {
		t.Fatalf("len = %d, want %d", len(tl), itopsv1alpha1.MaxTimelineEntries)
	}
	if tl[0].Type != "0" || tl[len(tl)-1].Type != "119" || tl[1].Type != "71" {
		t.Errorf("kept %s, %s ... %s; want the first and the latest entries", tl[0].Type, tl[1].Type, tl[len(tl)-1].Type)
	}
	if omitted != 70 {
		t.Errorf("omitted = %d, want 70", omitted)
	}
}

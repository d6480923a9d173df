package incident

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/maintenance"
)

func TestSLADeadlines(t *testing.T) {
	targets := []itopsv1alpha1.SLATarget{{Priority: itopsv1alpha1.PriorityP3,
		RespondWithin: &metav1.Duration{Duration: 90 * time.Minute}, ResolveWithin: &metav1.Duration{Duration: 4 * time.Hour}}}
	window := &itopsv1alpha1.MaintenanceWindow{ObjectMeta: metav1.ObjectMeta{Name: "db-upgrade"}}
	tests := []struct {
		name            string
		inc             *itopsv1alpha1.Incident
		ex              extras
		wantPriority    itopsv1alpha1.Priority
		wantResponseDue *metav1.Time
		wantBreached    metav1.ConditionStatus
		wantTransitions string
		wantRequeue     time.Duration
	}{
		{
			name: "an open P3 incident gets its deadlines; requeue at the response deadline",
			inc:  incident(opened), ex: extras{slaTargets: targets},
			wantPriority: "P3", wantResponseDue: at(-30 * time.Minute), wantBreached: metav1.ConditionFalse,
			wantRequeue: 30 * time.Minute,
		},
		{
			name: "no target for the priority: no deadlines",
			inc:  incident(opened, func(i *itopsv1alpha1.Incident) { i.Spec.Impact = "High" }), ex: extras{slaTargets: targets},
			wantPriority: "P2", wantTransitions: "Reprioritized",
		},
		{
			name: "the response deadline passes unacknowledged: breached, escalated to P2",
			inc:  incident(opened, func(i *itopsv1alpha1.Incident) { i.Status.DetectedAt = at(2 * time.Hour) }), ex: extras{slaTargets: targets},
			wantPriority: "P2", wantResponseDue: at(30 * time.Minute), wantBreached: metav1.ConditionTrue,
			wantTransitions: "ResponseSLABreached,Reprioritized", wantRequeue: 2 * time.Hour,
		},
		{
			name: "acknowledged in time: met",
			inc: incident(opened, func(i *itopsv1alpha1.Incident) {
				i.Status.DetectedAt = at(2 * time.Hour)
				i.Spec.Acknowledgement = &itopsv1alpha1.Acknowledgement{By: "alice", At: at(time.Hour)}
				i.Status.AcknowledgedAt, i.Status.Phase = at(time.Hour), itopsv1alpha1.IncidentAcknowledged
			}),
			ex:           extras{slaTargets: targets},
			wantPriority: "P3", wantResponseDue: at(30 * time.Minute), wantBreached: metav1.ConditionFalse,
			wantRequeue: 2 * time.Hour,
		},
		{
			name:         "suppressed by a maintenance window: no clock",
			inc:          incident(opened, func(i *itopsv1alpha1.Incident) { i.Status.DetectedAt = at(3 * time.Hour) }),
			ex:           extras{slaTargets: targets, suppression: maintenance.Suppression{Window: window, Until: now.Add(time.Hour)}},
			wantPriority: "P3", wantTransitions: "Suppressed", wantRequeue: time.Hour,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := compute(tt.inc, now, policy, tt.ex)
			st := d.Status
			if st.Priority != tt.wantPriority {
				t.Errorf("priority = %s, want %s", st.Priority, tt.wantPriority)
			}
			if (st.ResponseDueAt == nil) != (tt.wantResponseDue == nil) || (st.ResponseDueAt != nil && !st.ResponseDueAt.Equal(tt.wantResponseDue)) {
				t.Errorf("responseDueAt = %v, want %v", st.ResponseDueAt, tt.wantResponseDue)
			}
			c := meta.FindStatusCondition(st.Conditions, itopsv1alpha1.IncidentConditionResponseSLABreached)
			if (c == nil && tt.wantBreached != "") || (c != nil && c.Status != tt.wantBreached) {
				t.Errorf("ResponseSLABreached = %+v, want %q", c, tt.wantBreached)
			}
			var got []string
			for _, tr := range d.Transitions {
				got = append(got, tr.Type)
			}
			if strings.Join(got, ",") != tt.wantTransitions {
				t.Errorf("transitions = %v, want %s", got, tt.wantTransitions)
			}
			if d.RequeueAfter != tt.wantRequeue {
				t.Errorf("requeue = %s, want %s", d.RequeueAfter, tt.wantRequeue)
			}
			again := tt.inc.DeepCopy()
			again.Status = st
			if d2 := compute(again, now, policy, tt.ex); len(d2.Transitions) != 0 || d2.Status.Priority != st.Priority {
				t.Errorf("second pass produced %v, priority %s", d2.Transitions, d2.Status.Priority)
			}
		})
	}
}

package incident

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/lifecycle"
)

var (
	now    = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	policy = lifecycle.Policy{ResolveAfter: 5 * time.Minute, ReopenWindow: time.Hour, CloseAfter: 24 * time.Hour, DeleteClosedAfter: 720 * time.Hour}
)

func at(ago time.Duration) *metav1.Time { t := metav1.NewTime(now.Add(-ago)); return &t }

// incident builds an incident; opts adjust it.
func incident(opts ...func(*itopsv1alpha1.Incident)) *itopsv1alpha1.Incident {
	inc := &itopsv1alpha1.Incident{
		ObjectMeta: metav1.ObjectMeta{Name: "x", Generation: 1, CreationTimestamp: *at(time.Hour)},
		Spec:       itopsv1alpha1.IncidentSpec{Title: "x", Impact: "Medium", Urgency: "Medium", Source: "Manual"},
	}
	for _, o := range opts {
		o(inc)
	}
	return inc
}

func opened(inc *itopsv1alpha1.Incident) {
	inc.Status.DetectedAt, inc.Status.LastSeenAt, inc.Status.Occurrences = at(time.Hour), at(time.Hour), 1
	inc.Status.Priority, inc.Status.Phase = "P3", itopsv1alpha1.IncidentOpen
}

func automated(inc *itopsv1alpha1.Incident) {
	inc.Spec.Source, inc.Spec.Reason, inc.Spec.Fingerprint = "HealthCheck", "CrashLoopBackOff", "hc-1"
}

func problem(status metav1.ConditionStatus, since time.Duration) func(*itopsv1alpha1.Incident) {
	return func(inc *itopsv1alpha1.Incident) {
		meta.SetStatusCondition(&inc.Status.Conditions, metav1.Condition{
			Type: itopsv1alpha1.IncidentConditionProblemPresent, Status: status, Reason: "Observed",
			Message: "container app: CrashLoopBackOff", LastTransitionTime: *at(since),
		})
	}
}

func autoResolvedAgo(ago time.Duration) func(*itopsv1alpha1.Incident) {
	return func(inc *itopsv1alpha1.Incident) {
		inc.Status.Phase, inc.Status.ResolvedAt, inc.Status.ResolvedBy = itopsv1alpha1.IncidentResolved, at(ago), itopsv1alpha1.ResolvedByOperator
		meta.SetStatusCondition(&inc.Status.Conditions, metav1.Condition{Type: itopsv1alpha1.IncidentConditionAutoResolved,
			Status: metav1.ConditionTrue, Reason: itopsv1alpha1.ReasonHealthy, LastTransitionTime: *at(ago)})
	}
}

func resolvedBy(who string, ago time.Duration) func(*itopsv1alpha1.Incident) {
	return func(inc *itopsv1alpha1.Incident) {
		inc.Spec.Resolution = &itopsv1alpha1.Resolution{By: who, At: at(ago), Code: "Fixed"}
	}
}

func TestComputeStatus(t *testing.T) {
	tests := []struct {
		name            string
		inc             *itopsv1alpha1.Incident
		wantPhase       itopsv1alpha1.IncidentPhase
		wantPriority    itopsv1alpha1.Priority
		wantTransitions string
		wantRequeue     time.Duration
		wantDelete      bool
		check           func(t *testing.T, st itopsv1alpha1.IncidentStatus)
	}{
		{
			name:      "a new manual incident opens with its priority, detected at creation",
			inc:       incident(func(i *itopsv1alpha1.Incident) { i.Spec.Impact, i.Spec.Urgency = "High", "High" }),
			wantPhase: "Open", wantPriority: "P1", wantTransitions: "Opened",
			check: func(t *testing.T, st itopsv1alpha1.IncidentStatus) {
				if !st.DetectedAt.Equal(at(time.Hour)) || st.Occurrences != 1 {
					t.Errorf("detectedAt %s occurrences %d", st.DetectedAt, st.Occurrences)
				}
			},
		},
		{
			name: "acknowledgement moves it to Acknowledged",
			inc: incident(opened, func(i *itopsv1alpha1.Incident) {
				i.Spec.Acknowledgement = &itopsv1alpha1.Acknowledgement{By: "alice", At: at(time.Minute), Note: "on it"}
			}),
			wantPhase: "Acknowledged", wantPriority: "P3", wantTransitions: "Acknowledged",
			check: func(t *testing.T, st itopsv1alpha1.IncidentStatus) {
				if !st.AcknowledgedAt.Equal(at(time.Minute)) || st.Timeline[0].Message != "acknowledged by alice: on it" {
					t.Errorf("acknowledgedAt %s timeline %+v", st.AcknowledgedAt, st.Timeline)
				}
			},
		},
		{
			name:      "a person's resolution resolves it and starts the close clock",
			inc:       incident(opened, resolvedBy("bob", 0)),
			wantPhase: "Resolved", wantPriority: "P3", wantTransitions: "Resolved", wantRequeue: 24 * time.Hour,
			check: func(t *testing.T, st itopsv1alpha1.IncidentStatus) {
				if st.ResolvedBy != "bob" {
					t.Errorf("resolvedBy %q", st.ResolvedBy)
				}
			},
		},
		{
			name: "health detection's annotations become detectedAt and previous",
			inc: incident(automated, func(i *itopsv1alpha1.Incident) {
				i.Annotations = map[string]string{
					itopsv1alpha1.AnnotationDetectedAt: "2026-11-24T09:58:30Z",
					itopsv1alpha1.AnnotationPrevious:   "deployment-web-crashloopbackoff",
				}
			}),
			wantPhase: "Open", wantPriority: "P3", wantTransitions: "Opened",
			check: func(t *testing.T, st itopsv1alpha1.IncidentStatus) {
				if !st.DetectedAt.Equal(at(90*time.Second)) || st.Previous != "deployment-web-crashloopbackoff" {
					t.Errorf("detectedAt %s previous %q", st.DetectedAt, st.Previous)
				}
				if !strings.Contains(st.Timeline[0].Message, "recurs after deployment-web-crashloopbackoff") {
					t.Errorf("timeline %+v", st.Timeline)
				}
			},
		},
		{
			name:      "a priority change is recorded",
			inc:       incident(opened, func(i *itopsv1alpha1.Incident) { i.Spec.Impact = "High" }),
			wantPhase: "Open", wantPriority: "P2", wantTransitions: "Reprioritized",
		},
		{
			name:      "recovering within resolve-after stays open, requeued exactly at the boundary",
			inc:       incident(automated, opened, problem(metav1.ConditionFalse, 2*time.Minute)),
			wantPhase: "Open", wantPriority: "P3", wantTransitions: "Recovered", wantRequeue: 3 * time.Minute,
		},
		{
			name:      "healthy for resolve-after auto-resolves",
			inc:       incident(automated, opened, problem(metav1.ConditionFalse, 5*time.Minute)),
			wantPhase: "Resolved", wantPriority: "P3", wantTransitions: "Recovered,AutoResolved", wantRequeue: 24 * time.Hour,
			check: func(t *testing.T, st itopsv1alpha1.IncidentStatus) {
				if st.ResolvedBy != itopsv1alpha1.ResolvedByOperator || !st.ResolvedAt.Equal(at(0)) {
					t.Errorf("resolvedBy %q at %s", st.ResolvedBy, st.ResolvedAt)
				}
			},
		},
		{
			name:      "a flap (present again) does not resolve",
			inc:       incident(automated, opened, problem(metav1.ConditionTrue, time.Minute)),
			wantPhase: "Open", wantPriority: "P3",
		},
		{
			name: "a problem back while the incident is open is recorded as a recurrence",
			inc: incident(automated, opened, problem(metav1.ConditionTrue, time.Minute), func(i *itopsv1alpha1.Incident) {
				i.Status.Timeline = []itopsv1alpha1.TimelineEntry{{At: *at(time.Hour), Type: "Opened"}, {At: *at(2 * time.Minute), Type: "Recovered"}}
			}),
			wantPhase: "Open", wantPriority: "P3", wantTransitions: "Recurred",
		},
		{
			name:      "an auto-resolved incident reopens when the problem returns within the window",
			inc:       incident(automated, opened, autoResolvedAgo(10*time.Minute), problem(metav1.ConditionTrue, time.Minute)),
			wantPhase: "Open", wantPriority: "P3", wantTransitions: "Reopened",
			check: func(t *testing.T, st itopsv1alpha1.IncidentStatus) {
				if st.ResolvedAt != nil || st.ResolvedBy != "" {
					t.Errorf("resolution kept after reopening: %s %q", st.ResolvedAt, st.ResolvedBy)
				}
				if !strings.Contains(st.Timeline[0].Message, "returned 9m0s after auto-resolution") {
					t.Errorf("timeline %+v", st.Timeline)
				}
			},
		},
		{
			name: "an acknowledged incident reopens as Acknowledged",
			inc: incident(automated, opened, autoResolvedAgo(10*time.Minute), problem(metav1.ConditionTrue, time.Minute), func(i *itopsv1alpha1.Incident) {
				i.Spec.Acknowledgement = &itopsv1alpha1.Acknowledgement{By: "a"}
				i.Status.AcknowledgedAt = at(time.Hour)
			}),
			wantPhase: "Acknowledged", wantPriority: "P3", wantTransitions: "Reopened",
		},
		{
			name:      "beyond the reopen window it stays resolved (detection opens a new incident)",
			inc:       incident(automated, opened, autoResolvedAgo(2*time.Hour), problem(metav1.ConditionTrue, time.Minute)),
			wantPhase: "Resolved", wantPriority: "P3", wantRequeue: 22 * time.Hour,
		},
		{
			name: "a person's resolution is final even when the problem returns",
			inc: incident(automated, opened, resolvedBy("bob", 10*time.Minute), problem(metav1.ConditionTrue, time.Minute), func(i *itopsv1alpha1.Incident) {
				i.Status.Phase, i.Status.ResolvedAt, i.Status.ResolvedBy = "Resolved", at(10*time.Minute), "bob"
			}),
			wantPhase: "Resolved", wantPriority: "P3", wantRequeue: 24*time.Hour - 10*time.Minute,
		},
		{
			name:      "a person resolving an auto-resolved incident is recorded",
			inc:       incident(automated, opened, autoResolvedAgo(10*time.Minute), resolvedBy("carol", 0)),
			wantPhase: "Resolved", wantPriority: "P3", wantTransitions: "Resolved", wantRequeue: 24 * time.Hour,
		},
		{
			name: "a person withdrawing a resolution reopens the incident",
			inc: incident(opened, func(i *itopsv1alpha1.Incident) {
				i.Status.Phase, i.Status.ResolvedAt, i.Status.ResolvedBy = "Resolved", at(time.Minute), "bob"
			}),
			wantPhase: "Open", wantPriority: "P3", wantTransitions: "Reopened",
			check: func(t *testing.T, st itopsv1alpha1.IncidentStatus) {
				if st.ResolvedAt != nil || st.ResolvedBy != "" {
					t.Errorf("resolution kept: %s %q", st.ResolvedAt, st.ResolvedBy)
				}
			},
		},
		{
			name: "withdrawing an acknowledgement clears it",
			inc: incident(opened, func(i *itopsv1alpha1.Incident) {
				i.Status.Phase, i.Status.AcknowledgedAt = "Acknowledged", at(time.Minute)
			}),
			wantPhase: "Open", wantPriority: "P3", wantTransitions: "Unacknowledged",
		},
		{
			name:      "resolved incidents close after the retention",
			inc:       incident(automated, opened, autoResolvedAgo(25*time.Hour)),
			wantPhase: "Closed", wantPriority: "P3", wantTransitions: "Closed", wantRequeue: 720 * time.Hour,
		},
		{
			name:      "closed incidents are deleted after their retention",
			inc:       incident(automated, opened, autoResolvedAgo(800*time.Hour), func(i *itopsv1alpha1.Incident) { i.Status.Phase, i.Status.ClosedAt = "Closed", at(721*time.Hour) }),
			wantPhase: "Closed", wantPriority: "P3", wantDelete: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := computeStatus(tt.inc, now, policy)
			st := d.Status
			if st.Phase != tt.wantPhase || st.Priority != tt.wantPriority {
				t.Errorf("phase/priority = %s/%s, want %s/%s", st.Phase, st.Priority, tt.wantPhase, tt.wantPriority)
			}
			var got []string
			for _, tr := range d.Transitions {
				got = append(got, tr.Type)
			}
			if strings.Join(got, ",") != tt.wantTransitions {
				t.Errorf("transitions = %v, want %s", got, tt.wantTransitions)
			}
			if d.RequeueAfter != tt.wantRequeue || d.Delete != tt.wantDelete {
				t.Errorf("requeue/delete = %s/%v, want %s/%v", d.RequeueAfter, d.Delete, tt.wantRequeue, tt.wantDelete)
			}
			if len(st.Timeline) != len(tt.inc.Status.Timeline)+len(d.Transitions) {
				t.Errorf("timeline has %d entries for %d transitions", len(st.Timeline), len(d.Transitions))
			}
			if ready := meta.FindStatusCondition(st.Conditions, itopsv1alpha1.ConditionReady); ready == nil ||
				ready.Status != metav1.ConditionTrue || !ready.LastTransitionTime.Time.Equal(now) || st.ObservedGeneration != 1 {
				t.Errorf("Ready/observedGeneration not set: %v %d", st.Conditions, st.ObservedGeneration)
			}
			if tt.check != nil {
				tt.check(t, st)
			}
			// Idempotent: a second pass over the result at the same instant changes nothing.
			again := tt.inc.DeepCopy()
			again.Status = st
			if d2 := computeStatus(again, now, policy); len(d2.Transitions) != 0 {
				t.Errorf("second pass produced transitions %v", d2.Transitions)
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

package incident

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

func runStep(step func(*state), inc *itopsv1alpha1.Incident, ex extras) *state {
	s := &state{inc: inc, now: now, p: policy, ex: ex, st: *inc.Status.DeepCopy()}
	stepPriority(s)
	step(s)
	return s
}

func types(s *state) []string {
	out := make([]string, 0, len(s.out))
	for _, t := range s.out {
		out = append(out, t.Type)
	}
	return out
}

func withSignals(signals ...itopsv1alpha1.Signal) func(*itopsv1alpha1.Incident) {
	return func(inc *itopsv1alpha1.Incident) { inc.Status.Signals = signals }
}

func signal(reason string, p itopsv1alpha1.Priority, active bool) itopsv1alpha1.Signal {
	return itopsv1alpha1.Signal{Reason: reason, Priority: p, Active: active, Count: 1, Since: *at(time.Hour), LastSeenAt: *at(time.Minute)}
}

func TestStepPriority(t *testing.T) {
	tests := []struct {
		name string
		inc  *itopsv1alpha1.Incident
		want itopsv1alpha1.Priority
	}{
		{"manual: the ITIL matrix", incident(opened), "P3"},
		{"signals: the most urgent active one", incident(opened, withSignals(signal("OOMKilled", "P3", true), signal("CrashLoopBackOff", "P2", true))), "P2"},
		{"a cleared signal no longer raises it", incident(opened, withSignals(signal("WorkloadUnavailable", "P1", false), signal("CrashLoopBackOff", "P2", true))), "P2"},
	}
	for _, tt := range tests {
		if got := runStep(func(*state) {}, tt.inc, extras{}).st.Priority; got != tt.want {
			t.Errorf("%s: priority = %s, want %s", tt.name, got, tt.want)
		}
	}
}

// A person whose user name is "operator" resolves an incident: recorded once, not on every pass.
func TestStepPersonResolutionByAUserNamedOperator(t *testing.T) {
	byOperator := func(inc *itopsv1alpha1.Incident) {
		inc.Spec.Resolution = &itopsv1alpha1.Resolution{By: itopsv1alpha1.ResolvedByOperator, At: at(time.Minute), Code: "Fixed"}
	}
	inc := incident(opened, byOperator)
	first := runStep(stepPersonResolution, inc, extras{})
	if got := types(first); len(got) != 1 || got[0] != TransitionResolved {
		t.Fatalf("first pass transitions = %v, want one Resolved", got)
	}
	// The second pass sees what the first persisted.
	inc.Status = first.st
	inc.Status.Phase = itopsv1alpha1.IncidentResolved
	if got := types(runStep(stepPersonResolution, inc, extras{})); len(got) != 0 {
		t.Errorf("second pass transitions = %v, want none", got)
	}
	// compute as a whole is idempotent too.
	d := compute(inc, now, policy, extras{})
	inc.Status = d.Status
	if d2 := compute(inc, now.Add(time.Second), policy, extras{}); len(d2.Transitions) != 0 {
		t.Errorf("compute keeps emitting %v for a person named operator", d2.Transitions)
	}
}

func TestStepPersonResolutionReplacesAutoResolution(t *testing.T) {
	inc := incident(opened, autoResolvedAgo(time.Minute), resolvedBy("alice", 0))
	s := runStep(stepPersonResolution, inc, extras{})
	if got := types(s); len(got) != 1 || s.st.ResolvedBy != "alice" {
		t.Fatalf("transitions = %v, resolvedBy = %s; want alice's resolution recorded", got, s.st.ResolvedBy)
	}
	if meta.FindStatusCondition(s.st.Conditions, itopsv1alpha1.IncidentConditionAutoResolved) != nil {
		t.Error("AutoResolved kept after a person resolved")
	}
}

func TestStepPersonResolutionMigratesLegacyAutoResolution(t *testing.T) {
	legacy := func(inc *itopsv1alpha1.Incident) {
		inc.Status.Phase, inc.Status.ResolvedAt, inc.Status.ResolvedBy = itopsv1alpha1.IncidentResolved, at(time.Minute), itopsv1alpha1.ResolvedByOperator
		inc.Status.Timeline = []itopsv1alpha1.TimelineEntry{{Type: TransitionOpened}, {Type: TransitionAutoResolved}}
	}
	s := runStep(stepPersonResolution, incident(opened, legacy), extras{})
	if !meta.IsStatusConditionTrue(s.st.Conditions, itopsv1alpha1.IncidentConditionAutoResolved) {
		t.Error("an incident the old operator auto-resolved (timeline) is not marked AutoResolved")
	}
	person := func(inc *itopsv1alpha1.Incident) {
		legacy(inc)
		inc.Status.Timeline = []itopsv1alpha1.TimelineEntry{{Type: TransitionOpened}, {Type: TransitionResolved}}
	}
	if s := runStep(stepPersonResolution, incident(opened, person), extras{}); meta.FindStatusCondition(s.st.Conditions, itopsv1alpha1.IncidentConditionAutoResolved) != nil {
		t.Error("a person's resolution is taken for an auto-resolution")
	}
}

func TestStepPhaseAutoResolutionMarker(t *testing.T) {
	healthy := incident(opened, automated, problem(metav1.ConditionFalse, 10*time.Minute))
	s := runStep(stepPhase, healthy, extras{})
	if s.st.Phase != itopsv1alpha1.IncidentResolved || !meta.IsStatusConditionTrue(s.st.Conditions, itopsv1alpha1.IncidentConditionAutoResolved) {
		t.Fatalf("phase %s, conditions %+v; want Resolved with AutoResolved=True", s.st.Phase, s.st.Conditions)
	}
	back := incident(opened, automated, autoResolvedAgo(10*time.Minute), problem(metav1.ConditionTrue, time.Minute))
	s = runStep(stepPhase, back, extras{})
	if s.st.Phase != itopsv1alpha1.IncidentOpen || meta.FindStatusCondition(s.st.Conditions, itopsv1alpha1.IncidentConditionAutoResolved) != nil {
		t.Errorf("phase %s; want reopened without the AutoResolved mark", s.st.Phase)
	}
}

func TestStepCause(t *testing.T) {
	nodeInc := &itopsv1alpha1.Incident{ObjectMeta: metav1.ObjectMeta{Name: "node-n1", Namespace: "itops-cluster"},
		Status: itopsv1alpha1.IncidentStatus{Phase: itopsv1alpha1.IncidentOpen, Priority: "P2"}}
	resolvedCause := nodeInc.DeepCopy()
	resolvedCause.Status.Phase = itopsv1alpha1.IncidentResolved
	causedByNode := func(inc *itopsv1alpha1.Incident) {
		inc.Status.CausedBy = &itopsv1alpha1.IncidentReference{Kind: "Incident", Namespace: "itops-cluster", Name: "node-n1"}
	}
	causedByChange := func(inc *itopsv1alpha1.Incident) {
		inc.Status.CausedBy = &itopsv1alpha1.IncidentReference{Kind: "ChangeRequest", Namespace: "shop", Name: "v2"}
	}
	wasSymptom := func(inc *itopsv1alpha1.Incident) {
		inc.Status.Conditions = append(inc.Status.Conditions, metav1.Condition{Type: itopsv1alpha1.IncidentConditionSymptom, Status: metav1.ConditionTrue})
	}
	unavailable := withSignals(signal("WorkloadUnavailable", "P1", true))
	tests := []struct {
		name        string
		inc         *itopsv1alpha1.Incident
		ex          extras
		wantP       itopsv1alpha1.Priority
		wantSymptom metav1.ConditionStatus
		wantTr      string
	}{
		{"symptom of an open node incident: capped, marked", incident(opened, unavailable, causedByNode), extras{cause: nodeInc}, "P2", metav1.ConditionTrue, TransitionLinked},
		{"already a symptom: no new transition", incident(opened, unavailable, causedByNode, wasSymptom), extras{cause: nodeInc}, "P2", metav1.ConditionTrue, ""},
		{"cause resolved: stands on its own", incident(opened, unavailable, causedByNode, wasSymptom), extras{cause: resolvedCause}, "P1", metav1.ConditionFalse, TransitionUnlinked},
		{"caused by a change: not a symptom, not capped", incident(opened, unavailable, causedByChange), extras{}, "P1", "", ""},
		{"no cause", incident(opened, unavailable), extras{}, "P1", "", ""},
	}
	for _, tt := range tests {
		s := runStep(stepCause, tt.inc, tt.ex)
		var status metav1.ConditionStatus
		if c := meta.FindStatusCondition(s.st.Conditions, itopsv1alpha1.IncidentConditionSymptom); c != nil {
			status = c.Status
		}
		tr := ""
		if len(s.out) > 0 {
			tr = s.out[0].Type
		}
		if s.st.Priority != tt.wantP || status != tt.wantSymptom || tr != tt.wantTr {
			t.Errorf("%s: priority %s, Symptom %q, transition %q; want %s, %q, %q", tt.name, s.st.Priority, status, tr, tt.wantP, tt.wantSymptom, tt.wantTr)
		}
	}
	symptoms := []itopsv1alpha1.IncidentReference{{Kind: "Incident", Namespace: "a", Name: "daemonset-agent"}}
	if s := runStep(stepCause, incident(opened), extras{symptoms: symptoms}); len(s.st.Symptoms) != 1 || s.st.Symptoms[0].Name != "daemonset-agent" {
		t.Errorf("symptoms = %+v", s.st.Symptoms)
	}
}

// TestSteps runs each remaining lifecycle step on its own: given an incident, the status
// fields and transitions that step alone produces.
func TestSteps(t *testing.T) {
	acked := func(inc *itopsv1alpha1.Incident) {
		inc.Spec.Acknowledgement = &itopsv1alpha1.Acknowledgement{By: "alice", At: at(time.Minute)}
	}
	ackRecorded := func(inc *itopsv1alpha1.Incident) { inc.Status.AcknowledgedAt = at(time.Minute) }
	resolvedByAlice := func(inc *itopsv1alpha1.Incident) {
		inc.Status.Phase, inc.Status.ResolvedAt, inc.Status.ResolvedBy = itopsv1alpha1.IncidentResolved, at(time.Minute), "alice"
	}
	resolvedLongAgo := func(inc *itopsv1alpha1.Incident) {
		inc.Status.Phase, inc.Status.ResolvedAt, inc.Status.ResolvedBy = itopsv1alpha1.IncidentResolved, at(25*time.Hour), "alice"
	}
	closedLongAgo := func(inc *itopsv1alpha1.Incident) {
		inc.Status.Phase, inc.Status.ClosedAt = itopsv1alpha1.IncidentClosed, at(721*time.Hour)
	}
	fresh := func(inc *itopsv1alpha1.Incident) {
		inc.Annotations = map[string]string{itopsv1alpha1.AnnotationDetectedAt: at(2 * time.Hour).UTC().Format(time.RFC3339)}
	}
	tests := []struct {
		name   string
		step   func(*state)
		inc    *itopsv1alpha1.Incident
		want   []string
		check  func(s *state) bool
		remove bool
	}{
		{name: "opened once, dated by the detector", step: stepOpened, inc: incident(fresh), want: []string{TransitionOpened},
			check: func(s *state) bool { return s.st.DetectedAt.Equal(at(2*time.Hour)) && s.st.Occurrences == 1 }},
		{name: "opened: nothing on later passes", step: stepOpened, inc: incident(opened)},
		{name: "acknowledgement recorded once", step: stepAcknowledgement, inc: incident(opened, acked), want: []string{TransitionAcknowledged},
			check: func(s *state) bool { return s.st.AcknowledgedAt != nil }},
		{name: "acknowledgement already recorded", step: stepAcknowledgement, inc: incident(opened, acked, ackRecorded)},
		{name: "withdrawn resolution reopens", step: stepWithdrawals, inc: incident(opened, resolvedByAlice), want: []string{TransitionReopened},
			check: func(s *state) bool { return s.st.ResolvedAt == nil }},
		{name: "withdrawn acknowledgement", step: stepWithdrawals, inc: incident(opened, ackRecorded), want: []string{TransitionUnacknowledged}},
		{name: "an auto-resolution is no withdrawal", step: stepWithdrawals, inc: incident(opened, autoResolvedAgo(time.Minute))},
		{name: "closes after closeAfter", step: stepClose, inc: incident(opened, resolvedLongAgo), want: []string{TransitionClosed},
			check: func(s *state) bool { return s.st.Phase == itopsv1alpha1.IncidentClosed }},
		{name: "not yet closed: requeued at closeAfter", step: stepClose, inc: incident(opened, resolvedByAlice),
			check: func(s *state) bool { return s.next.Equal(at(time.Minute).Add(24 * time.Hour)) }},
		{name: "deleted after its retention", step: stepRetention, inc: incident(opened, closedLongAgo), remove: true},
		{name: "recovered", step: stepObservation, inc: incident(opened, automated, problem(metav1.ConditionFalse, time.Minute)), want: []string{TransitionRecovered}},
		{name: "reprioritized", step: func(s *state) { s.st.Priority = "P1"; stepReprioritized(s) }, inc: incident(opened), want: []string{TransitionReprioritized}},
	}
	for _, tt := range tests {
		s := runStep(tt.step, tt.inc, extras{})
		got := types(s)
		if len(got) != len(tt.want) || (len(got) > 0 && got[0] != tt.want[0]) {
			t.Errorf("%s: transitions %v, want %v", tt.name, got, tt.want)
		}
		if tt.check != nil && !tt.check(s) {
			t.Errorf("%s: status %+v not as expected", tt.name, s.st)
		}
		if s.remove != tt.remove {
			t.Errorf("%s: remove = %v, want %v", tt.name, s.remove, tt.remove)
		}
	}
}

package change

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/change"
	"github.com/itops-dev/itops-operator/internal/config"
)

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

func newChange(mutate func(*itopsv1alpha1.ChangeRequest)) *itopsv1alpha1.ChangeRequest {
	cr := &itopsv1alpha1.ChangeRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "web-v2", Namespace: "shop", Generation: 2, CreationTimestamp: metav1.NewTime(t0),
			Annotations: map[string]string{itopsv1alpha1.AnnotationContentGeneration: "1"}},
		Spec: itopsv1alpha1.ChangeRequestSpec{
			Title: "web v2", Type: itopsv1alpha1.ChangeNormal, Risk: itopsv1alpha1.LevelMedium, RequestedBy: "alice",
			Targets: []itopsv1alpha1.ChangeTarget{{Kind: itopsv1alpha1.TargetDeployment, Name: "web"}},
		},
	}
	if mutate != nil {
		mutate(cr)
	}
	return cr
}

func approvedBy(who string, at time.Time) func(*itopsv1alpha1.ChangeRequest) {
	return func(cr *itopsv1alpha1.ChangeRequest) {
		cr.Spec.Approvals = append(cr.Spec.Approvals, itopsv1alpha1.Approval{Approver: who, Decision: itopsv1alpha1.DecisionApprove, Generation: 1, At: &metav1.Time{Time: at}})
	}
}

func web(annotation string, updated, available int32, conds ...appsv1.DeploymentCondition) *appsv1.Deployment {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", Generation: 3},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr.To[int32](2)},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 3, Replicas: 2, UpdatedReplicas: updated, AvailableReplicas: available,
			Conditions: conds},
	}
	if annotation != "" {
		d.Annotations = map[string]string{itopsv1alpha1.AnnotationChangeRequest: annotation}
	}
	return d
}

func inputsWith(cr *itopsv1alpha1.ChangeRequest, targets ...client.Object) inputs {
	in := inputs{
		policy:         change.PolicyFor(cr, config.Default().ChangePolicies[0]),
		targets:        map[string]client.Object{},
		rolloutTimeout: 10 * time.Minute, emergencyReviewWithin: 24 * time.Hour, retention: 720 * time.Hour,
		gated: true,
	}
	for _, t := range targets {
		in.targets[change.TargetKey(itopsv1alpha1.TargetDeployment, t.GetName())] = t
	}
	return in
}

func TestComputeStatus(t *testing.T) {
	stalled := appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded", Message: "timed out"}
	tests := []struct {
		name         string
		cr           *itopsv1alpha1.ChangeRequest
		targets      []client.Object
		now          time.Time
		wantPhase    itopsv1alpha1.ChangePhase
		wantReady    metav1.ConditionStatus
		wantStalled  bool
		wantApproved metav1.ConditionStatus
		wantRequeue  time.Duration
		wantProblems []string
		wantDelete   bool
		wantMessage  string
	}{
		{
			name: "pending", cr: newChange(nil), now: t0,
			wantPhase: itopsv1alpha1.ChangePending, wantReady: metav1.ConditionFalse, wantApproved: metav1.ConditionFalse,
			wantMessage: "0 of 1 approvals",
		},
		{
			name: "approved: requeue when the approval lapses", cr: newChange(approvedBy("carol", t0.Add(time.Minute))), now: t0.Add(time.Hour),
			wantPhase: itopsv1alpha1.ChangeApproved, wantReady: metav1.ConditionTrue, wantApproved: metav1.ConditionTrue,
			wantRequeue: 23*time.Hour + time.Minute,
		},
		{
			name: "approval lapsed before the change was applied", cr: newChange(approvedBy("bob", t0)), now: t0.Add(24 * time.Hour),
			wantPhase: itopsv1alpha1.ChangeExpired, wantReady: metav1.ConditionFalse, wantStalled: true, wantApproved: metav1.ConditionTrue,
			wantRequeue: 720 * time.Hour, wantMessage: "approval lapsed",
		},
		{
			name: "scheduled change pending past its schedule expires",
			cr: newChange(func(cr *itopsv1alpha1.ChangeRequest) {
				cr.Spec.Schedule = &itopsv1alpha1.ChangeSchedule{Start: metav1.NewTime(t0), End: metav1.NewTime(t0.Add(time.Hour))}
			}),
			now: t0.Add(time.Hour), wantPhase: itopsv1alpha1.ChangeExpired, wantReady: metav1.ConditionFalse, wantStalled: true,
			wantApproved: metav1.ConditionFalse, wantRequeue: 720 * time.Hour,
		},
		{
			name: "rejected",
			cr: newChange(func(cr *itopsv1alpha1.ChangeRequest) {
				cr.Spec.Approvals = []itopsv1alpha1.Approval{{Approver: "carol", Decision: itopsv1alpha1.DecisionReject, Comment: "no", Generation: 1}}
			}),
			now: t0, wantPhase: itopsv1alpha1.ChangeRejected, wantReady: metav1.ConditionFalse, wantStalled: true,
			wantApproved: metav1.ConditionFalse, wantRequeue: 720 * time.Hour, wantMessage: "rejected by carol: no",
		},
		{
			name: "target changed under the change: in progress", cr: newChange(approvedBy("bob", t0)),
			targets: []client.Object{web("web-v2", 1, 2)}, now: t0.Add(time.Minute),
			wantPhase: itopsv1alpha1.ChangeInProgress, wantReady: metav1.ConditionFalse, wantApproved: metav1.ConditionTrue,
			wantMessage: "1 of 2 replicas updated",
		},
		{
			name: "updated replicas not yet available: still in progress", cr: newChange(approvedBy("bob", t0)),
			targets: []client.Object{web("web-v2", 2, 1)}, now: t0.Add(time.Minute),
			wantPhase: itopsv1alpha1.ChangeInProgress, wantReady: metav1.ConditionFalse, wantApproved: metav1.ConditionTrue,
			wantMessage: "1 of 2 updated replicas available",
		},
		{
			name: "a target changed under another change does not count", cr: newChange(approvedBy("bob", t0)),
			targets: []client.Object{web("other", 2, 2)}, now: t0.Add(time.Minute),
			wantPhase: itopsv1alpha1.ChangeApproved, wantReady: metav1.ConditionTrue, wantApproved: metav1.ConditionTrue,
			wantRequeue: 24*time.Hour - time.Minute,
		},
		{
			name: "rolled out: completed", cr: newChange(approvedBy("bob", t0)),
			targets: []client.Object{web("web-v2", 2, 2)}, now: t0.Add(time.Minute),
			wantPhase: itopsv1alpha1.ChangeCompleted, wantReady: metav1.ConditionTrue, wantApproved: metav1.ConditionTrue,
			wantRequeue: 720 * time.Hour,
		},
		{
			name: "stalled rollout: failed with an incident", cr: newChange(approvedBy("bob", t0)),
			targets: []client.Object{web("web-v2", 1, 2, stalled)}, now: t0.Add(time.Minute),
			wantPhase: itopsv1alpha1.ChangeFailed, wantReady: metav1.ConditionFalse, wantStalled: true, wantApproved: metav1.ConditionTrue,
			wantRequeue: 720 * time.Hour, wantProblems: []string{itopsv1alpha1.ReasonChangeFailed}, wantMessage: "ProgressDeadlineExceeded",
		},
		{
			name: "emergency: authorised at once, review due in 24h",
			cr:   newChange(func(cr *itopsv1alpha1.ChangeRequest) { cr.Spec.Type = itopsv1alpha1.ChangeEmergency }),
			now:  t0.Add(time.Hour), wantPhase: itopsv1alpha1.ChangeApproved, wantReady: metav1.ConditionTrue, wantApproved: metav1.ConditionTrue,
			wantRequeue: 23 * time.Hour,
		},
		{
			name: "emergency unreviewed after 24h opens an incident",
			cr: newChange(func(cr *itopsv1alpha1.ChangeRequest) {
				cr.Spec.Type = itopsv1alpha1.ChangeEmergency
				cr.Status.Phase = itopsv1alpha1.ChangeCompleted
				cr.Status.CompletedAt = &metav1.Time{Time: t0.Add(time.Hour)}
			}),
			now: t0.Add(24 * time.Hour), wantPhase: itopsv1alpha1.ChangeCompleted, wantReady: metav1.ConditionTrue, wantApproved: metav1.ConditionTrue,
			wantProblems: []string{itopsv1alpha1.ReasonEmergencyChangeUnreviewed}, wantRequeue: 697 * time.Hour,
		},
		{
			name: "completed changes are deleted after retention",
			cr: newChange(func(cr *itopsv1alpha1.ChangeRequest) {
				cr.Status.Phase = itopsv1alpha1.ChangeCompleted
				cr.Status.CompletedAt = &metav1.Time{Time: t0}
			}),
			now: t0.Add(720 * time.Hour), wantPhase: itopsv1alpha1.ChangeCompleted, wantReady: metav1.ConditionTrue,
			wantApproved: metav1.ConditionFalse, wantDelete: true,
		},
		{
			name: "completed changes a GitOps tool applied are left to Git",
			cr: newChange(func(cr *itopsv1alpha1.ChangeRequest) {
				cr.Labels = map[string]string{"kustomize.toolkit.fluxcd.io/name": "shop-changes"}
				cr.Status.Phase = itopsv1alpha1.ChangeCompleted
				cr.Status.CompletedAt = &metav1.Time{Time: t0}
			}),
			now: t0.Add(720 * time.Hour), wantPhase: itopsv1alpha1.ChangeCompleted, wantReady: metav1.ConditionTrue,
			wantApproved: metav1.ConditionFalse, wantDelete: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := computeStatus(tt.cr, inputsWith(tt.cr, tt.targets...), tt.now)
			st := d.status
			if st.Phase != tt.wantPhase {
				t.Fatalf("phase = %s, want %s (conditions %+v)", st.Phase, tt.wantPhase, st.Conditions)
			}
			if c := meta.FindStatusCondition(st.Conditions, itopsv1alpha1.ConditionReady); c == nil || c.Status != tt.wantReady {
				t.Errorf("Ready = %+v, want %s", c, tt.wantReady)
			}
			if got := meta.IsStatusConditionTrue(st.Conditions, itopsv1alpha1.ConditionStalled); got != tt.wantStalled {
				t.Errorf("Stalled = %v, want %v", got, tt.wantStalled)
			}
			if c := meta.FindStatusCondition(st.Conditions, itopsv1alpha1.ChangeConditionApproved); c == nil || c.Status != tt.wantApproved {
				t.Errorf("Approved = %+v, want %s", c, tt.wantApproved)
			}
			if d.requeueAfter != tt.wantRequeue {
				t.Errorf("requeueAfter = %s, want %s", d.requeueAfter, tt.wantRequeue)
			}
			var reasons []string
			for _, p := range d.problems {
				reasons = append(reasons, p.Reason)
			}
			if strings.Join(reasons, ",") != strings.Join(tt.wantProblems, ",") {
				t.Errorf("problems = %v, want %v", reasons, tt.wantProblems)
			}
			if d.delete != tt.wantDelete {
				t.Errorf("delete = %v, want %v", d.delete, tt.wantDelete)
			}
			if c := meta.FindStatusCondition(st.Conditions, itopsv1alpha1.ConditionReady); tt.wantMessage != "" && !strings.Contains(c.Message, tt.wantMessage) {
				t.Errorf("Ready message %q does not contain %q", c.Message, tt.wantMessage)
			}
			if st.ObservedGeneration != tt.cr.Generation {
				t.Errorf("observedGeneration = %d, want %d", st.ObservedGeneration, tt.cr.Generation)
			}
		})
	}
}

func TestComputeStatusIsStable(t *testing.T) {
	cr := newChange(approvedBy("bob", t0))
	in := inputsWith(cr, web("web-v2", 2, 2))
	first := computeStatus(cr, in, t0.Add(time.Minute))
	if first.transition != string(itopsv1alpha1.ChangeCompleted) {
		t.Fatalf("transition = %q, want Completed", first.transition)
	}
	cr.Status = first.status
	second := computeStatus(cr, in, t0.Add(2*time.Minute))
	if second.transition != "" {
		t.Errorf("second pass transitioned to %q", second.transition)
	}
	if c := meta.FindStatusCondition(second.status.Conditions, itopsv1alpha1.ConditionReady); c.Message != meta.FindStatusCondition(first.status.Conditions, itopsv1alpha1.ConditionReady).Message {
		t.Errorf("the Ready message changed on a second pass: %q", c.Message)
	}
	if len(second.status.Applied) != 1 || second.status.Applied[0].Generation != 3 || !second.status.Applied[0].At.Time.Equal(t0.Add(time.Minute)) {
		t.Errorf("applied = %+v, want web at generation 3 seen at t0+1m", second.status.Applied)
	}
}

func TestDecideEnrollment(t *testing.T) {
	enforced := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{itopsv1alpha1.LabelChangeControl: itopsv1alpha1.ChangeControlEnforced}}}
	plain := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}
	open := &itopsv1alpha1.Incident{Status: itopsv1alpha1.IncidentStatus{Phase: itopsv1alpha1.IncidentOpen}}
	accepted := &itopsv1alpha1.Incident{Spec: itopsv1alpha1.IncidentSpec{Resolution: &itopsv1alpha1.Resolution{By: "root", Code: itopsv1alpha1.ResolutionNoAction}},
		Status: itopsv1alpha1.IncidentStatus{Phase: itopsv1alpha1.IncidentResolved}}
	tests := []struct {
		name        string
		ns          *corev1.Namespace
		enrolled    bool
		latest      *itopsv1alpha1.Incident
		wantEnroll  bool
		wantLeave   bool
		wantProblem bool
	}{
		{"enforced, not yet enrolled", enforced, false, nil, true, false, false},
		{"enforced and enrolled", enforced, true, nil, false, false, false},
		{"never enforced", plain, false, nil, false, false, false},
		{"label removed", plain, true, nil, false, false, true},
		{"label removed, incident open", plain, true, open, false, false, true},
		{"a person resolved the incident: accepted", plain, true, accepted, false, true, false},
		{"namespace deleted", nil, true, nil, false, true, false},
	}
	for _, tt := range tests {
		d := decideEnrollment(tt.ns, "2026-11-01T00:00:00Z", tt.enrolled, tt.latest)
		if d.enroll != tt.wantEnroll || d.unenroll != tt.wantLeave || (d.problem != nil) != tt.wantProblem {
			t.Errorf("%s: decideEnrollment() = %+v, want enroll %v, unenroll %v, problem %v", tt.name, d, tt.wantEnroll, tt.wantLeave, tt.wantProblem)
		}
	}
}

// A target admitted despite an exhausted error budget (budgetPolicy Warn) carries the gate's
// warning into the change's status.
func TestAppliedCarriesTheBudgetWarning(t *testing.T) {
	cr := newChange(approvedBy("bob", t0))
	target := web("web-v2", 2, 2)
	target.Annotations[itopsv1alpha1.AnnotationBudgetWarning] = "error budget of ServiceLevel shop is exhausted (-12.5% left): its budgetPolicy Warn lets this change through"
	d := computeStatus(cr, inputsWith(cr, target), t0.Add(time.Minute))
	if len(d.status.Applied) != 1 || d.status.Applied[0].BudgetWarning != target.Annotations[itopsv1alpha1.AnnotationBudgetWarning] {
		t.Errorf("applied = %+v", d.status.Applied)
	}
}

// Change records tell the truth (issue 11, section 3): a rolled-back change ends Failed, and a
// change completes only when every target has been applied and rolled out.
func TestChangeRecordsTellTheTruth(t *testing.T) {
	rolledBack := func(change, at string) *appsv1.Deployment {
		d := web("", 2, 2)
		d.Annotations = map[string]string{itopsv1alpha1.AnnotationRolledBackChange: change, itopsv1alpha1.AnnotationRolledBackBy: "bob",
			itopsv1alpha1.AnnotationRolledBackRevision: "1", itopsv1alpha1.AnnotationRolledBackAt: at}
		return d
	}
	cronJob := func(annotation string) *batchv1.CronJob {
		cj := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "invoice-sync", Namespace: "shop", Generation: 2}}
		if annotation != "" {
			cj.Annotations = map[string]string{itopsv1alpha1.AnnotationChangeRequest: annotation}
		}
		return cj
	}
	twoTargets := func(cr *itopsv1alpha1.ChangeRequest) {
		approvedBy("bob", t0)(cr)
		cr.Spec.Targets = []itopsv1alpha1.ChangeTarget{{Kind: itopsv1alpha1.TargetCronJob, Name: "invoice-sync"}, {Kind: itopsv1alpha1.TargetDeployment, Name: "web"}}
	}
	withTargets := func(cr *itopsv1alpha1.ChangeRequest, targets ...client.Object) inputs {
		in := inputsWith(cr)
		for _, obj := range targets {
			kind := itopsv1alpha1.TargetDeployment
			if _, ok := obj.(*batchv1.CronJob); ok {
				kind = itopsv1alpha1.TargetCronJob
			}
			in.targets[change.TargetKey(kind, obj.GetName())] = obj
		}
		return in
	}
	inProgress := newChange(approvedBy("bob", t0))
	inProgress.Status = itopsv1alpha1.ChangeRequestStatus{Phase: itopsv1alpha1.ChangeInProgress,
		Applied: []itopsv1alpha1.AppliedChange{{Kind: itopsv1alpha1.TargetDeployment, Name: "web", Generation: 3, At: &metav1.Time{Time: t0.Add(time.Minute)}}}}

	tests := []struct {
		name          string
		cr            *itopsv1alpha1.ChangeRequest
		in            func(*itopsv1alpha1.ChangeRequest) inputs
		now           time.Time
		wantPhase     itopsv1alpha1.ChangePhase
		wantReason    string
		wantMessage   string
		wantUnapplied string
		wantRequeue   time.Duration
		wantProblem   bool
	}{
		{name: "kubectl rollout undo during the change's rollout", cr: inProgress,
			in: func(cr *itopsv1alpha1.ChangeRequest) inputs {
				return withTargets(cr, rolledBack("web-v2", "2026-11-24T10:02:00Z"))
			},
			now:       t0.Add(3 * time.Minute),
			wantPhase: itopsv1alpha1.ChangeFailed, wantReason: itopsv1alpha1.ChangeReasonRolledBack,
			wantMessage: "rolled back: Deployment web by bob to revision 1 at 2026-11-24T10:02:00Z", wantProblem: true, wantRequeue: 720 * time.Hour},
		{name: "a rollback before the controller saw the change applied", cr: newChange(approvedBy("bob", t0)),
			in: func(cr *itopsv1alpha1.ChangeRequest) inputs {
				return withTargets(cr, rolledBack("web-v2", "2026-11-24T10:02:00Z"))
			},
			now:       t0.Add(3 * time.Minute),
			wantPhase: itopsv1alpha1.ChangeFailed, wantReason: itopsv1alpha1.ChangeReasonRolledBack, wantMessage: "by bob", wantProblem: true, wantRequeue: 720 * time.Hour},
		{name: "a rollback of an earlier change of the same name is not this change's", cr: newChange(approvedBy("bob", t0)),
			in: func(cr *itopsv1alpha1.ChangeRequest) inputs {
				return withTargets(cr, rolledBack("web-v2", "2026-11-20T10:00:00Z"))
			},
			now:       t0.Add(3 * time.Minute),
			wantPhase: itopsv1alpha1.ChangeApproved, wantReason: itopsv1alpha1.ChangeReasonApproved, wantRequeue: 24*time.Hour - 3*time.Minute},
		{name: "a change listing a CronJob and a Deployment, the CronJob applied", cr: newChange(twoTargets),
			in:        func(cr *itopsv1alpha1.ChangeRequest) inputs { return withTargets(cr, cronJob("web-v2"), web("", 2, 2)) },
			now:       t0.Add(time.Minute),
			wantPhase: itopsv1alpha1.ChangeInProgress, wantReason: itopsv1alpha1.ChangeReasonRollingOut,
			wantMessage: "1 of 2 targets applied and rolled out; waiting for Deployment web to be applied until 2026-11-25T10:00:00Z",
			wantRequeue: 24*time.Hour - time.Minute},
		{name: "... both applied and rolled out", cr: newChange(twoTargets),
			in: func(cr *itopsv1alpha1.ChangeRequest) inputs {
				return withTargets(cr, cronJob("web-v2"), web("web-v2", 2, 2))
			},
			now:       t0.Add(time.Minute),
			wantPhase: itopsv1alpha1.ChangeCompleted, wantReason: itopsv1alpha1.ChangeReasonCompleted, wantMessage: "2 target(s) rolled out",
			wantRequeue: 720 * time.Hour},
		{name: "... the approval lifetime ends with the Deployment never applied", cr: newChange(twoTargets),
			in:        func(cr *itopsv1alpha1.ChangeRequest) inputs { return withTargets(cr, cronJob("web-v2"), web("", 2, 2)) },
			now:       t0.Add(24 * time.Hour),
			wantPhase: itopsv1alpha1.ChangeCompleted, wantReason: itopsv1alpha1.ChangeReasonPartiallyApplied,
			wantMessage: "the approval lifetime ended with Deployment web never applied", wantUnapplied: "Deployment/web", wantRequeue: 720 * time.Hour},
		{name: "expired with nothing applied lists every target", cr: newChange(twoTargets),
			in:        func(cr *itopsv1alpha1.ChangeRequest) inputs { return withTargets(cr, cronJob(""), web("", 2, 2)) },
			now:       t0.Add(24 * time.Hour),
			wantPhase: itopsv1alpha1.ChangeExpired, wantReason: itopsv1alpha1.ChangeReasonExpired, wantUnapplied: "CronJob/invoice-sync,Deployment/web",
			wantRequeue: 720 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := computeStatus(tt.cr, tt.in(tt.cr), tt.now)
			st := d.status
			ready := meta.FindStatusCondition(st.Conditions, itopsv1alpha1.ConditionReady)
			if st.Phase != tt.wantPhase || ready.Reason != tt.wantReason {
				t.Fatalf("phase %s reason %s, want %s %s (%s)", st.Phase, ready.Reason, tt.wantPhase, tt.wantReason, ready.Message)
			}
			if !strings.Contains(ready.Message, tt.wantMessage) {
				t.Errorf("Ready message %q does not contain %q", ready.Message, tt.wantMessage)
			}
			var unapplied []string
			for _, u := range st.Unapplied {
				unapplied = append(unapplied, string(u.Kind)+"/"+u.Name)
			}
			if strings.Join(unapplied, ",") != tt.wantUnapplied {
				t.Errorf("unapplied = %v, want %s", unapplied, tt.wantUnapplied)
			}
			if d.requeueAfter != tt.wantRequeue {
				t.Errorf("requeueAfter = %s, want %s", d.requeueAfter, tt.wantRequeue)
			}
			if (len(d.problems) > 0) != tt.wantProblem {
				t.Errorf("problems = %+v, want a ChangeFailed incident: %v", d.problems, tt.wantProblem)
			}
			// Terminal states keep their reason on the next pass.
			cr := tt.cr.DeepCopy()
			cr.Status = st
			again := computeStatus(cr, tt.in(cr), tt.now.Add(time.Minute))
			if r := meta.FindStatusCondition(again.status.Conditions, itopsv1alpha1.ConditionReady); isTerminal(st.Phase) && (again.transition != "" || r.Reason != tt.wantReason) {
				t.Errorf("second pass: transition %q reason %s", again.transition, r.Reason)
			}
		})
	}
}

// Changes whose targets are deleted (review of issue 11, item 4): a change that deletes its
// target completes; an applied Job removed by ttlSecondsAfterFinished or a Helm hook-succeeded
// policy is done, with the outcome seen before it went; a target gone outside the change's
// window was not deleted under it. And the gate's records count only where the gate runs.
func TestComputeStatusDeletedTargets(t *testing.T) {
	job := func(annotation string, complete bool) *batchv1.Job {
		j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "db-migrate", Namespace: "shop", Generation: 1,
			Annotations: map[string]string{itopsv1alpha1.AnnotationChangeRequest: annotation}}}
		if complete {
			j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}
		}
		return j
	}
	withJob := func(cr *itopsv1alpha1.ChangeRequest) {
		cr.Spec.Targets = append(cr.Spec.Targets, itopsv1alpha1.ChangeTarget{Kind: itopsv1alpha1.TargetJob, Name: "db-migrate"})
	}
	jobOnly := func(cr *itopsv1alpha1.ChangeRequest) { cr.Spec.Targets = nil; withJob(cr) }
	scheduled := func(cr *itopsv1alpha1.ChangeRequest) {
		cr.Spec.Schedule = &itopsv1alpha1.ChangeSchedule{Start: metav1.NewTime(t0.Add(time.Hour)), End: metav1.NewTime(t0.Add(2 * time.Hour))}
	}
	type pass struct {
		at          time.Duration
		targets     []client.Object
		wantPhase   itopsv1alpha1.ChangePhase
		wantMessage string
	}
	tests := []struct {
		name   string
		cr     *itopsv1alpha1.ChangeRequest
		gated  bool
		passes []pass
		// wantOutcomes are the final applied outcomes by name.
		wantOutcomes map[string]itopsv1alpha1.TargetOutcome
	}{
		{name: "a change that deletes its target completes", cr: newChange(approvedBy("bob", t0)), gated: true,
			passes: []pass{
				{at: time.Minute, targets: []client.Object{web("", 2, 2)}, wantPhase: itopsv1alpha1.ChangeApproved},
				{at: 2 * time.Minute, wantPhase: itopsv1alpha1.ChangeCompleted, wantMessage: "0 target(s) rolled out, 1 deleted"},
				{at: 2 * time.Hour, wantPhase: itopsv1alpha1.ChangeCompleted}, // not Expired afterwards
			},
			wantOutcomes: map[string]itopsv1alpha1.TargetOutcome{"web": itopsv1alpha1.OutcomeDeleted}},
		{name: "an applied Job removed before its outcome was seen is done", cr: newChange(func(cr *itopsv1alpha1.ChangeRequest) {
			approvedBy("bob", t0)(cr)
			jobOnly(cr)
		}), gated: true,
			passes: []pass{
				{at: time.Minute, targets: []client.Object{job("web-v2", false)}, wantPhase: itopsv1alpha1.ChangeInProgress},
				{at: 2 * time.Minute, wantPhase: itopsv1alpha1.ChangeCompleted, wantMessage: "1 deleted"},
			},
			wantOutcomes: map[string]itopsv1alpha1.TargetOutcome{"db-migrate": itopsv1alpha1.OutcomeDeleted}},
		{name: "a finished Job's outcome holds after ttlSecondsAfterFinished removes it", cr: newChange(func(cr *itopsv1alpha1.ChangeRequest) {
			approvedBy("bob", t0)(cr)
			withJob(cr)
		}), gated: true,
			passes: []pass{
				{at: time.Minute, targets: []client.Object{job("web-v2", true), web("", 2, 2)}, wantPhase: itopsv1alpha1.ChangeInProgress,
					wantMessage: "waiting for Deployment web to be applied"},
				{at: 2 * time.Minute, targets: []client.Object{web("", 2, 2)}, wantPhase: itopsv1alpha1.ChangeInProgress,
					wantMessage: "waiting for Deployment web to be applied"},
				{at: 3 * time.Minute, targets: []client.Object{web("web-v2", 2, 2)}, wantPhase: itopsv1alpha1.ChangeCompleted,
					wantMessage: "2 target(s) rolled out"},
			},
			wantOutcomes: map[string]itopsv1alpha1.TargetOutcome{"db-migrate": itopsv1alpha1.OutcomeRolledOut, "web": itopsv1alpha1.OutcomeRolledOut}},
		{name: "a target deleted before the change's schedule starts was not deleted under it", cr: newChange(func(cr *itopsv1alpha1.ChangeRequest) {
			approvedBy("bob", t0)(cr)
			scheduled(cr)
		}), gated: true,
			passes: []pass{
				{at: time.Minute, targets: []client.Object{web("", 2, 2)}, wantPhase: itopsv1alpha1.ChangeApproved},
				{at: 2 * time.Minute, wantPhase: itopsv1alpha1.ChangeApproved},
				{at: 90 * time.Minute, wantPhase: itopsv1alpha1.ChangeApproved},
				{at: 3 * time.Hour, wantPhase: itopsv1alpha1.ChangeExpired},
			}},
		{name: "outside change control the workload's records are not trusted", cr: newChange(approvedBy("bob", t0)),
			passes: []pass{
				{at: time.Minute, targets: []client.Object{web("web-v2", 2, 2)}, wantPhase: itopsv1alpha1.ChangeApproved,
					wantMessage: "is not under change control"},
				{at: 2 * time.Minute, wantPhase: itopsv1alpha1.ChangeApproved},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cr := tt.cr
			for i, p := range tt.passes {
				in := inputsWith(cr)
				in.gated = tt.gated
				for _, obj := range p.targets {
					kind := itopsv1alpha1.TargetDeployment
					if _, ok := obj.(*batchv1.Job); ok {
						kind = itopsv1alpha1.TargetJob
					}
					in.targets[change.TargetKey(kind, obj.GetName())] = obj
				}
				d := computeStatus(cr, in, t0.Add(p.at))
				cr = cr.DeepCopy()
				cr.Status = d.status
				c := meta.FindStatusCondition(d.status.Conditions, itopsv1alpha1.ConditionReady)
				if d.status.Phase != p.wantPhase || (p.wantMessage != "" && !strings.Contains(c.Message, p.wantMessage)) {
					t.Fatalf("pass %d: phase %s (%q), want %s with %q", i, d.status.Phase, c.Message, p.wantPhase, p.wantMessage)
				}
			}
			got := map[string]itopsv1alpha1.TargetOutcome{}
			for _, ap := range cr.Status.Applied {
				got[ap.Name] = ap.Outcome
			}
			if len(got) != len(tt.wantOutcomes) {
				t.Fatalf("applied = %+v, want outcomes %v", cr.Status.Applied, tt.wantOutcomes)
			}
			for name, want := range tt.wantOutcomes {
				if got[name] != want {
					t.Errorf("outcome of %s = %q, want %q", name, got[name], want)
				}
			}
		})
	}
}

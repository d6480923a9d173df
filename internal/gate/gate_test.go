package gate

import (
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/config"
)

var now = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

// deployment builds a Deployment spec with the given containers (name=image pairs).
func deployment(replicas int64, restartedAt string, images ...string) *Object {
	containers := make([]any, 0, len(images))
	for _, ni := range images {
		name, image, _ := strings.Cut(ni, "=")
		containers = append(containers, map[string]any{"name": name, "image": image, "env": []any{map[string]any{"name": "MODE", "value": "prod"}}})
	}
	meta := map[string]any{"labels": map[string]any{"app": "web"}}
	if restartedAt != "" {
		meta["annotations"] = map[string]any{itopsv1alpha1.AnnotationRestartedAt: restartedAt}
	}
	return &Object{Kind: itopsv1alpha1.TargetDeployment, Labels: map[string]string{"app": "web"}, Spec: map[string]any{
		"replicas": replicas,
		"selector": map[string]any{"matchLabels": map[string]any{"app": "web"}},
		"template": map[string]any{"metadata": meta, "spec": map[string]any{"containers": containers}},
	}}
}

func approved(name string, mutate func(*itopsv1alpha1.ChangeRequest)) itopsv1alpha1.ChangeRequest {
	cr := itopsv1alpha1.ChangeRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", Generation: 2, CreationTimestamp: metav1.NewTime(now.Add(-time.Hour)),
			Annotations: map[string]string{itopsv1alpha1.AnnotationContentGeneration: "1"}},
		Spec: itopsv1alpha1.ChangeRequestSpec{
			Title: "web v2", Type: itopsv1alpha1.ChangeNormal, Risk: itopsv1alpha1.LevelMedium, RequestedBy: "alice",
			Targets:   []itopsv1alpha1.ChangeTarget{{Kind: itopsv1alpha1.TargetDeployment, Name: "web"}},
			Approvals: []itopsv1alpha1.Approval{{Approver: "bob", Decision: itopsv1alpha1.DecisionApprove, Generation: 1, At: &metav1.Time{Time: now.Add(-30 * time.Minute)}}},
		},
		Status: itopsv1alpha1.ChangeRequestStatus{Phase: itopsv1alpha1.ChangeApproved},
	}
	if mutate != nil {
		mutate(&cr)
	}
	return cr
}

func update(before, after *Object) Request {
	return Request{Operation: Update, Kind: itopsv1alpha1.TargetDeployment, Namespace: "shop", Name: "web", Old: before, New: after}
}

func TestDecide(t *testing.T) {
	policy := config.Default().ChangePolicies[0]
	policy.ApproverGroups = []string{"sre-leads"}
	v1 := deployment(3, "", "app=shop/web:1.0")
	v2 := deployment(3, "", "app=shop/web:2.0")
	tests := []struct {
		name        string
		req         Request
		in          Inputs
		wantAllowed bool
		wantChange  string
		wantMessage []string
	}{
		{
			name:        "no change targets the workload",
			req:         update(v1, v2),
			wantMessage: []string{"update of Deployment shop/web denied", "no ChangeRequest in namespace shop targets Deployment web"},
		},
		{
			name:        "an approved change authorises",
			req:         update(v1, v2),
			in:          Inputs{Changes: []itopsv1alpha1.ChangeRequest{approved("web-v2", nil)}},
			wantAllowed: true, wantChange: "web-v2",
		},
		{
			name: "pending with 1 of 2 approvals from the approver group",
			req:  update(v1, v2),
			in: Inputs{Changes: []itopsv1alpha1.ChangeRequest{approved("web-v2", func(cr *itopsv1alpha1.ChangeRequest) {
				cr.Spec.Risk = itopsv1alpha1.LevelHigh
				cr.Status.Phase = itopsv1alpha1.ChangePending
			})}},
			wantMessage: []string{"ChangeRequest web-v2 is Pending with 1 of 2 approvals from group sre-leads (approved by bob)"},
		},
		{
			name: "content changed after approval",
			req:  update(v1, v2),
			in: Inputs{Changes: []itopsv1alpha1.ChangeRequest{approved("web-v2", func(cr *itopsv1alpha1.ChangeRequest) {
				cr.Annotations[itopsv1alpha1.AnnotationContentGeneration] = "2"
			})}},
			wantMessage: []string{"is Pending with 0 of 1 approvals", "1 approval(s) were given for earlier content"},
		},
		{
			name: "rejected",
			req:  update(v1, v2),
			in: Inputs{Changes: []itopsv1alpha1.ChangeRequest{approved("web-v2", func(cr *itopsv1alpha1.ChangeRequest) {
				cr.Spec.Approvals = append(cr.Spec.Approvals, itopsv1alpha1.Approval{Approver: "carol", Decision: itopsv1alpha1.DecisionReject, Comment: "not on a Friday", Generation: 1})
			})}},
			wantMessage: []string{`ChangeRequest web-v2 was rejected by carol ("not on a Friday")`},
		},
		{
			name: "completed changes authorise nothing more",
			req:  update(v1, v2),
			in: Inputs{Changes: []itopsv1alpha1.ChangeRequest{approved("web-v2", func(cr *itopsv1alpha1.ChangeRequest) {
				cr.Status.Phase = itopsv1alpha1.ChangeCompleted
			})}},
			wantMessage: []string{"web-v2 is Completed and authorises nothing more"},
		},
		{
			name: "before its schedule",
			req:  update(v1, v2),
			in: Inputs{Changes: []itopsv1alpha1.ChangeRequest{approved("web-v2", func(cr *itopsv1alpha1.ChangeRequest) {
				cr.Spec.Schedule = &itopsv1alpha1.ChangeSchedule{Start: metav1.NewTime(now.Add(time.Hour)), End: metav1.NewTime(now.Add(2 * time.Hour))}
			})}},
			wantMessage: []string{"scheduled from 2026-11-24T11:00:00Z to 2026-11-24T12:00:00Z, outside its schedule now (2026-11-24T10:00:00Z)"},
		},
		{
			name: "approval lapsed",
			req:  update(v1, v2),
			in: Inputs{Changes: []itopsv1alpha1.ChangeRequest{approved("web-v2", func(cr *itopsv1alpha1.ChangeRequest) {
				cr.Spec.Approvals[0].At = &metav1.Time{Time: now.Add(-25 * time.Hour)}
			})}},
			wantMessage: []string{"approval lapsed at 2026-11-24T09:00:00Z (approval lifetime 24h0m0s)"},
		},
		{
			name: "pinned image differs",
			req:  update(v1, v2),
			in: Inputs{Changes: []itopsv1alpha1.ChangeRequest{approved("web-v2", func(cr *itopsv1alpha1.ChangeRequest) {
				cr.Spec.Targets[0].Containers = []itopsv1alpha1.ContainerPin{{Name: "app", Image: "shop/web:1.5"}}
			})}},
			wantMessage: []string{"pins container app to image shop/web:1.5, but the request sets shop/web:2.0"},
		},
		{
			name: "pinned image matches; an unpinned sidecar may not change",
			req:  update(deployment(3, "", "app=shop/web:1.0", "proxy=envoy:1"), deployment(3, "", "app=shop/web:2.0", "proxy=envoy:2")),
			in: Inputs{Changes: []itopsv1alpha1.ChangeRequest{approved("web-v2", func(cr *itopsv1alpha1.ChangeRequest) {
				cr.Spec.Targets[0].Containers = []itopsv1alpha1.ContainerPin{{Name: "app", Image: "shop/web:2.0"}}
			})}},
			wantMessage: []string{"but not of container proxy, whose image the request sets to envoy:2"},
		},
		{
			name: "the first change that authorises wins; others' problems are not reported",
			req:  update(v1, v2),
			in: Inputs{Changes: []itopsv1alpha1.ChangeRequest{
				approved("b-web-v2", nil),
				approved("a-old", func(cr *itopsv1alpha1.ChangeRequest) { cr.Status.Phase = itopsv1alpha1.ChangeCompleted }),
			}},
			wantAllowed: true, wantChange: "b-web-v2",
		},
		{
			name: "freeze blocks an approved change",
			req:  update(v1, v2),
			in: Inputs{Changes: []itopsv1alpha1.ChangeRequest{approved("web-v2", nil)},
				Freezes: []Freeze{{Namespace: "itops-cluster", Name: "xmas", Until: now.Add(48 * time.Hour), Active: true, Old: true, New: true}}},
			wantMessage: []string{"ChangeRequest web-v2 is approved, but freeze window itops-cluster/xmas is active until 2026-11-26T10:00:00Z: only Emergency changes pass"},
		},
		{
			name: "exhausted budget blocks an approved change",
			req:  update(v1, v2),
			in: Inputs{Changes: []itopsv1alpha1.ChangeRequest{approved("web-v2", nil)},
				Budgets: []Budget{{Name: "checkout", Remaining: "-12.5", Exhausted: true, Policy: itopsv1alpha1.BudgetPolicyFreezeChanges, Old: true, New: true}}},
			wantMessage: []string{"the error budget of service checkout is exhausted (-12.5% remaining, budgetPolicy FreezeChanges)"},
		},
		{
			name: "emergency changes pass freezes and budgets without approvals",
			req:  update(v1, v2),
			in: Inputs{Changes: []itopsv1alpha1.ChangeRequest{approved("hotfix", func(cr *itopsv1alpha1.ChangeRequest) {
				cr.Spec.Type = itopsv1alpha1.ChangeEmergency
				cr.Spec.Approvals = nil
			})}, Freezes: []Freeze{{Namespace: "shop", Name: "launch", Until: now.Add(time.Hour), Active: true, New: true}}, Budgets: []Budget{{Name: "checkout", Remaining: "0", Exhausted: true, Policy: itopsv1alpha1.BudgetPolicyFreezeChanges, New: true}}},
			wantAllowed: true, wantChange: "hotfix",
		},
		{
			name: "standard change: an image bump within the repository",
			req:  update(v1, v2),
			in: Inputs{Policy: withStandard(policy), Changes: []itopsv1alpha1.ChangeRequest{approved("bump", func(cr *itopsv1alpha1.ChangeRequest) {
				cr.Spec.Type, cr.Spec.Approvals = itopsv1alpha1.ChangeStandard, nil
			})}},
			wantAllowed: true, wantChange: "bump",
		},
		{
			name: "standard change: another repository is not pre-approved",
			req:  update(v1, deployment(3, "", "app=evil/web:2.0")),
			in: Inputs{Policy: withStandard(policy), Changes: []itopsv1alpha1.ChangeRequest{approved("bump", func(cr *itopsv1alpha1.ChangeRequest) {
				cr.Spec.Type, cr.Spec.Approvals = itopsv1alpha1.ChangeStandard, nil
			})}},
			wantMessage: []string{"Standard change (pattern image-bump) that pre-approves image updates within a repository only, and container app moves from shop/web to evil/web"},
		},
		{
			name: "standard change: more than images",
			req:  update(v1, deployment(3, "", "app=shop/web:2.0", "debug=busybox:1")),
			in: Inputs{Policy: withStandard(policy), Changes: []itopsv1alpha1.ChangeRequest{approved("bump", func(cr *itopsv1alpha1.ChangeRequest) {
				cr.Spec.Type, cr.Spec.Approvals = itopsv1alpha1.ChangeStandard, nil
			})}},
			wantMessage: []string{"changes more than container images"},
		},
		{
			name:        "delete needs a change too",
			req:         Request{Operation: Delete, Kind: itopsv1alpha1.TargetDeployment, Namespace: "shop", Name: "web", Old: v1},
			wantMessage: []string{"delete of Deployment shop/web denied"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.in.Policy.MinApprovals == nil {
				tt.in.Policy = policy
			}
			tt.in.Now = now
			d := Decide(tt.req, tt.in)
			if d.Allowed != tt.wantAllowed || d.Change != tt.wantChange {
				t.Fatalf("Decide() = %+v, want allowed %v by %q", d, tt.wantAllowed, tt.wantChange)
			}
			msg := d.Message(tt.req)
			for _, want := range tt.wantMessage {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q\ndoes not contain %q", msg, want)
				}
			}
		})
	}
}

func withStandard(p config.ChangePolicy) config.ChangePolicy {
	p.StandardChanges = []config.StandardChange{{Name: "image-bump", Allow: config.AllowImageWithinRepository,
		Targets: []config.StandardChangeTarget{{Kind: itopsv1alpha1.TargetDeployment, Name: "*"}}}}
	return p
}

func TestOperational(t *testing.T) {
	v1 := deployment(3, "", "app=shop/web:1.0")
	tests := []struct {
		name     string
		old, new *Object
		want     string
	}{
		{"scale", v1, deployment(5, "", "app=shop/web:1.0"), OpScale},
		{"labels only (not in spec)", v1, deployment(3, "", "app=shop/web:1.0"), OpMetadata},
		{"rollout restart", v1, deployment(3, "2026-11-24T10:00:00Z", "app=shop/web:1.0"), OpRestart},
		{"second restart", deployment(3, "2026-11-24T09:00:00Z", "app=shop/web:1.0"), deployment(3, "2026-11-24T10:00:00Z", "app=shop/web:1.0"), OpRestart},
		{"scale and restart", v1, deployment(5, "2026-11-24T10:00:00Z", "app=shop/web:1.0"), OpScale + "+" + OpRestart},
		{"rollout pause", v1, with(v1, "paused", true), OpPause},
		{"rollout resume", with(v1, "paused", true), v1, OpUnpause},
		{"cronjob suspend", cronJob("sync:1.0", false), cronJob("sync:1.0", true), OpSuspend},
		{"cronjob resume", cronJob("sync:1.0", true), cronJob("sync:1.0", false), OpResume},
		{"restart and image", v1, deployment(3, "2026-11-24T10:00:00Z", "app=shop/web:2.0"), ""},
		{"pause and image", v1, with(deployment(3, "", "app=shop/web:2.0"), "paused", true), ""},
		{"suspend and image", cronJob("sync:1.0", false), cronJob("sync:2.0", true), ""},
		{"image", v1, deployment(3, "", "app=shop/web:2.0"), ""},
		{"paused is no operational control of a CronJob", cronJob("sync:1.0", false), with(cronJob("sync:1.0", false), "paused", true), ""},
	}
	for _, tt := range tests {
		if got := strings.Join(Operational(Update, tt.old, tt.new), "+"); got != tt.want {
			t.Errorf("%s: Operational() = %q, want %q", tt.name, got, tt.want)
		}
	}
	if got := Operational(Create, nil, v1); got != nil {
		t.Errorf("create is never operational, got %q", got)
	}
}

func with(o *Object, key string, value any) *Object {
	c := *o
	c.Spec = runtime.DeepCopyJSON(o.Spec)
	c.Spec[key] = value
	return &c
}

func withLabels(o *Object, labels map[string]string) *Object {
	c := *o
	c.Labels = labels
	return &c
}

func withAnnotations(o *Object, annotations map[string]string) *Object {
	c := *o
	c.Annotations = annotations
	return &c
}

func cronJob(image string, suspend bool) *Object {
	return &Object{Kind: itopsv1alpha1.TargetCronJob, Name: "invoice-sync", Spec: map[string]any{
		"schedule": "*/5 * * * *", "suspend": suspend,
		"jobTemplate": map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
			"containers": []any{map[string]any{"name": "sync", "image": image}}}}}},
	}}
}

// TestDecideScope: the gate never wedges the cluster's machinery, and judges what runs an
// image outside the gated kinds (issue 11, sections 1 and 2).
func TestDecideScope(t *testing.T) {
	v1 := deployment(3, "", "app=shop/web:1.0")
	kcm := Caller{Username: "system:kube-controller-manager", Groups: []string{"system:authenticated"}}
	nsController := Caller{Username: "system:serviceaccount:kube-system:namespace-controller"}
	gc := Caller{Username: "system:serviceaccount:kube-system:generic-garbage-collector"}
	alice := Caller{Username: "alice", Groups: []string{"system:masters"}}
	job := func(owner *Owner, image string) *Object {
		cj := cronJob(image, false)
		return &Object{Kind: KindJob, Name: "invoice-sync-manual", Owner: owner,
			Spec: map[string]any{"template": cj.Spec["jobTemplate"].(map[string]any)["spec"].(map[string]any)["template"]}}
	}
	cronTemplate := &CronJobOwner{JobSpec: cronJob("sync:1.0", false).Spec["jobTemplate"].(map[string]any)["spec"].(map[string]any)}
	// The Job the API server stores for kubectl create job --from=cronjob: defaults and a
	// generated selector added.
	defaulted := func(j *Object) *Object {
		c := *j
		c.Spec = runtime.DeepCopyJSON(j.Spec)
		for k, v := range map[string]any{"parallelism": float64(1), "completions": float64(1), "backoffLimit": float64(6), "completionMode": "NonIndexed",
			"suspend": false, "podReplacementPolicy": "TerminatingOrFailed", "manualSelector": false,
			"selector": map[string]any{"matchLabels": map[string]any{"batch.kubernetes.io/controller-uid": "x"}}} {
			c.Spec[k] = v
		}
		return &c
	}
	cron := &Owner{Kind: "CronJob", Name: "invoice-sync", UID: "u1"}
	tests := []struct {
		name          string
		req           Request
		in            Inputs
		wantAllowed   bool
		wantExemption string
		wantMessage   string
	}{
		{name: "the namespace controller deletes a workload of a collection (empty request name)",
			req:         Request{Operation: Delete, Kind: itopsv1alpha1.TargetDeployment, Namespace: "legacy", Name: "web", Old: v1, Caller: nsController},
			wantAllowed: true, wantExemption: ExemptControlPlane},
		{name: "the garbage collector deletes a workload whose owner is gone",
			req:         Request{Operation: Delete, Kind: itopsv1alpha1.TargetStatefulSet, Namespace: "shop", Name: "db", Old: v1, Caller: gc},
			wantAllowed: true, wantExemption: ExemptControlPlane},
		{name: "the controller manager with shared credentials",
			req:         Request{Operation: Delete, Kind: itopsv1alpha1.TargetCronJob, Namespace: "shop", Name: "sync", Old: cronJob("sync:1.0", false), Caller: kcm},
			wantAllowed: true, wantExemption: ExemptControlPlane},
		{name: "a person deleting in a terminating namespace",
			req:         Request{Operation: Delete, Kind: itopsv1alpha1.TargetDeployment, Namespace: "legacy", Name: "web", Old: v1, Caller: alice},
			in:          Inputs{Namespace: NamespaceState{Terminating: true}},
			wantAllowed: true, wantExemption: ExemptNamespaceTerminating},
		{name: "a person deleting in a live namespace still needs a change",
			req:         Request{Operation: Delete, Kind: itopsv1alpha1.TargetDeployment, Namespace: "legacy", Name: "web", Old: v1, Caller: alice},
			wantMessage: "delete of Deployment legacy/web denied: no ChangeRequest in namespace legacy targets Deployment web"},
		{name: "a kube-system lookalike is no control plane",
			req:         Request{Operation: Delete, Kind: itopsv1alpha1.TargetDeployment, Namespace: "legacy", Name: "web", Old: v1, Caller: Caller{Username: "system:serviceaccount:kube-system:my-controller"}},
			wantMessage: "no ChangeRequest"},
		{name: "a terminating namespace does not admit creates",
			req:         Request{Operation: Create, Kind: itopsv1alpha1.TargetDeployment, Namespace: "legacy", Name: "web", New: v1, Caller: alice},
			in:          Inputs{Namespace: NamespaceState{Terminating: true}},
			wantMessage: "no ChangeRequest"},
		{name: "kubectl run", req: Request{Operation: Create, Kind: KindPod, Namespace: "shop", Name: "debug", New: pod("c=busybox"), Caller: alice},
			wantMessage: "a Pod not created by a gated workload's controller (kubectl run) in a change-controlled namespace runs an image no ChangeRequest can authorise"},
		{name: "a Pod claiming a controller owner, created by a person",
			req:         Request{Operation: Create, Kind: KindPod, Namespace: "shop", Name: "debug", New: &Object{Kind: KindPod, Owner: &Owner{Kind: "ReplicaSet", Name: "web-1"}, Spec: pod("c=evil").Spec}, Caller: alice},
			wantMessage: "kubectl run"},
		{name: "kubectl set image on a Pod", req: Request{Operation: Update, Kind: KindPod, Namespace: "shop", Name: "debug", Old: pod("c=a:1"), New: pod("c=a:2"), Caller: alice},
			wantMessage: "changing the spec of Pod debug"},
		{name: "kubectl label pod", req: Request{Operation: Update, Kind: KindPod, Namespace: "shop", Name: "debug", Old: pod("c=a:1"), New: withLabels(pod("c=a:1"), map[string]string{"x": "y"}), Caller: alice},
			wantAllowed: true, wantExemption: ExemptOperational + ": " + OpMetadata},
		{name: "kubectl debug", req: Request{Operation: Update, Kind: KindPod, SubResource: "ephemeralcontainers", Namespace: "shop", Name: "debug", Old: pod("c=a:1"), New: pod("c=a:1"), Caller: alice},
			wantMessage: "adding an ephemeral container (kubectl debug) to Pod debug"},
		{name: "kubectl delete pod", req: Request{Operation: Delete, Kind: KindPod, Namespace: "shop", Name: "debug", Old: pod("c=a:1"), Caller: alice},
			wantAllowed: true, wantExemption: ExemptNotGated},
		{name: "a bare ReplicaSet", req: Request{Operation: Create, Kind: KindReplicaSet, Namespace: "shop", Name: "rs", New: &Object{Kind: KindReplicaSet, Spec: v1.Spec}, Caller: alice},
			wantMessage: "a ReplicaSet not managed by a Deployment"},
		{name: "kubectl create job --from=cronjob", req: Request{Operation: Create, Kind: KindJob, Namespace: "shop", Name: "j", New: job(cron, "sync:1.0"), Caller: alice},
			in: Inputs{OwnerCronJob: cronTemplate}, wantAllowed: true, wantExemption: ExemptRunCronJob},
		{name: "kubectl create job --from=cronjob, with the labels the API server adds to a Job", req: Request{Operation: Create, Kind: KindJob, Namespace: "shop", Name: "j", New: func() *Object {
			j := job(cron, "sync:1.0")
			j.Spec["template"].(map[string]any)["metadata"] = map[string]any{"labels": map[string]any{"controller-uid": "x", "job-name": "j",
				"batch.kubernetes.io/controller-uid": "x", "batch.kubernetes.io/job-name": "j"}}
			return j
		}(), Caller: alice},
			in: Inputs{OwnerCronJob: cronTemplate}, wantAllowed: true, wantExemption: ExemptRunCronJob},
		{name: "a Job claiming a CronJob owner with another template", req: Request{Operation: Create, Kind: KindJob, Namespace: "shop", Name: "j", New: job(cron, "evil:1"), Caller: alice},
			in: Inputs{OwnerCronJob: cronTemplate}, wantMessage: "create of Job shop/j denied: no ChangeRequest in namespace shop targets Job j"},
		{name: "kubectl create job --from=cronjob, as the API server defaults it", req: Request{Operation: Create, Kind: KindJob, Namespace: "shop", Name: "j",
			New: defaulted(job(cron, "sync:1.0")), Caller: alice},
			in: Inputs{OwnerCronJob: cronTemplate}, wantAllowed: true, wantExemption: ExemptRunCronJob},
		{name: "a manual run of a suspended CronJob (its emergency stop)", req: Request{Operation: Create, Kind: KindJob, Namespace: "shop", Name: "j", New: job(cron, "sync:1.0"), Caller: alice},
			in:          Inputs{OwnerCronJob: &CronJobOwner{JobSpec: cronTemplate.JobSpec, Suspended: true}},
			wantMessage: "CronJob invoice-sync is suspended (its emergency stop), so running it by hand needs a ChangeRequest listing Job j"},
		{name: "a Job claiming a CronJob owner with its pod template but 50-way parallelism", req: Request{Operation: Create, Kind: KindJob, Namespace: "shop", Name: "j",
			New: with(job(cron, "sync:1.0"), "parallelism", float64(50)), Caller: alice},
			in: Inputs{OwnerCronJob: cronTemplate}, wantMessage: "no ChangeRequest in namespace shop targets Job j"},
		{name: "a Job whose claimed CronJob does not exist", req: Request{Operation: Create, Kind: KindJob, Namespace: "shop", Name: "j", New: job(cron, "sync:1.0"), Caller: alice},
			wantMessage: "no ChangeRequest in namespace shop targets Job j"},
		{name: "a migration Job (a Helm or Argo CD hook) without a change", req: Request{Operation: Create, Kind: KindJob, Namespace: "shop", Name: "j", New: job(nil, "sync:1.0"), Caller: alice},
			wantMessage: "no ChangeRequest in namespace shop targets Job j"},
		{name: "a migration Job under an approved change listing it", req: Request{Operation: Create, Kind: KindJob, Namespace: "shop", Name: "j", New: job(nil, "sync:1.0"), Caller: alice},
			in: Inputs{Changes: []itopsv1alpha1.ChangeRequest{approved("migrate", func(cr *itopsv1alpha1.ChangeRequest) {
				cr.Spec.Targets = []itopsv1alpha1.ChangeTarget{{Kind: itopsv1alpha1.TargetJob, Name: "j", Containers: []itopsv1alpha1.ContainerPin{{Name: "sync", Image: "sync:1.0"}}}}
			})}},
			wantAllowed: true},
		{name: "a migration Job whose image the change does not pin", req: Request{Operation: Create, Kind: KindJob, Namespace: "shop", Name: "j", New: job(nil, "evil:1"), Caller: alice},
			in: Inputs{Changes: []itopsv1alpha1.ChangeRequest{approved("migrate", func(cr *itopsv1alpha1.ChangeRequest) {
				cr.Spec.Targets = []itopsv1alpha1.ChangeTarget{{Kind: itopsv1alpha1.TargetJob, Name: "j", Containers: []itopsv1alpha1.ContainerPin{{Name: "sync", Image: "sync:1.0"}}}}
			})}},
			wantMessage: "ChangeRequest migrate pins container sync to image sync:1.0, but the request sets evil:1"},
		{name: "kubectl patch job --suspend", req: Request{Operation: Update, Kind: KindJob, Namespace: "shop", Name: "j", Old: job(nil, "sync:1.0"), New: with(job(nil, "sync:1.0"), "suspend", true), Caller: alice},
			wantAllowed: true, wantExemption: ExemptOperational + ": " + OpSuspend},
		{name: "kubectl delete job", req: Request{Operation: Delete, Kind: KindJob, Namespace: "shop", Name: "j", Old: job(nil, "sync:1.0"), Caller: alice},
			wantAllowed: true, wantExemption: ExemptNotGated},
		{name: "the job controller creates a CronJob's pods", req: Request{Operation: Create, Kind: KindPod, Namespace: "shop", Name: "p", New: pod("c=a"), Caller: kcm},
			wantAllowed: true, wantExemption: ExemptControlPlane},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.Now, tt.in.Policy = now, config.Default().ChangePolicies[0]
			d := Decide(tt.req, tt.in)
			if d.Allowed != tt.wantAllowed || d.Exemption != tt.wantExemption {
				t.Fatalf("Decide() = %+v, want allowed %v exemption %q", d, tt.wantAllowed, tt.wantExemption)
			}
			if msg := d.Message(tt.req); !strings.Contains(msg, tt.wantMessage) {
				t.Errorf("message %q does not contain %q", msg, tt.wantMessage)
			}
		})
	}
}

// TestDecideJudgesTheObject: freezes and budgets match old and new labels, leaving a
// selection is a change, operational controls pass (issue 11, section 2).
// pod is a Pod running these "container=image" pairs.
func pod(images ...string) *Object {
	return &Object{Kind: KindPod, Name: "debug", Spec: deployment(1, "", images...).Spec["template"].(map[string]any)["spec"].(map[string]any)}
}

func TestDecideJudgesTheObject(t *testing.T) {
	frontend := map[string]string{"app": "web", "tier": "frontend"}
	v1 := withLabels(deployment(3, "", "app=shop/web:1.0"), frontend)
	v2 := withLabels(deployment(3, "", "app=shop/web:2.0"), frontend)
	v2NoTier := withLabels(deployment(3, "", "app=shop/web:2.0"), map[string]string{"app": "web"})
	v1NoTier := withLabels(deployment(3, "", "app=shop/web:1.0"), map[string]string{"app": "web"})
	freeze := func(before, after bool) []Freeze {
		return []Freeze{{Namespace: "shop", Name: "release-freeze", Until: now.Add(time.Hour), Active: true, Old: before, New: after}}
	}
	budget := func(before, after bool, policy itopsv1alpha1.BudgetPolicy) []Budget {
		return []Budget{{Name: "checkout", Remaining: "-3", Exhausted: true, Policy: policy, Old: before, New: after}}
	}
	ok := []itopsv1alpha1.ChangeRequest{approved("web-v2", nil)}
	alice := Caller{Username: "alice"}
	up := func(before, after *Object) Request { r := update(before, after); r.Caller = alice; return r }
	tests := []struct {
		name          string
		req           Request
		in            Inputs
		wantAllowed   bool
		wantExemption string
		wantMessage   string
		wantNot       string
	}{
		{name: "an image change that drops tier during a freeze on tier=frontend",
			req: up(v1, v2NoTier), in: Inputs{Changes: ok, Freezes: freeze(true, false)},
			wantMessage: "ChangeRequest web-v2 is approved, but freeze window shop/release-freeze is active"},
		{name: "a label-only edit that drops tier during the freeze",
			req: up(v1, v1NoTier), in: Inputs{Changes: ok, Freezes: freeze(true, false)},
			wantMessage: "the edit takes the workload out of the selection of freeze window shop/release-freeze: that is a change"},
		{name: "a label-only edit that leaves an inactive freeze's selection needs a change",
			req: up(v1, v1NoTier), in: Inputs{Freezes: []Freeze{{Namespace: "shop", Name: "xmas", Old: true}}},
			wantMessage: "takes the workload out of the selection of freeze window shop/xmas"},
		{name: "... and passes under an approved change outside the freeze",
			req: up(v1, v1NoTier), in: Inputs{Changes: ok, Freezes: []Freeze{{Namespace: "shop", Name: "xmas", Old: true}}},
			wantAllowed: true},
		{name: "a label-only edit that leaves a ServiceLevel's selection",
			req: up(v1, v1NoTier), in: Inputs{Budgets: []Budget{{Name: "checkout", Policy: itopsv1alpha1.BudgetPolicyNone, Old: true}}},
			wantMessage: "takes the workload out of the selection of ServiceLevel checkout"},
		{name: "a label-only edit joining a freeze's selection stays exempt",
			req: up(v1NoTier, v1), in: Inputs{Freezes: freeze(false, true)},
			wantAllowed: true, wantExemption: ExemptOperational + ": " + OpMetadata},
		{name: "an image change that adds tier during the freeze",
			req: up(v1NoTier, v2), in: Inputs{Changes: ok, Freezes: freeze(false, true)},
			wantMessage: "freeze window shop/release-freeze is active"},
		{name: "an exhausted FreezeChanges budget the old labels match",
			req: up(v1, v2NoTier), in: Inputs{Changes: ok, Budgets: budget(true, false, itopsv1alpha1.BudgetPolicyFreezeChanges)},
			wantMessage: "the error budget of service checkout is exhausted"},
		{name: "an exhausted Warn budget warns",
			req: up(v1, v2), in: Inputs{Changes: ok, Budgets: budget(true, true, itopsv1alpha1.BudgetPolicyWarn)},
			wantAllowed: true},
		{name: "an Emergency change passes the freeze and may relabel",
			req: up(v1, v2NoTier), in: Inputs{Changes: []itopsv1alpha1.ChangeRequest{approved("hotfix", func(cr *itopsv1alpha1.ChangeRequest) {
				cr.Spec.Type = itopsv1alpha1.ChangeEmergency
			})}, Freezes: freeze(true, false)},
			wantAllowed: true},
		{name: "a delete during a freeze names the freeze, not a selection it leaves",
			req: Request{Operation: Delete, Kind: itopsv1alpha1.TargetDeployment, Namespace: "shop", Name: "web", Old: v1, Caller: alice},
			in:  Inputs{Changes: ok, Freezes: freeze(true, false)}, wantMessage: "ChangeRequest web-v2 is approved, but freeze window shop/release-freeze is active",
			wantNot: "takes the workload out"},
		{name: "kubectl patch cronjob suspend during a freeze",
			req:         Request{Operation: Update, Kind: itopsv1alpha1.TargetCronJob, Namespace: "shop", Name: "invoice-sync", Old: cronJob("sync:1.0", false), New: cronJob("sync:1.0", true), Caller: alice},
			in:          Inputs{Freezes: freeze(true, true)},
			wantAllowed: true, wantExemption: ExemptOperational + ": " + OpSuspend},
		{name: "kubectl rollout pause", req: up(v1, with(v1, "paused", true)),
			wantAllowed: true, wantExemption: ExemptOperational + ": " + OpPause},
		{name: "a scale to zero", req: up(v1, with(v1, "replicas", int64(0))),
			wantAllowed: true, wantExemption: ExemptOperational + ": " + OpScale},
		{name: "an owner reference to a throwaway object (the garbage collector would delete the workload) is a change",
			req: up(v1, func() *Object {
				o := *v1
				o.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "throwaway", UID: "u9"}}
				return &o
			}()),
			wantMessage: "no ChangeRequest in namespace shop targets Deployment web"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.Now, tt.in.Policy = now, config.Default().ChangePolicies[0]
			d := Decide(tt.req, tt.in)
			if d.Allowed != tt.wantAllowed || d.Exemption != tt.wantExemption {
				t.Fatalf("Decide() = %+v, want allowed %v exemption %q", d, tt.wantAllowed, tt.wantExemption)
			}
			if msg := d.Message(tt.req); !strings.Contains(msg, tt.wantMessage) || (tt.wantNot != "" && strings.Contains(msg, tt.wantNot)) {
				t.Errorf("message %q does not contain %q (or contains %q)", msg, tt.wantMessage, tt.wantNot)
			}
		})
	}
}

// TestDecideRollback: a rollback passes and undoes the change the workload was last changed
// under; the record the mutating webhook writes says so (issue 11, section 3).
func TestDecideRollback(t *testing.T) {
	recorded := map[string]string{itopsv1alpha1.AnnotationChangeRequest: "web-v2"}
	v1, v2 := deployment(3, "", "app=shop/web:1.0"), withAnnotations(deployment(3, "", "app=shop/web:2.0"), recorded)
	revisions := []Revision{{Number: 1, Template: v1.Spec["template"].(map[string]any)}, {Number: 2, Template: v2.Spec["template"].(map[string]any)}}
	inProgress := approved("web-v2", func(cr *itopsv1alpha1.ChangeRequest) { cr.Status.Phase = itopsv1alpha1.ChangeInProgress })
	bob := Caller{Username: "bob"}
	req := update(v2, v1)
	req.Caller = bob

	for _, in := range []Inputs{
		{Revisions: revisions},
		{Revisions: revisions, Changes: []itopsv1alpha1.ChangeRequest{inProgress}}, // the change still authorises: still its rollback
		{Revisions: revisions, Freezes: []Freeze{{Namespace: "shop", Name: "f", Active: true, Old: true, New: true}}},
	} {
		in.Now, in.Policy = now, config.Default().ChangePolicies[0]
		d := Decide(req, in)
		if !d.Allowed || d.Exemption != ExemptRollback || d.RolledBack == nil || *d.RolledBack != (Rollback{Change: "web-v2", Revision: 1}) {
			t.Fatalf("Decide(rollback) = %+v", d)
		}
		got := Annotations(d, v2.Annotations, bob.Username, now)
		want := map[string]string{itopsv1alpha1.AnnotationChangeRequest: "", itopsv1alpha1.AnnotationBudgetWarning: "",
			itopsv1alpha1.AnnotationRolledBackChange: "web-v2", itopsv1alpha1.AnnotationRolledBackBy: "bob", itopsv1alpha1.AnnotationRolledBackRevision: "1",
			itopsv1alpha1.AnnotationRolledBackAt: "2026-11-24T10:00:00Z"}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Annotations(rollback) = %v, want %v", got, want)
		}
	}

	// Another approved change restoring the old template is that change, not a rollback.
	other := approved("web-revert", func(cr *itopsv1alpha1.ChangeRequest) {})
	d := Decide(req, Inputs{Revisions: revisions, Changes: []itopsv1alpha1.ChangeRequest{other}, Now: now, Policy: config.Default().ChangePolicies[0]})
	if !d.Allowed || d.Change != "web-revert" || d.RolledBack != nil {
		t.Errorf("Decide(revert under a change) = %+v", d)
	}
	// ... unless a freeze or an exhausted FreezeChanges budget holds that change: then the
	// update is the rollback it is, the way back (found by the demo: kubectl rollout undo
	// denied while the budget was exhausted and an approved fix waited).
	for _, in := range []Inputs{
		{Freezes: []Freeze{{Namespace: "shop", Name: "f", Active: true, Old: true, New: true}}},
		{Budgets: []Budget{{Name: "catalog", Remaining: "-68", Exhausted: true, Policy: itopsv1alpha1.BudgetPolicyFreezeChanges, Old: true, New: true}}},
	} {
		in.Revisions, in.Changes, in.Now, in.Policy = revisions, []itopsv1alpha1.ChangeRequest{other}, now, config.Default().ChangePolicies[0]
		if d := Decide(req, in); !d.Allowed || d.Exemption != ExemptRollback || d.RolledBack == nil {
			t.Errorf("Decide(rollback while another approved change is held) = %+v", d)
		}
	}
	// A rollback that also relabels the workload out of a freeze is no rollback: a change.
	escaping := update(v2, withLabels(v1, map[string]string{"app": "web"}))
	escaping.Old = withLabels(v2, map[string]string{"app": "web", "tier": "frontend"})
	d = Decide(escaping, Inputs{Revisions: revisions, Now: now, Policy: config.Default().ChangePolicies[0],
		Freezes: []Freeze{{Namespace: "shop", Name: "f", Active: true, Old: true}}})
	if d.Allowed || !strings.Contains(d.Message(escaping), "takes the workload out of the selection of freeze window shop/f") {
		t.Errorf("Decide(rollback that escapes a freeze) = %+v", d)
	}
	// A request no change authorises keeps the previous record: it cannot be forged.
	forged := withAnnotations(deployment(3, "", "app=shop/web:3.0"), map[string]string{itopsv1alpha1.AnnotationChangeRequest: "web-v3"})
	d = Decide(update(v2, forged), Inputs{Revisions: revisions, Now: now})
	if got := Annotations(d, v2.Annotations, "mallory", now); d.Allowed || got[itopsv1alpha1.AnnotationChangeRequest] != "web-v2" || got[itopsv1alpha1.AnnotationRolledBackBy] != "" {
		t.Errorf("Annotations(denied) = %v, decision %+v", got, d)
	}
}

// TestDecideUndoTwice: change web-v2 takes web from v1 to v2; the first kubectl rollout undo
// restores v1 (revision 3) and ends the change; a second undo would restore v2 from revision 2,
// the failed change itself: it needs a change, freeze or not, whether or not the change
// controller has marked web-v2 Failed yet. A rollback to a known-good revision still passes a
// freeze.
func TestDecideUndoTwice(t *testing.T) {
	v1 := withAnnotations(deployment(3, "", "app=shop/web:1.0"), map[string]string{itopsv1alpha1.AnnotationChangeRequest: "web-v1"})
	v2 := withAnnotations(deployment(3, "", "app=shop/web:2.0"), map[string]string{itopsv1alpha1.AnnotationChangeRequest: "web-v2"})
	tpl := func(o *Object) map[string]any { return o.Spec["template"].(map[string]any) }
	// After the first undo: revision 3 is v1 (still made under web-v1), revision 2 is v2.
	revisions := []Revision{{Number: 3, Template: tpl(v1), Change: "web-v1"}, {Number: 2, Template: tpl(v2), Change: "web-v2"}}
	undone := withAnnotations(deployment(3, "", "app=shop/web:1.0"), map[string]string{
		itopsv1alpha1.AnnotationRolledBackChange: "web-v2", itopsv1alpha1.AnnotationRolledBackBy: "bob", itopsv1alpha1.AnnotationRolledBackRevision: "1"})
	failed := approved("web-v2", func(cr *itopsv1alpha1.ChangeRequest) { cr.Status.Phase = itopsv1alpha1.ChangeFailed })
	completed := approved("web-v1", func(cr *itopsv1alpha1.ChangeRequest) { cr.Status.Phase = itopsv1alpha1.ChangeCompleted })
	freeze := []Freeze{{Namespace: "shop", Name: "xmas", Active: true, Old: true, New: true}}
	second := update(undone, deployment(3, "", "app=shop/web:2.0"))
	second.Caller = Caller{Username: "mallory"}
	for _, tt := range []struct {
		name string
		in   Inputs
	}{
		{"before the controller marks web-v2 Failed", Inputs{Revisions: revisions}},
		{"after web-v2 is Failed", Inputs{Revisions: revisions, Changes: []itopsv1alpha1.ChangeRequest{failed}}},
		{"during a freeze", Inputs{Revisions: revisions, Changes: []itopsv1alpha1.ChangeRequest{failed}, Freezes: freeze}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.Now, tt.in.Policy = now, config.Default().ChangePolicies[0]
			d := Decide(second, tt.in)
			if d.Allowed || !strings.Contains(d.Message(second), "revision 2 was made under ChangeRequest web-v2, which failed or was rolled back") {
				t.Errorf("Decide(second undo) = %+v", d)
			}
		})
	}
	// Undoing back to the known-good revision passes, during a freeze too.
	first := update(v2, deployment(3, "", "app=shop/web:1.0"))
	in := Inputs{Revisions: []Revision{{Number: 1, Template: tpl(v1), Change: "web-v1"}, {Number: 2, Template: tpl(v2), Change: "web-v2"}},
		Changes: []itopsv1alpha1.ChangeRequest{completed}, Freezes: freeze, Now: now, Policy: config.Default().ChangePolicies[0]}
	if d := Decide(first, in); !d.Allowed || d.Exemption != ExemptRollback || d.RolledBack.Revision != 1 {
		t.Errorf("Decide(first undo during a freeze) = %+v", d)
	}
}

// TestDecideRevisionsAndReplicationControllers: ControllerRevisions (what a StatefulSet or
// DaemonSet rollback restores) and ReplicationControllers are refused to people; a revision's
// change record cannot be edited on a ReplicaSet either.
func TestDecideRevisionsAndReplicationControllers(t *testing.T) {
	alice := Caller{Username: "alice"}
	rc := &Object{Kind: KindReplicationController, Name: "legacy", Spec: map[string]any{"replicas": int64(1), "template": map[string]any{
		"spec": map[string]any{"containers": []any{map[string]any{"name": "app", "image": "shop/legacy:1"}}}}}}
	rev := &Object{Kind: KindControllerRevision, Name: "db-5d9f", Annotations: map[string]string{itopsv1alpha1.AnnotationChangeRequest: "db-v2"}}
	rs := &Object{Kind: KindReplicaSet, Name: "web-5d9f", Annotations: map[string]string{itopsv1alpha1.AnnotationChangeRequest: "web-v2"},
		Spec: map[string]any{"replicas": int64(0)}}
	relabelled := withAnnotations(rs, map[string]string{itopsv1alpha1.AnnotationChangeRequest: "web-v1"})
	tagged := withAnnotations(rs, map[string]string{itopsv1alpha1.AnnotationChangeRequest: "web-v2", "team": "shop"})
	tests := []struct {
		name          string
		req           Request
		wantAllowed   bool
		wantMessage   string
		trustedCaller bool
	}{
		{name: "create a ReplicationController", req: Request{Operation: Create, Kind: KindReplicationController, Name: "legacy", New: rc},
			wantMessage: "a ReplicationController in a change-controlled namespace runs an image no ChangeRequest can authorise: run it as a Deployment"},
		{name: "scale a ReplicationController", req: Request{Operation: Update, Kind: KindReplicationController, Name: "legacy", Old: rc, New: with(rc, "replicas", int64(2))},
			wantMessage: "a ReplicationController"},
		{name: "delete a ReplicationController", req: Request{Operation: Delete, Kind: KindReplicationController, Name: "legacy", Old: rc}, wantAllowed: true},
		{name: "create a ControllerRevision", req: Request{Operation: Create, Kind: KindControllerRevision, Name: "db-5d9f", New: rev},
			wantMessage: "create of ControllerRevision db-5d9f in a change-controlled namespace is refused"},
		{name: "relabel a ControllerRevision's change", req: Request{Operation: Update, Kind: KindControllerRevision, Name: "db-5d9f", Old: rev,
			New: withAnnotations(rev, map[string]string{itopsv1alpha1.AnnotationChangeRequest: "db-v1"})}, wantMessage: "only the StatefulSet and DaemonSet controllers write revisions"},
		{name: "a trusted controller's ControllerRevision", req: Request{Operation: Create, Kind: KindControllerRevision, Name: "db-5d9f", New: rev},
			trustedCaller: true, wantAllowed: true},
		{name: "forge a ReplicaSet's change record", req: Request{Operation: Update, Kind: KindReplicaSet, Name: "web-5d9f", Old: rs, New: relabelled},
			wantMessage: "annotation itops.dev/change-request of ReplicaSet web-5d9f is the change gate's record"},
		{name: "other ReplicaSet metadata stays free", req: Request{Operation: Update, Kind: KindReplicaSet, Name: "web-5d9f", Old: rs, New: tagged}, wantAllowed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Namespace, tt.req.Caller = "shop", alice
			in := Inputs{Now: now, Policy: config.Default().ChangePolicies[0]}
			if tt.trustedCaller {
				in.Policy.TrustedControllers = []string{"alice"}
			}
			d := Decide(tt.req, in)
			if d.Allowed != tt.wantAllowed || !strings.Contains(d.Message(tt.req), tt.wantMessage) {
				t.Errorf("Decide() = %+v (message %q), want allowed %v and %q", d, d.Message(tt.req), tt.wantAllowed, tt.wantMessage)
			}
		})
	}
}

func TestRollbackTo(t *testing.T) {
	v1, v2, v3 := deployment(3, "", "app=shop/web:1.0"), deployment(3, "", "app=shop/web:2.0"), deployment(3, "", "app=shop/web:3.0")
	revision := func(n int64, o *Object) Revision {
		tpl := o.Spec["template"].(map[string]any)
		tpl = map[string]any{"metadata": map[string]any{"labels": map[string]any{"app": "web", "pod-template-hash": "5d9f"}}, "spec": tpl["spec"]}
		return Revision{Number: n, Template: tpl}
	}
	revisions := []Revision{revision(1, v1), revision(2, v2)}
	if n, ok := RollbackTo(v2, v1, revisions); !ok || n.Number != 1 {
		t.Errorf("RollbackTo(v1) = %+v, %v; want revision 1", n, ok)
	}
	if _, ok := RollbackTo(v2, v3, revisions); ok {
		t.Errorf("a new template was taken for a rollback")
	}
	scaledBack := deployment(5, "", "app=shop/web:1.0")
	if n, ok := RollbackTo(v2, scaledBack, revisions); !ok || n.Number != 1 {
		t.Errorf("a rollback that also scales = %+v, %v; want revision 1", n, ok)
	}
	other := deployment(3, "", "app=shop/web:1.0")
	other.Spec["minReadySeconds"] = int64(30)
	if _, ok := RollbackTo(v2, other, revisions); ok {
		t.Errorf("a rollback that changes more than the template was allowed")
	}
}

func TestRepository(t *testing.T) {
	for image, want := range map[string]string{
		"nginx":                                  "nginx",
		"nginx:1.27":                             "nginx",
		"registry.example.com:5000/shop/web:1.2": "registry.example.com:5000/shop/web",
		"registry.example.com:5000/shop/web":     "registry.example.com:5000/shop/web",
		"shop/web@sha256:abc":                    "shop/web",
		"shop/web:1.2@sha256:abc":                "shop/web",
	} {
		if got := Repository(image); got != want {
			t.Errorf("Repository(%q) = %q, want %q", image, got, want)
		}
	}
}

// TestDecideTrustedControllers: the Pods, ReplicaSets and Jobs of another operator's
// controller pass only when the administrator policy names it; ephemeral containers and the
// gated workload kinds never pass on that account.
func TestDecideTrustedControllers(t *testing.T) {
	rollouts := Caller{Username: "system:serviceaccount:argo-rollouts:argo-rollouts"}
	policy := config.Default().ChangePolicies[0]
	policy.TrustedControllers = []string{rollouts.Username}
	rs := &Object{Kind: KindReplicaSet, Owner: &Owner{Kind: "Rollout", Name: "web"}, Spec: deployment(3, "", "app=shop/web:1.0").Spec}
	tests := []struct {
		name        string
		req         Request
		policy      config.ChangePolicy
		wantAllowed bool
		wantMessage string
	}{
		{name: "Argo Rollouts creates a canary ReplicaSet, trusted", policy: policy, wantAllowed: true,
			req: Request{Operation: Create, Kind: KindReplicaSet, Namespace: "shop", Name: "web-6f7", New: rs, Caller: rollouts}},
		{name: "the same ReplicaSet without the policy naming the controller", policy: config.Default().ChangePolicies[0],
			req:         Request{Operation: Create, Kind: KindReplicaSet, Namespace: "shop", Name: "web-6f7", New: rs, Caller: rollouts},
			wantMessage: "a ReplicaSet not managed by a Deployment"},
		{name: "a person is not trusted because a controller is", policy: policy,
			req:         Request{Operation: Create, Kind: KindReplicaSet, Namespace: "shop", Name: "web-6f7", New: rs, Caller: Caller{Username: "alice"}},
			wantMessage: "a ReplicaSet not managed by a Deployment"},
		{name: "a trusted controller's Pod", policy: policy, wantAllowed: true,
			req: Request{Operation: Create, Kind: KindPod, Namespace: "shop", Name: "p", New: pod("c=a"), Caller: rollouts}},
		{name: "a trusted controller's ephemeral container is still kubectl debug", policy: policy,
			req:         Request{Operation: Update, Kind: KindPod, SubResource: "ephemeralcontainers", Namespace: "shop", Name: "p", Old: pod("c=a"), New: pod("c=a"), Caller: rollouts},
			wantMessage: "ephemeral container"},
		{name: "a trusted controller still needs a change for a Deployment", policy: policy,
			req:         Request{Operation: Create, Kind: itopsv1alpha1.TargetDeployment, Namespace: "shop", Name: "web", New: deployment(3, "", "app=shop/web:1.0"), Caller: rollouts},
			wantMessage: "no ChangeRequest in namespace shop targets Deployment web"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(tt.req, Inputs{Policy: tt.policy, Now: now})
			if d.Allowed != tt.wantAllowed {
				t.Fatalf("Decide() = %+v, want allowed %v", d, tt.wantAllowed)
			}
			if tt.wantAllowed && d.Exemption != ExemptTrustedController {
				t.Errorf("exemption %q, want %q", d.Exemption, ExemptTrustedController)
			}
			if msg := d.Message(tt.req); !strings.Contains(msg, tt.wantMessage) {
				t.Errorf("message %q does not contain %q", msg, tt.wantMessage)
			}
		})
	}
}

// TestUnrecordedDecision: the validating call refuses what the mutating call did not record as
// decided (the two calls judge what they read, moments apart).
func TestUnrecordedDecision(t *testing.T) {
	rollback := map[string]string{itopsv1alpha1.AnnotationRolledBackChange: "web-v2", itopsv1alpha1.AnnotationRolledBackBy: "bob",
		itopsv1alpha1.AnnotationRolledBackRevision: "1", itopsv1alpha1.AnnotationRolledBackAt: "2026-11-24T10:00:01Z"}
	admittedV2 := Decision{Allowed: true, Change: "web-v2"}
	rolledBack := Decision{Allowed: true, Exemption: ExemptRollback, RolledBack: &Rollback{Change: "web-v2", Revision: 1}}
	cases := []struct {
		name        string
		d           Decision
		annotations map[string]string
		wantKey     string // "" = accepted
	}{
		{"admitted and recorded", admittedV2, map[string]string{itopsv1alpha1.AnnotationChangeRequest: "web-v2"}, ""},
		{"admitted, the mutating call saw no approved change", admittedV2, nil, itopsv1alpha1.AnnotationChangeRequest},
		{"admitted, the mutating call saw another change", admittedV2, map[string]string{itopsv1alpha1.AnnotationChangeRequest: "web-v1"}, itopsv1alpha1.AnnotationChangeRequest},
		{"rollback recorded (its time read apart)", rolledBack, rollback, ""},
		{"rollback, the mutating call saw no revision", rolledBack, map[string]string{itopsv1alpha1.AnnotationChangeRequest: "web-v2"}, itopsv1alpha1.AnnotationChangeRequest},
		{"rollback recorded under another revision", rolledBack, withRecord(rollback, itopsv1alpha1.AnnotationRolledBackRevision, "2"), itopsv1alpha1.AnnotationRolledBackRevision},
		{"rollback recorded in another person's name", rolledBack, withRecord(rollback, itopsv1alpha1.AnnotationRolledBackBy, "mallory"), itopsv1alpha1.AnnotationRolledBackBy},
		{"an exemption records nothing new", Decision{Allowed: true, Exemption: ExemptOperational + ": replicas"}, map[string]string{itopsv1alpha1.AnnotationChangeRequest: "web-v1"}, ""},
		{"a denial is refused for its own reason", Decision{Problems: []string{"no"}}, nil, ""},
		{"a budget warning is not compared", admittedV2, map[string]string{itopsv1alpha1.AnnotationChangeRequest: "web-v2", itopsv1alpha1.AnnotationBudgetWarning: "stale"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := UnrecordedDecision(tc.d, withAnnotations(deployment(3, "", "app=shop/web:1.0"), tc.annotations), "bob")
			if tc.wantKey == "" {
				if got != "" {
					t.Errorf("UnrecordedDecision = %q, want accepted", got)
				}
				return
			}
			if !strings.HasPrefix(got, "annotation "+tc.wantKey+" is") || !strings.HasSuffix(got, "retry the request") {
				t.Errorf("UnrecordedDecision = %q, want a refusal naming %s and asking for a retry", got, tc.wantKey)
			}
		})
	}
	if got := UnrecordedDecision(admittedV2, nil, "bob"); got != "" {
		t.Errorf("UnrecordedDecision(delete) = %q, want accepted", got)
	}
}

func withRecord(annotations map[string]string, key, value string) map[string]string {
	out := maps.Clone(annotations)
	out[key] = value
	return out
}

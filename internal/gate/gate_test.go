package gate

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
				Freezes: []Freeze{{Namespace: "itops-cluster", Name: "xmas", Until: now.Add(48 * time.Hour)}}},
			wantMessage: []string{"ChangeRequest web-v2 is approved, but freeze window itops-cluster/xmas is active until 2026-11-26T10:00:00Z: only Emergency changes pass"},
		},
		{
			name: "exhausted budget blocks an approved change",
			req:  update(v1, v2),
			in: Inputs{Changes: []itopsv1alpha1.ChangeRequest{approved("web-v2", nil)},
				Budgets: []Budget{{Name: "checkout", Remaining: "-12.5"}}},
			wantMessage: []string{"the error budget of service checkout is exhausted (-12.5% remaining, budgetPolicy FreezeChanges)"},
		},
		{
			name: "emergency changes pass freezes and budgets without approvals",
			req:  update(v1, v2),
			in: Inputs{Changes: []itopsv1alpha1.ChangeRequest{approved("hotfix", func(cr *itopsv1alpha1.ChangeRequest) {
				cr.Spec.Type = itopsv1alpha1.ChangeEmergency
				cr.Spec.Approvals = nil
			})}, Freezes: []Freeze{{Namespace: "shop", Name: "launch", Until: now.Add(time.Hour)}}, Budgets: []Budget{{Name: "checkout", Remaining: "0"}}},
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

func TestExempt(t *testing.T) {
	v1 := deployment(3, "", "app=shop/web:1.0")
	tests := []struct {
		name     string
		old, new *Object
		want     string
	}{
		{"scale", v1, deployment(5, "", "app=shop/web:1.0"), ExemptScaleOrMetadata},
		{"labels only (not in spec)", v1, deployment(3, "", "app=shop/web:1.0"), ExemptScaleOrMetadata},
		{"rollout restart", v1, deployment(3, "2026-11-24T10:00:00Z", "app=shop/web:1.0"), ExemptRestart},
		{"second restart", deployment(3, "2026-11-24T09:00:00Z", "app=shop/web:1.0"), deployment(3, "2026-11-24T10:00:00Z", "app=shop/web:1.0"), ExemptRestart},
		{"restart and image", v1, deployment(3, "2026-11-24T10:00:00Z", "app=shop/web:2.0"), ""},
		{"image", v1, deployment(3, "", "app=shop/web:2.0"), ""},
	}
	for _, tt := range tests {
		if got := Exempt(Update, tt.old, tt.new); got != tt.want {
			t.Errorf("%s: Exempt() = %q, want %q", tt.name, got, tt.want)
		}
	}
	if got := Exempt(Create, nil, v1); got != "" {
		t.Errorf("create is never exempt, got %q", got)
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
	if n, ok := RollbackTo(v2, v1, revisions); !ok || n != 1 {
		t.Errorf("RollbackTo(v1) = %d, %v; want revision 1", n, ok)
	}
	if _, ok := RollbackTo(v2, v3, revisions); ok {
		t.Errorf("a new template was taken for a rollback")
	}
	scaledBack := deployment(5, "", "app=shop/web:1.0")
	if n, ok := RollbackTo(v2, scaledBack, revisions); !ok || n != 1 {
		t.Errorf("a rollback that also scales = %d, %v; want revision 1", n, ok)
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

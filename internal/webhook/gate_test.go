package webhook

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/audit"
	"github.com/itops-dev/itops-operator/internal/change"
	"github.com/itops-dev/itops-operator/internal/gate"
	"github.com/itops-dev/itops-operator/test/cluster"
	"github.com/itops-dev/itops-operator/test/testenv"
)

// A Namespace the cache does not hold yet (created a moment ago) is read live: the request is
// gated, not answered with an error nor let through (issue 11, section 5).
func TestGateReadsANamespaceNotYetCached(t *testing.T) {
	enforced := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "fresh",
		Labels: map[string]string{itopsv1alpha1.LabelChangeControl: itopsv1alpha1.ChangeControlEnforced}}}
	cache := fake.NewClientBuilder().WithScheme(cluster.Scheme()).
		WithIndex(&itopsv1alpha1.ChangeRequest{}, change.TargetIndex, change.TargetKeys).Build()
	live := fake.NewClientBuilder().WithScheme(cluster.Scheme()).WithObjects(enforced).Build()
	g := &Gate{Reader: cache, APIReader: live, Policy: testPolicy, ClusterNamespace: clusterNamespace, Audit: audit.New(ctrl.Log)}

	web := webDeployment("fresh")
	raw, err := json.Marshal(web)
	if err != nil {
		t.Fatal(err)
	}
	req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		Operation: admissionv1.Create, Namespace: "fresh", Name: "web",
		Kind:   metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"},
		Object: runtime.RawExtension{Raw: raw},
	}}
	req.UserInfo.Username = "alice"
	resp := g.ValidatingHandler().Handle(context.Background(), req)
	if resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, "no ChangeRequest in namespace fresh targets Deployment web") {
		t.Fatalf("response = %+v, want a denial naming the missing change", resp.Result)
	}

	// Gone from the API too: an error (failurePolicy Fail), never an ungated admission.
	g.APIReader = fake.NewClientBuilder().WithScheme(cluster.Scheme()).Build()
	if resp := g.ValidatingHandler().Handle(context.Background(), req); resp.Allowed {
		t.Fatalf("a namespace nobody can read was let through: %+v", resp.Result)
	}
}

// The webhook configurations keep exactly the identities gate.ControlPlane lets through away
// from the gate (hack/webhook-selectors.sh writes the list; the handler applies the same rule).
func TestMatchConditionsNameTheControlPlane(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "webhook", "manifests.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var expressions []string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, "expression:") && strings.Contains(line, "request.userInfo.username in") {
			expressions = append(expressions, line)
		}
	}
	if len(expressions) != 4 {
		t.Fatalf("want the control-plane matchCondition on vgate, vgatepods, vgatestatus and mgate, found %d", len(expressions))
	}
	for _, e := range expressions {
		if got := strings.Count(e, "'system:"); got != len(gate.ControlPlaneUsers()) {
			t.Errorf("matchCondition names %d identities, gate.ControlPlaneUsers %d: %s", got, len(gate.ControlPlaneUsers()), e)
		}
		for _, u := range gate.ControlPlaneUsers() {
			if !strings.Contains(e, "'"+u+"'") {
				t.Errorf("matchCondition misses %s", u)
			}
		}
	}
}

// A Freeze window or a ServiceLevel stored with an invalid selector (the webhook was down)
// covers nothing, and the gate says so on every response instead of skipping it silently
// (issue 13).
func TestGateNamesInvalidSelectors(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop",
		Labels: map[string]string{itopsv1alpha1.LabelChangeControl: itopsv1alpha1.ChangeControlEnforced}}}
	bad := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "in", Values: []string{"web"}}}}
	freeze := &itopsv1alpha1.MaintenanceWindow{ObjectMeta: metav1.ObjectMeta{Name: "freeze", Namespace: "shop"},
		Spec: itopsv1alpha1.MaintenanceWindowSpec{Type: itopsv1alpha1.WindowFreeze, Selector: bad}}
	sl := &itopsv1alpha1.ServiceLevel{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: "shop"},
		Spec: itopsv1alpha1.ServiceLevelSpec{Selector: *bad, BudgetPolicy: itopsv1alpha1.BudgetPolicyFreezeChanges}}
	// A stored invalid window (Stalled, InvalidSpec) selecting the workload, with a stale
	// BudgetExhausted=True: named, neither trusted nor skipped silently.
	badWindow := &itopsv1alpha1.ServiceLevel{ObjectMeta: metav1.ObjectMeta{Name: "checkout", Namespace: "shop"},
		Spec: itopsv1alpha1.ServiceLevelSpec{Selector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			BudgetPolicy: itopsv1alpha1.BudgetPolicyFreezeChanges,
			Objectives:   &itopsv1alpha1.Objectives{Availability: "99.9", Window: &itopsv1alpha1.SLOWindow{Invalid: []byte(`"` + strings.Repeat("x", 5000) + `"`)}}},
		Status: itopsv1alpha1.ServiceLevelStatus{Conditions: []metav1.Condition{{Type: itopsv1alpha1.SLConditionBudgetExhausted, Status: metav1.ConditionTrue,
			Reason: itopsv1alpha1.SLReasonBudgetExhausted, LastTransitionTime: metav1.Now()}}}}
	// One that selects other workloads is not named.
	elsewhere := badWindow.DeepCopy()
	elsewhere.Name, elsewhere.Spec.Selector = "billing", metav1.LabelSelector{MatchLabels: map[string]string{"app": "billing"}}
	cache := fake.NewClientBuilder().WithScheme(cluster.Scheme()).WithObjects(ns, freeze, sl, badWindow, elsewhere).
		WithIndex(&itopsv1alpha1.ChangeRequest{}, change.TargetIndex, change.TargetKeys).Build()
	g := &Gate{Reader: cache, APIReader: cache, Policy: testPolicy, ClusterNamespace: clusterNamespace, Audit: audit.New(ctrl.Log)}
	raw, err := json.Marshal(webDeployment("shop"))
	if err != nil {
		t.Fatal(err)
	}
	req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		Operation: admissionv1.Create, Namespace: "shop", Name: "web",
		Kind:   metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"},
		Object: runtime.RawExtension{Raw: raw},
	}}
	req.UserInfo.Username = "alice"
	resp := g.ValidatingHandler().Handle(context.Background(), req)
	warnings := strings.Join(resp.Warnings, "\n")
	for _, want := range []string{
		`Freeze window freeze has an invalid selector and covers nothing until it is fixed: spec.selector.matchExpressions[0].operator: Invalid value: "in"`,
		`ServiceLevel shop has an invalid selector and protects nothing until it is fixed: spec.selector.matchExpressions[0].operator`,
		`ServiceLevel checkout has an invalid objective window and protects nothing until it is fixed: spec.objectives.window: Invalid value: "\"` +
			strings.Repeat("x", 60) + `...": window must be`,
	} {
		if !strings.Contains(warnings, want) {
			t.Errorf("warnings %q lack %q", warnings, want)
		}
	}
	if strings.Contains(warnings, "billing") || len(warnings) > 2048 {
		t.Errorf("warnings name a ServiceLevel that does not select the workload, or echo the stored value whole: %q", warnings)
	}
	if strings.Contains(resp.Result.Message, "checkout") {
		t.Errorf("the stale BudgetExhausted of a ServiceLevel that measures nothing was judged: %q", resp.Result.Message)
	}
	if resp.Allowed || !strings.Contains(resp.Result.Message, "no ChangeRequest in namespace shop targets Deployment web") {
		t.Errorf("response = %+v, want the usual denial (the invalid freeze neither blocks nor excuses anything)", resp.Result)
	}
}

// The API server calls the mutating gate (which writes the change record) and then the
// validating gate (which decides and audits) as two requests, each judging what its cache holds
// then. A change approved between the two must not admit the workload without its record (the
// ChangeRequest controller could not follow the rollout, and a later kubectl rollout undo would
// read as an ordinary update: found as a CI flake of the rollback envtest); the validating call
// refuses it and the retry is admitted recorded.
func TestGateRefusesWhatTheMutatingCallDidNotRecord(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop",
		Labels: map[string]string{itopsv1alpha1.LabelChangeControl: itopsv1alpha1.ChangeControlEnforced}}}
	cr := &itopsv1alpha1.ChangeRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "web-v2", Namespace: "shop", Generation: 1,
			Annotations: map[string]string{itopsv1alpha1.AnnotationContentGeneration: "1"}},
		Spec: itopsv1alpha1.ChangeRequestSpec{Title: "web v2", Type: itopsv1alpha1.ChangeNormal, Risk: itopsv1alpha1.LevelLow, RequestedBy: "alice",
			Targets: []itopsv1alpha1.ChangeTarget{{Kind: itopsv1alpha1.TargetDeployment, Name: "web"}},
			Approvals: []itopsv1alpha1.Approval{{Approver: "bob", Decision: itopsv1alpha1.DecisionApprove, Generation: 1,
				At: &metav1.Time{Time: fakeClock.Now().Add(-time.Minute)}}}},
		Status: itopsv1alpha1.ChangeRequestStatus{Phase: itopsv1alpha1.ChangeApproved},
	}
	gateWith := func(objs ...client.Object) *Gate {
		c := fake.NewClientBuilder().WithScheme(cluster.Scheme()).WithObjects(objs...).
			WithIndex(&itopsv1alpha1.ChangeRequest{}, change.TargetIndex, change.TargetKeys).Build()
		return &Gate{Reader: c, APIReader: c, Policy: testPolicy, ClusterNamespace: clusterNamespace, Audit: audit.New(ctrl.Log), Clock: fakeClock}
	}
	before, after := gateWith(ns), gateWith(ns, cr) // the cache before and after the approval arrives
	raw, err := json.Marshal(webDeployment("shop"))
	if err != nil {
		t.Fatal(err)
	}
	request := func(raw []byte) admission.Request {
		req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
			Operation: admissionv1.Create, Namespace: "shop", Name: "web",
			Kind:   metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"},
			Object: runtime.RawExtension{Raw: raw},
		}}
		req.UserInfo.Username = "alice"
		return req
	}
	// The mutating call, before the approval reached its cache, records nothing.
	if resp := before.MutatingHandler().Handle(context.Background(), request(raw)); !resp.Allowed || len(resp.Patches) != 0 {
		t.Fatalf("mutating call without the change = %+v, %v; want allowed without a record", resp.Result, resp.Patches)
	}
	resp := after.ValidatingHandler().Handle(context.Background(), request(raw))
	if resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message,
		`Deployment web: annotation itops.dev/change-request is "" where the gate's decision records "web-v2"`) ||
		!strings.HasSuffix(resp.Result.Message, "retry the request") {
		t.Fatalf("validating call on the unrecorded object = %+v; want a refusal asking for a retry", resp.Result)
	}

	// The retry: both calls see the change; the record is written and the request admitted.
	resp = after.MutatingHandler().Handle(context.Background(), request(raw))
	if !resp.Allowed || len(resp.Patches) == 0 {
		t.Fatalf("mutating call with the change = %+v; want the record written", resp.Result)
	}
	web := webDeployment("shop")
	for _, op := range resp.Patches { // the API server applies them; here they only add annotations
		key, isAnnotation := strings.CutPrefix(op.Path, "/metadata/annotations/")
		switch {
		case op.Operation == "add" && op.Path == "/metadata/annotations":
			web.Annotations = map[string]string{}
		case op.Operation == "add" && isAnnotation:
			web.Annotations[strings.ReplaceAll(key, "~1", "/")] = op.Value.(string)
		default:
			t.Fatalf("unexpected patch operation %+v", op)
		}
	}
	recorded, err := json.Marshal(web)
	if err != nil {
		t.Fatal(err)
	}
	if resp := after.ValidatingHandler().Handle(context.Background(), request(recorded)); !resp.Allowed {
		t.Fatalf("validating call on the recorded object = %+v; want admitted", resp.Result)
	}
}

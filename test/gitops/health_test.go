package gitops

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// change builds a ChangeRequest manifest with the given status block (YAML, indented by two).
func obj(kind, status string) string {
	return `apiVersion: itops.dev/v1alpha1
kind: ` + kind + `
metadata:
  name: x
  namespace: shop
  generation: 2
spec:
  title: Roll out shop 1.2
status:
` + status
}

func cond(typ, status, reason, msg string) string {
	return "  - {type: " + typ + ", status: \"" + status + "\", reason: " + reason + ", message: \"" + msg +
		"\", lastTransitionTime: \"2026-11-28T10:00:00Z\", observedGeneration: 2}\n"
}

func TestHealthChecks(t *testing.T) {
	tests := []struct {
		name        string
		manifest    string
		wantArgo    string
		wantMessage string
		wantKstatus kstatus.Status
	}{
		{
			name:        "new change as the API server serves it (status defaulted by the CRD)",
			manifest:    obj("ChangeRequest", "  observedGeneration: 0\n"),
			wantArgo:    Progressing,
			wantMessage: "Waiting for the itops-operator",
			wantKstatus: kstatus.InProgressStatus,
		},
		{
			// Why the CRDs default status.observedGeneration: without it kstatus would call a
			// change no one has evaluated yet current, and Flux would release the next
			// Kustomization at once.
			name:        "change without any status",
			manifest:    strings.TrimSuffix(obj("ChangeRequest", ""), "status:\n"),
			wantArgo:    Progressing,
			wantMessage: "Waiting for the itops-operator",
			wantKstatus: kstatus.CurrentStatus,
		},
		{
			name: "change pending approval holds the sync wave",
			manifest: obj("ChangeRequest", "  phase: Pending\n  approvalSummary: 1/2\n  observedGeneration: 2\n  conditions:\n"+
				cond("Approved", "False", "AwaitingApproval", "1/2 approvals")+
				cond("Ready", "False", "AwaitingApproval", "Pending: 1 of 2 approvals from group sre")+
				cond("Reconciling", "True", "AwaitingApproval", "Pending: 1 of 2 approvals from group sre")),
			wantArgo:    Progressing,
			wantMessage: "Pending: 1 of 2 approvals from group sre",
			wantKstatus: kstatus.InProgressStatus,
		},
		{
			name: "change edited after approval is evaluated again",
			manifest: obj("ChangeRequest", "  phase: Approved\n  observedGeneration: 1\n  conditions:\n"+
				cond("Ready", "True", "Approved", "Approved: 2/2")),
			wantArgo:    Progressing,
			wantMessage: "latest spec",
			wantKstatus: kstatus.InProgressStatus,
		},
		{
			name: "approved change lets the next wave sync",
			manifest: obj("ChangeRequest", "  phase: Approved\n  observedGeneration: 2\n  conditions:\n"+
				cond("Approved", "True", "Approved", "2/2 approvals")+
				cond("Ready", "True", "Approved", "Approved: 2/2 approvals")),
			wantArgo:    Healthy,
			wantMessage: "Approved: 2/2 approvals",
			wantKstatus: kstatus.CurrentStatus,
		},
		{
			name: "emergency change awaiting review is healthy and says so",
			manifest: obj("ChangeRequest", "  phase: Approved\n  observedGeneration: 2\n  conditions:\n"+
				cond("Approved", "True", "Emergency", "authorised at once")+
				cond("Reviewed", "False", "AwaitingReview", "0/1 approvals")+
				cond("Ready", "True", "Emergency", "Approved: emergency")),
			wantArgo:    Healthy,
			wantMessage: "awaiting review",
			wantKstatus: kstatus.CurrentStatus,
		},
		{
			name: "change rolling out",
			manifest: obj("ChangeRequest", "  phase: InProgress\n  observedGeneration: 2\n  conditions:\n"+
				cond("Ready", "False", "RollingOut", "InProgress: Deployment/shop rolling out")+
				cond("Reconciling", "True", "RollingOut", "InProgress: Deployment/shop rolling out")),
			wantArgo:    Progressing,
			wantMessage: "Deployment/shop rolling out",
			wantKstatus: kstatus.InProgressStatus,
		},
		{
			name: "completed change",
			manifest: obj("ChangeRequest", "  phase: Completed\n  observedGeneration: 2\n  conditions:\n"+
				cond("Ready", "True", "Completed", "Completed: every target rolled out")),
			wantArgo:    Healthy,
			wantKstatus: kstatus.CurrentStatus,
		},
		{
			name: "rejected change degrades the application",
			manifest: obj("ChangeRequest", "  phase: Rejected\n  observedGeneration: 2\n  conditions:\n"+
				cond("Ready", "False", "Rejected", "Rejected: rejected by bob")+
				cond("Stalled", "True", "Rejected", "Rejected: rejected by bob")),
			wantArgo:    Degraded,
			wantMessage: "rejected by bob",
			wantKstatus: kstatus.FailedStatus,
		},
		{
			name: "failed change",
			manifest: obj("ChangeRequest", "  phase: Failed\n  observedGeneration: 2\n  conditions:\n"+
				cond("Ready", "False", "RolloutFailed", "Failed: Deployment/shop exceeded its progress deadline")+
				cond("Stalled", "True", "RolloutFailed", "Failed: Deployment/shop exceeded its progress deadline")),
			wantArgo:    Degraded,
			wantMessage: "progress deadline",
			wantKstatus: kstatus.FailedStatus,
		},
		{
			name: "expired change",
			manifest: obj("ChangeRequest", "  phase: Expired\n  observedGeneration: 2\n  conditions:\n"+
				cond("Ready", "False", "Expired", "Expired: the approval lapsed")+
				cond("Stalled", "True", "Expired", "Expired: the approval lapsed")),
			wantArgo:    Degraded,
			wantKstatus: kstatus.FailedStatus,
		},
		{
			name: "scheduled maintenance window",
			manifest: obj("MaintenanceWindow", "  phase: Scheduled\n  observedGeneration: 2\n  conditions:\n"+
				cond("Ready", "True", "Scheduled", "next maintenance window from 2026-12-01T02:00:00Z")),
			wantArgo:    Healthy,
			wantMessage: "next maintenance window",
			wantKstatus: kstatus.CurrentStatus,
		},
		{
			name: "active freeze is healthy",
			manifest: obj("MaintenanceWindow", "  phase: Active\n  observedGeneration: 2\n  conditions:\n"+
				cond("Ready", "True", "Active", "Freeze window active until 2026-12-27T00:00:00Z")),
			wantArgo:    Healthy,
			wantKstatus: kstatus.CurrentStatus,
		},
		{
			name: "window the operator cannot evaluate",
			manifest: obj("MaintenanceWindow", "  observedGeneration: 2\n  conditions:\n"+
				cond("Ready", "False", "InvalidSpec", "schedules[0].cron: unknown time zone")+
				cond("Stalled", "True", "InvalidSpec", "schedules[0].cron: unknown time zone")),
			wantArgo:    Degraded,
			wantMessage: "unknown time zone",
			wantKstatus: kstatus.FailedStatus,
		},
		{
			name:        "window not yet evaluated",
			manifest:    obj("MaintenanceWindow", "  observedGeneration: 0\n"),
			wantArgo:    Progressing,
			wantKstatus: kstatus.InProgressStatus,
		},
		{
			name: "open incident",
			manifest: obj("Incident", "  phase: Open\n  priority: P2\n  observedGeneration: 2\n  conditions:\n"+
				cond("Ready", "True", "Reconciled", "incident is Open at priority P2")),
			wantArgo:    Degraded,
			wantMessage: "Open P2: Roll out shop 1.2",
			wantKstatus: kstatus.CurrentStatus,
		},
		{
			name: "suppressed incident",
			manifest: obj("Incident", "  phase: Open\n  priority: P3\n  observedGeneration: 2\n  conditions:\n"+
				cond("Suppressed", "True", "MaintenanceWindow", "suppressed by shop/db-upgrade")+
				cond("Ready", "True", "Reconciled", "incident is Open at priority P3")),
			wantArgo:    Suspended,
			wantMessage: "Suppressed by a maintenance window",
			wantKstatus: kstatus.CurrentStatus,
		},
		{
			name: "resolved incident",
			manifest: obj("Incident", "  phase: Resolved\n  priority: P3\n  observedGeneration: 2\n  conditions:\n"+
				cond("Ready", "True", "Reconciled", "incident is Resolved at priority P3")),
			wantArgo:    Healthy,
			wantKstatus: kstatus.CurrentStatus,
		},
		{
			name: "service level meeting its objective",
			manifest: obj("ServiceLevel", "  observedGeneration: 2\n  conditions:\n"+
				cond("ObjectiveMet", "True", "ObjectiveMet", "availability 99.95% >= 99.9%")+
				cond("BudgetExhausted", "False", "BudgetRemaining", "50% of the budget left")+
				cond("Ready", "True", "Measured", "availability 99.95%")),
			wantArgo:    Healthy,
			wantKstatus: kstatus.CurrentStatus,
		},
		{
			name: "service level with its budget spent",
			manifest: obj("ServiceLevel", "  observedGeneration: 2\n  conditions:\n"+
				cond("ObjectiveMet", "False", "ObjectiveMissed", "availability 99.2% < 99.9%")+
				cond("BudgetExhausted", "True", "BudgetExhausted", "error budget of shop exhausted")+
				cond("Ready", "True", "Measured", "availability 99.2%")),
			wantArgo:    Degraded,
			wantMessage: "error budget of shop exhausted",
			wantKstatus: kstatus.CurrentStatus,
		},
		{
			name: "service level missing its objective with budget left",
			manifest: obj("ServiceLevel", "  observedGeneration: 2\n  conditions:\n"+
				cond("ObjectiveMet", "False", "ObjectiveMissed", "availability 99.2% < 99.9%")+
				cond("Ready", "True", "Measured", "availability 99.2%")),
			wantArgo:    Degraded,
			wantMessage: "99.2%",
			wantKstatus: kstatus.CurrentStatus,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := ArgoHealth(tt.manifest)
			if err != nil {
				t.Fatalf("lua: %v", err)
			}
			if h.Status != tt.wantArgo || !strings.Contains(h.Message, tt.wantMessage) {
				t.Errorf("argo health = %s %q, want %s containing %q", h.Status, h.Message, tt.wantArgo, tt.wantMessage)
			}
			r, err := Kstatus(tt.manifest)
			if err != nil {
				t.Fatalf("kstatus: %v", err)
			}
			if r.Status != tt.wantKstatus {
				t.Errorf("kstatus = %s (%s), want %s", r.Status, r.Message, tt.wantKstatus)
			}
		})
	}
}

// Every kind has a health check, and the argocd-cm patch carries exactly the scripts.
func TestEveryKindHasAHealthCheck(t *testing.T) {
	patch, err := os.ReadFile(filepath.Join(HealthDir(), "..", "argocd-cm-patch.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"ChangeRequest", "Incident", "MaintenanceWindow", "ServiceLevel"} {
		gvk := schema.GroupVersionKind{Group: "itops.dev", Version: "v1alpha1", Kind: kind}
		script, err := os.ReadFile(ScriptPath(gvk))
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if !strings.Contains(string(patch), "resource.customizations.health.itops.dev_"+kind+": |") {
			t.Errorf("argocd-cm-patch.yaml does not register %s; run make manifests", kind)
		}
		first := strings.SplitN(string(script), "\n", 2)[0]
		if !strings.Contains(string(patch), "    "+first) {
			t.Errorf("argocd-cm-patch.yaml is stale for %s; run make manifests", kind)
		}
	}
}

// Argo CD does not open the string library: a script using it fails there even if it works in a
// plain Lua interpreter.
func TestScriptsUseOnlyArgoLibraries(t *testing.T) {
	_, err := ArgoHealth(`apiVersion: itops.dev/v1alpha1
kind: Incident
metadata: {name: x, namespace: y}
spec: {title: "a"}
status: {phase: Open, priority: P1}`)
	if err != nil {
		t.Fatalf("incident script: %v", err)
	}
	l := `local x = string.format("%d", 1)`
	if err := runSnippet(l); err == nil {
		t.Fatal("string library is open; Argo CD does not open it")
	}
}

package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		wantErr string
		check   func(t *testing.T, c *Config)
	}{
		{
			name: "empty document gives the built-in defaults",
			doc:  "",
			check: func(t *testing.T, c *Config) {
				if len(c.ChangePolicies) != 1 {
					t.Fatalf("want one default policy, got %d", len(c.ChangePolicies))
				}
				p := c.ChangePolicies[0]
				if p.MinApprovals[itopsv1alpha1.LevelHigh] != 2 || p.MinApprovals[itopsv1alpha1.LevelLow] != 1 {
					t.Errorf("unexpected default minApprovals %v", p.MinApprovals)
				}
				if p.ApprovalLifetime.Duration != 24*time.Hour {
					t.Errorf("approvalLifetime = %s, want 24h", p.ApprovalLifetime.Duration)
				}
				if c.Incidents.ReopenWindow.Duration != time.Hour {
					t.Errorf("reopenWindow = %s, want 1h", c.Incidents.ReopenWindow.Duration)
				}
			},
		},
		{
			name: "node conditions to ignore",
			doc:  "detection: {nodeConditionsIgnored: [VendorMaintenanceScheduled, example.com/Drained]}\n",
			check: func(t *testing.T, c *Config) {
				if got := c.Detection.NodeConditionsIgnored; len(got) != 2 || got[1] != "example.com/Drained" {
					t.Errorf("nodeConditionsIgnored = %v", got)
				}
			},
		},
		{
			name:    "a node condition type that is not a qualified name",
			doc:     "detection: {nodeConditionsIgnored: [\"Kernel Deadlock\"]}\n",
			wantErr: "detection.nodeConditionsIgnored[0]",
		},
		{
			name: "the contract example",
			doc: `
changePolicies:
- namespaceSelector: {}
  approverGroups: [sre-leads]
  minApprovals: {Low: 1, Medium: 1, High: 2}
  emergencyGroups: [oncall]
  approvalLifetime: 24h
`,
			check: func(t *testing.T, c *Config) {
				p := c.ChangePolicies[0]
				if len(p.ApproverGroups) != 1 || p.ApproverGroups[0] != "sre-leads" {
					t.Errorf("approverGroups = %v", p.ApproverGroups)
				}
				if len(p.EmergencyGroups) != 1 || p.EmergencyGroups[0] != "oncall" {
					t.Errorf("emergencyGroups = %v", p.EmergencyGroups)
				}
			},
		},
		{
			name: "missing risk levels are defaulted",
			doc: `
changePolicies:
- namespaceSelector: {matchLabels: {tier: prod}}
  minApprovals: {High: 3}
`,
			check: func(t *testing.T, c *Config) {
				p := c.ChangePolicies[0]
				if p.MinApprovals[itopsv1alpha1.LevelHigh] != 3 || p.MinApprovals[itopsv1alpha1.LevelMedium] != 1 {
					t.Errorf("minApprovals = %v", p.MinApprovals)
				}
			},
		},
		{
			name: "emergency groups default per policy; an explicit empty list means nobody",
			doc:  "changePolicies:\n- namespaceSelector: {matchLabels: {tier: prod}}\n  emergencyGroups: []\n- approverGroups: [x]\n",
			check: func(t *testing.T, c *Config) {
				if len(c.ChangePolicies[0].EmergencyGroups) != 0 || c.ChangePolicies[0].EmergencyGroups == nil {
					t.Errorf("explicit [] = %#v, want an empty list", c.ChangePolicies[0].EmergencyGroups)
				}
				if g := c.ChangePolicies[1].EmergencyGroups; len(g) != 1 || g[0] != "system:masters" {
					t.Errorf("absent = %v, want the default", g)
				}
			},
		},
		{
			name: "standard change patterns",
			doc: `
changePolicies:
- standardChanges:
  - name: image-bump
    allow: ImageWithinRepository
    targets: [{kind: Deployment, name: web}, {kind: CronJob, name: "*"}]
`,
			check: func(t *testing.T, c *Config) {
				p := c.ChangePolicies[0]
				web := []itopsv1alpha1.ChangeTarget{{Kind: itopsv1alpha1.TargetDeployment, Name: "web"}, {Kind: itopsv1alpha1.TargetCronJob, Name: "report"}}
				if sc := p.StandardChangeFor(web); sc == nil || sc.Name != "image-bump" {
					t.Errorf("StandardChangeFor(web, report) = %v, want image-bump", sc)
				}
				if sc := p.StandardChangeFor([]itopsv1alpha1.ChangeTarget{{Kind: itopsv1alpha1.TargetDeployment, Name: "api"}}); sc != nil {
					t.Errorf("StandardChangeFor(api) = %v, want none", sc)
				}
				if sc := p.StandardChangeFor(nil); sc != nil {
					t.Errorf("StandardChangeFor(no targets) = %v, want none", sc)
				}
				if c.Changes.RolloutTimeout.Duration != 10*time.Minute || c.Changes.RelatedWithin.Duration != time.Hour {
					t.Errorf("rolloutTimeout, relatedWithin = %s, %s", c.Changes.RolloutTimeout.Duration, c.Changes.RelatedWithin.Duration)
				}
			},
		},
		{name: "standard change without name", doc: "changePolicies:\n- standardChanges: [{allow: ImageWithinRepository, targets: [{kind: Deployment, name: web}]}]", wantErr: `changePolicies[0].standardChanges[0].name: Required value`},
		{name: "standard change allowing anything", doc: "changePolicies:\n- standardChanges: [{name: a, allow: Anything, targets: [{kind: Deployment, name: web}]}]", wantErr: `changePolicies[0].standardChanges[0].allow: Unsupported value: "Anything"`},
		{name: "standard change of an unknown kind", doc: "changePolicies:\n- standardChanges: [{name: a, allow: ImageWithinRepository, targets: [{kind: Pod, name: web}]}]", wantErr: `changePolicies[0].standardChanges[0].targets[0].kind: Unsupported value: "Pod"`},
		{name: "unknown key", doc: "changePolicy: []", wantErr: `unknown field "changePolicy"`},
		{name: "unknown risk", doc: "changePolicies:\n- minApprovals: {Critical: 1}", wantErr: `changePolicies[0].minApprovals[Critical]: Unsupported value`},
		{name: "too many approvals", doc: "changePolicies:\n- minApprovals: {High: 11}", wantErr: `changePolicies[0].minApprovals[High]: Invalid value: 11: must be between 0 and 10`},
		{name: "negative duration", doc: "incidents:\n  closeAfter: -1h", wantErr: `incidents.closeAfter: Invalid value: "-1h0m0s": must not be negative`},
		{name: "bad duration", doc: "changes:\n  retention: forever", wantErr: `invalid policy file`},
		{name: "bad selector", doc: "changePolicies:\n- namespaceSelector: {matchExpressions: [{key: a, operator: Sometimes}]}", wantErr: `changePolicies[0].namespaceSelector`},
		{name: "duplicate group", doc: "changePolicies:\n- approverGroups: [a, a]", wantErr: `changePolicies[0].approverGroups[1]: Duplicate value: "a"`},
		{
			name: "gitops separation of duties",
			doc: `
changePolicies:
- gitops:
    appliers: [ci-bot]
    minApprovals: 2
    requireRequester: true
    approverGroups: [change-board]
    excludedApproverGroups: [shop-developers]
`,
			check: func(t *testing.T, c *Config) {
				g := c.ChangePolicies[0].GitOps
				if g.MinApprovals != 2 || !g.RequireRequester || g.Appliers[0] != "ci-bot" || g.ApproverGroups[0] != "change-board" || g.ExcludedApproverGroups[0] != "shop-developers" {
					t.Errorf("gitops = %+v", g)
				}
			},
		},
		{
			name: "gitops rules are off by default",
			doc:  "changePolicies: [{}]",
			check: func(t *testing.T, c *Config) {
				if g := c.ChangePolicies[0].GitOps; g.MinApprovals != 0 || g.RequireRequester || len(g.ApproverGroups)+len(g.ExcludedApproverGroups)+len(g.Appliers) != 0 {
					t.Errorf("gitops = %+v, want nothing", g)
				}
			},
		},
		{name: "gitops with an unknown key", doc: "changePolicies:\n- gitops: {requireApproverGroupsExcludingRequester: true}", wantErr: `unknown field "requireApproverGroupsExcludingRequester"`},
		{name: "gitops with too many approvals", doc: "changePolicies:\n- gitops: {minApprovals: 11}", wantErr: `changePolicies[0].gitops.minApprovals: Invalid value: 11: must be between 0 and 10`},
		{name: "gitops with negative approvals", doc: "changePolicies:\n- gitops: {minApprovals: -1}", wantErr: `changePolicies[0].gitops.minApprovals: Invalid value: -1`},
		{name: "gitops requiring and excluding one group", doc: "changePolicies:\n- gitops: {approverGroups: [a], excludedApproverGroups: [b, a]}",
			wantErr: `changePolicies[0].gitops.excludedApproverGroups[1]: Invalid value: "a": is also one of gitops.approverGroups`},
		{name: "gitops with an empty applier", doc: "changePolicies:\n- gitops: {appliers: [\"\"]}", wantErr: `changePolicies[0].gitops.appliers[0]: Required value`},
		{name: "gitops requireRequester not a bool", doc: "changePolicies:\n- gitops: {requireRequester: sometimes}", wantErr: `invalid policy file`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.doc))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse() error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse() error = %v", err)
			}
			tt.check(t, c)
		})
	}
}

func TestLoad(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !strings.Contains(err.Error(), "reading policy file") {
		t.Errorf("Load(missing) error = %v, want a read error", err)
	}
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte("incidents: {closeAfter: 2h}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatalf("Load() error = %v", err)
	}
	if c.Incidents.CloseAfter.Duration != 2*time.Hour {
		t.Errorf("closeAfter = %s, want 2h", c.Incidents.CloseAfter.Duration)
	}
	d, err := Load("")
	if err != nil || len(d.ChangePolicies) != 1 {
		t.Errorf("Load(\"\") = %v, %v; want the defaults", d, err)
	}
}

func TestChangePolicyFor(t *testing.T) {
	c, err := Parse([]byte(`
changePolicies:
- namespaceSelector: {matchLabels: {tier: prod}}
  approverGroups: [prod-approvers]
- namespaceSelector: {}
  approverGroups: [anyone]
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		labels map[string]string
		want   string
	}{
		{map[string]string{"tier": "prod"}, "prod-approvers"},
		{map[string]string{"tier": "dev"}, "anyone"},
		{nil, "anyone"},
	}
	for _, tt := range tests {
		if got := c.ChangePolicyFor(tt.labels).ApproverGroups[0]; got != tt.want {
			t.Errorf("ChangePolicyFor(%v) = %s, want %s", tt.labels, got, tt.want)
		}
	}
	only, err := Parse([]byte("changePolicies:\n- namespaceSelector: {matchLabels: {tier: prod}}\n  approverGroups: [x]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := only.ChangePolicyFor(map[string]string{"tier": "dev"}); len(got.ApproverGroups) != 0 || got.MinApprovals[itopsv1alpha1.LevelHigh] != 2 {
		t.Errorf("fallback policy = %+v, want the built-in default", got)
	}
}

// FuzzParse: whatever the file holds, Parse either returns a valid, defaulted config or an
// error; it never panics.
func FuzzParse(f *testing.F) {
	f.Add([]byte("changePolicies:\n- namespaceSelector: {}\n  minApprovals: {High: 2}\n"))
	f.Add([]byte("incidents: {closeAfter: 2h}"))
	f.Add([]byte("changePolicies: [{gitops: {appliers: [ci], minApprovals: 2, requireRequester: true, approverGroups: [a], excludedApproverGroups: [b]}}]"))
	f.Add([]byte("changePolicies: [{namespaceSelector: {matchExpressions: [{key: a, operator: In, values: [b]}]}}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			return
		}
		if errs := c.Validate(); len(errs) > 0 {
			t.Fatalf("Parse accepted an invalid config: %v", errs)
		}
		if len(c.ChangePolicies) == 0 || c.ChangePolicies[0].ApprovalLifetime.Duration <= 0 {
			t.Fatalf("Parse returned an undefaulted config: %+v", c)
		}
	})
}

package custom_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/config"
	"github.com/itops-dev/itops-operator/internal/detector/custom"
)

func TestCompileErrors(t *testing.T) {
	cases := []struct {
		name  string
		x     custom.Expressions
		field string // "" means it compiles
		text  string
	}{
		{"valid", custom.Expressions{Unhealthy: "object.status.health.status == 'Degraded'"}, "", ""},
		{"dyn result accepted", custom.Expressions{Unhealthy: "object.status.ready"}, "", ""},
		{"missing", custom.Expressions{}, "unhealthy", "required"},
		{"parse error", custom.Expressions{Unhealthy: "object.status.health.status =="}, "unhealthy", "Syntax error"},
		{"not bool", custom.Expressions{Unhealthy: "'Degraded'"}, "unhealthy", "must evaluate to bool"},
		{"int not bool", custom.Expressions{Unhealthy: "size(object.status.conditions) + 1"}, "unhealthy", "must evaluate to bool"},
		{"unknown variable", custom.Expressions{Unhealthy: "obj.status == 'x'"}, "unhealthy", "undeclared reference"},
		{"message not string", custom.Expressions{Unhealthy: "true", Message: "1 + 2"}, "message", "must evaluate to string"},
		{"since wrong type", custom.Expressions{Unhealthy: "true", Since: "true"}, "since", "timestamp or string"},
		{"since string ok", custom.Expressions{Unhealthy: "true", Since: "'2026-01-01T00:00:00Z'"}, "", ""},
		{"too long", custom.Expressions{Unhealthy: "true || " + strings.Repeat("true || ", 600) + "true"}, "unhealthy", "longer than"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := custom.Compile(tc.x)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("want no error, got %v", err)
				}
				return
			}
			var fe *custom.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("want a FieldError, got %v", err)
			}
			if fe.Field != tc.field || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("want %s error containing %q, got %s: %v", tc.field, tc.text, fe.Field, err)
			}
		})
	}
}

func TestCostLimitStopsRunaway(t *testing.T) {
	p, err := custom.Compile(custom.Expressions{Unhealthy: "object.items.all(a, object.items.all(b, object.items.all(c, a + b + c >= 0)))"})
	if err != nil {
		t.Fatal(err)
	}
	items := make([]any, 300)
	for i := range items {
		items[i] = int64(i)
	}
	if _, err := p.Evaluate(map[string]any{"items": items}); err == nil || !strings.Contains(err.Error(), "cost") {
		t.Fatalf("want a cost limit error, got %v", err)
	}
}

// loadSample reads the detector of a shipped example in config/samples/detectors.
func loadSample(t *testing.T, file string) config.Detector {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "config", "samples", "detectors", file))
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Parse(data)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if len(c.Detectors) != 1 {
		t.Fatalf("%s: want one detector, got %d", file, len(c.Detectors))
	}
	return c.Detectors[0]
}

func object(t *testing.T, y string) map[string]any {
	t.Helper()
	m := map[string]any{}
	if err := yaml.Unmarshal([]byte(y), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

const argoDegraded = `
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: guestbook, namespace: argocd}
spec:
  project: default
  source: {repoURL: https://github.com/argoproj/argocd-example-apps, path: guestbook, targetRevision: HEAD}
  destination: {server: https://kubernetes.default.svc, namespace: guestbook}
status:
  health: {status: Degraded, message: "Deployment guestbook-ui exceeded its progress deadline"}
  sync: {status: Synced, revision: 53e28ff20cc530b9ada2173fbbd64d48338583ba}
`

const argoHealthy = `
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: guestbook, namespace: argocd}
status:
  health: {status: Healthy}
  sync: {status: Synced}
`

const argoNew = `
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: guestbook, namespace: argocd}
spec: {project: default}
`

func fluxNotReady(kind string) string {
	return `
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: ` + kind + `
metadata: {name: apps, namespace: flux-system, generation: 3}
spec: {interval: 10m, path: ./apps, prune: true, sourceRef: {kind: GitRepository, name: flux-system}}
status:
  observedGeneration: 3
  lastAttemptedRevision: main@sha1:0a1b2c
  conditions:
  - {type: Reconciling, status: "False", reason: ReconciliationFailed, message: "", lastTransitionTime: "2026-12-01T09:00:00Z"}
  - type: Ready
    status: "False"
    reason: BuildFailed
    message: "kustomize build failed: accumulating resources: missing ./apps/podinfo"
    lastTransitionTime: "2026-12-01T09:55:00Z"
    observedGeneration: 3
`
}

func fluxReady(kind string) string {
	return `
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: ` + kind + `
metadata: {name: apps, namespace: flux-system}
status:
  conditions:
  - {type: Ready, status: "True", reason: ReconciliationSucceeded, message: "Applied revision: main@sha1:0a1b2c", lastTransitionTime: "2026-12-01T10:05:00Z"}
`
}

const certNotReady = `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: web-tls, namespace: web}
spec: {secretName: web-tls, dnsNames: [web.example.com], issuerRef: {name: letsencrypt, kind: ClusterIssuer}}
status:
  conditions:
  - {type: Issuing, status: "True", reason: Failed, message: "The certificate request has failed to complete", lastTransitionTime: "2026-12-01T09:50:00Z"}
  - {type: Ready, status: "False", reason: DoesNotExist, message: "Issuing certificate as Secret does not exist", lastTransitionTime: "2026-12-01T09:50:00Z", observedGeneration: 1}
`

const certReady = `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: web-tls, namespace: web}
status:
  notAfter: "2027-03-01T00:00:00Z"
  conditions:
  - {type: Ready, status: "True", reason: Ready, message: "Certificate is up to date and has not expired", lastTransitionTime: "2026-12-01T10:01:00Z"}
`

// TestShippedExamples evaluates each example of config/samples/detectors over realistic
// objects of its kind, then judges them through the grace period: healthy, within grace,
// firing, clearing.
func TestShippedExamples(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		file             string
		unhealthy        string
		healthy          []string
		wantMessage      string
		wantSince        time.Time // zero: first seen
		grace            time.Duration
		firstSeen        time.Time
		wantFiring       bool
		wantRequeueAfter time.Duration
	}{
		{file: "argocd-application.yaml", unhealthy: argoDegraded, healthy: []string{argoHealthy, argoNew},
			wantMessage: "Argo CD reports the application Degraded: Deployment guestbook-ui exceeded its progress deadline",
			grace:       2 * time.Minute, firstSeen: now.Add(-30 * time.Second), wantRequeueAfter: 90 * time.Second},
		{file: "argocd-application.yaml", unhealthy: argoDegraded,
			wantMessage: "Argo CD reports the application Degraded: Deployment guestbook-ui exceeded its progress deadline",
			grace:       2 * time.Minute, firstSeen: now.Add(-2 * time.Minute), wantFiring: true},
		{file: "flux-kustomization.yaml", unhealthy: fluxNotReady("Kustomization"), healthy: []string{fluxReady("Kustomization"), argoNew},
			wantMessage: "BuildFailed: kustomize build failed: accumulating resources: missing ./apps/podinfo",
			wantSince:   time.Date(2026, 12, 1, 9, 55, 0, 0, time.UTC), grace: 5 * time.Minute, wantFiring: true},
		{file: "flux-helmrelease.yaml", unhealthy: fluxNotReady("HelmRelease"), healthy: []string{fluxReady("HelmRelease")},
			wantMessage: "BuildFailed: kustomize build failed: accumulating resources: missing ./apps/podinfo",
			wantSince:   time.Date(2026, 12, 1, 9, 55, 0, 0, time.UTC), grace: 5 * time.Minute, wantFiring: true},
		{file: "certmanager-certificate.yaml", unhealthy: certNotReady, healthy: []string{certReady},
			wantMessage: "DoesNotExist: Issuing certificate as Secret does not exist",
			wantSince:   time.Date(2026, 12, 1, 9, 50, 0, 0, time.UTC), grace: 10 * time.Minute, wantFiring: true},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			d := loadSample(t, tc.file)
			if d.Grace() != tc.grace {
				t.Fatalf("grace: want %s, got %s", tc.grace, d.Grace())
			}
			p, err := custom.Compile(d.Expressions())
			if err != nil {
				t.Fatal(err)
			}
			v, err := p.Evaluate(object(t, tc.unhealthy))
			if err != nil {
				t.Fatal(err)
			}
			if !v.Unhealthy || v.Message != tc.wantMessage || !v.Since.Equal(tc.wantSince) {
				t.Fatalf("unhealthy object: got %+v", v)
			}
			j := custom.Judge(v, tc.firstSeen, d.Grace(), now)
			if j.Firing != tc.wantFiring || j.Pending == tc.wantFiring || j.RequeueAfter != tc.wantRequeueAfter {
				t.Fatalf("judgement: got %+v", j)
			}
			for _, h := range tc.healthy {
				v, err := p.Evaluate(object(t, h))
				if err != nil {
					t.Fatalf("healthy object: %v", err)
				}
				if v.Unhealthy {
					t.Fatalf("healthy object judged unhealthy: %+v", v)
				}
				if j := custom.Judge(v, tc.firstSeen, d.Grace(), now); j.Firing || j.Pending {
					t.Fatalf("healthy object: got %+v", j)
				}
			}
		})
	}
}

func TestJudge(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		name      string
		v         custom.Verdict
		firstSeen time.Time
		grace     time.Duration
		want      custom.Judgement
	}{
		{"healthy", custom.Verdict{}, now.Add(-time.Hour), time.Minute, custom.Judgement{}},
		{"first seen now", custom.Verdict{Unhealthy: true}, time.Time{}, time.Minute,
			custom.Judgement{Pending: true, Since: now, RequeueAfter: time.Minute}},
		{"within grace", custom.Verdict{Unhealthy: true}, now.Add(-20 * time.Second), time.Minute,
			custom.Judgement{Pending: true, Since: now.Add(-20 * time.Second), RequeueAfter: 40 * time.Second}},
		{"grace reached exactly", custom.Verdict{Unhealthy: true}, now.Add(-time.Minute), time.Minute,
			custom.Judgement{Firing: true, Since: now.Add(-time.Minute)}},
		{"zero grace fires at once", custom.Verdict{Unhealthy: true}, time.Time{}, 0,
			custom.Judgement{Firing: true, Since: now}},
		{"since wins over first seen", custom.Verdict{Unhealthy: true, Since: now.Add(-10 * time.Minute)}, now, 5 * time.Minute,
			custom.Judgement{Firing: true, Since: now.Add(-10 * time.Minute)}},
		{"since in the future ignored", custom.Verdict{Unhealthy: true, Since: now.Add(time.Hour)}, now.Add(-30 * time.Second), time.Minute,
			custom.Judgement{Pending: true, Since: now.Add(-30 * time.Second), RequeueAfter: 30 * time.Second}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := custom.Judge(tc.v, tc.firstSeen, tc.grace, now)
			if got.Firing != tc.want.Firing || got.Pending != tc.want.Pending || !got.Since.Equal(tc.want.Since) || got.RequeueAfter != tc.want.RequeueAfter {
				t.Fatalf("want %+v, got %+v", tc.want, got)
			}
		})
	}
}

func TestMergeSignal(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	firing := &custom.Problem{Reason: "ArgoApplicationDegraded", Message: "Degraded", Since: now.Add(-3 * time.Minute), Priority: itopsv1alpha1.PriorityP2}
	sustained := *firing
	sustained.Sustain = true

	// Opens: a new active signal with the detector's priority.
	r := custom.MergeSignal(nil, "ArgoApplicationDegraded", firing, now)
	if len(r.Signals) != 1 || !r.Signals[0].Active || r.Signals[0].Priority != itopsv1alpha1.PriorityP2 ||
		!r.Signals[0].Since.Time.Equal(now.Add(-3*time.Minute)) || len(r.Started) != 1 {
		t.Fatalf("firing: %+v", r)
	}
	// Within grace after a restart: an active signal stays active and unchanged.
	again := custom.MergeSignal(r.Signals, "ArgoApplicationDegraded", &sustained, now.Add(10*time.Second))
	if !again.Signals[0].Active || again.Changed {
		t.Fatalf("sustained: %+v", again)
	}
	// A sustained problem starts nothing.
	if s := custom.MergeSignal(nil, "ArgoApplicationDegraded", &sustained, now); len(s.Signals) != 0 {
		t.Fatalf("sustained without a signal: %+v", s)
	}
	// Clears: kept, inactive; other reasons untouched.
	other := itopsv1alpha1.Signal{Reason: "WorkloadUnavailable", Active: true, Count: 1}
	cleared := custom.MergeSignal(append(r.Signals, other), "ArgoApplicationDegraded", nil, now.Add(time.Minute))
	if len(cleared.Signals) != 2 || cleared.Signals[0].Active || !cleared.Signals[1].Active || len(cleared.Cleared) != 1 {
		t.Fatalf("clearing: %+v", cleared)
	}
	// Returns: count 2.
	back := custom.MergeSignal(cleared.Signals, "ArgoApplicationDegraded", firing, now.Add(2*time.Minute))
	if !back.Signals[0].Active || back.Signals[0].Count != 2 || len(back.Started) != 1 {
		t.Fatalf("recurrence: %+v", back)
	}
}

package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

var now = time.Date(2026, 12, 1, 4, 0, 0, 0, time.UTC)

func at(d time.Duration) *metav1.Time {
	t := metav1.NewTime(now.Add(d))
	return &t
}

func incident(ns, name string, p itopsv1alpha1.Priority, phase itopsv1alpha1.IncidentPhase, respond, resolve time.Duration) itopsv1alpha1.Incident {
	return itopsv1alpha1.Incident{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       itopsv1alpha1.IncidentSpec{Title: name + " is down"},
		Status: itopsv1alpha1.IncidentStatus{Priority: p, Phase: phase, DetectedAt: at(-10 * time.Minute),
			ResponseDueAt: at(respond), ResolutionDueAt: at(resolve)},
	}
}

func TestSLACountdowns(t *testing.T) {
	tests := []struct {
		name             string
		inc              itopsv1alpha1.Incident
		respond, resolve string
	}{
		{name: "both ahead", inc: incident("a", "x", "P1", "Open", 5*time.Minute, 4*time.Hour), respond: "in 5m", resolve: "in 4h"},
		{name: "response overdue", inc: incident("a", "x", "P1", "Open", -2*time.Minute, time.Hour), respond: "OVERDUE 2m", resolve: "in 60m"},
		{name: "acknowledged in time", inc: func() itopsv1alpha1.Incident {
			i := incident("a", "x", "P2", "Acknowledged", -time.Minute, time.Hour)
			i.Status.AcknowledgedAt = at(-3 * time.Minute)
			return i
		}(), respond: "met", resolve: "in 60m"},
		{name: "acknowledged late", inc: func() itopsv1alpha1.Incident {
			i := incident("a", "x", "P2", "Acknowledged", -5*time.Minute, -time.Minute)
			i.Status.AcknowledgedAt = at(-2 * time.Minute)
			return i
		}(), respond: "missed by 3m", resolve: "OVERDUE 60s"},
		{name: "no SLA", inc: itopsv1alpha1.Incident{}, respond: "-", resolve: "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ResponseSLA(&tt.inc, now); got != tt.respond {
				t.Errorf("response: got %q, want %q", got, tt.respond)
			}
			if got := ResolutionSLA(&tt.inc, now); got != tt.resolve {
				t.Errorf("resolution: got %q, want %q", got, tt.resolve)
			}
		})
	}
}

func TestStatusReport(t *testing.T) {
	resolved := incident("shop", "gone", "P1", "Resolved", time.Minute, time.Hour)
	p3 := incident("shop", "slow", "P3", "Acknowledged", time.Hour, 8*time.Hour)
	p3.Spec.Assignee = "carol"
	p3.Status.AcknowledgedAt = at(-time.Minute)
	in := StatusInputs{
		Incidents: []itopsv1alpha1.Incident{p3, resolved, incident("shop", "web-b", "P1", "Open", 10*time.Minute, 4*time.Hour),
			incident("shop", "web-a", "P1", "Open", 3*time.Minute, 4*time.Hour)},
		Changes: []itopsv1alpha1.ChangeRequest{
			{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-v2"},
				Spec: itopsv1alpha1.ChangeRequestSpec{Title: "web 2.0", Type: "Normal", Risk: "High",
					Approvals: []itopsv1alpha1.Approval{{Approver: "bob", Decision: "Approve"}}},
				Status: itopsv1alpha1.ChangeRequestStatus{Phase: "Pending", ApprovalSummary: "1/2"}},
			{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "old"}, Status: itopsv1alpha1.ChangeRequestStatus{Phase: "Completed"}},
		},
		Windows: []itopsv1alpha1.MaintenanceWindow{
			{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "nightly"}, Spec: itopsv1alpha1.MaintenanceWindowSpec{Type: "Maintenance"},
				Status: itopsv1alpha1.MaintenanceWindowStatus{Phase: "Scheduled", NextStart: at(20 * time.Hour), NextEnd: at(22 * time.Hour)}},
			{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "freeze-x", Generation: 1}, // not evaluated yet: judged from its schedule
				Spec: itopsv1alpha1.MaintenanceWindowSpec{Type: "Freeze", Schedules: []itopsv1alpha1.WindowSchedule{{Start: at(-time.Minute), End: at(2 * time.Hour)}},
					Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}},
			{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "past"}, Spec: itopsv1alpha1.MaintenanceWindowSpec{Type: "Maintenance"},
				Status: itopsv1alpha1.MaintenanceWindowStatus{Phase: "Expired"}},
		},
		ServiceLevels: []itopsv1alpha1.ServiceLevel{{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
			Spec:   itopsv1alpha1.ServiceLevelSpec{Objectives: &itopsv1alpha1.Objectives{Availability: "99.9", Window: itopsv1alpha1.RollingWindow(720 * time.Hour)}, BudgetPolicy: "FreezeChanges"},
			Status: itopsv1alpha1.ServiceLevelStatus{Availability: "99.95", ErrorBudgetRemaining: "50"}}},
	}
	var buf bytes.Buffer
	if err := BuildStatus(in, "shop", now).WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	want := `itops status of namespace shop at 2026-12-01T04:00:00Z

OPEN INCIDENTS (3)
PRIORITY  NAME   PHASE         AGE  RESPOND  RESOLVE  ASSIGNEE  TITLE
P1        web-a  Open          10m  in 3m    in 4h    -         web-a is down
P1        web-b  Open          10m  in 10m   in 4h    -         web-b is down
P3        slow   Acknowledged  10m  met      in 8h    carol     slow is down

CHANGES IN PLAY (1)
NAME    PHASE    TYPE    RISK  APPROVALS  DECISIONS    SCHEDULE  TITLE
web-v2  Pending  Normal  High  1/2        bob:Approve  -         web 2.0

WINDOWS AND FREEZES (2)
NAME      TYPE         STATE   WHEN                                    SCOPE
freeze-x  Freeze       Active  until 2026-12-01T06:00:00Z (in 120m)    app=web
nightly   Maintenance  Next    2026-12-02T00:00:00Z (in 20h) for 120m  all workloads

SERVICE LEVELS (1)
NAME  OBJECTIVE    AVAILABILITY  BUDGET LEFT  POLICY         STATE
web   99.9% / 30d  99.95%        50%          FreezeChanges  ok
`
	if got := buf.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}

	t.Run("all namespaces add a NAMESPACE column", func(t *testing.T) {
		var buf bytes.Buffer
		_ = BuildStatus(in, "", now).WriteText(&buf)
		if !strings.Contains(buf.String(), "NAMESPACE  PRIORITY  NAME") || !strings.Contains(buf.String(), "itops status of all namespaces") {
			t.Errorf("got\n%s", buf.String())
		}
	})
}

func TestParseWorkload(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{in: "deployment/web", want: "deployment/web"},
		{in: "deploy/web", want: "deployment/web"},
		{in: "deployments.apps/web", want: "deployment/web"},
		{in: "web", want: "deployment/web"},
		{in: "sts/db", want: "statefulset/db"},
		{in: "cj/report", want: "cronjob/report"},
		{in: "job/migrate", err: "want KIND/NAME with KIND deployment, statefulset, daemonset or cronjob"},
		{in: "deployment/", err: "want KIND/NAME"},
	}
	for _, tt := range tests {
		w, err := ParseWorkload(tt.in)
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%s: got error %v, want %q", tt.in, err, tt.err)
		case tt.err == "" && (err != nil || w.String() != tt.want):
			t.Errorf("%s: got %v %v, want %s", tt.in, w, err, tt.want)
		}
	}
}

func TestVerdictFromDryRun(t *testing.T) {
	denied := VerdictFromDryRun([]string{"dry run: the real request would be denied: itops change control: update of Deployment shop/web denied: no ChangeRequest"}, nil, nil)
	if denied.Allowed || denied.Denial != "itops change control: update of Deployment shop/web denied: no ChangeRequest" {
		t.Errorf("denied: got %+v", denied)
	}
	ok := VerdictFromDryRun([]string{"error budget of web is exhausted"}, map[string]string{itopsv1alpha1.AnnotationChangeRequest: "web-v2", AnnotationCanIDeploy: "x"}, nil)
	if !ok.Allowed || ok.Change != "web-v2" || len(ok.Warnings) != 1 {
		t.Errorf("allowed: got %+v", ok)
	}
}

func TestDeployHints(t *testing.T) {
	w := Workload{Kind: itopsv1alpha1.TargetDeployment, Name: "web"}
	change := func(name string, phase itopsv1alpha1.ChangePhase, start time.Duration) itopsv1alpha1.ChangeRequest {
		cr := itopsv1alpha1.ChangeRequest{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name},
			Spec:   itopsv1alpha1.ChangeRequestSpec{Targets: []itopsv1alpha1.ChangeTarget{{Kind: "Deployment", Name: "web"}}},
			Status: itopsv1alpha1.ChangeRequestStatus{Phase: phase, ApprovalSummary: "1/2"}}
		if start != 0 {
			cr.Spec.Schedule = &itopsv1alpha1.ChangeSchedule{Start: *at(start), End: *at(start + time.Hour)}
		}
		return cr
	}
	freeze := func(ns string, sel map[string]string, end time.Duration) itopsv1alpha1.MaintenanceWindow {
		return itopsv1alpha1.MaintenanceWindow{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "freeze"},
			Spec:   itopsv1alpha1.MaintenanceWindowSpec{Type: "Freeze", Selector: &metav1.LabelSelector{MatchLabels: sel}},
			Status: itopsv1alpha1.MaintenanceWindowStatus{Phase: "Active", CurrentStart: at(-time.Hour), CurrentEnd: at(end)}}
	}
	web := map[string]string{"app": "web"}
	tests := []struct {
		name     string
		changes  []itopsv1alpha1.ChangeRequest
		windows  []itopsv1alpha1.MaintenanceWindow
		want     []string
		earliest time.Duration
	}{
		{name: "no change", want: []string{"no ChangeRequest in namespace shop targets Deployment web: create one listing it in spec.targets and have it approved"}},
		{name: "pending change", changes: []itopsv1alpha1.ChangeRequest{change("web-v2", "Pending", 0)},
			want: []string{"ChangeRequest web-v2 is Pending with 1/2 approvals: approvers run `kubectl itops approve web-v2 -n shop`"}},
		{name: "approved, frozen", changes: []itopsv1alpha1.ChangeRequest{change("web-v2", "Approved", 0)}, windows: []itopsv1alpha1.MaintenanceWindow{freeze("shop", web, 2*time.Hour)},
			want:     []string{"freeze shop/freeze is active until 2026-12-01T06:00:00Z (in 120m): only Emergency changes pass until then", "ChangeRequest web-v2 is Approved"},
			earliest: 2 * time.Hour},
		{name: "approved, schedule opens after the freeze ends", changes: []itopsv1alpha1.ChangeRequest{change("web-v2", "Approved", 3*time.Hour)},
			windows: []itopsv1alpha1.MaintenanceWindow{freeze("itops-cluster", nil, time.Hour)},
			want: []string{"freeze itops-cluster/freeze is active until 2026-12-01T05:00:00Z (in 60m): only Emergency changes pass until then",
				"ChangeRequest web-v2 is approved; its schedule opens at 2026-12-01T07:00:00Z (in 3h)"}, earliest: 3 * time.Hour},
		{name: "finished changes are left out while another targets the workload", changes: []itopsv1alpha1.ChangeRequest{
			change("web-v1", "Completed", 0), change("web-v2", "Pending", 0)},
			want: []string{"ChangeRequest web-v2 is Pending with 1/2 approvals: approvers run `kubectl itops approve web-v2 -n shop`"}},
		{name: "a freeze selecting other workloads", changes: []itopsv1alpha1.ChangeRequest{change("web-v2", "Completed", 0)},
			windows: []itopsv1alpha1.MaintenanceWindow{freeze("shop", map[string]string{"app": "db"}, time.Hour)},
			want:    []string{"ChangeRequest web-v2 is Completed: it authorises nothing more"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hints, earliest := DeployHints(w, "shop", web, nil, "itops-cluster", tt.changes, tt.windows, now)
			if strings.Join(hints, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(hints, "\n"), strings.Join(tt.want, "\n"))
			}
			var want time.Time
			if tt.earliest != 0 {
				want = now.Add(tt.earliest)
			}
			if !earliest.Equal(want) {
				t.Errorf("earliest: got %v, want %v", earliest, want)
			}
		})
	}
}

func TestFreezeWindow(t *testing.T) {
	mw, err := FreezeWindow("shop", "", now, 2*time.Hour, "peak", "app=web")
	if err != nil {
		t.Fatal(err)
	}
	if mw.Name != "freeze-20261201-040000" || mw.Spec.Type != itopsv1alpha1.WindowFreeze || mw.Spec.Description != "peak" ||
		!mw.Spec.Schedules[0].End.Equal(at(2*time.Hour)) || mw.Spec.Selector.MatchLabels["app"] != "web" {
		t.Errorf("got %+v", mw)
	}
	for _, bad := range []struct {
		d              time.Duration
		reason, sel, e string
	}{
		{d: 0, reason: "x", e: "must be a positive duration"},
		{d: time.Hour, e: "--reason is required"},
		{d: time.Hour, reason: "x", sel: "app in (", e: "--selector"},
	} {
		if _, err := FreezeWindow("shop", "", now, bad.d, bad.reason, bad.sel); err == nil || !strings.Contains(err.Error(), bad.e) {
			t.Errorf("%+v: got %v", bad, err)
		}
	}
}

func TestApprovalPatch(t *testing.T) {
	first, _ := ApprovalPatch(0, itopsv1alpha1.DecisionApprove, "LGTM")
	if string(first) != `[{"op":"add","path":"/spec/approvals","value":[{"comment":"LGTM","decision":"Approve"}]}]` {
		t.Errorf("first: %s", first)
	}
	next, _ := ApprovalPatch(2, itopsv1alpha1.DecisionReject, "")
	if string(next) != `[{"op":"add","path":"/spec/approvals/-","value":{"decision":"Reject"}}]` {
		t.Errorf("next: %s", next)
	}
}

func TestWriteTimeline(t *testing.T) {
	inc := incident("shop", "web", "P1", "Acknowledged", -time.Minute, time.Hour)
	inc.Spec.Acknowledgement = &itopsv1alpha1.Acknowledgement{By: "alice", At: at(-2 * time.Minute), Note: "looking"}
	inc.Status.AcknowledgedAt = at(-2 * time.Minute)
	inc.Status.Timeline = []itopsv1alpha1.TimelineEntry{
		{At: *at(-10 * time.Minute), Type: "Detected", Message: "CrashLoopBackOff"},
		{At: *at(-2 * time.Minute), Type: "Acknowledged", Message: "by alice"},
	}
	inc.Status.TimelineOmitted = 3
	var buf bytes.Buffer
	_ = WriteTimeline(&buf, &inc, now)
	want := `Incident shop/web  P1  Acknowledged  web is down
Acknowledged by alice at 2026-12-01T03:58:00Z: looking
Response: met   Resolution: in 60m

2026-12-01T03:50:00Z  10m ago   Detected               CrashLoopBackOff
                                ... 3 entries omitted
2026-12-01T03:58:00Z  2m ago    Acknowledged           by alice
`
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
}

func TestPinnedImages(t *testing.T) {
	w := Workload{Kind: itopsv1alpha1.TargetDeployment, Name: "api"}
	change := func(name string, phase itopsv1alpha1.ChangePhase, image string) itopsv1alpha1.ChangeRequest {
		t := itopsv1alpha1.ChangeTarget{Kind: "Deployment", Name: "api"}
		if image != "" {
			t.Containers = []itopsv1alpha1.ContainerPin{{Name: "api", Image: image}}
		}
		return itopsv1alpha1.ChangeRequest{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: itopsv1alpha1.ChangeRequestSpec{Targets: []itopsv1alpha1.ChangeTarget{t}}, Status: itopsv1alpha1.ChangeRequestStatus{Phase: phase}}
	}
	tests := []struct {
		name      string
		changes   []itopsv1alpha1.ChangeRequest
		wantImage string
		wantBy    string
	}{
		{name: "none"},
		{name: "a pending change's pin", changes: []itopsv1alpha1.ChangeRequest{change("b", "Pending", "api:2")}, wantImage: "api:2", wantBy: "b"},
		{name: "an approved change wins over a pending one", changes: []itopsv1alpha1.ChangeRequest{
			change("a", "Pending", "api:3"), change("b", "Approved", "api:2")}, wantImage: "api:2", wantBy: "b"},
		{name: "completed changes authorise nothing", changes: []itopsv1alpha1.ChangeRequest{change("a", "Completed", "api:1")}},
		{name: "an unpinned change", changes: []itopsv1alpha1.ChangeRequest{change("a", "Approved", "")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			images, by := PinnedImages(w, tt.changes)
			if images["api"] != tt.wantImage || by != tt.wantBy {
				t.Errorf("got %v by %q, want %q by %q", images, by, tt.wantImage, tt.wantBy)
			}
		})
	}
}

func TestTemplatePatch(t *testing.T) {
	w := Workload{Kind: itopsv1alpha1.TargetCronJob, Name: "report"}
	got, err := w.templatePatch(now, map[string]string{"app": "report:2", "migrate": "report:2"}, map[string]bool{"migrate": true})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"spec":{"jobTemplate":{"spec":{"template":{"metadata":{"annotations":{"itops.dev/can-i-deploy":"2026-12-01T04:00:00Z"}},` +
		`"spec":{"containers":[{"image":"report:2","name":"app"}],"initContainers":[{"image":"report:2","name":"migrate"}]}}}}}}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if _, err := ParseImages([]string{"api"}); err == nil || !strings.Contains(err.Error(), "want CONTAINER=IMAGE") {
		t.Errorf("ParseImages: got %v", err)
	}
}

// FuzzParseWorkload: any command-line argument parses or is refused with the expected form.
func FuzzParseWorkload(f *testing.F) {
	for _, s := range []string{"deployment/web", "web", "sts/db", "cj/", "/x", "a/b/c", "DEPLOY.apps/Web"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w, err := ParseWorkload(s)
		if err != nil {
			if !strings.Contains(err.Error(), "want KIND/NAME") {
				t.Errorf("%q: unexpected error %v", s, err)
			}
			return
		}
		if w.Name == "" || w.Kind == "" {
			t.Errorf("%q: parsed to %+v", s, w)
		}
	})
}

// TestKrewManifest: the krew manifest is a valid Plugin for every platform, installing kubectl-itops.
// TestCommands: the command names API.md promises, and completion of resolution codes.
func TestCommands(t *testing.T) {
	var out bytes.Buffer
	cmd := NewRootCommand(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &out})
	cmd.SetArgs([]string{"__complete", "resolve", "some-incident", "--code", ""})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, c := range cmd.Commands() {
		have[c.Name()] = true
	}
	for _, name := range []string{"status", "ack", "resolve", "assign", "approve", "reject", "timeline", "freeze", "can-i-deploy", "completion"} {
		if !have[name] {
			t.Errorf("missing command %s", name)
		}
	}
	if !strings.Contains(out.String(), "Fixed\nWorkaround\nNoAction\nDuplicate\nFalsePositive\n") {
		t.Errorf("completion of --code: got %q", out.String())
	}
}

package alertmanager

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/config"
	"github.com/itops-dev/itops-operator/internal/health"
)

func policy(t *testing.T, doc string) *config.AlertmanagerPolicy {
	t.Helper()
	c, err := config.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return &c.Alertmanager
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name, body string
		bad        bool     // ErrBadJSON (400)
		invalid    []string // *InvalidError (422) containing these
	}{
		{name: "Alertmanager's payload", body: `{"version":"4","groupKey":"{}:{alertname=\"X\"}","status":"firing","receiver":"itops",` +
			`"groupLabels":{"alertname":"X"},"alerts":[{"status":"firing","labels":{"alertname":"X"},"annotations":{},` +
			`"startsAt":"2026-12-01T03:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prom/graph","fingerprint":"0123456789abcdef"}],"unknownLater":1}`},
		{name: "not JSON", body: `alerts!`, bad: true},
		{name: "truncated", body: `{"version":"4","alerts":[`, bad: true},
		{name: "two documents", body: `{"version":"4"} {"version":"4"}`, bad: true},
		{name: "wrong field type", body: `{"version":4}`, bad: true},
		{name: "another version", body: `{"version":"3","alerts":[]}`, invalid: []string{`version "3" is not supported: this endpoint accepts version "4"`}},
		{name: "no version", body: `{"alerts":[]}`, invalid: []string{`version "" is not supported`}},
		{name: "bad alerts", body: `{"version":"4","alerts":[{"status":"pending","labels":{"a":"b"},"fingerprint":"x"},{"status":"firing","fingerprint":"not hex!"}]}`,
			invalid: []string{`alerts[0].status: "pending", must be "firing" or "resolved"`, `alerts[1].fingerprint: "not hex!"`, `alerts[1].labels: required`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Decode([]byte(tt.body))
			var inv *InvalidError
			switch {
			case tt.bad:
				if !errors.Is(err, ErrBadJSON) {
					t.Fatalf("want ErrBadJSON, got %v", err)
				}
			case len(tt.invalid) > 0:
				if !errors.As(err, &inv) {
					t.Fatalf("want InvalidError, got %v", err)
				}
				for _, w := range tt.invalid {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%q does not contain %q", err, w)
					}
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if len(m.Alerts) != 1 || m.Alerts[0].Fingerprint != "0123456789abcdef" || m.GroupLabels["alertname"] != "X" {
					t.Errorf("decoded %+v", m)
				}
			}
		})
	}
}

func TestTargetOf(t *testing.T) {
	def := policy(t, "").Labels
	custom := policy(t, "alertmanager: {labels: {namespace: [exported_namespace, namespace], service: []}}").Labels
	tests := []struct {
		name   string
		labels map[string]string
		names  config.AlertmanagerLabels
		group  map[string]string
		want   string
		rollUp bool
	}{
		{"deployment", map[string]string{"namespace": "shop", "deployment": "checkout", "pod": "x", "service": "ksm"}, def, nil, "apps/v1 Deployment shop/checkout", false},
		{"statefulset", map[string]string{"namespace": "db", "statefulset": "pg"}, def, nil, "apps/v1 StatefulSet db/pg", false},
		{"daemonset", map[string]string{"namespace": "kube-system", "daemonset": "cni"}, def, nil, "apps/v1 DaemonSet kube-system/cni", false},
		{"cronjob", map[string]string{"namespace": "ops", "cronjob": "backup", "job_name": "backup-1"}, def, nil, "batch/v1 CronJob ops/backup", false},
		{"job is rolled up", map[string]string{"namespace": "ops", "job_name": "backup-1", "job": "kube-state-metrics"}, def, nil, "batch/v1 Job ops/backup-1", true},
		{"pod is rolled up", map[string]string{"namespace": "shop", "pod": "checkout-7d9-abcde", "service": "ksm"}, def, nil, "v1 Pod shop/checkout-7d9-abcde", true},
		{"pvc", map[string]string{"namespace": "db", "persistentvolumeclaim": "data-pg-0"}, def, nil, "v1 PersistentVolumeClaim db/data-pg-0", false},
		{"service", map[string]string{"namespace": "shop", "service": "frontend"}, def, nil, "v1 Service shop/frontend", false},
		{"namespace only", map[string]string{"namespace": "shop", "alertname": "QuotaAlmostFull"}, def, nil, "v1 Namespace shop/shop", false},
		{"an invalid name is skipped", map[string]string{"namespace": "shop", "deployment": "Not_Valid", "pod": "p"}, def, nil, "v1 Pod shop/p", true},
		{"an invalid namespace is no namespace", map[string]string{"namespace": "Bad NS", "node": "w1"}, def, nil, "v1 Node /w1", false},
		{"node without namespace", map[string]string{"node": "worker-7"}, def, nil, "v1 Node /worker-7", false},
		{"nothing: the alert group", map[string]string{"alertname": "etcdNoLeader"}, def, map[string]string{"alertname": "etcdNoLeader", "cluster": "prod"}, AlertGroupAPIVersion + " AlertGroup /etcdNoLeader-prod", false},
		{"configured names, tried in order", map[string]string{"namespace": "monitoring", "exported_namespace": "shop", "service": "frontend"}, custom, nil, "v1 Namespace shop/shop", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := TargetOf(tt.labels, tt.names, tt.group)
			s := got.APIVersion + " " + got.Kind + " " + got.Namespace + "/" + got.Name
			if s != tt.want || got.RollUp != tt.rollUp {
				t.Errorf("TargetOf = %q rollUp=%v, want %q rollUp=%v", s, got.RollUp, tt.want, tt.rollUp)
			}
		})
	}
}

func TestGroupName(t *testing.T) {
	for _, tt := range []struct {
		labels map[string]string
		want   string
	}{
		{nil, "all"},
		{map[string]string{"alertname": "Watch"}, "Watch"},
		{map[string]string{"cluster": "prod", "alertname": "A"}, "A-prod"},
		{map[string]string{"alertname": "a b/c"}, "a-b-c-"},
		{map[string]string{"alertname": strings.Repeat("x", 80)}, strings.Repeat("x", 54) + "-"},
	} {
		if got := GroupName(tt.labels); !strings.HasPrefix(got, tt.want) || len(got) > 63 {
			t.Errorf("GroupName(%v) = %q, want prefix %q (at most 63)", tt.labels, got, tt.want)
		}
	}
	if GroupName(map[string]string{"a": "x y"}) == GroupName(map[string]string{"a": "x/y"}) {
		t.Error("different groups with the same cleaned name must differ")
	}
}

func TestReasonFor(t *testing.T) {
	for _, tt := range []struct{ alertname, want string }{
		{"KubePodCrashLooping", "KubePodCrashLooping"},
		{"etcd_no_leader", "EtcdNoLeader"},
		{"high-latency.p99", "HighLatencyP99"},
		{"CrashLoopBackOff", "AlertCrashLoopBackOff"},
		{"WorkloadUnavailable", "AlertWorkloadUnavailable"},
		{"ProbeFailing", "AlertProbeFailing"},
		{"", "Alert"},
		{"99problems", "Alert99problems"},
		{"日本", "Alert"},
	} {
		if got := ReasonFor(tt.alertname); got != tt.want {
			t.Errorf("ReasonFor(%q) = %q, want %q", tt.alertname, got, tt.want)
		}
	}
	long := ReasonFor(strings.Repeat("A", 100))
	if len(long) != 63 || long == ReasonFor(strings.Repeat("A", 99)) {
		t.Errorf("long reasons must be 63 characters and distinct: %q", long)
	}
}

func TestSeverity(t *testing.T) {
	p := policy(t, "alertmanager: {severities: [{severity: page, impact: High, urgency: High}, {severity: warning, impact: Low, urgency: Medium}]}")
	now := time.Date(2026, 12, 1, 4, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		severity string
		want     itopsv1alpha1.Priority
		ignore   bool
	}{
		{"critical", "P1", false},
		{"CRITICAL", "P1", false},
		{"error", "P2", false},
		{"warning", "P4", false}, // overridden by the policy
		{"info", "P5", false},
		{"page", "P1", false},
		{"none", "", true},
		{"", "P3", false},
		{"unheard-of", "P3", false},
	} {
		labels := map[string]string{"alertname": "A"}
		if tt.severity != "" {
			labels["severity"] = tt.severity
		}
		s, ignore := SignalOf(Alert{Status: StatusFiring, Labels: labels, Fingerprint: "f"}, p, now)
		if ignore != tt.ignore || (!ignore && s.Priority != tt.want) {
			t.Errorf("severity %q: priority %s ignore %v, want %s ignore %v", tt.severity, s.Priority, ignore, tt.want, tt.ignore)
		}
	}
}

func TestSignalOf(t *testing.T) {
	p := policy(t, "")
	now := time.Date(2026, 12, 1, 4, 0, 0, 0, time.UTC)
	a := Alert{Status: StatusFiring, Fingerprint: "abc", StartsAt: now.Add(-time.Minute - 300*time.Millisecond), GeneratorURL: "http://prom/graph?g0.expr=up",
		Labels:      map[string]string{"alertname": "KubePodCrashLooping", "severity": "warning"},
		Annotations: map[string]string{"summary": "Pod is crash looping.", "description": "Pod shop/x is restarting 3 times / 10 minutes.", "runbook_url": "https://runbooks/x"}}
	s, _ := SignalOf(a, p, now)
	if s.Reason != "KubePodCrashLooping" || !s.Firing || s.Priority != "P3" || s.Message != "Pod is crash looping. — Pod shop/x is restarting 3 times / 10 minutes." ||
		s.GeneratorURL != a.GeneratorURL || s.RunbookURL != "https://runbooks/x" || !s.Since.Equal(now.Add(-61*time.Second)) {
		t.Errorf("SignalOf = %+v", s)
	}
	a.StartsAt = now.Add(time.Hour) // a clock ahead: never in the future
	a.Annotations = nil
	a.Status = StatusResolved
	s, _ = SignalOf(a, p, now)
	if s.Firing || !s.Since.Equal(now) || s.Message != "alert KubePodCrashLooping severity=warning" {
		t.Errorf("SignalOf = %+v", s)
	}
}

func sig(reason, fp string, firing bool, prio itopsv1alpha1.Priority, msg string, since time.Time) Signal {
	return Signal{Reason: reason, Fingerprint: fp, Firing: firing, Priority: prio, Message: msg, Since: since}
}

func TestMerge(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 4, 0, 0, 0, time.UTC)
	t1 := t0.Add(30 * time.Second)
	health1 := itopsv1alpha1.Signal{Reason: "CrashLoopBackOff", Since: metav1.NewTime(t0), LastSeenAt: metav1.NewTime(t0), Count: 1, Active: true, Priority: "P2"}
	type step struct {
		at     time.Time
		alerts []Signal
		// want: reason -> "active/count/priority/fingerprints"
		want                      map[string]string
		started, cleared, changed string
	}
	tests := []struct {
		name  string
		start []itopsv1alpha1.Signal
		steps []step
	}{
		{
			name: "fire, re-post (idempotent), second alert of the same name, resolve one, resolve all, fire again",
			steps: []step{
				{t0, []Signal{sig("HighLatency", "a", true, "P3", "slow", t0)}, map[string]string{"HighLatency": "true/1/P3/a"}, "HighLatency", "", "true"},
				{t1, []Signal{sig("HighLatency", "a", true, "P3", "slow", t0)}, map[string]string{"HighLatency": "true/1/P3/a"}, "", "", "false"},
				{t1, []Signal{sig("HighLatency", "b", true, "P1", "very slow", t1), sig("HighLatency", "a", true, "P3", "slow", t0)}, map[string]string{"HighLatency": "true/1/P1/a,b"}, "", "", "true"},
				{t1, []Signal{sig("HighLatency", "b", false, "P1", "very slow", t1)}, map[string]string{"HighLatency": "true/1/P3/a"}, "", "", "true"},
				{t1, []Signal{sig("HighLatency", "a", false, "P3", "slow", t0)}, map[string]string{"HighLatency": "false/1/P3/"}, "", "HighLatency", "true"},
				{t1, []Signal{sig("HighLatency", "a", false, "P3", "slow", t0)}, map[string]string{"HighLatency": "false/1/P3/"}, "", "", "false"},
				{t1, []Signal{sig("HighLatency", "c", true, "P2", "slow again", t1)}, map[string]string{"HighLatency": "true/2/P2/c"}, "HighLatency", "", "true"},
			},
		},
		{
			name:  "joins the detectors' signals and leaves them alone",
			start: []itopsv1alpha1.Signal{health1},
			steps: []step{
				{t1, []Signal{sig("KubePodCrashLooping", "a", true, "P3", "m", t0)}, map[string]string{"CrashLoopBackOff": "true/1/P2/", "KubePodCrashLooping": "true/1/P3/a"}, "KubePodCrashLooping", "", "true"},
				{t1, []Signal{sig("KubePodCrashLooping", "a", false, "P3", "m", t0)}, map[string]string{"CrashLoopBackOff": "true/1/P2/", "KubePodCrashLooping": "false/1/P3/"}, "", "KubePodCrashLooping", "true"},
			},
		},
		{
			name: "a resolution never seen firing records nothing",
			steps: []step{
				{t0, []Signal{sig("Gone", "a", false, "P3", "m", t0)}, map[string]string{}, "", "", "false"},
			},
		},
		{
			name: "lastSeenAt is refreshed at most once a minute",
			steps: []step{
				{t0, []Signal{sig("A", "a", true, "P3", "m", t0)}, map[string]string{"A": "true/1/P3/a"}, "A", "", "true"},
				{t0.Add(59 * time.Second), []Signal{sig("A", "a", true, "P3", "m", t0)}, map[string]string{"A": "true/1/P3/a"}, "", "", "false"},
				{t0.Add(61 * time.Second), []Signal{sig("A", "a", true, "P3", "m", t0)}, map[string]string{"A": "true/1/P3/a"}, "", "", "true"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			signals := tt.start
			for i, st := range tt.steps {
				res := Merge(signals, st.alerts, st.at)
				got := map[string]string{}
				for _, s := range res.Signals {
					fps := []string{}
					for _, a := range s.Alerts {
						fps = append(fps, a.Fingerprint)
					}
					got[s.Reason] = strings.Join([]string{boolStr(s.Active), itoa(s.Count), string(s.Priority), strings.Join(fps, ",")}, "/")
					if s.Reason != "CrashLoopBackOff" && s.Source != itopsv1alpha1.SourceAlertmanager {
						t.Errorf("step %d: %s has source %q", i, s.Reason, s.Source)
					}
				}
				if len(got) != len(st.want) {
					t.Errorf("step %d: signals %v, want %v", i, got, st.want)
				}
				for r, w := range st.want {
					if got[r] != w {
						t.Errorf("step %d: %s = %q, want %q", i, r, got[r], w)
					}
				}
				if strings.Join(res.Started, ",") != st.started || strings.Join(res.Cleared, ",") != st.cleared || boolStr(res.Changed) != st.changed {
					t.Errorf("step %d: started %v cleared %v changed %v, want %q %q %s", i, res.Started, res.Cleared, res.Changed, st.started, st.cleared, st.changed)
				}
				if health.AnyActive(res.Signals) != anyActive(st.want) {
					t.Errorf("step %d: AnyActive mismatch", i)
				}
				signals = res.Signals
			}
		})
	}
}

func TestMergeBounds(t *testing.T) {
	now := time.Date(2026, 12, 1, 4, 0, 0, 0, time.UTC)
	var alerts []Signal
	for i := 0; i < 40; i++ {
		p := itopsv1alpha1.Priority("P3")
		if i == 39 {
			p = "P1"
		}
		alerts = append(alerts, sig("Many", "f"+itoa(int32(100+i)), true, p, "m", now))
	}
	res := Merge(nil, alerts, now)
	if n := len(res.Signals[0].Alerts); n != itopsv1alpha1.MaxSignalAlerts || res.Signals[0].Priority != "P1" {
		t.Errorf("kept %d alerts at %s; want %d with the P1 one", n, res.Signals[0].Priority, itopsv1alpha1.MaxSignalAlerts)
	}
}

func anyActive(want map[string]string) bool {
	for _, w := range want {
		if strings.HasPrefix(w, "true/") {
			return true
		}
	}
	return false
}

func boolStr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func itoa(n int32) string { return big.NewInt(int64(n)).String() }

func TestBearerAndToken(t *testing.T) {
	for _, tt := range []struct {
		header, want string
	}{
		{"Bearer s3cret", "s3cret"},
		{"bearer   s3cret ", "s3cret"},
		{"Basic dXNlcjpwYXNz", ""},
		{"s3cret", ""},
		{"", ""},
	} {
		if got := BearerToken(tt.header); got != tt.want {
			t.Errorf("BearerToken(%q) = %q, want %q", tt.header, got, tt.want)
		}
	}
	for _, tt := range []struct {
		presented, expected string
		want                bool
	}{
		{"s3cret", "s3cret", true},
		{"s3cre", "s3cret", false},
		{"s3cret!", "s3cret", false},
		{"", "", false},
		{"x", "", false},
	} {
		if got := TokenMatches(tt.presented, tt.expected); got != tt.want {
			t.Errorf("TokenMatches(%q, %q) = %v", tt.presented, tt.expected, got)
		}
	}
}

func TestClientCertVerified(t *testing.T) {
	ca, caKey := newCert(t, "ca", nil, nil, true, nil)
	other, otherKey := newCert(t, "other-ca", nil, nil, true, nil)
	client, _ := newCert(t, "alertmanager", ca, caKey, false, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth})
	serverOnly, _ := newCert(t, "server", ca, caKey, false, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth})
	foreign, _ := newCert(t, "mallory", other, otherKey, false, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth})
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	for _, tt := range []struct {
		name  string
		state *tls.ConnectionState
		want  bool
	}{
		{"trusted client certificate", &tls.ConnectionState{PeerCertificates: []*x509.Certificate{client}}, true},
		{"server-only usage", &tls.ConnectionState{PeerCertificates: []*x509.Certificate{serverOnly}}, false},
		{"another CA", &tls.ConnectionState{PeerCertificates: []*x509.Certificate{foreign}}, false},
		{"no certificate", &tls.ConnectionState{}, false},
		{"plain HTTP", nil, false},
	} {
		if got := ClientCertVerified(tt.state, roots); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

func newCert(t *testing.T, cn string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, isCA bool, usage []x509.ExtKeyUsage) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: isCA, BasicConstraintsValid: true, ExtKeyUsage: usage, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

// FuzzDecode: any body is either refused with ErrBadJSON or an *InvalidError, or decoded into
// a payload every alert of which maps to a target and a signal without panicking.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"version":"4","alerts":[{"status":"firing","labels":{"alertname":"X","namespace":"a","pod":"b"},"fingerprint":"ab"}]}`))
	f.Add([]byte(`{"version":"3"}`))
	f.Add([]byte(`[]`))
	p, _ := config.Parse(nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := Decode(body)
		var inv *InvalidError
		if err != nil {
			if !errors.Is(err, ErrBadJSON) && !errors.As(err, &inv) {
				t.Fatalf("unexpected error type %T: %v", err, err)
			}
			return
		}
		for _, a := range m.Alerts {
			_ = TargetOf(a.Labels, p.Alertmanager.Labels, m.GroupLabels)
			s, _ := SignalOf(a, &p.Alertmanager, time.Now())
			if len(s.Reason) > 63 || len(s.Message) > 1024 {
				t.Fatalf("signal out of bounds: %+v", s)
			}
		}
	})
}

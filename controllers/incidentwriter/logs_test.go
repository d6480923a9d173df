package incidentwriter

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/health"
	"github.com/itops-dev/itops-operator/internal/podlogs"
	"github.com/itops-dev/itops-operator/test/cluster"
)

// fakeLogs serves one log, or fails, and counts the reads and the options of the last one.
type fakeLogs struct {
	log   string
	err   error
	reads int
	last  corev1.PodLogOptions
}

func (f *fakeLogs) ReadLog(_ context.Context, _, _ string, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
	f.reads++
	f.last = *opts
	if f.err != nil {
		return nil, f.err
	}
	return io.NopCloser(strings.NewReader(f.log)), nil
}

func namespace(name string, annotations map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations}}
}

const crashLog = "starting web 1.4.2\nconnecting to postgres://web:hunter2@db:5432/web\npanic: dial tcp 10.0.0.7:5432: connection refused\n"

func TestPodLogCapturer(t *testing.T) {
	optIn := map[string]string{itopsv1alpha1.AnnotationEvidenceLogs: "previous"}
	optOut := map[string]string{itopsv1alpha1.AnnotationEvidenceLogs: "none"}
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "pods/log"}, "web-1", errors.New("no grant"))
	noPrevious := apierrors.NewBadRequest(`previous terminated container "app" in pod "web-1" not found`)
	cases := []struct {
		name        string
		mode        string
		annotations map[string]string
		logs        *fakeLogs
		want        *itopsv1alpha1.ContainerLogExcerpt // nil: nothing captured
		wantReads   int
	}{
		{"not opted in", "", nil, &fakeLogs{log: crashLog}, nil, 0},
		{"opted out under All", podlogs.ModeAll, optOut, &fakeLogs{log: crashLog}, nil, 0},
		{"disabled despite the annotation", podlogs.ModeDisabled, optIn, &fakeLogs{log: crashLog}, nil, 0},
		{"opted in: bounded and redacted", "", optIn, &fakeLogs{log: crashLog},
			&itopsv1alpha1.ContainerLogExcerpt{Container: "app", Instance: itopsv1alpha1.LogInstancePrevious, Redacted: 1, Lines: []string{
				"starting web 1.4.2", "connecting to postgres://web:[REDACTED]@db:5432/web", "panic: dial tcp 10.0.0.7:5432: connection refused"}}, 1},
		{"All without annotation", podlogs.ModeAll, nil, &fakeLogs{log: "boom\n"},
			&itopsv1alpha1.ContainerLogExcerpt{Container: "app", Instance: itopsv1alpha1.LogInstancePrevious, Lines: []string{"boom"}}, 1},
		{"forbidden is a reason", "", optIn, &fakeLogs{err: forbidden},
			&itopsv1alpha1.ContainerLogExcerpt{Container: "app", Instance: itopsv1alpha1.LogInstancePrevious,
				Unavailable: "forbidden: the operator may not get pods/log here (its ClusterRole grants it; see docs/security.md): " + forbidden.Error()}, 1},
		{"no previous container is a reason", "", optIn, &fakeLogs{err: noPrevious},
			&itopsv1alpha1.ContainerLogExcerpt{Container: "app", Instance: itopsv1alpha1.LogInstancePrevious, Unavailable: noPrevious.Error()}, 1},
		{"kubelet unreachable is a reason", "", optIn, &fakeLogs{err: errors.New(`Get "https://10.0.0.1:10250/containerLogs/shop/web-1/app": dial tcp 10.0.0.1:10250: connect: connection refused`)},
			&itopsv1alpha1.ContainerLogExcerpt{Container: "app", Instance: itopsv1alpha1.LogInstancePrevious,
				Unavailable: `Get "https://10.0.0.1:10250/containerLogs/shop/web-1/app": dial tcp 10.0.0.1:10250: connect: connection refused`}, 1},
		{"empty log", "", optIn, &fakeLogs{log: ""},
			&itopsv1alpha1.ContainerLogExcerpt{Container: "app", Instance: itopsv1alpha1.LogInstancePrevious, Unavailable: "the log is empty"}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := fake.NewClientBuilder().WithScheme(cluster.Scheme()).WithObjects(namespace("shop", tc.annotations)).Build()
			capt := &PodLogCapturer{Namespaces: c, Reader: tc.logs, Mode: tc.mode, Limits: podlogs.Limits{TailLines: 20, LimitBytes: 4096}}
			target := health.LogTarget{Namespace: "shop", Pod: "web-1", Container: "app", Previous: true}
			got := capt.Capture(context.Background(), target)
			if (got == nil) != (tc.want == nil) || (got != nil && !equalExcerpt(*got, *tc.want)) {
				t.Fatalf("Capture = %+v, want %+v", got, tc.want)
			}
			// Captured again at once (a status write retried after a conflict): not read again.
			_ = capt.Capture(context.Background(), target)
			if tc.logs.reads != tc.wantReads {
				t.Errorf("%d reads, want %d", tc.logs.reads, tc.wantReads)
			}
			if tc.wantReads > 0 && (tc.logs.last.Container != "app" || !tc.logs.last.Previous || *tc.logs.last.TailLines != 20 || *tc.logs.last.LimitBytes != podlogs.ReadLimit) {
				t.Errorf("read with %+v", tc.logs.last)
			}
		})
	}
}

func equalExcerpt(a, b itopsv1alpha1.ContainerLogExcerpt) bool {
	return a.Container == b.Container && a.Instance == b.Instance && strings.Join(a.Lines, "\n") == strings.Join(b.Lines, "\n") &&
		len(a.Lines) == len(b.Lines) && a.Truncated == b.Truncated && a.Redacted == b.Redacted && a.Unavailable == b.Unavailable
}

// The log is read once per detection: when the evidence is written (a signal starts), never
// while the problem lasts, and again when a new signal starts.
func TestSyncReadsTheLogOncePerDetection(t *testing.T) {
	ctx := context.Background()
	clock := clocktesting.NewFakePassiveClock(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	w, c := newWriter(t, clock)
	if err := c.Create(ctx, namespace("shop", map[string]string{itopsv1alpha1.AnnotationEvidenceLogs: "previous"})); err != nil {
		t.Fatal(err)
	}
	logs := &fakeLogs{log: crashLog}
	w.Logs = &PodLogCapturer{Namespaces: c, Reader: logs}
	readsBefore := testutil.ToFloat64(logReads.WithLabelValues("read"))
	web := health.Subject{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "shop", Name: "web"}
	crash := health.Problem{Reason: itopsv1alpha1.ReasonCrashLoopBackOff, Message: "crash"}
	oom := health.Problem{Reason: itopsv1alpha1.ReasonOOMKilled, Message: "oom"}
	evidence := &itopsv1alpha1.IncidentEvidence{Pod: "web-1", LastTermination: &itopsv1alpha1.ContainerTermination{Container: "app", Reason: "Error", ExitCode: 1}}
	target := func(pod string) *health.LogTarget {
		return &health.LogTarget{Namespace: "shop", Pod: pod, Container: "app", Previous: true}
	}
	steps := []struct {
		name      string
		problems  []health.Problem
		target    *health.LogTarget
		wantReads int
	}{
		{"detection reads it", []health.Problem{crash}, target("web-1"), 1},
		{"the problem lasting does not", []health.Problem{crash}, target("web-1"), 1},
		{"nor many reconciles later", []health.Problem{crash}, target("web-2"), 1},
		{"a new signal is a new detection", []health.Problem{crash, oom}, target("web-3"), 2},
		{"recovery does not", nil, nil, 2},
	}
	for _, s := range steps {
		clock.SetTime(clock.Now().Add(10 * time.Second))
		if err := w.Sync(ctx, Observation{Subject: web, Judged: podReasons, Problems: s.problems, Evidence: evidence, Logs: s.target}); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if logs.reads != s.wantReads {
			t.Fatalf("%s: %d reads, want %d", s.name, logs.reads, s.wantReads)
		}
		inc := incidents(t, c)[0]
		if pl := inc.Status.Evidence.PreviousLogs; pl == nil || len(pl.Lines) != 3 || pl.Redacted != 1 || strings.Contains(strings.Join(pl.Lines, ""), "hunter2") {
			t.Fatalf("%s: previousLogs %+v", s.name, pl)
		}
	}
	if got := testutil.ToFloat64(logReads.WithLabelValues("read")) - readsBefore; got != 2 {
		t.Errorf("itops_evidence_log_reads_total{result=read} rose by %v, want 2", got)
	}
}

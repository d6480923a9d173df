package incidentwriter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/health"
	"github.com/itops-dev/itops-operator/internal/podlogs"
)

// +kubebuilder:rbac:groups="",resources=pods/log,verbs=get

// logReads counts the container logs read for evidence, by result: read (lines stored, also
// truncated or empty) or unavailable (the reason stored instead). Once per detection in
// opted-in namespaces: a rate far above itops_incident_detections_total means a bug.
var logReads = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "itops_evidence_log_reads_total",
	Help: "Container logs read through pods/log for incident evidence, by result (read, unavailable).",
}, []string{"result"})

func init() {
	crmetrics.Registry.MustRegister(logReads)
	logReads.WithLabelValues("read")
	logReads.WithLabelValues("unavailable")
}

// LogCapturer reads the tail of a crashed container's log for status.evidence.previousLogs.
// Capture returns nil when the target's namespace has not opted in, and an excerpt whose
// unavailable field says why when the log could not be read: it never fails detection.
type LogCapturer interface {
	Capture(ctx context.Context, target health.LogTarget) *itopsv1alpha1.ContainerLogExcerpt
}

// LogReader streams a container's log (the pods/log subresource, through the API server to
// the kubelet of the pod's node).
type LogReader interface {
	ReadLog(ctx context.Context, namespace, pod string, opts *corev1.PodLogOptions) (io.ReadCloser, error)
}

// ClientsetLogReader reads logs with client-go.
type ClientsetLogReader struct{ Clientset kubernetes.Interface }

// ReadLog implements LogReader: GET /api/v1/namespaces/{namespace}/pods/{pod}/log.
func (r ClientsetLogReader) ReadLog(ctx context.Context, namespace, pod string, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
	return r.Clientset.CoreV1().Pods(namespace).GetLogs(pod, opts).Stream(ctx)
}

// PodLogCapturer captures logs under the policy's detection.evidenceLogs: the namespace must
// opt in (podlogs.OptedIn, from its itops.dev/evidence-logs annotation in the cache); the
// log is read with tailLines and a byte limit (podlogs.ReadLimit), within Timeout, then
// bounded and redacted (podlogs.Excerpt) before it is returned. A result is remembered for
// a minute, so that a status write retried after a conflict does not read the log again.
type PodLogCapturer struct {
	// Namespaces reads Namespaces (the manager's cached client).
	Namespaces client.Reader
	Reader     LogReader
	// Mode is podlogs.ModeOptIn (also when empty), ModeAll or ModeDisabled.
	Mode   string
	Limits podlogs.Limits
	// Timeout bounds one read (default 5s): a kubelet that does not answer delays one
	// reconcile, no more.
	Timeout time.Duration

	mu     sync.Mutex
	recent map[health.LogTarget]recentCapture
}

type recentCapture struct {
	at      time.Time
	excerpt *itopsv1alpha1.ContainerLogExcerpt
}

// rememberFor is how long a capture is reused for the same container instance.
const rememberFor = time.Minute

// maxRemembered bounds the memory of recent captures.
const maxRemembered = 256

// NewPodLogCapturer returns a capturer reading logs with a client of cfg and Namespaces from
// namespaces, under the policy's mode and limits.
func NewPodLogCapturer(cfg *rest.Config, namespaces client.Reader, mode string, limits podlogs.Limits) (*PodLogCapturer, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &PodLogCapturer{Namespaces: namespaces, Reader: ClientsetLogReader{Clientset: cs}, Mode: mode, Limits: limits}, nil
}

// Capture implements LogCapturer.
func (c *PodLogCapturer) Capture(ctx context.Context, t health.LogTarget) *itopsv1alpha1.ContainerLogExcerpt {
	if c.Mode == podlogs.ModeDisabled {
		return nil
	}
	ns := &corev1.Namespace{}
	if err := c.Namespaces.Get(ctx, client.ObjectKey{Name: t.Namespace}, ns); err != nil {
		return nil // not known to have opted in
	}
	if !podlogs.OptedIn(c.Mode, ns.Annotations[itopsv1alpha1.AnnotationEvidenceLogs]) {
		return nil
	}
	now := time.Now()
	c.mu.Lock()
	if r, ok := c.recent[t]; ok && now.Sub(r.at) < rememberFor {
		c.mu.Unlock()
		return r.excerpt.DeepCopy()
	}
	c.mu.Unlock()

	ex := c.read(ctx, t)
	result := "read"
	if len(ex.Lines) == 0 {
		result = "unavailable"
	}
	logReads.WithLabelValues(result).Inc()

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.recent == nil || len(c.recent) >= maxRemembered {
		c.recent = map[health.LogTarget]recentCapture{}
	}
	c.recent[t] = recentCapture{at: now, excerpt: ex}
	return ex.DeepCopy()
}

func (c *PodLogCapturer) read(ctx context.Context, t health.LogTarget) *itopsv1alpha1.ContainerLogExcerpt {
	lim := c.Limits
	if lim.TailLines <= 0 {
		lim.TailLines = podlogs.DefaultTailLines
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ex := &itopsv1alpha1.ContainerLogExcerpt{Container: t.Container, Instance: itopsv1alpha1.LogInstanceCurrent}
	if t.Previous {
		ex.Instance = itopsv1alpha1.LogInstancePrevious
	}
	tail, limit := min(lim.TailLines, podlogs.MaxTailLines), int64(podlogs.ReadLimit)
	stream, err := c.Reader.ReadLog(ctx, t.Namespace, t.Pod, &corev1.PodLogOptions{
		Container: t.Container, Previous: t.Previous, TailLines: &tail, LimitBytes: &limit,
	})
	if err != nil {
		ex.Unavailable = unavailable(err, timeout)
		return ex
	}
	defer func() { _ = stream.Close() }()
	raw, err := io.ReadAll(io.LimitReader(stream, podlogs.ReadLimit+1))
	if err != nil && len(raw) == 0 {
		ex.Unavailable = unavailable(err, timeout)
		return ex
	}
	complete := err == nil && len(raw) <= podlogs.ReadLimit
	if len(raw) > podlogs.ReadLimit {
		raw = raw[:podlogs.ReadLimit]
	}
	ex.Lines, ex.Truncated, ex.Redacted = podlogs.Excerpt(raw, complete, lim)
	if len(ex.Lines) == 0 && ex.Unavailable == "" {
		ex.Unavailable = "the log is empty"
	}
	return ex
}

// unavailable says, for a person, why a log could not be read.
func unavailable(err error, timeout time.Duration) string {
	var msg string
	switch {
	case apierrors.IsForbidden(err):
		msg = "forbidden: the operator may not get pods/log here (its ClusterRole grants it; see docs/security.md): " + err.Error()
	case apierrors.IsNotFound(err):
		msg = "not found (the pod is gone): " + err.Error()
	case errors.Is(err, context.DeadlineExceeded):
		msg = fmt.Sprintf("the kubelet did not answer within %s", timeout)
	default:
		// The kubelet's own answer: no previous container, unreachable node, ...
		msg = err.Error()
	}
	return health.Truncate(msg, itopsv1alpha1.MaxEvidenceMessage)
}

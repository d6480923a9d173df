package capacity

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/controllers/incidentwriter"
	"github.com/itops-dev/itops-operator/internal/capacity"
	"github.com/itops-dev/itops-operator/internal/health"
)

// PodUsage is one pod's container memory as metrics.k8s.io reports it.
type PodUsage struct {
	Namespace, Name string
	// Containers are the containers' working sets in bytes, by container name.
	Containers []ContainerUsage
}

// ContainerUsage is one container's working set in bytes.
type ContainerUsage struct {
	Name       string
	WorkingSet int64
}

// MetricsSource is where container memory comes from; the detector and its tests depend on
// this interface, not on metrics-server.
type MetricsSource interface {
	// Served reports whether the source can answer now (metrics.k8s.io/v1beta1 pods served).
	Served(ctx context.Context) (bool, error)
	// PodMetrics lists every pod's container working sets, in every namespace.
	PodMetrics(ctx context.Context) ([]PodUsage, error)
}

// PodMetricsGroupVersion is the API metrics-server (and prometheus-adapter, KEDA's...)
// serves PodMetrics in.
const PodMetricsGroupVersion = "metrics.k8s.io/v1beta1"

// APIMetrics reads PodMetrics from the API server (metrics.k8s.io, an aggregated API). Each
// PodMetrics call is one LIST across the cluster, answered by metrics-server from memory
// (about 300 bytes of JSON per container: ~3 MB for 10,000 pods); it is not cached, and
// nothing of it stays in memory past the poll.
type APIMetrics struct {
	Discovery discovery.DiscoveryInterfaceWithContext
	Reader    client.Reader
}

// Served asks discovery whether metrics.k8s.io/v1beta1 serves pods.
func (m *APIMetrics) Served(ctx context.Context) (bool, error) {
	rl, err := m.Discovery.ServerResourcesForGroupVersionWithContext(ctx, PodMetricsGroupVersion)
	if apierrors.IsNotFound(err) || discovery.IsGroupDiscoveryFailedError(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, r := range rl.APIResources {
		if r.Name == "pods" {
			return true, nil
		}
	}
	return false, nil
}

// PodMetrics lists PodMetrics (unstructured: no dependency on k8s.io/metrics for three fields).
func (m *APIMetrics) PodMetrics(ctx context.Context) ([]PodUsage, error) {
	list := &unstructured.UnstructuredList{}
	list.SetAPIVersion(PodMetricsGroupVersion)
	list.SetKind("PodMetricsList")
	if err := m.Reader.List(ctx, list); err != nil {
		return nil, err
	}
	return podUsages(list.Items), nil
}

// podUsages reads the container working sets out of PodMetrics objects (containers[].name and
// containers[].usage.memory, a quantity); containers without either are left out.
func podUsages(items []unstructured.Unstructured) []PodUsage {
	out := make([]PodUsage, 0, len(items))
	for _, item := range items {
		u := PodUsage{Namespace: item.GetNamespace(), Name: item.GetName()}
		containers, _, _ := unstructured.NestedSlice(item.Object, "containers")
		for _, c := range containers {
			cm, ok := c.(map[string]any)
			if !ok {
				continue
			}
			name, _, _ := unstructured.NestedString(cm, "name")
			mem, _, _ := unstructured.NestedString(cm, "usage", "memory")
			q, err := resource.ParseQuantity(mem)
			if name == "" || err != nil {
				continue
			}
			u.Containers = append(u.Containers, ContainerUsage{Name: name, WorkingSet: q.Value()})
		}
		out = append(out, u)
	}
	return out
}

// MemoryDetector runs MemoryNearLimit: every Interval it lists PodMetrics, compares each
// container's working set (native sidecars included: init containers with restartPolicy
// Always) with its memory limit (from the operator's trimmed pod cache) and records the worst
// container of each workload (the pod rolled up to its controller, as the health detectors
// do) on that workload's incident. While metrics.k8s.io is not served it says so once in the
// log and checks again every Interval; once it has not answered (not served, or failing) for
// StaleAfter, the active signals clear: nothing measures them any more. One failed write does
// not end the poll: the others go on, the errors are returned together, and the next poll
// tries again. Only the leader detects.
type MemoryDetector struct {
	// Client reads pods, their owners and incidents from the cache.
	Client  client.Client
	Writer  *incidentwriter.Writer
	Metrics MetricsSource
	Policy  capacity.MemoryPolicy
	// Interval is detection.memoryNearLimit.pollInterval.
	Interval time.Duration
	Clock    clock.PassiveClock
	Log      logr.Logger

	// nearSince is when each container (namespace/pod/container) was first seen near its
	// limit, with its working set then; only the polling goroutine touches it.
	nearSince map[string]nearSample
	// active are the subjects (by fingerprint) whose MemoryNearLimit signal this detector
	// last recorded active: what it must clear. Taken from the incidents at the first poll
	// (nil until then), then kept from its own writes, so a poll lists no incidents.
	active map[string]health.Subject
	// outageSince is since when metrics.k8s.io has not answered (zero: it answers).
	outageSince time.Time
	// waiting: the last poll found the API not served (logged once per outage).
	waiting bool
}

// nearSample is when a container was first seen near its limit, and its working set then.
type nearSample struct {
	since      time.Time
	workingSet int64
}

// StaleAfter is how long metrics.k8s.io may not answer before the active MemoryNearLimit
// signals clear: the longer of detection.memoryNearLimit.for and three poll intervals (a
// metrics-server restart does not clear them; its removal does).
func (d *MemoryDetector) StaleAfter() time.Duration {
	return max(d.Policy.For, 3*d.Interval)
}

// NeedLeaderElection is true: only the leader detects.
func (d *MemoryDetector) NeedLeaderElection() bool { return true }

// Start polls until ctx ends.
func (d *MemoryDetector) Start(ctx context.Context) error {
	t := time.NewTicker(d.Interval)
	defer t.Stop()
	for {
		if err := d.Poll(ctx); err != nil && ctx.Err() == nil {
			d.Log.Error(err, "memory near limit detection: poll failed; trying again next interval", "interval", d.Interval.String())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (d *MemoryDetector) now() time.Time {
	if d.Clock == nil {
		return time.Now()
	}
	return d.Clock.Now()
}

// usage asks the source: ok false when metrics.k8s.io is not served or failed.
func (d *MemoryDetector) usage(ctx context.Context) ([]PodUsage, bool, error) {
	served, err := d.Metrics.Served(ctx)
	if err != nil {
		return nil, false, err
	}
	if !served {
		if !d.waiting {
			d.Log.Info("memory near limit detection waits: the metrics.k8s.io API (metrics-server) is not served; checking again every interval",
				"interval", d.Interval.String())
			d.waiting = true
		}
		return nil, false, nil
	}
	if d.waiting {
		d.Log.Info("memory near limit detection on: metrics.k8s.io is served")
		d.waiting = false
	}
	usage, err := d.Metrics.PodMetrics(ctx)
	if err != nil {
		return nil, false, err
	}
	return usage, true, nil
}

// Poll runs one round: judge every container with metrics, then record per workload.
func (d *MemoryDetector) Poll(ctx context.Context) error {
	now := d.now()
	usage, ok, err := d.usage(ctx)
	if !ok {
		if d.outageSince.IsZero() {
			d.outageSince = now
		}
		if now.Sub(d.outageSince) < d.StaleAfter() {
			return err
		}
		// Nothing has measured the signals for StaleAfter: clear them.
		d.nearSince = nil
		return errors.Join(err, d.recordAll(ctx, nil, nil, now))
	}
	d.outageSince = time.Time{}
	if d.nearSince == nil {
		d.nearSince = map[string]nearSample{}
	}
	sort.Slice(usage, func(i, j int) bool {
		if usage[i].Namespace != usage[j].Namespace {
			return usage[i].Namespace < usage[j].Namespace
		}
		return usage[i].Name < usage[j].Name
	})
	var errs []error
	seen := map[string]bool{}
	findings := map[string][]capacity.Finding{}
	subjects := map[string]health.Subject{}
	for _, u := range usage {
		pod := &corev1.Pod{}
		if err := d.Client.Get(ctx, client.ObjectKey{Namespace: u.Namespace, Name: u.Name}, pod); err != nil {
			if !apierrors.IsNotFound(err) {
				errs = append(errs, err)
			}
			continue
		}
		if pod.DeletionTimestamp != nil {
			continue
		}
		limits := containerLimits(pod)
		containers := append([]ContainerUsage(nil), u.Containers...)
		sort.Slice(containers, func(i, j int) bool { return containers[i].Name < containers[j].Name })
		var fs []capacity.Finding
		for _, c := range containers {
			cm := capacity.ContainerMemory{Pod: u.Name, Container: c.Name, WorkingSet: c.WorkingSet, Limit: limits[c.Name]}
			key := u.Namespace + "/" + u.Name + "/" + c.Name
			if !cm.Near(d.Policy.ThresholdPercent) {
				continue
			}
			seen[key] = true
			first, ok := d.nearSince[key]
			if !ok {
				first = nearSample{since: now, workingSet: c.WorkingSet}
				d.nearSince[key] = first
			}
			cm.FirstWorkingSet = first.workingSet
			fs = append(fs, capacity.JudgeMemory(cm, first.since, now, d.Policy))
		}
		if len(fs) == 0 {
			continue
		}
		subj, err := health.Rollup(pod, "v1", "Pod", d.lookup(ctx))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fp := health.Fingerprint(subj)
		subjects[fp] = subj
		findings[fp] = append(findings[fp], fs...)
	}
	for key := range d.nearSince {
		if !seen[key] {
			delete(d.nearSince, key)
		}
	}
	errs = append(errs, d.recordAll(ctx, subjects, findings, now))
	return errors.Join(errs...)
}

// containerLimits are a pod's memory limits in bytes by container name: its containers and
// its native sidecars (init containers with restartPolicy Always, which run for the pod's life).
func containerLimits(pod *corev1.Pod) map[string]int64 {
	limits := map[string]int64{}
	add := func(c corev1.Container) {
		if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
			limits[c.Name] = q.Value()
		}
	}
	for _, c := range pod.Spec.Containers {
		add(c)
	}
	for _, c := range pod.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			add(c)
		}
	}
	return limits
}

// recordAll records the worst finding of each subject, and clears the active signals of the
// subjects not among them. Every subject is written even when one fails; the errors come back
// joined, and a failed or raced write is tried again at the next poll.
func (d *MemoryDetector) recordAll(ctx context.Context, subjects map[string]health.Subject, findings map[string][]capacity.Finding, now time.Time) error {
	if d.active == nil {
		// First poll: the signals active before a restart.
		active, err := activeSubjects(ctx, d.Client, "", itopsv1alpha1.ReasonMemoryNearLimit)
		if err != nil {
			return err
		}
		d.active = map[string]health.Subject{}
		for _, s := range active {
			d.active[health.Fingerprint(s)] = s
		}
	}
	all := map[string]health.Subject{}
	for fp, s := range d.active {
		all[fp] = s
	}
	for fp, s := range subjects {
		all[fp] = s
	}
	fps := make([]string, 0, len(all))
	for fp := range all {
		fps = append(fps, fp)
	}
	sort.Strings(fps)
	var errs []error
	for _, fp := range fps {
		var f capacity.Finding
		if fs := findings[fp]; len(fs) > 0 {
			f = capacity.Worst(fs)
		}
		res, err := record(ctx, d.Writer, all[fp], itopsv1alpha1.ReasonMemoryNearLimit, f, nil, now)
		switch {
		case err != nil:
			errs = append(errs, err)
		case !f.Problem() && res.RequeueAfter == 0: // cleared (a lost race requeues: kept, cleared next poll)
			delete(d.active, fp)
		case f.Firing: // active, or written again next poll after a lost race
			d.active[fp] = all[fp]
		}
	}
	return errors.Join(errs...)
}

// lookup reads an owner's controller from the cache: typed reads for the workload kinds the
// health detectors watch, metadata for ReplicaSets; an owner of any other kind ends the
// roll-up naming it (controllers/alertmanager does the same).
func (d *MemoryDetector) lookup(ctx context.Context) health.OwnerLookup {
	return func(namespace string, ref metav1.OwnerReference) (*metav1.OwnerReference, bool, error) {
		var obj client.Object
		gk := health.Subject{APIVersion: ref.APIVersion, Kind: ref.Kind}
		switch gk.Group() + "/" + gk.Kind {
		case "apps/Deployment":
			obj = &appsv1.Deployment{}
		case "apps/StatefulSet":
			obj = &appsv1.StatefulSet{}
		case "apps/DaemonSet":
			obj = &appsv1.DaemonSet{}
		case "batch/Job":
			obj = &batchv1.Job{}
		case "batch/CronJob":
			obj = &batchv1.CronJob{}
		case "apps/ReplicaSet":
			m := &metav1.PartialObjectMetadata{}
			m.APIVersion, m.Kind = ref.APIVersion, ref.Kind
			obj = m
		default:
			return nil, false, nil
		}
		err := d.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: ref.Name}, obj)
		switch {
		case apierrors.IsNotFound(err):
			return nil, false, nil
		case err != nil:
			return nil, false, err
		}
		if obj.GetUID() != "" && ref.UID != "" && obj.GetUID() != ref.UID {
			return nil, false, nil // a namesake, not the owner
		}
		return metav1.GetControllerOfNoCopy(obj), true, nil
	}
}

package capacity

import (
	"context"
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
// container's working set with its memory limit (from the operator's trimmed pod cache) and
// records the worst container of each workload (the pod rolled up to its controller, as the
// health detectors do) on that workload's incident. While metrics.k8s.io is not served it
// says so once in the log and checks again every Interval. Only the leader detects.
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
	// limit; only the polling goroutine touches it.
	nearSince map[string]time.Time
	// waiting: the last poll found the API not served (logged once per outage).
	waiting bool
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

// Poll runs one round: judge every container with metrics, then record per workload.
func (d *MemoryDetector) Poll(ctx context.Context) error {
	served, err := d.Metrics.Served(ctx)
	if err != nil {
		return err
	}
	if !served {
		if !d.waiting {
			d.Log.Info("memory near limit detection waits: the metrics.k8s.io API (metrics-server) is not served; checking again every interval",
				"interval", d.Interval.String())
			d.waiting = true
		}
		return nil
	}
	if d.waiting {
		d.Log.Info("memory near limit detection on: metrics.k8s.io is served")
		d.waiting = false
	}
	usage, err := d.Metrics.PodMetrics(ctx)
	if err != nil {
		return err
	}
	now := d.now()
	if d.nearSince == nil {
		d.nearSince = map[string]time.Time{}
	}
	seen := map[string]bool{}
	findings := map[string][]capacity.Finding{}
	subjects := map[string]health.Subject{}
	for _, u := range usage {
		pod := &corev1.Pod{}
		if err := d.Client.Get(ctx, client.ObjectKey{Namespace: u.Namespace, Name: u.Name}, pod); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return err
		}
		if pod.DeletionTimestamp != nil {
			continue
		}
		limits := map[string]int64{}
		for _, c := range pod.Spec.Containers {
			if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
				limits[c.Name] = q.Value()
			}
		}
		var fs []capacity.Finding
		for _, c := range u.Containers {
			cm := capacity.ContainerMemory{Pod: u.Name, Container: c.Name, WorkingSet: c.WorkingSet, Limit: limits[c.Name]}
			key := u.Namespace + "/" + u.Name + "/" + c.Name
			if !cm.Near(d.Policy.ThresholdPercent) {
				continue
			}
			seen[key] = true
			since, ok := d.nearSince[key]
			if !ok {
				since = now
				d.nearSince[key] = now
			}
			fs = append(fs, capacity.JudgeMemory(cm, since, now, d.Policy))
		}
		if len(fs) == 0 {
			continue
		}
		subj, err := health.Rollup(pod, "v1", "Pod", d.lookup(ctx))
		if err != nil {
			return err
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
	// Subjects whose signal is active and no container is near its limit any more.
	active, err := activeSubjects(ctx, d.Client, "", itopsv1alpha1.ReasonMemoryNearLimit)
	if err != nil {
		return err
	}
	for _, s := range active {
		if _, ok := subjects[health.Fingerprint(s)]; !ok {
			subjects[health.Fingerprint(s)] = s
		}
	}
	fps := make([]string, 0, len(subjects))
	for fp := range subjects {
		fps = append(fps, fp)
	}
	sort.Strings(fps)
	for _, fp := range fps {
		fs := findings[fp]
		var f capacity.Finding
		if len(fs) > 0 {
			f = capacity.Worst(fs)
		}
		// A lost race is retried at the next poll.
		if _, err := record(ctx, d.Writer, subjects[fp], itopsv1alpha1.ReasonMemoryNearLimit, f, nil, now); err != nil {
			return err
		}
	}
	return nil
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

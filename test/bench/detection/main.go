// Command detection measures, on the local simulated cluster, what watching every Pod costs
// the operator:
//
//   - latency: the time from a pod's status write (CrashLoopBackOff) to the creation of its
//     incident, next to the time a bare informer in this process sees the same write (the
//     floor: watch delivery alone);
//   - memory: the operator's resident set size with N pods watched, next to its size with none.
//
// Run it with `make bench-detection` (defaults: 5000 pods, 30 samples). Figures go to docs/performance.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/test/cluster"
	"github.com/itops-dev/itops-operator/test/testenv"
)

const ns = "bench"

func main() {
	pods := flag.Int("pods", 5000, "pods to create and keep watched")
	samples := flag.Int("samples", 30, "latency samples")
	nodes := flag.Int("nodes", 10, "simulated nodes")
	flag.Parse()
	if err := run(*pods, *samples, *nodes); err != nil {
		fmt.Fprintln(os.Stderr, "bench failed:", err)
		os.Exit(1)
	}
}

func say(format string, args ...any) {
	fmt.Printf("[%s] "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func run(nPods, nSamples, nNodes int) error {
	ctrllog.SetLogger(logr.Discard())
	ctx := context.Background()
	root := testenv.RepoRoot()
	c, err := cluster.Start(ctx, cluster.Options{
		AssetsDir: testenv.AssetsDir(), Dir: filepath.Join(root, "bin", "bench"),
		CRDDirs: []string{filepath.Join(root, "config", "crd", "bases")}, Nodes: nNodes,
		Progress: os.Stdout,
	})
	if err != nil {
		return err
	}
	defer func() { _ = c.Stop() }()
	op, err := c.StartOperator(ctx, filepath.Join(root, "bin", "itops-operator"))
	if err != nil {
		return err
	}
	defer op.Stop()

	cfg := *c.Config
	cfg.QPS, cfg.Burst = 1000, 2000
	cs, err := kubernetes.NewForConfig(&cfg)
	if err != nil {
		return err
	}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	// A harness, not a test: let the operator settle (caches synced, first reconciles done)
	// before reading its resident set size.
	settle := func() { time.Sleep(15 * time.Second) }
	settle()
	baseRSS, err := rssOf(op.PID())
	if err != nil {
		return err
	}
	say("operator RSS with 0 pods: %.1f MiB", mib(baseRSS))

	say("creating %d pods on %d simulated nodes", nPods, nNodes)
	start := time.Now()
	if err := createPods(ctx, cs, nPods, nNodes); err != nil {
		return err
	}
	if err := waitRunning(ctx, cs, nPods); err != nil {
		return err
	}
	say("%d pods Running in %s", nPods, time.Since(start).Round(time.Second))
	settle()
	loadedRSS, err := rssOf(op.PID())
	if err != nil {
		return err
	}
	say("operator RSS with %d pods: %.1f MiB (+%.1f MiB, %.1f KiB per pod)", nPods, mib(loadedRSS),
		mib(loadedRSS-baseRSS), float64(loadedRSS-baseRSS)/1024/float64(nPods))

	floor, operator, err := measureLatency(ctx, c, cs, nSamples, nNodes)
	if err != nil {
		return err
	}
	fmt.Println()
	fmt.Printf("| pods watched | samples | bare informer p50 / p95 / max | incident created p50 / p95 / max | operator RSS (0 pods -> %d pods) |\n", nPods)
	fmt.Println("|---|---|---|---|---|")
	fmt.Printf("| %d | %d | %s | %s | %.1f MiB -> %.1f MiB |\n", nPods, nSamples, stats(floor), stats(operator), mib(baseRSS), mib(loadedRSS))
	return nil
}

func createPods(ctx context.Context, cs kubernetes.Interface, n, nodes int) error {
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	next := make(chan int)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod(fmt.Sprintf("load-%05d", i), i%nodes), metav1.CreateOptions{}); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

func pod(name string, node int) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": "load", "tier": "web"}},
		Spec: corev1.PodSpec{
			NodeName:   fmt.Sprintf("kwok-node-%d", node),
			Containers: []corev1.Container{{Name: "app", Image: "registry.example.com/load:1.0", Ports: []corev1.ContainerPort{{ContainerPort: 8080}}}},
		},
	}
}

func waitRunning(ctx context.Context, cs kubernetes.Interface, n int) error {
	return wait.PollUntilContextTimeout(ctx, 2*time.Second, 15*time.Minute, true, func(ctx context.Context) (bool, error) {
		list, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{FieldSelector: "status.phase=Running", ResourceVersion: "0"})
		if err != nil {
			return false, nil //nolint:nilerr // keep polling through transient errors
		}
		return len(list.Items) >= n, nil
	})
}

// measureLatency writes CrashLoopBackOff into the status of fresh standalone pods, one at a
// time, and records when a bare informer sees the write and when the incident appears.
func measureLatency(ctx context.Context, c *cluster.Cluster, cs kubernetes.Interface, n, nodes int) ([]time.Duration, []time.Duration, error) {
	var mu sync.Mutex
	seenPod := map[string]time.Time{}
	seenIncident := map[string]time.Time{}

	factory := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(ns))
	podInformer := factory.Core().V1().Pods().Informer()
	_, _ = podInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{UpdateFunc: func(_, obj any) {
		p := obj.(*corev1.Pod)
		for _, s := range p.Status.ContainerStatuses {
			if s.State.Waiting != nil && s.State.Waiting.Reason == "CrashLoopBackOff" {
				mu.Lock()
				if _, ok := seenPod[p.Name]; !ok {
					seenPod[p.Name] = time.Now()
				}
				mu.Unlock()
			}
		}
	}})
	stop := make(chan struct{})
	defer close(stop)
	factory.Start(stop)
	cache.WaitForCacheSync(stop, podInformer.HasSynced)

	// Incidents are seen through a watch too, so both figures include watch delivery.
	wc, err := client.NewWithWatch(c.Config, client.Options{Scheme: cluster.Scheme()})
	if err != nil {
		return nil, nil, err
	}
	w, err := wc.Watch(ctx, &itopsv1alpha1.IncidentList{}, client.InNamespace(ns))
	if err != nil {
		return nil, nil, err
	}
	defer w.Stop()
	go func() {
		for ev := range w.ResultChan() {
			if inc, ok := ev.Object.(*itopsv1alpha1.Incident); ok {
				mu.Lock()
				if _, seen := seenIncident[inc.Name]; !seen {
					seenIncident[inc.Name] = time.Now()
				}
				mu.Unlock()
			}
		}
	}()

	var floor, operator []time.Duration
	for i := range n {
		name := "lat-" + strconv.Itoa(i)
		p, err := cs.CoreV1().Pods(ns).Create(ctx, pod(name, i%nodes), metav1.CreateOptions{})
		if err != nil {
			return nil, nil, err
		}
		if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			p, err = cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
			return err == nil && p.Status.Phase == corev1.PodRunning, nil
		}); err != nil {
			return nil, nil, fmt.Errorf("pod %s never ran: %w", name, err)
		}
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", Image: p.Spec.Containers[0].Image, RestartCount: 3,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 40s"}}}}
		t0 := time.Now()
		if _, err := cs.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			return nil, nil, err
		}
		incName := "pod-" + name
		if err := wait.PollUntilContextTimeout(ctx, 5*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
			mu.Lock()
			defer mu.Unlock()
			_, a := seenPod[name]
			_, b := seenIncident[incName]
			return a && b, nil
		}); err != nil {
			return nil, nil, fmt.Errorf("incident %s never appeared: %w", incName, err)
		}
		mu.Lock()
		floor = append(floor, seenPod[name].Sub(t0))
		operator = append(operator, seenIncident[incName].Sub(t0))
		mu.Unlock()
	}
	return floor, operator, nil
}

func stats(d []time.Duration) string {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	q := func(p float64) time.Duration { return s[int(p*float64(len(s)-1))] }
	r := func(x time.Duration) string { return x.Round(100 * time.Microsecond).String() }
	return r(q(0.5)) + " / " + r(q(0.95)) + " / " + r(s[len(s)-1])
}

func rssOf(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

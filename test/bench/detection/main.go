// Command detection measures, on the local simulated cluster, what watching every Pod costs
// the operator:
//
//   - memory: the operator's resident set size with N pods watched, next to its size with none,
//     and the same for a bare client-go SharedInformer over the same pods in a separate process
//     (the floor: an untrimmed cache, managedFields and all, as a plain informer keeps them);
//   - latency: the time from a pod's status write to the creation of its incident, next to the
//     time a bare informer in this process sees the same write (the floor: watch delivery
//     alone), for CrashLoopBackOff and for PodUnschedulable (a wave-2 detector).
//
// Pods are realistic by default (podspec.Realistic: labels, annotations, three containers with
// environment, probes, resources and volume mounts, four volumes, managedFields as the API
// server writes them); -small uses the one-container pods of the earlier runs.
//
// Run it with `make bench-detection` (defaults: 10000 pods, 30 samples per reason). Figures go
// to docs/performance.md.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/test/bench/podspec"
	"github.com/itops-dev/itops-operator/test/cluster"
	"github.com/itops-dev/itops-operator/test/testenv"
)

const ns = "bench"

func main() {
	pods := flag.Int("pods", 10000, "pods to create and keep watched")
	samples := flag.Int("samples", 30, "latency samples per reason")
	nodes := flag.Int("nodes", 10, "simulated nodes")
	small := flag.Bool("small", false, "one-container pods without environment, probes, volumes or annotations (the earlier runs)")
	bare := flag.String("bare-informer", "", "internal: run only a bare pod informer against this kubeconfig (the memory floor)")
	flag.Parse()
	if *bare != "" {
		if err := runBareInformer(*bare); err != nil {
			fmt.Fprintln(os.Stderr, "bare informer failed:", err)
			os.Exit(1)
		}
		return
	}
	newPod := func(name string, node, i int) *corev1.Pod { return podspec.Realistic(ns, name, node) }
	if *small {
		newPod = func(name string, node, _ int) *corev1.Pod { return podspec.Small(ns, name, node) }
	}
	if err := run(*pods, *samples, *nodes, newPod); err != nil {
		fmt.Fprintln(os.Stderr, "bench failed:", err)
		os.Exit(1)
	}
}

func say(format string, args ...any) {
	fmt.Printf("[%s] "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

type podFunc func(name string, node, i int) *corev1.Pod

// fieldManager is the manager real pods are created by (a ReplicaSet's pods): the API server
// writes their managedFields under it.
const fieldManager = "kube-controller-manager"

func run(nPods, nSamples, nNodes int, newPod podFunc) error {
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
	floorProc, err := startBareInformer(c.Kubeconfig, filepath.Join(root, "bin", "bench", "bare-informer.log"))
	if err != nil {
		return err
	}
	defer func() { _ = floorProc.Process.Kill(); _ = floorProc.Wait() }()

	cfg := *c.Config
	cfg.QPS, cfg.Burst = 1000, 2000
	cs, err := kubernetes.NewForConfig(&cfg)
	if err != nil {
		return err
	}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	// A harness, not a test: let both processes settle (caches synced, first reconciles done,
	// garbage collected at least once) before reading their resident set sizes.
	settle := func(d time.Duration) { time.Sleep(d) }
	settle(15 * time.Second)
	opBase, err := rssOf(op.PID())
	if err != nil {
		return err
	}
	floorBase, err := rssOf(floorProc.Process.Pid)
	if err != nil {
		return err
	}
	say("RSS with 0 pods: operator %.1f MiB, bare informer %.1f MiB", mib(opBase), mib(floorBase))

	say("creating %d pods on %d simulated nodes", nPods, nNodes)
	start := time.Now()
	if err := createPods(ctx, cs, nPods, nNodes, newPod); err != nil {
		return err
	}
	if err := waitRunning(ctx, cs, nPods); err != nil {
		return err
	}
	say("%d pods Running in %s", nPods, time.Since(start).Round(time.Second))
	size, sizeNoMF, err := podSize(ctx, cs)
	if err != nil {
		return err
	}
	say("one pod as stored: %d bytes of JSON, %d without managedFields", size, sizeNoMF)
	settle(45 * time.Second)
	opLoaded, err := rssOf(op.PID())
	if err != nil {
		return err
	}
	floorLoaded, err := rssOf(floorProc.Process.Pid)
	if err != nil {
		return err
	}
	perPod := func(base, loaded int64) float64 { return float64(loaded-base) / 1024 / float64(nPods) }
	say("operator RSS with %d pods: %.1f MiB (+%.1f MiB, %.2f KiB per pod)", nPods, mib(opLoaded), mib(opLoaded-opBase), perPod(opBase, opLoaded))
	say("bare informer RSS with %d pods: %.1f MiB (+%.1f MiB, %.2f KiB per pod)", nPods, mib(floorLoaded), mib(floorLoaded-floorBase), perPod(floorBase, floorLoaded))

	results := map[string][2][]time.Duration{}
	for _, l := range latencyCases() {
		say("latency: %s, %d samples", l.reason, nSamples)
		floor, operator, err := measureLatency(ctx, c, cs, l, nSamples, nNodes, newPod)
		if err != nil {
			return err
		}
		results[l.reason] = [2][]time.Duration{floor, operator}
	}
	fmt.Println()
	fmt.Printf("| process | pods watched | RSS 0 pods -> %d pods | per pod |\n", nPods)
	fmt.Println("|---|---|---|---|")
	fmt.Printf("| operator | %d | %.1f MiB -> %.1f MiB (+%.1f MiB) | %.2f KiB |\n", nPods, mib(opBase), mib(opLoaded), mib(opLoaded-opBase), perPod(opBase, opLoaded))
	fmt.Printf("| bare informer (floor) | %d | %.1f MiB -> %.1f MiB (+%.1f MiB) | %.2f KiB |\n", nPods, mib(floorBase), mib(floorLoaded), mib(floorLoaded-floorBase), perPod(floorBase, floorLoaded))
	fmt.Println()
	fmt.Println("| reason | pods watched | samples | bare informer p50 / p95 / max | incident created p50 / p95 / max |")
	fmt.Println("|---|---|---|---|---|")
	for _, l := range latencyCases() {
		r := results[l.reason]
		fmt.Printf("| %s | %d | %d | %s | %s |\n", l.reason, nPods, nSamples, stats(r[0]), stats(r[1]))
	}
	return nil
}

// startBareInformer runs this program again as the floor: a bare informer in its own process.
func startBareInformer(kubeconfig, logPath string) (*exec.Cmd, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "-bare-informer="+kubeconfig)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return cmd, nil
}

// runBareInformer keeps every Pod of the cluster in a plain client-go SharedInformer, untrimmed
// (managedFields and all), until it is terminated: the memory floor of watching pods.
func runBareInformer(kubeconfig string) error {
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	factory := informers.NewSharedInformerFactory(cs, 0)
	pods := factory.Core().V1().Pods().Informer()
	factory.Start(ctx.Done())
	cache.WaitForCacheSync(ctx.Done(), pods.HasSynced)
	fmt.Println("bare informer synced")
	<-ctx.Done()
	factory.Shutdown()
	return nil
}

func createPods(ctx context.Context, cs kubernetes.Interface, n, nodes int, newPod podFunc) error {
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	next := make(chan int)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if _, err := cs.CoreV1().Pods(ns).Create(ctx, newPod(fmt.Sprintf("load-%05d", i), i%nodes, i), metav1.CreateOptions{FieldManager: fieldManager}); err != nil {
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

// podSize is the JSON size of one load pod as the API server stores it, with and without its
// managedFields.
func podSize(ctx context.Context, cs kubernetes.Interface) (int, int, error) {
	p, err := cs.CoreV1().Pods(ns).Get(ctx, "load-00000", metav1.GetOptions{})
	if err != nil {
		return 0, 0, err
	}
	with, err := json.Marshal(p)
	if err != nil {
		return 0, 0, err
	}
	p.ManagedFields = nil
	without, err := json.Marshal(p)
	return len(with), len(without), err
}

// waitRunning waits until the n created pods all run. It lists the pods not running yet (a
// list that shrinks to nothing), not the running ones: at 10,000 realistic pods those are
// 200 MB of JSON per poll.
func waitRunning(ctx context.Context, cs kubernetes.Interface, n int) error {
	return wait.PollUntilContextTimeout(ctx, 5*time.Second, 30*time.Minute, true, func(ctx context.Context) (bool, error) {
		list, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{FieldSelector: "status.phase!=Running", Limit: 1})
		if err != nil {
			return false, nil //nolint:nilerr // keep polling through transient errors
		}
		if len(list.Items) > 0 {
			return false, nil
		}
		all, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{Limit: 1})
		if err != nil {
			return false, nil //nolint:nilerr // keep polling through transient errors
		}
		// A limited list counts the rest (remainingItemCount) without sending it.
		return all.RemainingItemCount == nil || int(*all.RemainingItemCount)+len(all.Items) >= n, nil
	})
}

// latencyCase is one reason whose detection latency is measured: how to put a fresh pod
// into the problem with one status write, and how a bare informer recognises that write.
type latencyCase struct {
	reason string
	// scheduled pods run on a kwok node first; the others are never scheduled.
	scheduled bool
	// write changes the pod's status (returned pod) into the problem.
	write func(p *corev1.Pod) *corev1.Pod
	// seen recognises the written status.
	seen func(p *corev1.Pod) bool
}

func latencyCases() []latencyCase {
	return []latencyCase{
		{
			reason: "CrashLoopBackOff", scheduled: true,
			write: func(p *corev1.Pod) *corev1.Pod {
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: p.Spec.Containers[0].Name, Image: p.Spec.Containers[0].Image, RestartCount: 3,
					State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 40s"}}}}
				return p
			},
			seen: func(p *corev1.Pod) bool {
				for _, s := range p.Status.ContainerStatuses {
					if s.State.Waiting != nil && s.State.Waiting.Reason == "CrashLoopBackOff" {
						return true
					}
				}
				return false
			},
		},
		{
			// The scheduler's write, with a lastTransitionTime already past the grace period
			// (5m): the figure is the detection pipeline, not the grace period.
			reason: "PodUnschedulable", scheduled: false,
			write: func(p *corev1.Pod) *corev1.Pod {
				p.Status.Phase = corev1.PodPending
				p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
					LastTransitionTime: metav1.NewTime(time.Now().Add(-10 * time.Minute)),
					Message:            "0/10 nodes are available: 10 node(s) didn't match Pod's node affinity/selector. preemption: 0/10 nodes are available: 10 Preemption is not helpful for scheduling."}}
				return p
			},
			seen: func(p *corev1.Pod) bool {
				for _, c := range p.Status.Conditions {
					if c.Type == corev1.PodScheduled && c.Reason == corev1.PodReasonUnschedulable {
						return true
					}
				}
				return false
			},
		},
	}
}

// measureLatency puts fresh standalone pods into l's problem with one status write, one at a
// time, and records when a bare informer sees the write and when the incident appears.
func measureLatency(ctx context.Context, c *cluster.Cluster, cs kubernetes.Interface, l latencyCase, n, nodes int, newPod podFunc) ([]time.Duration, []time.Duration, error) {
	var mu sync.Mutex
	seenPod := map[string]time.Time{}
	seenIncident := map[string]time.Time{}
	prefix := "lat-" + strings.ToLower(l.reason) + "-"

	factory := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(ns))
	podInformer := factory.Core().V1().Pods().Informer()
	_, _ = podInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{UpdateFunc: func(_, obj any) {
		p := obj.(*corev1.Pod)
		if strings.HasPrefix(p.Name, prefix) && l.seen(p) {
			mu.Lock()
			if _, ok := seenPod[p.Name]; !ok {
				seenPod[p.Name] = time.Now()
			}
			mu.Unlock()
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
		name := prefix + strconv.Itoa(i)
		pod := newPod(name, i%nodes, i)
		if !l.scheduled {
			pod.Spec.NodeName, pod.Spec.SchedulerName = "", "itops-bench-no-scheduler"
		}
		p, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{FieldManager: fieldManager})
		if err != nil {
			return nil, nil, err
		}
		if l.scheduled {
			if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
				p, err = cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
				return err == nil && p.Status.Phase == corev1.PodRunning, nil
			}); err != nil {
				return nil, nil, fmt.Errorf("pod %s never ran: %w", name, err)
			}
		}
		p = l.write(p)
		t0 := time.Now()
		if _, err := cs.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{FieldManager: "bench"}); err != nil {
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

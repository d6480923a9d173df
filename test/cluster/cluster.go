// Package cluster starts a local simulated Kubernetes cluster on loopback: etcd and
// kube-apiserver (through envtest), kube-controller-manager, kube-scheduler and kwok with a
// few fake nodes, all built from source by hack/envtest-assets.sh. The demo and the e2e
// suite run the operator binary against it.
package cluster

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

//go:embed stages/*.yaml
var stages embed.FS

// UserConfig returns a REST config that authenticates as the named user (with the given
// groups), to act as a person would.
func (c *Cluster) UserConfig(name string, groups ...string) (*rest.Config, error) {
	u, err := c.env.AddUser(envtest.User{Name: name, Groups: groups}, nil)
	if err != nil {
		return nil, err
	}
	return u.Config(), nil
}

// UserKubeconfig writes a kubeconfig file that authenticates as the named user (with the given
// groups) into the cluster's directory and returns its path: for programs run as that person,
// such as kubectl or the kubectl-itops plugin.
func (c *Cluster) UserKubeconfig(name string, groups ...string) (string, error) {
	u, err := c.env.AddUser(envtest.User{Name: name, Groups: groups}, nil)
	if err != nil {
		return "", err
	}
	data, err := u.KubeConfig()
	if err != nil {
		return "", err
	}
	file := strings.NewReplacer("@", "-at-", ":", "-", "/", "-").Replace(name)
	path := filepath.Join(c.opts.Dir, "user-"+file+".kubeconfig")
	return path, os.WriteFile(path, data, 0o600)
}

// UserClient returns a client that authenticates as the named user.
func (c *Cluster) UserClient(name string, groups ...string) (client.Client, error) {
	cfg, err := c.UserConfig(name, groups...)
	if err != nil {
		return nil, err
	}
	return client.New(cfg, client.Options{Scheme: Scheme()})
}

// Kubectl returns the kubectl built with the control plane, of the same release.
func (c *Cluster) Kubectl() string { return filepath.Join(c.opts.AssetsDir, "kubectl") }

// FakeNodeAnnotation marks the nodes kwok manages.
const FakeNodeAnnotation = "kwok.x-k8s.io/node"

// Options configure a local cluster.
type Options struct {
	// AssetsDir holds etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok.
	// Default: $KUBEBUILDER_ASSETS.
	AssetsDir string
	// Dir receives the kubeconfig, component logs and the pid file. Required.
	Dir string
	// CRDDirs are installed before Start returns.
	CRDDirs []string
	// Nodes is the number of fake nodes (default 3).
	Nodes int
	// Progress receives one line per step; nil discards.
	Progress io.Writer
	// WebhookManifests, when set, are installed pointing at a local port with generated
	// certificates; StartOperator then serves the webhooks there.
	WebhookManifests []string
	// ControlPlaneOnly starts etcd and kube-apiserver alone: no kube-controller-manager,
	// kube-scheduler, kwok or fake nodes, so nothing reconciles workloads or runs pods (for
	// harnesses that measure API writes and want no controller traffic besides their own).
	ControlPlaneOnly bool
	// OperatorRBACDir, when set (config/rbac), makes StartOperator apply the RBAC objects
	// there (in the operator namespace) and run the operator as its ServiceAccount with them,
	// instead of as the cluster admin: the install's permissions, aggregation included
	// (kube-controller-manager fills aggregated ClusterRoles).
	OperatorRBACDir string
}

// Cluster is a running local cluster.
type Cluster struct {
	opts       Options
	env        *envtest.Environment
	procs      []*exec.Cmd
	logs       []*os.File
	Config     *rest.Config
	Client     client.Client
	Kubeconfig string
	operators  int
}

// Scheme knows the built-in kinds and itops.dev.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = itopsv1alpha1.AddToScheme(s)
	return s
}

func (c *Cluster) progress(format string, args ...any) {
	if c.opts.Progress != nil {
		fmt.Fprintf(c.opts.Progress, format+"\n", args...)
	}
}

// Start starts the cluster and waits until its fake nodes are Ready (or, with
// ControlPlaneOnly, until kube-apiserver serves). On error everything already started is
// stopped.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	if opts.AssetsDir == "" {
		opts.AssetsDir = os.Getenv("KUBEBUILDER_ASSETS")
	}
	if opts.Nodes == 0 {
		opts.Nodes = 3
	}
	if opts.Dir == "" {
		return nil, errors.New("cluster: Options.Dir is required")
	}
	bins := []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kubectl"}
	if opts.ControlPlaneOnly {
		bins = []string{"etcd", "kube-apiserver", "kubectl"}
	}
	for _, bin := range bins {
		if _, err := os.Stat(filepath.Join(opts.AssetsDir, bin)); err != nil {
			return nil, fmt.Errorf("cluster: %s missing in %q: run `make envtest-assets`", bin, opts.AssetsDir)
		}
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, err
	}
	c := &Cluster{opts: opts}
	c.killStale()
	defer func() {
		if err != nil {
			_ = c.Stop()
		}
	}()

	c.progress("starting etcd and kube-apiserver")
	webhooks, err := webhookInstallOptions(opts.WebhookManifests)
	if err != nil {
		return nil, err
	}
	c.env = &envtest.Environment{
		BinaryAssetsDirectory: opts.AssetsDir,
		CRDDirectoryPaths:     opts.CRDDirs,
		ErrorIfCRDPathMissing: len(opts.CRDDirs) > 0,
		Scheme:                Scheme(),
		WebhookInstallOptions: webhooks,
	}
	api := c.env.ControlPlane.GetAPIServer()
	api.Configure().Set("endpoint-reconciler-type", "none")
	// pods/log reaches kwok's kubelet endpoint by the nodes' InternalIP (127.0.0.1, below),
	// not by their names, which no resolver knows.
	api.Configure().Set("kubelet-preferred-address-types", "InternalIP")
	if c.Config, err = c.env.Start(); err != nil {
		return nil, fmt.Errorf("starting kube-apiserver: %w", err)
	}
	c.writePids()

	admin, err := c.env.AddUser(envtest.User{Name: "itops-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, err
	}
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		return nil, err
	}
	c.Kubeconfig = filepath.Join(opts.Dir, "kubeconfig")
	if err := os.WriteFile(c.Kubeconfig, kubeconfig, 0o600); err != nil {
		return nil, err
	}
	c.Config = admin.Config()
	if c.Client, err = client.New(c.Config, client.Options{Scheme: Scheme()}); err != nil {
		return nil, err
	}
	caFile := filepath.Join(opts.Dir, "ca.crt")
	if err := os.WriteFile(caFile, c.Config.CAData, 0o600); err != nil {
		return nil, err
	}
	if opts.ControlPlaneOnly {
		c.progress("control plane ready: export KUBECONFIG=%s", c.Kubeconfig)
		return c, nil
	}
	saKey := filepath.Join(api.CertDir, "sa-signer.key")

	c.progress("starting kube-controller-manager, kube-scheduler and kwok")
	// The controller manager authenticates as it does in a real cluster
	// (system:kube-controller-manager), so that admission sees the control plane's own identity.
	kcm, err := c.env.AddUser(envtest.User{Name: "system:kube-controller-manager", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, err
	}
	kcmKubeconfigData, err := kcm.KubeConfig()
	if err != nil {
		return nil, err
	}
	kcmKubeconfig := filepath.Join(opts.Dir, "kube-controller-manager.kubeconfig")
	if err := os.WriteFile(kcmKubeconfig, kcmKubeconfigData, 0o600); err != nil {
		return nil, err
	}
	kcmPort, err := freePort()
	if err != nil {
		return nil, err
	}
	if err := c.startProcess("kube-controller-manager",
		"--kubeconfig="+kcmKubeconfig,
		"--authentication-kubeconfig="+c.Kubeconfig,
		"--authorization-kubeconfig="+c.Kubeconfig,
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(kcmPort),
		"--controllers=*,-node-ipam-controller,-persistentvolume-attach-detach-controller",
		"--service-account-private-key-file="+saKey,
		"--root-ca-file="+caFile,
		"--use-service-account-credentials=false",
		"--concurrent-deployment-syncs=5",
		"--node-monitor-grace-period=40s",
	); err != nil {
		return nil, err
	}
	schedPort, err := freePort()
	if err != nil {
		return nil, err
	}
	if err := c.startProcess("kube-scheduler",
		"--kubeconfig="+c.Kubeconfig,
		"--authentication-kubeconfig="+c.Kubeconfig,
		"--authorization-kubeconfig="+c.Kubeconfig,
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(schedPort),
	); err != nil {
		return nil, err
	}
	stageFile, err := c.writeStages()
	if err != nil {
		return nil, err
	}
	kwokPort, err := freePort()
	if err != nil {
		return nil, err
	}
	// kwok serves the kubelet API (containerLogs among it) over HTTPS on kwokPort, which every
	// fake node advertises as its kubelet endpoint at 127.0.0.1, so that the API server's
	// pods/log reaches it (the API server does not verify kubelet certificates without
	// --kubelet-certificate-authority: any certificate does, here the API server's own).
	if err := c.startProcess("kwok",
		"--kubeconfig="+c.Kubeconfig,
		"--config="+stageFile,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector="+FakeNodeAnnotation+"=fake",
		"--node-ip=127.0.0.1",
		"--node-port="+strconv.Itoa(kwokPort),
		"--cidr=10.0.0.1/24",
		"--node-lease-duration-seconds=40",
		"--server-address=127.0.0.1:"+strconv.Itoa(kwokPort),
		"--tls-cert-file="+filepath.Join(api.CertDir, "apiserver.crt"),
		"--tls-private-key-file="+filepath.Join(api.CertDir, "apiserver.key"),
	); err != nil {
		return nil, err
	}
	c.writePids()

	c.progress("registering %d fake nodes", opts.Nodes)
	for i := range opts.Nodes {
		if err := c.Client.Create(ctx, FakeNode(fmt.Sprintf("kwok-node-%d", i), i)); err != nil {
			return nil, fmt.Errorf("creating fake node: %w", err)
		}
	}
	if err := c.waitNodesReady(ctx, opts.Nodes, 2*time.Minute); err != nil {
		return nil, err
	}
	c.progress("cluster ready: export KUBECONFIG=%s", c.Kubeconfig)
	return c, nil
}

// FakeNode returns a Node that kwok manages, in zone a, b or c by its index.
func FakeNode(name string, index int) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{FakeNodeAnnotation: "fake", "node.alpha.kubernetes.io/ttl": "0"},
			Labels: map[string]string{
				"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
				"type": "kwok", "topology.kubernetes.io/zone": fmt.Sprintf("zone-%c", 'a'+index%3),
			},
		},
		Status: corev1.NodeStatus{
			Allocatable: corev1.ResourceList{"cpu": mustQuantity("32"), "memory": mustQuantity("256Gi"), "pods": mustQuantity("110")},
			Capacity:    corev1.ResourceList{"cpu": mustQuantity("32"), "memory": mustQuantity("256Gi"), "pods": mustQuantity("110")},
		},
	}
}

func (c *Cluster) waitNodesReady(ctx context.Context, n int, timeout time.Duration) error {
	return wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		if err := c.checkAlive(); err != nil {
			return false, err
		}
		nodes := &corev1.NodeList{}
		if err := c.Client.List(ctx, nodes); err != nil {
			return false, nil //nolint:nilerr // the API server may still be settling; keep polling
		}
		ready := 0
		for _, node := range nodes.Items {
			for _, cond := range node.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		return ready >= n, nil
	})
}

// checkAlive returns an error naming the first component that has exited.
func (c *Cluster) checkAlive() error {
	for _, p := range c.procs {
		if p.ProcessState != nil || p.Process == nil {
			continue
		}
		// Signal 0 checks for existence; a zombie still exists, so also look at /proc.
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Process.Pid))
		if err != nil || strings.Contains(string(stat[strings.LastIndexByte(string(stat), ')')+1:]), " Z ") {
			name := filepath.Base(p.Path)
			return fmt.Errorf("%s exited; see %s", name, filepath.Join(c.opts.Dir, name+".log"))
		}
	}
	return nil
}

func (c *Cluster) writeStages() (string, error) {
	entries, err := stages.ReadDir("stages")
	if err != nil {
		return "", err
	}
	var docs []string
	for _, e := range entries {
		data, err := stages.ReadFile("stages/" + e.Name())
		if err != nil {
			return "", err
		}
		docs = append(docs, strings.TrimSpace(string(data)))
	}
	logs, err := c.writeLogs()
	if err != nil {
		return "", err
	}
	docs = append(docs, logs)
	path := filepath.Join(c.opts.Dir, "kwok-stages.yaml")
	return path, os.WriteFile(path, []byte(strings.Join(docs, "\n---\n")+"\n"), 0o600)
}

func (c *Cluster) startProcess(name string, args ...string) error {
	logFile, err := os.Create(filepath.Join(c.opts.Dir, name+".log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(c.opts.AssetsDir, name), args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// Die with the process that started us, even if it is killed without cleanup.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return fmt.Errorf("starting %s: %w", name, err)
	}
	c.procs = append(c.procs, cmd)
	c.logs = append(c.logs, logFile)
	return nil
}

// Stop stops every component, in reverse order of start. It is safe to call more than once.
func (c *Cluster) Stop() error {
	var errs []error
	for i := len(c.procs) - 1; i >= 0; i-- {
		p := c.procs[i]
		if p.Process == nil {
			continue
		}
		_ = p.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = p.Process.Kill()
			<-done
		}
	}
	c.procs = nil
	for _, f := range c.logs {
		_ = f.Close()
	}
	c.logs = nil
	if c.env != nil {
		if err := c.env.Stop(); err != nil {
			errs = append(errs, err)
		}
		c.env = nil
	}
	_ = os.Remove(c.pidFile())
	return errors.Join(errs...)
}

func (c *Cluster) pidFile() string { return filepath.Join(c.opts.Dir, "pids") }

// writePids records the pids of every component, so that a later Start can clean up after a
// run that was killed before it could stop its cluster.
func (c *Cluster) writePids() {
	pids := make([]string, 0, len(c.procs)+2)
	// envtest does not expose the pids of etcd and kube-apiserver: find our children that
	// run a binary from AssetsDir.
	for _, pid := range childrenRunning(os.Getpid(), c.opts.AssetsDir) {
		pids = append(pids, strconv.Itoa(pid))
	}
	_ = os.WriteFile(c.pidFile(), []byte(strings.Join(pids, "\n")+"\n"), 0o600)
}

// killStale kills the components of an earlier run that were left behind, identified by
// their pid and an executable under AssetsDir.
func (c *Cluster) killStale() {
	data, err := os.ReadFile(c.pidFile())
	if err != nil {
		return
	}
	for _, line := range strings.Fields(string(data)) {
		pid, err := strconv.Atoi(line)
		if err != nil {
			continue
		}
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err != nil || !strings.HasPrefix(exe, c.opts.AssetsDir) {
			continue
		}
		c.progress("stopping a component left behind by an earlier run (pid %d, %s)", pid, filepath.Base(exe))
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	_ = os.Remove(c.pidFile())
}

// childrenRunning returns the pids of parent's child processes whose executable is under dir.
func childrenRunning(parent int, dir string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// /proc/<pid>/stat: pid (comm) state ppid ...; comm may contain spaces.
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(fields) < 2 || fields[1] != strconv.Itoa(parent) {
			continue
		}
		if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil && strings.HasPrefix(exe, dir) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// WebhookServing returns where the operator's webhook server listens in this cluster (host
// and port) and the PEM CA its serving certificate chains to, for clients that call it
// directly (Alertmanager's webhook receiver in the e2e suite).
func (c *Cluster) WebhookServing() (host string, port int, caPEM []byte) {
	wh := c.env.WebhookInstallOptions
	return wh.LocalServingHost, wh.LocalServingPort, wh.LocalServingCAData
}

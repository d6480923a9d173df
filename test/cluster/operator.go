package cluster

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// Operator is the itops-operator binary running as a process against a cluster.
type Operator struct {
	cmd       *exec.Cmd
	log       *os.File
	done      chan struct{}
	LogPath   string
	HealthURL string
}

// StartOperator runs binary against the cluster with the given extra flags, logging to
// Dir/operator.log, and waits until its health endpoint answers.
func (c *Cluster) StartOperator(ctx context.Context, binary string, extraArgs ...string) (*Operator, error) {
	if _, err := os.Stat(binary); err != nil {
		return nil, fmt.Errorf("operator binary %q: %w (run `make build`)", binary, err)
	}
	probePort, err := freePort()
	if err != nil {
		return nil, err
	}
	// The operator namespace exists wherever the operator runs (it keeps its Secret and
	// ConfigMaps there); create it as an installation would.
	opNamespace := "itops-system"
	for _, a := range extraArgs {
		if v, ok := strings.CutPrefix(a, "--operator-namespace="); ok {
			opNamespace = v
		}
	}
	clusterNamespace := "itops-cluster"
	for _, a := range extraArgs {
		if v, ok := strings.CutPrefix(a, "--cluster-namespace="); ok {
			clusterNamespace = v
		}
	}
	// So does the cluster namespace: the installation creates it, the operator may not.
	for _, name := range []string{opNamespace, clusterNamespace} {
		nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if err := c.Client.Create(ctx, nsObj); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("creating namespace %s: %w", name, err)
		}
	}
	name := "operator.log"
	if c.operators > 0 {
		name = fmt.Sprintf("operator-%d.log", c.operators)
	}
	c.operators++
	o := &Operator{
		LogPath:   filepath.Join(c.opts.Dir, name),
		HealthURL: "http://127.0.0.1:" + strconv.Itoa(probePort) + "/healthz",
		done:      make(chan struct{}),
	}
	if o.log, err = os.Create(o.LogPath); err != nil {
		return nil, err
	}
	kubeconfig := c.Kubeconfig
	if c.opts.OperatorRBACDir != "" {
		if kubeconfig, err = c.operatorKubeconfig(ctx, opNamespace); err != nil {
			return nil, err
		}
	}
	args := []string{
		"--kubeconfig=" + kubeconfig,
		"--metrics-bind-address=0",
		"--health-probe-bind-address=127.0.0.1:" + strconv.Itoa(probePort),
	}
	if wh := c.env.WebhookInstallOptions; len(c.opts.WebhookManifests) > 0 {
		args = append(args, "--webhook-cert-dir="+wh.LocalServingCertDir, "--webhook-port="+strconv.Itoa(wh.LocalServingPort))
	} else {
		args = append(args, "--enable-webhooks=false")
	}
	args = append(args, extraArgs...)
	o.cmd = exec.Command(binary, args...)
	o.cmd.Stdout, o.cmd.Stderr = o.log, o.log
	o.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := o.cmd.Start(); err != nil {
		_ = o.log.Close()
		return nil, fmt.Errorf("starting the operator: %w", err)
	}
	go func() { _ = o.cmd.Wait(); close(o.done) }()

	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		select {
		case <-o.done:
			return false, fmt.Errorf("the operator exited (%s); see %s", o.cmd.ProcessState, o.LogPath)
		default:
		}
		resp, err := http.Get(o.ReadyURL()) //nolint:gosec,noctx // loopback probe of our own process
		if err != nil {
			return false, nil
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		o.Stop()
		return nil, err
	}
	return o, nil
}

// ReadyURL is the operator's readiness endpoint (ready once its webhook server serves).
func (o *Operator) ReadyURL() string { return strings.TrimSuffix(o.HealthURL, "/healthz") + "/readyz" }

// PID is the operator's process id.
func (o *Operator) PID() int { return o.cmd.Process.Pid }

// Exited is closed when the operator process has exited.
func (o *Operator) Exited() <-chan struct{} { return o.done }

// Stop terminates the operator (SIGTERM, then SIGKILL after 10s) and waits for it.
func (o *Operator) Stop() {
	if o.cmd.Process != nil {
		_ = o.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-o.done:
		case <-time.After(10 * time.Second):
			_ = o.cmd.Process.Kill()
			<-o.done
		}
	}
	_ = o.log.Close()
}

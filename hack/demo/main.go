// Command demo starts a local simulated cluster, runs the itops-operator binary against it,
// applies sample resources, injects faults and narrates what the operator does.
//
// Run it with `make demo`. DEMO_KEEP=1 leaves the cluster and operator running and prints
// the KUBECONFIG to use; Ctrl-C stops everything.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/itops-dev/itops-operator/test/cluster"
	"github.com/itops-dev/itops-operator/test/testenv"
)

// story is one chapter of the demo. Each capability adds its own.
type story struct {
	title string
	run   func(ctx context.Context, d *demo) error
}

var stories = []story{
	{"The operator and its four kinds", foundationStory},
	{"Incidents open themselves: a crash loop and a failed node", incidentsStory},
	{"Changes: no approved change, no rollout", changesStory},
	{"Maintenance windows: planned work pages nobody, a freeze stops changes", maintenanceStory},
	{"Service levels: availability, error budget and burn rate from observed health", serviceLevelsStory},
	{"Scaling policies: bounds at admission, scale-out when pods are not ready", scalingStory},
	{"Notifications: a crash pages the owning team once; maintenance pages nobody", notificationsStory},
}

func main() {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "\ndemo failed: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	root := testenv.RepoRoot()
	dir := filepath.Join(root, "bin", "demo")
	n := newNarrator(os.Stdout)
	n.banner("itops-operator demo")
	n.say("A local cluster on loopback: etcd, kube-apiserver, kube-controller-manager and kube-scheduler")
	n.say("built from source, and kwok simulating nodes and pods. Logs are kept in %s.", rel(root, dir))

	start := time.Now()
	c, err := cluster.Start(ctx, cluster.Options{
		AssetsDir:        testenv.AssetsDir(),
		Dir:              dir,
		CRDDirs:          []string{filepath.Join(root, "config", "crd", "bases")},
		WebhookManifests: []string{filepath.Join(root, "config", "webhook", "manifests.yaml")},
		Nodes:            3,
		Progress:         n.progressWriter(),
	})
	if err != nil {
		return err
	}
	defer func() {
		n.say("\nstopping the cluster")
		_ = c.Stop()
	}()
	n.say("cluster up in %s", time.Since(start).Round(100*time.Millisecond))

	binary := filepath.Join(root, "bin", "itops-operator")
	// Demo timings: problems resolve after 10s of health; nodes and workloads get 5s of grace.
	policy := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policy, []byte("detection: {nodeNotReadyGracePeriod: 5s, workloadGracePeriod: 5s}\n"+notificationsPolicy()), 0o600); err != nil {
		return err
	}
	op, err := c.StartOperator(ctx, binary, "--resolve-after=10s", "--config="+policy)
	if err != nil {
		return err
	}
	defer op.Stop()
	n.say("itops-operator running (healthy at %s, log %s)", op.HealthURL, rel(root, op.LogPath))

	plugin, err := pluginBinary(root)
	if err != nil {
		return err
	}
	d := &demo{n: n, c: c, root: root, plugin: plugin}
	for i, s := range stories {
		n.chapter(i+1, s.title)
		if err := s.run(ctx, d); err != nil {
			return fmt.Errorf("%s: %w", s.title, err)
		}
	}

	n.banner("demo complete")
	if os.Getenv("DEMO_KEEP") == "1" {
		n.say("The cluster and the operator keep running. In another shell:")
		n.say("  export KUBECONFIG=%s", c.Kubeconfig)
		n.say("  kubectl get itops -A")
		n.say("Press Ctrl-C to stop everything.")
		select {
		case <-ctx.Done():
		case <-op.Exited():
			return fmt.Errorf("the operator exited; see %s", op.LogPath)
		}
	}
	return nil
}

// pluginBinary is the kubectl-itops plugin people act with: ITOPS_PLUGIN_BINARY (make demo
// builds it with make plugin), else built now into bin/.
func pluginBinary(root string) (string, error) {
	if b := os.Getenv("ITOPS_PLUGIN_BINARY"); b != "" {
		return b, nil
	}
	b := filepath.Join(root, "bin", "kubectl-itops")
	cmd := exec.Command("go", "build", "-o", b, "./cmd/kubectl-itops")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the kubectl-itops plugin: %w: %s", err, out)
	}
	return b, nil
}

func rel(root, path string) string {
	if r, err := filepath.Rel(root, path); err == nil {
		return r
	}
	return path
}

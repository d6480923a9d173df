// Package e2e runs the built itops-operator binary against the local simulated cluster
// (etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok).
package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/itops-dev/itops-operator/test/cluster"
	"github.com/itops-dev/itops-operator/test/testenv"
)

const clusterNamespace = "itops-cluster"

var (
	ctx      = context.Background()
	local    *cluster.Cluster
	operator *cluster.Operator
	// operatorArgs are the operator's flags, for specs that restart it.
	operatorArgs []string
	k8s          client.Client
)

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "itops-operator end-to-end suite")
}

func operatorBinary() string {
	if b := os.Getenv("ITOPS_OPERATOR_BINARY"); b != "" {
		return b
	}
	return filepath.Join(testenv.RepoRoot(), "bin", "itops-operator")
}

var _ = BeforeSuite(func() {
	// A fixed directory: the logs of the last run stay there for inspection, and its pid file
	// lets the next run stop anything a killed run left behind.
	dir := filepath.Join(testenv.RepoRoot(), "bin", "e2e")
	var err error
	local, err = cluster.Start(ctx, cluster.Options{
		AssetsDir:        testenv.AssetsDir(),
		Dir:              dir,
		CRDDirs:          []string{filepath.Join(testenv.RepoRoot(), "config", "crd", "bases"), detectorCRDs()},
		WebhookManifests: []string{filepath.Join(testenv.RepoRoot(), "config", "webhook", "manifests.yaml")},
		Nodes:            3,
		Progress:         GinkgoWriter,
		// ITOPS_E2E_INSTALL_RBAC=1 runs the operator as its ServiceAccount with the install's
		// RBAC (config/rbac) instead of as the cluster admin.
		OperatorRBACDir: operatorRBACDir(),
	})
	Expect(err).NotTo(HaveOccurred())
	k8s = local.Client
	// Short lifecycle timings so that specs see detection and auto-resolution within seconds.
	policy := filepath.Join(dir, "policy.yaml")
	Expect(os.WriteFile(policy, []byte("detection: {nodeNotReadyGracePeriod: 1s, workloadGracePeriod: 10s, autoscalerLimited: {gracePeriod: 1s}, disruptionBlocked: {gracePeriod: 1s},"+
		" cronJobMissedSchedule: {gracePeriod: 30s}, memoryNearLimit: {for: 1s, pollInterval: 10s}, servicesWithoutEndpoints: {gracePeriod: 15s}, "+
		"routeBackends: {gracePeriod: 2s}, webhooks: {gracePeriod: 2s}}\n"+
		// Alertmanager in (alertmanager_test.go creates the token Secret).
		"alertmanager: {enabled: true, tokenSecretRef: {name: "+alertmanagerTokenSecret+", key: token}}\n"+
		notificationsPolicy()+detectorsPolicy()+prometheusPolicy()), 0o600)).To(Succeed())
	operatorArgs = []string{"--resolve-after=3s", "--cluster-namespace=" + clusterNamespace, "--config=" + policy}
	operator, err = local.StartOperator(ctx, operatorBinary(), operatorArgs...)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() {
		operator.Stop()
		Expect(local.Stop()).To(Succeed())
		GinkgoWriter.Printf("cluster and operator logs are in %s\n", dir)
	})
})

// operatorRBACDir is config/rbac when ITOPS_E2E_INSTALL_RBAC is set, else "" (the operator
// runs as the cluster admin, as it has so far).
func operatorRBACDir() string {
	if os.Getenv("ITOPS_E2E_INSTALL_RBAC") == "" {
		return ""
	}
	return filepath.Join(testenv.RepoRoot(), "config", "rbac")
}

func newNamespace() string { return testenv.NewNamespace(ctx, k8s, "e2e") }

// Package install installs the Helm chart for real into the simulated cluster (test/cluster:
// kube-apiserver, etcd, kube-controller-manager with RBAC aggregation, scheduler and kwok),
// runs the operator binary with the chart's rendered flags as the chart's ServiceAccount,
// checks the roles for people with `kubectl auth can-i`, upgrades the chart with a CRD change,
// uninstalls it and checks that nothing is left stuck; and applies config/default with
// server-side apply. The chart tests that need no cluster (values schema, rendering) are in
// chart_test.go.
package install

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/certs"
	"github.com/itops-dev/itops-operator/test/cluster"
	"github.com/itops-dev/itops-operator/test/testenv"
)

const (
	release   = "itops"
	namespace = "itops-system"
	fullname  = "itops-itops-operator"
	// imageValues are what a user installing the image built by `make image` would set.
	imageValues = "image.repository=localhost/itops-operator,image.tag=dev,image.pullPolicy=Never"
)

func helmBinary() string {
	if h := os.Getenv("ITOPS_HELM"); h != "" {
		return h
	}
	return filepath.Join(testenv.RepoRoot(), "bin", "helm-v3.22.0")
}

func operatorBinary() string {
	if b := os.Getenv("ITOPS_OPERATOR_BINARY"); b != "" {
		return b
	}
	return filepath.Join(testenv.RepoRoot(), "bin", "itops-operator")
}

func chartDir() string { return filepath.Join(testenv.RepoRoot(), "charts", "itops-operator") }

// run runs a command and returns its combined output; env is added to the environment.
func run(t *testing.T, env []string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// must returns a function that fails t when err is set and returns out.
func must(t *testing.T) func(out string, err error) string {
	t.Helper()
	return func(out string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return out
	}
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(context.Background(), 250*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		ok, err := cond()
		last = err
		return ok, nil
	})
	if err != nil {
		t.Fatalf("%s: not within %s (last error: %v)", what, timeout, last)
	}
}

func TestInstallUpgradeUninstall(t *testing.T) {
	for _, b := range []string{helmBinary(), operatorBinary()} {
		if _, err := os.Stat(b); err != nil {
			t.Fatalf("%s: %v (run `make build` and the Makefile's helm target, or `make test-install`)", b, err)
		}
	}
	ctx := context.Background()
	dir := filepath.Join(testenv.RepoRoot(), "bin", "install")
	local, err := cluster.Start(ctx, cluster.Options{AssetsDir: testenv.AssetsDir(), Dir: dir, Nodes: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := local.Stop(); err != nil {
			t.Error(err)
		}
		t.Logf("cluster and operator logs are in %s", dir)
	})
	scheme := cluster.Scheme()
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	k8s, err := client.New(local.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	kubeEnv := []string{"KUBECONFIG=" + local.Kubeconfig, "HELM_CACHE_HOME=" + filepath.Join(dir, "helm-cache"),
		"HELM_CONFIG_HOME=" + filepath.Join(dir, "helm-config"), "HELM_DATA_HOME=" + filepath.Join(dir, "helm-data")}
	kubectl := func(args ...string) (string, error) { return run(t, kubeEnv, local.Kubectl(), args...) }
	helmOK := func(t *testing.T, args ...string) string {
		t.Helper()
		return must(t)(run(t, kubeEnv, helmBinary(), args...))
	}
	kubectlOK := func(t *testing.T, args ...string) string {
		t.Helper()
		return must(t)(run(t, kubeEnv, local.Kubectl(), args...))
	}

	// 1. CRDs the chart's 0.1.0 release installed from its crds/ folder (no Helm ownership),
	// adopted as docs/install.md says, then helm install, as a user would, with the image values.
	kubectlOK(t, "create", "-f", filepath.Join(testenv.RepoRoot(), "config", "crd", "bases"))
	for _, crd := range []string{"incidents", "changerequests", "maintenancewindows", "servicelevels"} {
		kubectlOK(t, "label", "crd", crd+".itops.dev", "app.kubernetes.io/managed-by=Helm", "--overwrite")
		kubectlOK(t, "annotate", "crd", crd+".itops.dev", "meta.helm.sh/release-name="+release, "meta.helm.sh/release-namespace="+namespace, "--overwrite")
	}
	// With notifications and Alertmanager in, as docs/install.md shows: their Secrets live in
	// the release namespace and are read by name (get, never list or watch).
	valuesFile := filepath.Join(dir, "values-notify.yaml")
	if err := os.WriteFile(valuesFile, []byte(notifyValues), 0o600); err != nil {
		t.Fatal(err)
	}
	notes := helmOK(t, "install", release, chartDir(), "-n", namespace, "--create-namespace", "--set", imageValues, "-f", valuesFile)
	for _, want := range []string{"Verify the install", "kubectl auth can-i approve changerequests.itops.dev", "kind: Incident",
		"https://" + fullname + "-webhook." + namespace + ".svc/alertmanager/v4"} {
		if !strings.Contains(notes, want) {
			t.Errorf("NOTES.txt lacks %q:\n%s", want, notes)
		}
	}
	for _, crd := range []string{"incidents", "changerequests", "maintenancewindows", "servicelevels"} {
		obj := &apiextensionsv1.CustomResourceDefinition{}
		if err := k8s.Get(ctx, client.ObjectKey{Name: crd + ".itops.dev"}, obj); err != nil {
			t.Fatalf("CRD %s not installed by the chart: %v", crd, err)
		}
		if obj.Annotations["helm.sh/resource-policy"] != "keep" {
			t.Errorf("CRD %s lacks helm.sh/resource-policy: keep: %v", crd, obj.Annotations)
		}
	}
	dep := &appsv1.Deployment{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: namespace, Name: fullname}, dep); err != nil {
		t.Fatal(err)
	}
	if img := dep.Spec.Template.Spec.Containers[0].Image; img != "localhost/itops-operator:dev" {
		t.Errorf("image %q", img)
	}

	// The pre-install hook ran (kwok completed its pod) and was deleted on success; its logic,
	// the binary's --check-config on the hook's policy, runs here.
	hooks := helmOK(t, "get", "hooks", release, "-n", namespace)
	check := exec.Command(operatorBinary(), "--check-config=-")
	check.Stdin = strings.NewReader(hooks)
	if out, err := check.CombinedOutput(); err != nil || !strings.Contains(string(out), "(ConfigMap key policy.yaml): the policy is valid") {
		t.Errorf("--check-config on the release's pre-install hook: %v\n%s", err, out)
	}
	if out, err := kubectl("get", "job", fullname+"-check-policy", "-n", namespace); err == nil {
		t.Errorf("the policy check Job stays after it succeeded (hook-delete-policy hook-succeeded):\n%s", out)
	}

	// 2. Roles for people, aggregated by kube-controller-manager into view, edit and admin.
	t.Run("roles for people", func(t *testing.T) {
		ns := newNamespace(ctx, t, k8s, "people")
		for user, role := range map[string]string{"alice": "edit", "bob": "itops-approver", "carol": "view", "dave": "admin"} {
			rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: user},
				RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
				Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: user}}}
			if err := k8s.Create(ctx, rb); err != nil {
				t.Fatal(err)
			}
		}
		cases := []struct {
			user, verb, resource, subresource string
			want                              bool
		}{
			{"alice", "create", "incidents", "", true},
			{"alice", "create", "changerequests", "", true},
			{"alice", "patch", "incidents", "", true},
			{"alice", "delete", "maintenancewindows", "", true},
			{"alice", "update", "incidents", "status", false},
			{"alice", "patch", "incidents", "status", false},
			{"alice", "update", "changerequests", "status", false},
			{"alice", "approve", "changerequests", "", false},
			{"dave", "create", "servicelevels", "", true},
			{"dave", "update", "servicelevels", "status", false},
			{"dave", "approve", "changerequests", "", false},
			{"bob", "approve", "changerequests", "", true},
			{"bob", "patch", "changerequests", "", true},
			{"bob", "get", "changerequests", "", true},
			{"bob", "create", "changerequests", "", false},
			{"bob", "delete", "changerequests", "", false},
			{"bob", "update", "changerequests", "status", false},
			{"bob", "patch", "changerequests", "status", false},
			{"bob", "create", "incidents", "", false},
			{"carol", "list", "incidents", "", true},
			{"carol", "watch", "changerequests", "", true},
			{"carol", "create", "incidents", "", false},
		}
		for _, c := range cases {
			args := []string{"auth", "can-i", c.verb, c.resource + ".itops.dev", "-n", ns, "--as", c.user}
			if c.subresource != "" {
				args = append(args, "--subresource", c.subresource)
			}
			// Aggregation is asynchronous (kube-controller-manager): the first checks may wait.
			eventually(t, 30*time.Second, fmt.Sprintf("kubectl %s -> %v", strings.Join(args, " "), c.want), func() (bool, error) {
				out, _ := kubectl(args...)
				return strings.TrimSpace(lastLine(out)) == map[bool]string{true: "yes", false: "no"}[c.want], fmt.Errorf("%s", out)
			})
		}
	})

	// 3. helm upgrade reaches the CRDs: a chart copy whose Incident CRD has one more printer
	// column (what a new release of the operator would bring).
	t.Run("upgrade updates CRDs", func(t *testing.T) {
		next := filepath.Join(t.TempDir(), "itops-operator")
		must(t)(run(t, nil, "cp", "-r", chartDir(), next))
		crdFile := filepath.Join(next, "templates", "crds", "itops.dev_incidents.yaml")
		data, err := os.ReadFile(crdFile)
		if err != nil {
			t.Fatal(err)
		}
		const marker = "    - jsonPath: .metadata.creationTimestamp\n      name: Age\n      type: date\n"
		if !strings.Contains(string(data), marker) {
			t.Fatalf("no Age printer column in %s", crdFile)
		}
		data = []byte(strings.Replace(string(data), marker, marker+"    - jsonPath: .spec.assignee\n      name: Assignee-Next\n      type: string\n", 1))
		if err := os.WriteFile(crdFile, data, 0o600); err != nil {
			t.Fatal(err)
		}
		helmOK(t, "upgrade", release, next, "-n", namespace, "--reuse-values")
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := k8s.Get(ctx, client.ObjectKey{Name: "incidents.itops.dev"}, crd); err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(crd.Spec.Versions[0].AdditionalPrinterColumns, func(c apiextensionsv1.CustomResourceColumnDefinition) bool {
			return c.Name == "Assignee-Next"
		}) {
			t.Errorf("helm upgrade did not update the Incident CRD: %+v", crd.Spec.Versions[0].AdditionalPrinterColumns)
		}
		out := helmOK(t, "history", release, "-n", namespace, "-o", "yaml")
		if !strings.Contains(out, "revision: 2") {
			t.Errorf("no second revision:\n%s", out)
		}
	})

	// 4. The operator, run from the chart: its rendered flags and the chart's ServiceAccount's
	// identity (pods do not run on kwok), webhooks reached on a local port.
	var incidentName, incidentNS string
	t.Run("operator runs from the chart", func(t *testing.T) {
		// The operator's Role reads Secrets by name only (least privilege).
		sa := "system:serviceaccount:" + namespace + ":" + fullname
		for verb, want := range map[string]string{"get": "yes", "list": "no", "watch": "no"} {
			if out, _ := kubectl("auth", "can-i", verb, "secrets", "-n", namespace, "--as", sa); strings.TrimSpace(lastLine(out)) != want {
				t.Errorf("the operator can-i %s secrets in %s: %s, want %s", verb, namespace, out, want)
			}
		}
		token := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "itops-alertmanager"},
			StringData: map[string]string{"token": alertmanagerToken}}
		if err := k8s.Create(ctx, token); err != nil {
			t.Fatal(err)
		}
		metricsPort := freePort(t)
		// StartOperator returns once /readyz answers 200: the chart's policy with a receiver
		// and the Alertmanager endpoint enabled loads, and the process stays up.
		op, webhookPort := startChartOperator(ctx, t, local, dir, metricsPort)
		defer op.Stop()
		// Alertmanager in, through the chart's RBAC: the token Secret is read (a wrong token
		// gets 401; the right one is accepted, not 503 "token Secret unreadable").
		amURL := fmt.Sprintf("https://localhost:%d/alertmanager/v4", webhookPort)
		for tok, want := range map[string]int{"wrong": http.StatusUnauthorized, alertmanagerToken: http.StatusOK} {
			eventually(t, 30*time.Second, fmt.Sprintf("POST %s -> %d", amURL, want), func() (bool, error) {
				code, body, err := postAlerts(amURL, tok)
				if err != nil {
					return false, err
				}
				return code == want, fmt.Errorf("%d %s", code, body)
			})
		}
		select {
		case <-op.Exited():
			t.Fatalf("the operator exited; see %s", op.LogPath)
		default:
		}
		ns := newNamespace(ctx, t, k8s, "first")
		rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "alice"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "edit"},
			Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: "alice"}}}
		if err := k8s.Create(ctx, rb); err != nil {
			t.Fatal(err)
		}
		alice, err := local.UserClient("alice")
		if err != nil {
			t.Fatal(err)
		}
		inc := &itopsv1alpha1.Incident{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "first"},
			Spec: itopsv1alpha1.IncidentSpec{Title: "Checking the install", Impact: itopsv1alpha1.LevelLow, Urgency: itopsv1alpha1.LevelLow}}
		eventually(t, 30*time.Second, "alice (edit) creates an incident", func() (bool, error) {
			err := alice.Create(ctx, inc)
			return err == nil, err
		})
		incidentName, incidentNS = inc.Name, ns
		eventually(t, 30*time.Second, "the operator prioritises it and holds it with the audit finalizer", func() (bool, error) {
			got := &itopsv1alpha1.Incident{}
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(inc), got); err != nil {
				return false, err
			}
			return got.Status.Priority == "P5" && slices.Contains(got.Finalizers, itopsv1alpha1.AuditFinalizer), fmt.Errorf("%+v %v", got.Status, got.Finalizers)
		})

		// /metrics is authenticated and authorized: a scraper's ServiceAccount bound to the
		// chart's metrics-reader ClusterRole reads it, another gets 403.
		kubectlOK(t, "create", "namespace", "monitoring")
		kubectlOK(t, "create", "serviceaccount", "prometheus", "-n", "monitoring")
		kubectlOK(t, "create", "serviceaccount", "intruder", "-n", "monitoring")
		kubectlOK(t, "create", "clusterrolebinding", "prometheus-itops-metrics", "--clusterrole="+fullname+"-metrics-reader",
			"--serviceaccount=monitoring:prometheus")
		url := fmt.Sprintf("https://127.0.0.1:%d/metrics", metricsPort)
		for sa, want := range map[string]int{"prometheus": http.StatusOK, "intruder": http.StatusForbidden} {
			token := strings.TrimSpace(kubectlOK(t, "create", "token", sa, "-n", "monitoring"))
			eventually(t, 30*time.Second, fmt.Sprintf("%s scrapes %s: %d", sa, url, want), func() (bool, error) {
				code, body, err := scrape(url, token)
				if err != nil {
					return false, err
				}
				return code == want && (want != http.StatusOK || strings.Contains(body, `itops_incidents_open{priority="P5"`)), fmt.Errorf("%d", code)
			})
		}
	})
	if incidentName == "" {
		t.FailNow()
	}

	// 5. helm uninstall: the post-delete hook's Job runs (kwok completes its pod); its logic
	// (the binary's --release-finalizers) runs here. Nothing is left stuck.
	t.Run("uninstall leaves nothing stuck", func(t *testing.T) {
		// The Secret the operator keeps its self-managed certificate in (this run served a
		// given certificate, so it made none).
		selfManaged := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "itops-operator-webhook-cert"},
			Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": {}, "tls.key": {}}}
		if err := k8s.Create(ctx, selfManaged); err != nil {
			t.Fatal(err)
		}
		out := helmOK(t, "uninstall", release, "-n", namespace, "--timeout", "90s")
		t.Logf("helm uninstall:\n%s", out)
		for _, kind := range []string{"mutatingwebhookconfiguration", "validatingwebhookconfiguration"} {
			if out, err := kubectl("get", kind, fullname); err == nil {
				t.Errorf("%s %s still there after uninstall:\n%s", kind, fullname, out)
			}
		}
		out = must(t)(run(t, nil, operatorBinary(), "--kubeconfig="+local.Kubeconfig, "--release-finalizers",
			"--operator-namespace="+namespace, "--operator-pod-selector=app.kubernetes.io/instance="+release))
		t.Logf("--release-finalizers:\n%s", out)
		secret := &corev1.Secret{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: namespace, Name: "itops-operator-webhook-cert"}, secret); !apierrors.IsNotFound(err) {
			t.Errorf("webhook certificate Secret left behind: %v", err)
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := k8s.Get(ctx, client.ObjectKey{Name: "incidents.itops.dev"}, crd); err != nil {
			t.Fatalf("crds.keep: the CRD must stay: %v", err)
		}
		inc := &itopsv1alpha1.Incident{ObjectMeta: metav1.ObjectMeta{Namespace: incidentNS, Name: incidentName}}
		if err := k8s.Delete(ctx, inc); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "the incident is deleted, not stuck on its finalizer", func() (bool, error) {
			err := k8s.Get(ctx, client.ObjectKeyFromObject(inc), inc)
			return apierrors.IsNotFound(err), err
		})
	})

	// 6. The kustomize install applies server-side (after the kept CRDs are removed: they carry
	// the Helm release's ownership).
	t.Run("kubectl apply -k config/default --server-side", func(t *testing.T) {
		kubectlOK(t, "delete", "crd", "incidents.itops.dev", "changerequests.itops.dev", "maintenancewindows.itops.dev", "servicelevels.itops.dev")
		kubectlOK(t, "apply", "-k", filepath.Join(testenv.RepoRoot(), "config", "default"), "--server-side")
		for _, role := range []string{"itops-view", "itops-edit", "itops-approver", "itops-operator-metrics-reader"} {
			if err := k8s.Get(ctx, client.ObjectKey{Name: role}, &rbacv1.ClusterRole{}); err != nil {
				t.Errorf("ClusterRole %s: %v", role, err)
			}
		}
	})
}

// alertmanagerToken is the bearer token of the Alertmanager endpoint in notifyValues.
const alertmanagerToken = "s3cr3t-alertmanager-token"

// notifyValues are a policy with a receiver, a route and the Alertmanager endpoint enabled,
// as docs/install.md ("Notifications and Alertmanager") shows.
const notifyValues = `policy:
  notifications:
    receivers:
    - name: sre-hook
      webhook:
        url: https://hooks.example.invalid/itops
    routes:
    - name: all
      receivers: [sre-hook]
      repeatInterval: 4h
  alertmanager:
    enabled: true
    tokenSecretRef: {name: itops-alertmanager, key: token}
`

// postAlerts posts an empty Alertmanager notification with a bearer token, trusting the
// harness's serving certificate.
func postAlerts(url, token string) (int, string, error) {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"version":"4","status":"firing","receiver":"itops","groupKey":"{}:{}","alerts":[]}`))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // the harness's test serving certificate
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// startChartOperator runs the operator binary with the flags the chart renders into its
// Deployment, as the chart's ServiceAccount, with the chart's policy file; the chart's webhook
// configurations are pointed at it (a local URL with a test CA: the API server cannot reach a
// Service on kwok). Probe and metrics addresses and the certificate directory are the
// harness's own.
func startChartOperator(ctx context.Context, t *testing.T, local *cluster.Cluster, dir string, metricsPort int) (*cluster.Operator, int) {
	t.Helper()
	k8s := local.Client
	dep := &appsv1.Deployment{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: namespace, Name: fullname}, dep); err != nil {
		t.Fatal(err)
	}
	policy := &corev1.ConfigMap{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: namespace, Name: fullname + "-policy"}, policy); err != nil {
		t.Fatal(err)
	}
	policyFile := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policyFile, []byte(policy.Data["policy.yaml"]), 0o600); err != nil {
		t.Fatal(err)
	}

	// A serving certificate for localhost, and the webhooks pointed at it.
	bundle, err := certs.Issue(nil, []string{"localhost"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	certDir := filepath.Join(dir, "certs")
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"tls.crt": bundle.Cert, "tls.key": bundle.Key} {
		if err := os.WriteFile(filepath.Join(certDir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	port := freePort(t)
	pointWebhooks(ctx, t, k8s, port, bundle.CACert)

	sa := dep.Spec.Template.Spec.ServiceAccountName
	kubeconfig := userKubeconfig(t, local, dir, "system:serviceaccount:"+namespace+":"+sa,
		"system:serviceaccounts", "system:serviceaccounts:"+namespace)

	var args []string
	for _, a := range dep.Spec.Template.Spec.Containers[0].Args {
		switch {
		case strings.HasPrefix(a, "--health-probe-bind-address="):
		case strings.HasPrefix(a, "--metrics-bind-address="):
			args = append(args, fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", metricsPort))
		case strings.HasPrefix(a, "--webhook-cert-dir="), strings.HasPrefix(a, "--webhook-port="):
		case strings.HasPrefix(a, "--config="):
			args = append(args, "--config="+policyFile)
		default:
			args = append(args, a)
		}
	}
	args = append(args, "--enable-webhooks=true", "--webhook-cert-dir="+certDir, fmt.Sprintf("--webhook-port=%d", port),
		"--operator-namespace="+namespace, "--kubeconfig="+kubeconfig)
	t.Logf("operator flags from the chart: %v", args)
	op, err := local.StartOperator(ctx, operatorBinary(), args...)
	if err != nil {
		t.Fatal(err)
	}
	return op, port
}

// pointWebhooks replaces the Service of every webhook of the chart's configurations by a
// local URL, trusted through caBundle.
func pointWebhooks(ctx context.Context, t *testing.T, k8s client.Client, port int, ca []byte) {
	t.Helper()
	url := func(cc *admissionregistrationv1.WebhookClientConfig) {
		u := fmt.Sprintf("https://localhost:%d%s", port, *cc.Service.Path)
		cc.URL, cc.Service, cc.CABundle = &u, nil, ca
	}
	m := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := k8s.Get(ctx, client.ObjectKey{Name: fullname}, m); err != nil {
		t.Fatal(err)
	}
	for i := range m.Webhooks {
		url(&m.Webhooks[i].ClientConfig)
	}
	if err := k8s.Update(ctx, m); err != nil {
		t.Fatal(err)
	}
	v := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := k8s.Get(ctx, client.ObjectKey{Name: fullname}, v); err != nil {
		t.Fatal(err)
	}
	for i := range v.Webhooks {
		url(&v.Webhooks[i].ClientConfig)
	}
	if err := k8s.Update(ctx, v); err != nil {
		t.Fatal(err)
	}
}

// userKubeconfig writes a kubeconfig that authenticates as the named user with groups.
func userKubeconfig(t *testing.T, local *cluster.Cluster, dir, user string, groups ...string) string {
	t.Helper()
	cfg, err := local.UserConfig(user, groups...)
	if err != nil {
		t.Fatal(err)
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["local"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["user"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData}
	kc.Contexts["default"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "user"}
	kc.CurrentContext = "default"
	path := filepath.Join(dir, "operator-sa.kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// newNamespace creates a namespace of its own for one step.
func newNamespace(ctx context.Context, t *testing.T, k8s client.Client, prefix string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}
	if err := k8s.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// scrape GETs url with a bearer token, trusting the operator's self-signed metrics certificate.
func scrape(url, token string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // the operator's self-signed metrics certificate
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

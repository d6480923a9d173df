// Command gate measures what the change gate adds to the admission of a Deployment update:
// the client-side round trip of the same strategic-merge PATCH (one env var of the pod
// template changes) in three namespaces of one local API server:
//
//   - gate: change-controlled (itops.dev/change-control=enforced), so the update goes through
//     the operator's two gate webhooks (mgate, vgate), which decide from their informer caches
//     with 1,000 ChangeRequests in the namespace, one approved change per benchmarked
//     Deployment and the rest targeting other workloads;
//   - no-op webhook: selected by a mutating and a validating webhook served by this process
//     that allow everything (the floor: two webhook calls, no decision);
//   - no webhook: nothing but the API server.
//
// The three series are interleaved (gate, no-op, none, gate, ...) at a steady rate and issued
// open-loop (each request at its scheduled time, whether or not earlier ones have returned), so
// that background noise and a slow request affect all three alike.
//
// Run it with `make bench-gate` (defaults: 50 Deployments per namespace, 1,000 ChangeRequests,
// 500 samples per series at 20 updates/s per series). Figures go to docs/performance.md.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/test/cluster"
	"github.com/itops-dev/itops-operator/test/testenv"
)

// Namespaces of the three series, and the label that selects the no-op webhooks.
const (
	gateNS      = "bench-gate"
	noopNS      = "bench-noop"
	noneNS      = "bench-none"
	noopLabel   = "bench.itops.dev/noop-webhook"
	container   = "app"
	envVar      = "BENCH_SEQ"
	alice       = "alice"
	bob         = "bob"
	noopWebhook = "bench-noop-webhook"
)

type options struct {
	deployments, changes, samples int
	rate                          float64
}

func main() {
	var o options
	flag.IntVar(&o.deployments, "deployments", 50, "Deployments per namespace, updated round-robin")
	flag.IntVar(&o.changes, "changes", 1000, "approved ChangeRequests in the gated namespace (one per benchmarked Deployment, the rest targeting other workloads)")
	flag.IntVar(&o.samples, "samples", 500, "measured updates per series")
	flag.Float64Var(&o.rate, "rate", 20, "updates per second per series (three series interleaved)")
	flag.Parse()
	if o.deployments < 1 || o.changes < o.deployments || o.samples < 1 || o.rate <= 0 {
		fmt.Fprintln(os.Stderr, "need deployments >= 1, changes >= deployments, samples >= 1, rate > 0")
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench failed:", err)
		os.Exit(1)
	}
}

func say(format string, args ...any) {
	fmt.Printf("[%s] "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// series is one namespace's updates.
type series struct {
	name, ns, webhooks string
	first              time.Duration   // the very first update of the namespace's first Deployment
	warm               []time.Duration // the first update of each Deployment (not in the figures)
	lat                []time.Duration
	errs               []error
}

func run(o options) error {
	ctrllog.SetLogger(logr.Discard())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root := testenv.RepoRoot()
	started := time.Now()
	c, err := cluster.Start(ctx, cluster.Options{
		AssetsDir: testenv.AssetsDir(), Dir: filepath.Join(root, "bin", "bench-gate"),
		CRDDirs:          []string{filepath.Join(root, "config", "crd", "bases")},
		WebhookManifests: []string{filepath.Join(root, "config", "webhook", "manifests.yaml")},
		ControlPlaneOnly: true,
		Progress:         os.Stdout,
	})
	if err != nil {
		return err
	}
	defer func() { _ = c.Stop() }()
	say("starting bin/itops-operator with its webhooks")
	op, err := c.StartOperator(ctx, filepath.Join(root, "bin", "itops-operator"))
	if err != nil {
		return err
	}
	defer op.Stop()

	cfg := *c.Config
	cfg.QPS, cfg.Burst = 5000, 10000
	cs, err := kubernetes.NewForConfig(&cfg)
	if err != nil {
		return err
	}

	say("serving the no-op webhooks from this process")
	if err := startNoopWebhook(ctx, c.Client); err != nil {
		return err
	}
	for _, ns := range []*corev1.Namespace{
		{ObjectMeta: metav1.ObjectMeta{Name: gateNS}}, // labelled enforced once its Deployments exist
		{ObjectMeta: metav1.ObjectMeta{Name: noopNS, Labels: map[string]string{noopLabel: "true"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: noneNS}},
	} {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	say("creating %d Deployments (replicas 0) in each of %s, %s, %s", o.deployments, gateNS, noopNS, noneNS)
	for _, ns := range []string{gateNS, noopNS, noneNS} {
		if err := parallel(o.deployments, func(i int) error {
			_, err := cs.AppsV1().Deployments(ns).Create(ctx, deployment(ns, workload(i)), metav1.CreateOptions{})
			return err
		}); err != nil {
			return fmt.Errorf("creating deployments in %s: %w", ns, err)
		}
	}
	if _, err := cs.CoreV1().Namespaces().Patch(ctx, gateNS, types.MergePatchType,
		[]byte(`{"metadata":{"labels":{"`+itopsv1alpha1.LabelChangeControl+`":"`+itopsv1alpha1.ChangeControlEnforced+`"}}}`),
		metav1.PatchOptions{}); err != nil {
		return err
	}

	if err := createChanges(ctx, c, o); err != nil {
		return err
	}

	all := []*series{
		{name: "gate (mgate + vgate)", ns: gateNS, webhooks: "2 (operator)"},
		{name: "no-op webhook (floor)", ns: noopNS, webhooks: "2 (no-op)"},
		{name: "no webhook", ns: noneNS, webhooks: "0"},
	}
	// Warm-up, not in the figures: one update of every Deployment, one at a time. The first
	// update of each gated Deployment also records its change on it (the mutating webhook's
	// patch) and starts the ChangeRequest's rollout tracking; later ones are the steady state.
	say("warm-up: one update of each Deployment per series")
	seq := 0
	for _, s := range all {
		for i := range o.deployments {
			seq++
			d, err := update(ctx, cs, s.ns, workload(i), seq)
			if err != nil {
				return fmt.Errorf("warm-up update of %s/%s: %w", s.ns, workload(i), err)
			}
			if i == 0 {
				s.first = d
			}
			s.warm = append(s.warm, d)
		}
	}
	if err := checkAdmittedUnder(ctx, cs, o.deployments); err != nil {
		return err
	}

	say("measuring: %d updates per series, %.0f/s per series (%.0f/s in all), open-loop, interleaved", o.samples, o.rate, 3*o.rate)
	lateness, err := measure(ctx, cs, all, o, seq)
	if err != nil {
		return err
	}
	if err := checkAdmittedUnder(ctx, cs, o.deployments); err != nil {
		return err
	}

	fmt.Println()
	fmt.Printf("%d Deployments per namespace, %d approved ChangeRequests in %s, %d samples per series at %.0f updates/s per series (interleaved, open-loop); scheduler lateness p99 %s\n\n",
		o.deployments, o.changes, gateNS, o.samples, o.rate, round(quantile(sorted(lateness), 0.99)))
	fmt.Println("| series | webhook calls per update | samples | p50 | p90 | p99 | max | errors | first update | warm-up p50 |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|")
	for _, s := range all {
		l := sorted(s.lat)
		fmt.Printf("| %s | %s | %d | %s | %s | %s | %s | %d | %s | %s |\n", s.name, s.webhooks, len(l),
			round(quantile(l, 0.50)), round(quantile(l, 0.90)), round(quantile(l, 0.99)), round(l[len(l)-1]),
			len(s.errs), round(s.first), round(quantile(sorted(s.warm), 0.5)))
	}
	gate, floor := sorted(all[0].lat), sorted(all[1].lat)
	fmt.Printf("\ngate minus floor: p50 %s, p90 %s, p99 %s\n", round(quantile(gate, 0.5)-quantile(floor, 0.5)),
		round(quantile(gate, 0.9)-quantile(floor, 0.9)), round(quantile(gate, 0.99)-quantile(floor, 0.99)))
	for _, s := range all {
		if len(s.errs) > 0 {
			fmt.Printf("%s: %d errors, first: %v\n", s.name, len(s.errs), s.errs[0])
		}
	}
	say("done in %s", time.Since(started).Round(time.Second))
	for _, s := range all {
		if len(s.errs) > 0 {
			return errors.New("some updates failed")
		}
	}
	return nil
}

func workload(i int) string { return fmt.Sprintf("web-%03d", i) }

func changeName(i int) string { return fmt.Sprintf("chg-%04d", i) }

func deployment(ns, name string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](0),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: container, Image: "registry.example.com/shop/web:1.0.0",
					Env: []corev1.EnvVar{{Name: envVar, Value: "0"}},
				}}},
			},
		},
	}
}

// update changes the pod template (one env var), which no exemption covers: the gate must
// find an approved change.
func update(ctx context.Context, cs kubernetes.Interface, ns, name string, seq int) (time.Duration, error) {
	patch := fmt.Appendf(nil, `{"spec":{"template":{"spec":{"containers":[{"name":%q,"env":[{"name":%q,"value":"%d"}]}]}}}}`,
		container, envVar, seq)
	t0 := time.Now()
	_, err := cs.AppsV1().Deployments(ns).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	return time.Since(t0), err
}

// createChanges creates the ChangeRequests as alice and approves them as bob: change i < n
// targets the benchmarked Deployment web-i, the others target workloads of every kind that are
// not benchmarked, so the gate's index must pick one change out of the namespace's 1,000.
func createChanges(ctx context.Context, c *cluster.Cluster, o options) error {
	requester, err := userClient(c, alice)
	if err != nil {
		return err
	}
	approver, err := userClient(c, bob)
	if err != nil {
		return err
	}
	kinds := []itopsv1alpha1.TargetKind{itopsv1alpha1.TargetDeployment, itopsv1alpha1.TargetStatefulSet,
		itopsv1alpha1.TargetDaemonSet, itopsv1alpha1.TargetCronJob}
	say("creating %d ChangeRequests as %s and approving them as %s", o.changes, alice, bob)
	start := time.Now()
	approve := client.RawPatch(types.MergePatchType,
		[]byte(`{"spec":{"approvals":[{"approver":"`+bob+`","decision":"`+string(itopsv1alpha1.DecisionApprove)+`"}]}}`))
	if err := parallel(o.changes, func(i int) error {
		target := itopsv1alpha1.ChangeTarget{Kind: itopsv1alpha1.TargetDeployment, Name: workload(i)}
		if i >= o.deployments {
			target = itopsv1alpha1.ChangeTarget{Kind: kinds[i%len(kinds)], Name: fmt.Sprintf("svc-%04d", i)}
		}
		cr := &itopsv1alpha1.ChangeRequest{
			ObjectMeta: metav1.ObjectMeta{Name: changeName(i), Namespace: gateNS},
			Spec: itopsv1alpha1.ChangeRequestSpec{
				Title:       fmt.Sprintf("roll out %s %s", target.Kind, target.Name),
				Description: "benchmark change",
				Targets:     []itopsv1alpha1.ChangeTarget{target},
			},
		}
		if err := requester.Create(ctx, cr); err != nil {
			return err
		}
		return approver.Patch(ctx, cr, approve)
	}); err != nil {
		return fmt.Errorf("creating change requests: %w", err)
	}
	say("%d ChangeRequests created and approved in %s; waiting for the operator to mark them Approved", o.changes, time.Since(start).Round(time.Second))
	// The controller computes the phase from the same cache the gate reads, so once every
	// change is Approved there, the gate sees every approval too.
	return wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		list := &itopsv1alpha1.ChangeRequestList{}
		if err := c.Client.List(ctx, list, client.InNamespace(gateNS)); err != nil {
			return false, nil //nolint:nilerr // keep polling through transient errors
		}
		approved := 0
		for _, cr := range list.Items {
			if cr.Status.Phase == itopsv1alpha1.ChangeApproved {
				approved++
			}
		}
		return approved == o.changes, nil
	})
}

// userClient is a client that authenticates as user (in system:masters, for RBAC; the default
// policy has no approver groups) without client-side throttling.
func userClient(c *cluster.Cluster, user string) (client.Client, error) {
	cfg, err := c.UserConfig(user, "system:masters")
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = 5000, 10000
	return client.New(cfg, client.Options{Scheme: cluster.Scheme()})
}

// checkAdmittedUnder verifies that every gated Deployment's latest change was admitted under
// its own ChangeRequest: the gate decided, and with the right change.
func checkAdmittedUnder(ctx context.Context, cs kubernetes.Interface, n int) error {
	for i := range n {
		d, err := cs.AppsV1().Deployments(gateNS).Get(ctx, workload(i), metav1.GetOptions{})
		if err != nil {
			return err
		}
		if got := d.Annotations[itopsv1alpha1.AnnotationChangeRequest]; got != changeName(i) {
			return fmt.Errorf("deployment %s/%s: annotation %s = %q, want %q", gateNS, d.Name, itopsv1alpha1.AnnotationChangeRequest, got, changeName(i))
		}
	}
	return nil
}

// measure issues the updates open-loop: update k starts at start + k/(3*rate), in its own
// goroutine, for series k%3 and Deployment (k/3)%n. It returns how late each request started.
func measure(ctx context.Context, cs kubernetes.Interface, all []*series, o options, seq int) ([]time.Duration, error) {
	total := o.samples * len(all)
	interval := time.Duration(float64(time.Second) / (o.rate * float64(len(all))))
	lat := make([]time.Duration, total)
	errs := make([]error, total)
	lateness := make([]time.Duration, total)
	var wg sync.WaitGroup
	start := time.Now()
	for k := range total {
		at := start.Add(time.Duration(k) * interval)
		time.Sleep(time.Until(at))
		lateness[k] = time.Since(at)
		s := all[k%len(all)]
		name := workload((k / len(all)) % o.deployments)
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat[k], errs[k] = update(ctx, cs, s.ns, name, seq+1+k)
		}()
	}
	wg.Wait()
	say("%d updates in %s", total, time.Since(start).Round(100*time.Millisecond))
	for k := range total {
		s := all[k%len(all)]
		if errs[k] != nil {
			s.errs = append(s.errs, errs[k])
			continue
		}
		s.lat = append(s.lat, lat[k])
	}
	for _, s := range all {
		if len(s.lat) == 0 {
			return nil, fmt.Errorf("%s: every update failed, first: %w", s.name, s.errs[0])
		}
	}
	return lateness, nil
}

// startNoopWebhook serves a mutating and a validating webhook that allow every request, with
// the same controller-runtime server and TLS settings as the operator (HTTP/1.1 only), and
// registers them for the workloads of namespaces labelled noopLabel=true.
func startNoopWebhook(ctx context.Context, c client.Client) error {
	dir, err := os.MkdirTemp("", "bench-noop-webhook-")
	if err != nil {
		return err
	}
	caPEM, err := writeSelfSignedCert(dir)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	srv := webhook.NewServer(webhook.Options{
		Host: "127.0.0.1", Port: port, CertDir: dir,
		TLSOpts: []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }},
	})
	allow := admission.HandlerFunc(func(context.Context, admission.Request) admission.Response { return admission.Allowed("") })
	srv.Register("/mutate", &webhook.Admission{Handler: allow})
	srv.Register("/validate", &webhook.Admission{Handler: allow})
	go func() {
		if err := srv.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "no-op webhook server:", err)
		}
	}()
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		return srv.StartedChecker()(nil) == nil, nil
	}); err != nil {
		return fmt.Errorf("no-op webhook server did not start: %w", err)
	}

	base := "https://127.0.0.1:" + strconv.Itoa(port)
	selector := &metav1.LabelSelector{MatchLabels: map[string]string{noopLabel: "true"}}
	rules := func(ops ...admissionregistrationv1.OperationType) []admissionregistrationv1.RuleWithOperations {
		return []admissionregistrationv1.RuleWithOperations{{
			Operations: ops,
			Rule: admissionregistrationv1.Rule{APIGroups: []string{"apps", "batch"}, APIVersions: []string{"v1"},
				Resources: []string{"deployments", "statefulsets", "daemonsets", "cronjobs"}},
		}}
	}
	none := admissionregistrationv1.SideEffectClassNone
	fail := admissionregistrationv1.Fail
	mutating := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: noopWebhook},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    "mnoop.bench.itops.dev",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: ptr.To(base + "/mutate"), CABundle: caPEM},
			Rules:                   rules(admissionregistrationv1.Create, admissionregistrationv1.Update),
			NamespaceSelector:       selector,
			FailurePolicy:           &fail,
			SideEffects:             &none,
			TimeoutSeconds:          ptr.To[int32](5),
			AdmissionReviewVersions: []string{"v1"},
		}},
	}
	validating := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: noopWebhook},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:                    "vnoop.bench.itops.dev",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: ptr.To(base + "/validate"), CABundle: caPEM},
			Rules:                   rules(admissionregistrationv1.Create, admissionregistrationv1.Update, admissionregistrationv1.Delete),
			NamespaceSelector:       selector,
			FailurePolicy:           &fail,
			SideEffects:             &none,
			TimeoutSeconds:          ptr.To[int32](5),
			AdmissionReviewVersions: []string{"v1"},
		}},
	}
	if err := c.Create(ctx, mutating); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	if err := c.Create(ctx, validating); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

// writeSelfSignedCert writes tls.crt and tls.key for 127.0.0.1 into dir and returns the
// certificate, which is its own CA bundle.
func writeSelfSignedCert(dir string) ([]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(math.MaxInt64))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "bench no-op webhook"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), certPEM, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return nil, err
	}
	return certPEM, nil
}

// parallel runs f(0..n-1) on 16 workers and returns the first error.
func parallel(n int, f func(int) error) error {
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	next := make(chan int)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := f(i); err != nil {
					once.Do(func() { first = err })
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

func sorted(d []time.Duration) []time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s
}

// quantile is the nearest-rank quantile of sorted samples.
func quantile(s []time.Duration, q float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func round(d time.Duration) string {
	if d < 0 {
		return "-" + round(-d)
	}
	return d.Round(100 * time.Microsecond).String()
}

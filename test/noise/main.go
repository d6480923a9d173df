// Command noise measures the operator's noise budget (issue 12): on the simulated cluster
// (test/cluster) it runs fault scenarios side by side, each in its own namespace and, for node
// faults, on its own fake nodes, then counts the incidents each one opened, their reasons, how
// many would page (neither suppressed nor a symptom of another incident) and at which
// priority. It prints a markdown table for docs/incidents.md ("Noise budget").
//
//	make noise-budget            # builds the operator, then: go run ./test/noise
//	go run ./test/noise -scenarios crash-loop,wffc-claim -settle 30s
//
// It reads incidents as unstructured objects, so it measures any version of the operator:
// status.causedBy (set on symptoms once incidents link causes) counts when present, and its
// absence means "not a symptom".
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/itops-dev/itops-operator/test/cluster"
	"github.com/itops-dev/itops-operator/test/testenv"
)

// clusterNamespace is the operator's cluster namespace (node incidents live there).
const clusterNamespace = "itops-cluster"

// policy shortens the detection grace periods so that a run takes minutes; the table states it.
const policy = `detection:
  nodeNotReadyGracePeriod: 10s
  workloadGracePeriod: 30s
  volumeClaimPendingGracePeriod: 30s
  startupGracePeriod: 10s
`

// resolveAfter is the operator's --resolve-after for the run.
const resolveAfter = "15s"

func main() {
	root := testenv.RepoRoot()
	binary := flag.String("binary", filepath.Join(root, "bin", "itops-operator"), "the operator binary to measure")
	dir := flag.String("dir", filepath.Join(root, "bin", "noise"), "directory for the cluster's and the operator's logs")
	only := flag.String("scenarios", "", "comma-separated scenario names to run (default: all)")
	settle := flag.Duration("settle", 60*time.Second, "how long to keep counting after the last scenario's last step (covers the grace periods)")
	timeout := flag.Duration("timeout", 15*time.Minute, "overall time limit")
	flag.Parse()
	if err := run(*binary, *dir, *only, *settle, *timeout, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "noise:", err)
		os.Exit(1)
	}
}

func run(binary, dir, only string, settle, timeout time.Duration, out, progress io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	selected, err := selectScenarios(only)
	if err != nil {
		return err
	}
	local, err := cluster.Start(ctx, cluster.Options{
		AssetsDir:        testenv.AssetsDir(),
		Dir:              dir,
		CRDDirs:          []string{filepath.Join(testenv.RepoRoot(), "config", "crd", "bases")},
		WebhookManifests: []string{filepath.Join(testenv.RepoRoot(), "config", "webhook", "manifests.yaml")},
		Nodes:            3,
		Progress:         progress,
	})
	if err != nil {
		return err
	}
	defer func() { _ = local.Stop() }()
	policyFile := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policyFile, []byte(policy), 0o600); err != nil {
		return err
	}
	op, err := local.StartOperator(ctx, binary, "--resolve-after="+resolveAfter, "--cluster-namespace="+clusterNamespace, "--config="+policyFile)
	if err != nil {
		return err
	}
	defer op.Stop()

	started := time.Now()
	env := &env{c: local.Client, local: local, progress: progress}
	results := make([]result, len(selected))
	var wg sync.WaitGroup
	for i, s := range selected {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := &scope{name: s.name}
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "noise-" + s.name + "-"}}
			err := local.Client.Create(ctx, ns)
			if err == nil {
				sc.namespace = ns.Name
				err = s.run(ctx, env, sc)
			}
			env.say("%s: faults done (%s)", s.name, errString(err))
			results[i] = result{scenario: s, scope: sc, err: err}
		}()
	}
	wg.Wait()
	env.say("all scenarios done after %s; counting for %s more", time.Since(started).Round(time.Second), settle)
	select {
	case <-time.After(settle):
	case <-ctx.Done():
		return ctx.Err()
	}
	incidents, err := listIncidents(ctx, local.Client)
	if err != nil {
		return err
	}
	for i := range results {
		results[i].incidents = results[i].scope.incidentsOf(incidents)
	}
	printTable(out, results, time.Since(started))
	var errs []error
	for _, r := range results {
		if r.err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.scenario.name, r.err))
		}
	}
	return errors.Join(errs...)
}

func errString(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

func selectScenarios(only string) ([]scenario, error) {
	if only == "" {
		return scenarios, nil
	}
	var out []scenario
	for _, name := range strings.Split(only, ",") {
		found := false
		for _, s := range scenarios {
			if s.name == strings.TrimSpace(name) {
				out, found = append(out, s), true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown scenario %q", name)
		}
	}
	return out, nil
}

// env is what scenarios act through.
type env struct {
	c        client.Client
	local    *cluster.Cluster
	progress io.Writer
	mu       sync.Mutex
}

func (e *env) say(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	fmt.Fprintf(e.progress, "[noise %s] "+format+"\n", append([]any{time.Now().UTC().Format("15:04:05")}, args...)...)
}

// scope is what a scenario's incidents concern: its namespace and its own nodes.
type scope struct {
	name      string
	namespace string
	mu        sync.Mutex
	nodes     []string
}

func (s *scope) addNode(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nodes = append(s.nodes, name)
}

// incidentsOf returns the incidents in the scenario's namespace, and those in the cluster
// namespace about one of its nodes.
func (s *scope) incidentsOf(all []incident) []incident {
	var out []incident
	for _, inc := range all {
		switch {
		case inc.namespace == s.namespace:
			out = append(out, inc)
		case inc.namespace == clusterNamespace && inc.subjectKind == "Node":
			for _, n := range s.nodes {
				if inc.subjectName == n {
					out = append(out, inc)
				}
			}
		}
	}
	return out
}

// incident is what the table reads of an Incident, from unstructured content so that fields
// added later (status.causedBy) are read when present.
type incident struct {
	namespace, name          string
	reason, priority         string
	subjectKind, subjectName string
	suppressed, symptom      bool
	open                     bool
}

func (i incident) pages() bool { return !i.suppressed && !i.symptom }

var incidentList = schema.GroupVersionKind{Group: "itops.dev", Version: "v1alpha1", Kind: "IncidentList"}

func listIncidents(ctx context.Context, c client.Client) ([]incident, error) {
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(incidentList)
	if err := c.List(ctx, list); err != nil {
		return nil, err
	}
	out := make([]incident, 0, len(list.Items))
	for _, u := range list.Items {
		inc := incident{namespace: u.GetNamespace(), name: u.GetName(), reason: u.GetLabels()["itops.dev/reason"]}
		if inc.reason == "" {
			inc.reason, _, _ = unstructured.NestedString(u.Object, "spec", "reason")
		}
		inc.priority, _, _ = unstructured.NestedString(u.Object, "status", "priority")
		phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
		inc.open = phase == "Open" || phase == "Acknowledged"
		if affected, _, _ := unstructured.NestedSlice(u.Object, "spec", "affected"); len(affected) > 0 {
			if ref, ok := affected[0].(map[string]any); ok {
				inc.subjectKind, _ = ref["kind"].(string)
				inc.subjectName, _ = ref["name"].(string)
			}
		}
		by, _, _ := unstructured.NestedString(u.Object, "status", "suppressedBy")
		inc.suppressed = by != ""
		// A symptom points at the incident that explains it (status.causedBy of kind Incident,
		// issue 12) and never pages on its own. An incident caused by a ChangeRequest is the
		// one incident of a bad release: it pages.
		if kind, ok, _ := unstructured.NestedString(u.Object, "status", "causedBy", "kind"); ok && kind == "Incident" {
			inc.symptom = true
		}
		out = append(out, inc)
	}
	return out, nil
}

type result struct {
	scenario  scenario
	scope     *scope
	incidents []incident
	err       error
}

func printTable(w io.Writer, results []result, took time.Duration) {
	fmt.Fprintf(w, "\n| Scenario | Goal | Incidents opened | Reasons | Pages | Priority of pages | Open at the end |\n|---|---|---|---|---|---|---|\n")
	for _, r := range results {
		reasons := map[string]int{}
		var prios []string
		pages, open := 0, 0
		for _, inc := range r.incidents {
			if inc.open {
				open++
			}
			reasons[inc.reason]++
			if inc.pages() {
				pages++
				prios = append(prios, orDash(inc.priority))
			}
		}
		sort.Strings(prios)
		name := r.scenario.title
		if r.err != nil {
			name += " (incomplete: " + r.err.Error() + ")"
		}
		fmt.Fprintf(w, "| %s | %s | %d | %s | %d | %s | %d |\n", name, r.scenario.goal, len(r.incidents), counted(reasons), pages,
			orDash(strings.Join(counts(prios), ", ")), open)
	}
	fmt.Fprintf(w, "\nMeasured in %s with --resolve-after=%s and the detection policy %s.\n", took.Round(time.Second), resolveAfter,
		strings.ReplaceAll(strings.TrimSpace(strings.ReplaceAll(policy, "\n  ", " ")), "\n", " "))
}

// counted renders {a:2, b:1} as "a ×2, b".
func counted(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		if m[k] > 1 {
			parts = append(parts, fmt.Sprintf("%s ×%d", orDash(k), m[k]))
		} else {
			parts = append(parts, orDash(k))
		}
	}
	return orDash(strings.Join(parts, ", "))
}

// counts renders sorted ["P1","P2","P2"] as ["P1", "P2 ×2"].
func counts(sorted []string) []string {
	m := map[string]int{}
	for _, s := range sorted {
		m[s]++
	}
	var out []string
	for i, s := range sorted {
		if i > 0 && sorted[i-1] == s {
			continue
		}
		if m[s] > 1 {
			out = append(out, fmt.Sprintf("%s ×%d", s, m[s]))
		} else {
			out = append(out, s)
		}
	}
	return out
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

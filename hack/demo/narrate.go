package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/itops-dev/itops-operator/test/cluster"
)

// narrator prints the demo for a person: chapters, explanations, commands and their output.
type narrator struct{ w io.Writer }

func newNarrator(w io.Writer) *narrator { return &narrator{w: w} }

func (n *narrator) banner(title string) {
	line := strings.Repeat("=", len(title)+4)
	fmt.Fprintf(n.w, "\n%s\n  %s\n%s\n", line, title, line)
}

func (n *narrator) chapter(i int, title string) {
	fmt.Fprintf(n.w, "\n--- %d. %s ---\n", i, title)
}

func (n *narrator) say(format string, args ...any) {
	fmt.Fprintf(n.w, format+"\n", args...)
}

type prefixWriter struct {
	w      io.Writer
	prefix string
}

func (p prefixWriter) Write(b []byte) (int, error) {
	_, err := fmt.Fprintf(p.w, "%s%s", p.prefix, b)
	return len(b), err
}

func (n *narrator) progressWriter() io.Writer { return prefixWriter{n.w, "  ... "} }

// demo is what stories work with.
type demo struct {
	n    *narrator
	c    *cluster.Cluster
	root string
	// plugin is the kubectl-itops binary people act with (make plugin).
	plugin string
}

// kubectl runs kubectl against the demo cluster and shows the command and its output.
func (d *demo) kubectl(args ...string) error {
	fmt.Fprintf(d.n.w, "\n$ kubectl %s\n", strings.Join(args, " "))
	cmd := exec.Command(d.c.Kubectl(), args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+d.c.Kubeconfig)
	out, err := cmd.CombinedOutput()
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		fmt.Fprintf(d.n.w, "  %s\n", line)
	}
	if err != nil {
		return fmt.Errorf("kubectl %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// itops runs `kubectl itops args...` (the kubectl-itops plugin) against the demo cluster as
// the person of as (--as flags), and shows the command line and its output.
func (d *demo) itops(as []string, args ...string) error {
	out, err := d.runItops(as, args...)
	if err != nil {
		return fmt.Errorf("kubectl itops %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// itopsDenied runs `kubectl itops args...` expecting a refusal (a no), and shows it; it is an
// error if the command succeeds.
func (d *demo) itopsDenied(as []string, args ...string) error {
	out, err := d.runItops(as, args...)
	if err == nil {
		return fmt.Errorf("kubectl itops %s: expected a refusal, but it succeeded", strings.Join(args, " "))
	}
	if !strings.Contains(out, "denied") {
		return fmt.Errorf("kubectl itops %s: expected a refusal by the operator, got: %w: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

func (d *demo) runItops(as []string, args ...string) (string, error) {
	args = append(args, as...)
	fmt.Fprintf(d.n.w, "\n$ kubectl itops %s\n", quoteArgs(args))
	cmd := exec.Command(d.plugin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+d.c.Kubeconfig)
	out, err := cmd.CombinedOutput()
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		fmt.Fprintf(d.n.w, "  %s\n", line)
	}
	return string(out), err
}

// quoteArgs renders arguments as a shell would need them typed.
func quoteArgs(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = a
		if a == "" || strings.ContainsAny(a, " '\"$`*?[]{}()|&;<>") {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(q, " ")
}

// kubectlDenied runs kubectl expecting it to fail (a request the operator refuses) and shows
// the refusal; it is an error if kubectl succeeds.
func (d *demo) kubectlDenied(args ...string) error {
	fmt.Fprintf(d.n.w, "\n$ kubectl %s\n", strings.Join(args, " "))
	cmd := exec.Command(d.c.Kubectl(), args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+d.c.Kubeconfig)
	out, err := cmd.CombinedOutput()
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		fmt.Fprintf(d.n.w, "  %s\n", line)
	}
	if err == nil {
		return fmt.Errorf("kubectl %s: expected a refusal, but it succeeded", strings.Join(args, " "))
	}
	return nil
}

// manifest writes a manifest to the demo directory and returns its path, for `kubectl apply -f`.
func (d *demo) manifest(name, content string) (string, error) {
	path := filepath.Join(d.root, "bin", "demo", name)
	return path, os.WriteFile(path, []byte(content), 0o600)
}

// waitFor polls cond until it holds, printing what it waits for and how long it took.
func (d *demo) waitFor(ctx context.Context, what string, timeout time.Duration, cond func(ctx context.Context) (bool, error)) error {
	start := time.Now()
	fmt.Fprintf(d.n.w, "  ... waiting for %s", what)
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, cond)
	if err != nil {
		fmt.Fprintln(d.n.w, " (gave up)")
		return fmt.Errorf("waiting for %s: %w", what, err)
	}
	fmt.Fprintf(d.n.w, " (%s)\n", time.Since(start).Round(100*time.Millisecond))
	return nil
}

// Package cli implements `kubectl itops`, the kubectl plugin for itops-operator. Commands
// gather objects through the API server as the caller (so RBAC and the admission webhooks judge
// every action, and the webhooks stamp who did what), pure functions in this package format
// what people read, and printers from k8s.io/cli-runtime honour `-o json|yaml|name`.
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// Version is the plugin's version, set at build time (make plugin) with -ldflags -X.
var Version = "dev"

// Scheme holds the kinds the plugin reads and writes: Kubernetes' own and itops.dev/v1alpha1.
var Scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := itopsv1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}()

// Options are the flags and streams every command shares.
type Options struct {
	// Flags are kubectl's connection flags (-n, --context, --kubeconfig, --as, ...).
	Flags *genericclioptions.ConfigFlags
	// Streams are stdin, stdout and stderr.
	Streams genericiooptions.IOStreams
	// now is the hidden --now flag (RFC 3339), for reproducible output; empty: the clock.
	now string
	// Clock returns the current time; tests inject one. nil: time.Now.
	Clock func() time.Time
	// warnings collects the API server's warning headers of the last requests.
	warnings *warningCollector
	// ClusterNamespace is the operator's cluster namespace (--cluster-namespace, else
	// $ITOPS_CLUSTER_NAMESPACE, else itops-cluster): its windows may apply to every namespace.
	ClusterNamespace string
}

// DefaultClusterNamespace is the cluster namespace of a default install (the operator's
// --cluster-namespace, the chart's clusterNamespace value).
const DefaultClusterNamespace = "itops-cluster"

// ClusterNamespaceEnv names the environment variable that sets --cluster-namespace's default,
// for installs that chose another cluster namespace.
const ClusterNamespaceEnv = "ITOPS_CLUSTER_NAMESPACE"

// clusterNamespaceDefault is $ITOPS_CLUSTER_NAMESPACE, else DefaultClusterNamespace.
func clusterNamespaceDefault(getenv func(string) string) string {
	if v := getenv(ClusterNamespaceEnv); v != "" {
		return v
	}
	return DefaultClusterNamespace
}

// readNotice says that something the answer depends on could not be read, and what the
// answer may therefore miss (shown as a warning, never swallowed). Forbidden reads, the usual
// case for a namespace user and the cluster namespace, are named as such.
func readNotice(what string, err error, misses string) string {
	reason := err.Error()
	if apierrors.IsForbidden(err) {
		reason = "forbidden"
	}
	return fmt.Sprintf("could not read %s: %s; %s", what, reason, misses)
}

// Now returns the time commands judge deadlines against: --now, else the clock, in UTC and
// truncated to the second (the resolution of the API's timestamps).
func (o *Options) Now() (time.Time, error) {
	if o.now != "" {
		t, err := time.Parse(time.RFC3339, o.now)
		if err != nil {
			return time.Time{}, fmt.Errorf("--now %q: want an RFC 3339 time such as 2026-12-01T04:00:00Z", o.now)
		}
		return t.UTC(), nil
	}
	if o.Clock != nil {
		return o.Clock().UTC().Truncate(time.Second), nil
	}
	return time.Now().UTC().Truncate(time.Second), nil
}

// Client returns a client that authenticates as the caller, and the namespace of -n (or the
// kubeconfig context's).
func (o *Options) Client() (client.Client, string, error) {
	cfg, err := o.Flags.ToRESTConfig()
	if err != nil {
		return nil, "", err
	}
	cfg = rest.CopyConfig(cfg)
	o.warnings = &warningCollector{}
	cfg.WarningHandler = o.warnings
	cfg.WarningHandlerWithContext = nil
	c, err := client.New(cfg, client.Options{Scheme: Scheme})
	if err != nil {
		return nil, "", err
	}
	ns, _, err := o.Flags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, "", err
	}
	return c, ns, nil
}

// warningCollector keeps the API server's warnings (admission warnings of dry runs).
type warningCollector struct{ texts []string }

// HandleWarningHeader implements rest.WarningHandler.
func (w *warningCollector) HandleWarningHeader(_ int, _ string, text string) {
	w.texts = append(w.texts, text)
}

// exitError carries an exit code (can-i-deploy answers "no" with 1, like kubectl auth can-i).
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// ExitCode is the process exit code for an error a command returned (1 by default); it
// prints the error to errOut as kubectl does ("error: ..."), unless the command already said
// everything (can-i-deploy's "no").
func ExitCode(err error, errOut io.Writer) int {
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	fmt.Fprintln(errOut, "error: "+err.Error())
	return 1
}

// NewRootCommand returns `kubectl itops` with every subcommand, including `completion`.
func NewRootCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{Flags: genericclioptions.NewConfigFlags(true), Streams: streams}
	cmd := &cobra.Command{
		Use:   "kubectl-itops",
		Short: "Incidents, changes and maintenance windows of itops-operator, without JSON",
		Long: `kubectl itops acts on itops-operator's Incidents, ChangeRequests, MaintenanceWindows and
ServiceLevels as you: the API server's RBAC and the operator's admission webhooks judge every
action, and the webhooks record who did it and when (you never type your own name).`,
		Version:       Version,
		SilenceUsage:  true,
		SilenceErrors: true,
		Annotations: map[string]string{
			cobra.CommandDisplayNameAnnotation: "kubectl itops",
		},
	}
	cmd.SetIn(streams.In)
	cmd.SetOut(streams.Out)
	cmd.SetErr(streams.ErrOut)
	o.Flags.AddFlags(cmd.PersistentFlags())
	cmd.PersistentFlags().StringVar(&o.ClusterNamespace, "cluster-namespace", clusterNamespaceDefault(os.Getenv),
		"the operator's cluster namespace, whose windows may apply to every namespace (the chart's clusterNamespace; default $"+ClusterNamespaceEnv+", else "+DefaultClusterNamespace+")")
	cmd.PersistentFlags().StringVar(&o.now, "now", "", "judge deadlines at this RFC 3339 time instead of the clock (for reproducible output)")
	_ = cmd.PersistentFlags().MarkHidden("now")
	cmd.AddCommand(
		newStatusCommand(o),
		newAckCommand(o), newResolveCommand(o), newAssignCommand(o), newTimelineCommand(o),
		newApproveCommand(o, itopsv1alpha1.DecisionApprove), newApproveCommand(o, itopsv1alpha1.DecisionReject),
		newFreezeCommand(o), newCanIDeployCommand(o),
	)
	return cmd
}

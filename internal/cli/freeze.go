package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// FreezeWindow is the one-off Freeze MaintenanceWindow `freeze` creates in namespace: from now
// for d, covering the workloads selector selects (every workload in the namespace when
// selector is empty; in the cluster namespace, every namespace's). Its name is name, or
// freeze-<UTC time of now> (deterministic, so a retried command finds the window it created).
// Errors: d not positive, reason empty, selector not a label selector.
func FreezeWindow(namespace, name string, now time.Time, d time.Duration, reason, selector string) (*itopsv1alpha1.MaintenanceWindow, error) {
	if d <= 0 {
		return nil, fmt.Errorf("--for %s: must be a positive duration such as 2h or 30m", d)
	}
	if reason == "" {
		return nil, fmt.Errorf("--reason is required: say why changes are frozen (it is the window's description)")
	}
	if name == "" {
		name = "freeze-" + now.UTC().Format("20060102-150405")
	}
	start, end := metav1.NewTime(now.UTC()), metav1.NewTime(now.UTC().Add(d))
	mw := &itopsv1alpha1.MaintenanceWindow{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: itopsv1alpha1.MaintenanceWindowSpec{
			Type:        itopsv1alpha1.WindowFreeze,
			Description: reason,
			Schedules:   []itopsv1alpha1.WindowSchedule{{Start: &start, End: &end}},
		},
	}
	if selector != "" {
		sel, err := metav1.ParseToLabelSelector(selector)
		if err != nil {
			return nil, fmt.Errorf("--selector %q: %w", selector, err)
		}
		mw.Spec.Selector = sel
	}
	return mw, nil
}

func newFreezeCommand(o *Options) *cobra.Command {
	var (
		d                      time.Duration
		reason, selector, name string
	)
	cmd := &cobra.Command{
		Use:   "freeze --for DURATION --reason TEXT [--selector LABELS]",
		Short: "Freeze changes now: create a one-off Freeze MaintenanceWindow",
		Long: `Creates a one-off MaintenanceWindow of type Freeze in the namespace, from now for the
given duration. While it is active the change gate denies non-emergency changes to the
workloads it selects (all of the namespace's without --selector). Delete the window to end
the freeze early.`,
		Example: `  kubectl itops freeze -n shop --for 2h --reason "Black Friday peak" --selector app=checkout`,
		Args:    cobra.NoArgs,
	}
	p := newObjectPrinter(cmd, "created")
	cmd.Flags().DurationVar(&d, "for", 0, "how long the freeze lasts, for example 2h or 90m")
	cmd.Flags().StringVar(&reason, "reason", "", "why changes are frozen")
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "label selector over the workloads frozen (default: all in the namespace)")
	cmd.Flags().StringVar(&name, "name", "", "the window's name (default freeze-<UTC time>)")
	_ = cmd.MarkFlagRequired("for")
	_ = cmd.MarkFlagRequired("reason")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		now, err := o.Now()
		if err != nil {
			return err
		}
		c, ns, err := o.Client()
		if err != nil {
			return err
		}
		mw, err := FreezeWindow(ns, name, now, d, reason, selector)
		if err != nil {
			return err
		}
		if err := c.Create(cmdContext(), mw); err != nil {
			return err
		}
		scope := "every workload in namespace " + ns
		if selector != "" {
			scope = "workloads matching " + selector + " in namespace " + ns
		}
		return p.print(o.Streams.Out, mw, fmt.Sprintf("maintenancewindow.itops.dev/%s created: changes to %s are frozen from %s until %s",
			mw.Name, scope, stamp(mw.Spec.Schedules[0].Start), stamp(mw.Spec.Schedules[0].End)))
	}
	return cmd
}

package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// patchIncident sends a JSON merge patch of spec to the named incident, as the caller, and
// returns the incident the API server stored (with what the webhook stamped).
func (o *Options) patchIncident(name string, spec map[string]any) (*itopsv1alpha1.Incident, error) {
	c, ns, err := o.Client()
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(map[string]any{"spec": spec})
	if err != nil {
		return nil, err
	}
	inc := &itopsv1alpha1.Incident{}
	inc.Namespace, inc.Name = ns, name
	if err := c.Patch(cmdContext(), inc, client.RawPatch(types.MergePatchType, body)); err != nil {
		return nil, err
	}
	return inc, nil
}

func newAckCommand(o *Options) *cobra.Command {
	var note string
	cmd := &cobra.Command{
		Use:               "ack INCIDENT",
		Short:             "Acknowledge an incident (the webhook records you and the time)",
		Example:           `  kubectl itops ack web-crashloopbackoff -n shop --note "looking at the last deploy"`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeNames(o, &itopsv1alpha1.IncidentList{}),
	}
	p := newObjectPrinter(cmd, "acknowledged")
	cmd.Flags().StringVar(&note, "note", "", "what you are doing about it (max 1024 characters)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		inc, err := o.patchIncident(args[0], map[string]any{"acknowledgement": map[string]any{"note": note}})
		if err != nil {
			return err
		}
		now, err := o.Now()
		if err != nil {
			return err
		}
		return p.print(o.Streams.Out, inc, AckLine(inc, now))
	}
	return cmd
}

// AckLine is the line `ack` prints: who acknowledged (as the webhook stamped it), when, and how
// that stands against the response deadline.
func AckLine(inc *itopsv1alpha1.Incident, now time.Time) string {
	a := inc.Spec.Acknowledgement
	if a == nil {
		return fmt.Sprintf("incident.itops.dev/%s not acknowledged", inc.Name)
	}
	line := fmt.Sprintf("incident.itops.dev/%s acknowledged by %s at %s", inc.Name, a.By, stamp(a.At))
	if due := inc.Status.ResponseDueAt; due != nil && a.At != nil {
		if a.At.After(due.Time) {
			line += fmt.Sprintf(" (response SLA missed by %s)", duration.HumanDuration(a.At.Sub(due.Time)))
		} else {
			line += fmt.Sprintf(" (within the response SLA, due %s)", stamp(due))
		}
	}
	return line
}

func newResolveCommand(o *Options) *cobra.Command {
	var code, note string
	codes := []string{string(itopsv1alpha1.ResolutionFixed), string(itopsv1alpha1.ResolutionWorkaround), string(itopsv1alpha1.ResolutionNoAction),
		string(itopsv1alpha1.ResolutionDuplicate), string(itopsv1alpha1.ResolutionFalsePositive)}
	cmd := &cobra.Command{
		Use:               "resolve INCIDENT --code CODE [--note TEXT]",
		Short:             "Resolve an incident with a resolution code (the webhook records you and the time)",
		Example:           `  kubectl itops resolve web-crashloopbackoff -n shop --code Fixed --note "rolled back to 1.4.1"`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeNames(o, &itopsv1alpha1.IncidentList{}),
	}
	p := newObjectPrinter(cmd, "resolved")
	cmd.Flags().StringVar(&code, "code", "", "resolution code: "+strings.Join(codes, ", "))
	cmd.Flags().StringVar(&note, "note", "", "what fixed it (max 1024 characters)")
	_ = cmd.MarkFlagRequired("code")
	_ = cmd.RegisterFlagCompletionFunc("code", cobra.FixedCompletions(codes, cobra.ShellCompDirectiveNoFileComp))
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if !slices.Contains(codes, code) {
			return fmt.Errorf("--code %q: must be one of %s", code, strings.Join(codes, ", "))
		}
		inc, err := o.patchIncident(args[0], map[string]any{"resolution": map[string]any{"code": code, "note": note}})
		if err != nil {
			return err
		}
		r := inc.Spec.Resolution
		return p.print(o.Streams.Out, inc, fmt.Sprintf("incident.itops.dev/%s resolved (%s) by %s at %s", inc.Name, r.Code, r.By, stamp(r.At)))
	}
	return cmd
}

func newAssignCommand(o *Options) *cobra.Command {
	var team string
	cmd := &cobra.Command{
		Use:   "assign INCIDENT [ASSIGNEE] [--team TEAM]",
		Short: "Assign an incident to a person (spec.assignee), a team (spec.team), or both",
		Long: `Sets spec.assignee (the person or team working on it) and, with --team, spec.team (the
owning team, whose routes notify). The webhook stamps spec.assignment with you and the time.`,
		Example: `  kubectl itops assign web-crashloopbackoff carol@example.com -n shop
  kubectl itops assign web-crashloopbackoff --team payments -n shop
  kubectl itops assign web-crashloopbackoff carol@example.com --team payments -n shop`,
		Args:              cobra.RangeArgs(1, 2),
		ValidArgsFunction: completeNames(o, &itopsv1alpha1.IncidentList{}),
	}
	cmd.Flags().StringVar(&team, "team", "", "the owning team (spec.team)")
	p := newObjectPrinter(cmd, "assigned")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		spec, err := AssignPatch(args[1:], team)
		if err != nil {
			return err
		}
		inc, err := o.patchIncident(args[0], spec)
		if err != nil {
			return err
		}
		return p.print(o.Streams.Out, inc, AssignedLine(inc))
	}
	return cmd
}

// AssignPatch is the spec merge patch of `assign`: the assignee (the optional argument) and
// the team (--team); at least one is required.
func AssignPatch(assignee []string, team string) (map[string]any, error) {
	spec := map[string]any{}
	if len(assignee) > 0 && assignee[0] != "" {
		spec["assignee"] = assignee[0]
	}
	if team != "" {
		spec["team"] = team
	}
	if len(spec) == 0 {
		return nil, fmt.Errorf("assign needs an ASSIGNEE, --team TEAM, or both")
	}
	return spec, nil
}

// AssignedLine is what `assign` prints: "incident.itops.dev/x assigned to carol (team payments)".
func AssignedLine(inc *itopsv1alpha1.Incident) string {
	line := fmt.Sprintf("incident.itops.dev/%s assigned to %s", inc.Name, orDash(inc.Spec.Assignee))
	if inc.Spec.Team != "" {
		line += " (team " + inc.Spec.Team + ")"
	}
	return line
}

func newTimelineCommand(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:               "timeline INCIDENT",
		Short:             "Show an incident's timeline, oldest first",
		Example:           `  kubectl itops timeline web-crashloopbackoff -n shop`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeNames(o, &itopsv1alpha1.IncidentList{}),
	}
	p := newObjectPrinter(cmd, "")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, ns, err := o.Client()
		if err != nil {
			return err
		}
		inc := &itopsv1alpha1.Incident{}
		if err := c.Get(cmdContext(), client.ObjectKey{Namespace: ns, Name: args[0]}, inc); err != nil {
			return err
		}
		if !p.human() {
			return p.print(o.Streams.Out, inc, "")
		}
		now, err := o.Now()
		if err != nil {
			return err
		}
		return WriteTimeline(o.Streams.Out, inc, now)
	}
	return cmd
}

// WriteTimeline writes an incident's header (priority, phase, title, who acknowledged and
// resolved it, SLA deadlines) and its status.timeline, oldest first, each entry with its age at
// now. The operator keeps the first and the latest entries of a long timeline; the count of
// those omitted in between is shown where they were.
func WriteTimeline(w io.Writer, inc *itopsv1alpha1.Incident, now time.Time) error {
	st := inc.Status
	fmt.Fprintf(w, "Incident %s/%s  %s  %s  %s\n", inc.Namespace, inc.Name, orDash(string(st.Priority)), orDash(string(st.Phase)), inc.Spec.Title)
	if a := inc.Spec.Acknowledgement; a != nil {
		fmt.Fprintf(w, "Acknowledged by %s at %s%s\n", a.By, stamp(a.At), noteSuffix(a.Note))
	}
	if r := inc.Spec.Resolution; r != nil {
		fmt.Fprintf(w, "Resolved (%s) by %s at %s%s\n", r.Code, r.By, stamp(r.At), noteSuffix(r.Note))
	}
	if inc.Spec.Assignee != "" {
		fmt.Fprintf(w, "Assignee: %s\n", inc.Spec.Assignee)
	}
	if st.Phase == itopsv1alpha1.IncidentOpen || st.Phase == itopsv1alpha1.IncidentAcknowledged {
		fmt.Fprintf(w, "Response: %s   Resolution: %s\n", ResponseSLA(inc, now), ResolutionSLA(inc, now))
	}
	fmt.Fprintln(w)
	for i, e := range st.Timeline {
		fmt.Fprintf(w, "%s  %-8s  %-22s %s\n", e.At.UTC().Format(time.RFC3339), ago(now, e.At.Time), e.Type, e.Message)
		if i == 0 && st.TimelineOmitted > 0 {
			fmt.Fprintf(w, "%20s  %-8s  ... %d entries omitted\n", "", "", st.TimelineOmitted)
		}
	}
	if len(st.Timeline) == 0 {
		fmt.Fprintln(w, "(no timeline entries yet)")
	}
	return nil
}

func noteSuffix(note string) string {
	if note == "" {
		return ""
	}
	return ": " + note
}

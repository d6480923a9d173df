package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// StatusInputs are the objects `status` reads: every incident, change, window and service
// level of the namespace (or of all namespaces).
type StatusInputs struct {
	Incidents     []itopsv1alpha1.Incident
	Changes       []itopsv1alpha1.ChangeRequest
	Windows       []itopsv1alpha1.MaintenanceWindow
	ServiceLevels []itopsv1alpha1.ServiceLevel
	// ClusterWindows are the windows of the operator's cluster namespace (ClusterNamespace);
	// those whose namespaceSelector matches NamespaceLabels apply to the namespace and are
	// listed with its own (not with -A, which lists every namespace's windows anyway).
	ClusterWindows   []itopsv1alpha1.MaintenanceWindow
	ClusterNamespace string
	NamespaceLabels  map[string]string
	// Notices say what could not be read and what the report may miss.
	Notices []string
}

// StatusReport is the one-screen summary `status` prints; also its `-o json|yaml` form.
type StatusReport struct {
	// Namespace is the namespace summarised; empty for all namespaces (-A).
	Namespace string `json:"namespace,omitempty"`
	// Now is the time deadlines are counted against (RFC 3339).
	Now time.Time `json:"now"`
	// Incidents are the open (Open or Acknowledged) incidents, P1 first, then by the nearest
	// deadline, namespace and name.
	Incidents []IncidentRow `json:"incidents"`
	// Changes are the changes still in play (Pending, Approved, InProgress), by namespace and name.
	Changes []ChangeRow `json:"changes"`
	// Windows are the active maintenance windows and freezes and the next scheduled ones, by start.
	Windows []WindowRow `json:"windows"`
	// ServiceLevels are the service levels and their error budgets, by namespace and name.
	ServiceLevels []ServiceLevelRow `json:"serviceLevels"`
	// Notices say what could not be read (a forbidden cluster namespace) and what the report
	// may therefore miss.
	Notices []string `json:"notices,omitempty"`
}

// IncidentRow is one open incident.
type IncidentRow struct {
	Namespace  string `json:"namespace"`
	Name       string `json:"name"`
	Priority   string `json:"priority"`
	Phase      string `json:"phase"`
	Age        string `json:"age"`
	Response   string `json:"response"`
	Resolution string `json:"resolution"`
	Assignee   string `json:"assignee"`
	Title      string `json:"title"`
	// due is the nearest pending deadline, for sorting.
	due time.Time
}

// ChangeRow is one change in play.
type ChangeRow struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Phase     string `json:"phase"`
	Type      string `json:"type"`
	Risk      string `json:"risk"`
	Approvals string `json:"approvals"`
	// Decisions are approver:decision pairs, in the order given.
	Decisions string `json:"decisions"`
	Schedule  string `json:"schedule"`
	Title     string `json:"title"`
}

// WindowRow is one active or upcoming window.
type WindowRow struct {
	Namespace string    `json:"namespace"`
	Name      string    `json:"name"`
	Type      string    `json:"type"`
	State     string    `json:"state"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	When      string    `json:"when"`
	Scope     string    `json:"scope"`
}

// ServiceLevelRow is one service level's objective and budget.
type ServiceLevelRow struct {
	Namespace    string `json:"namespace"`
	Name         string `json:"name"`
	Objective    string `json:"objective"`
	Availability string `json:"availability"`
	BudgetLeft   string `json:"budgetLeft"`
	Policy       string `json:"policy"`
	State        string `json:"state"`
}

// BuildStatus computes the status report of in at now (pure; every list sorted, so the output
// is deterministic). namespace is "" for all namespaces.
func BuildStatus(in StatusInputs, namespace string, now time.Time) StatusReport {
	r := StatusReport{Namespace: namespace, Now: now.UTC(), Incidents: []IncidentRow{}, Changes: []ChangeRow{},
		Windows: []WindowRow{}, ServiceLevels: []ServiceLevelRow{}}
	for i := range in.Incidents {
		inc := &in.Incidents[i]
		if inc.Status.Phase != itopsv1alpha1.IncidentOpen && inc.Status.Phase != itopsv1alpha1.IncidentAcknowledged && inc.Status.Phase != "" {
			continue
		}
		if inc.Spec.Resolution != nil {
			continue // resolved by a person; the operator is catching up
		}
		phase := orDash(string(inc.Status.Phase))
		// The Suppressed condition, not suppressedBy: the window's name stays on the record
		// after it ended with the problem still present (a normal open incident again).
		if meta.IsStatusConditionTrue(inc.Status.Conditions, itopsv1alpha1.IncidentConditionSuppressed) {
			phase += " (suppressed)"
		}
		since := inc.CreationTimestamp.Time
		if inc.Status.DetectedAt != nil {
			since = inc.Status.DetectedAt.Time
		}
		row := IncidentRow{Namespace: inc.Namespace, Name: inc.Name, Priority: orDash(string(inc.Status.Priority)), Phase: phase,
			Age: duration.HumanDuration(now.Sub(since)), Response: ResponseSLA(inc, now), Resolution: ResolutionSLA(inc, now),
			Assignee: orDash(inc.Spec.Assignee), Title: inc.Spec.Title}
		switch {
		case inc.Status.AcknowledgedAt == nil && inc.Status.ResponseDueAt != nil:
			row.due = inc.Status.ResponseDueAt.Time
		case inc.Status.ResolutionDueAt != nil:
			row.due = inc.Status.ResolutionDueAt.Time
		}
		r.Incidents = append(r.Incidents, row)
	}
	sort.Slice(r.Incidents, func(i, j int) bool {
		a, b := r.Incidents[i], r.Incidents[j]
		if a.Priority != b.Priority {
			return priorityRank(a.Priority) < priorityRank(b.Priority)
		}
		if !a.due.Equal(b.due) {
			return !a.due.IsZero() && (b.due.IsZero() || a.due.Before(b.due))
		}
		return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
	})

	for i := range in.Changes {
		cr := &in.Changes[i]
		switch cr.Status.Phase {
		case itopsv1alpha1.ChangePending, itopsv1alpha1.ChangeApproved, itopsv1alpha1.ChangeInProgress, "":
		default:
			continue
		}
		decisions := make([]string, 0, len(cr.Spec.Approvals))
		for _, a := range cr.Spec.Approvals {
			decisions = append(decisions, a.Approver+":"+string(a.Decision))
		}
		schedule := "-"
		if s := cr.Spec.Schedule; s != nil {
			schedule = stamp(&s.Start) + ".." + stamp(&s.End)
		}
		r.Changes = append(r.Changes, ChangeRow{Namespace: cr.Namespace, Name: cr.Name, Phase: orDash(string(cr.Status.Phase)),
			Type: string(cr.Spec.Type), Risk: string(cr.Spec.Risk), Approvals: orDash(cr.Status.ApprovalSummary),
			Decisions: orDash(strings.Join(decisions, ", ")), Schedule: schedule, Title: cr.Spec.Title})
	}
	sort.Slice(r.Changes, func(i, j int) bool {
		return r.Changes[i].Namespace+"/"+r.Changes[i].Name < r.Changes[j].Namespace+"/"+r.Changes[j].Name
	})

	for i := range in.Windows {
		if row, ok := windowRow(&in.Windows[i], now); ok {
			r.Windows = append(r.Windows, row)
		}
	}
	if namespace != "" && namespace != in.ClusterNamespace {
		for i := range in.ClusterWindows {
			mw := &in.ClusterWindows[i]
			if mw.Namespace != in.ClusterNamespace || !coversNamespace(mw, namespace, in.NamespaceLabels, in.ClusterNamespace) {
				continue
			}
			if row, ok := windowRow(mw, now); ok {
				row.Scope = "cluster-wide (" + mw.Namespace + "/" + mw.Name + "): " + row.Scope
				r.Windows = append(r.Windows, row)
			}
		}
	}
	r.Notices = in.Notices
	sort.Slice(r.Windows, func(i, j int) bool {
		a, b := r.Windows[i], r.Windows[j]
		if !a.Start.Equal(b.Start) {
			return a.Start.Before(b.Start)
		}
		return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
	})

	for i := range in.ServiceLevels {
		sl := &in.ServiceLevels[i]
		objective := "-"
		if o := sl.Spec.Objectives; o != nil {
			objective = o.Availability + "%"
			switch w := o.Window; {
			case w != nil && w.Rolling != nil:
				objective += " / " + duration.HumanDuration(w.Rolling.Duration)
			case w != nil && w.Calendar != nil:
				objective += " / " + strings.ToLower(string(w.Calendar.Period))
			}
		}
		state := "ok"
		if meta.IsStatusConditionTrue(sl.Status.Conditions, itopsv1alpha1.SLConditionBudgetExhausted) {
			state = "BUDGET EXHAUSTED"
		}
		r.ServiceLevels = append(r.ServiceLevels, ServiceLevelRow{Namespace: sl.Namespace, Name: sl.Name, Objective: objective,
			Availability: percent(sl.Status.Availability), BudgetLeft: percent(sl.Status.ErrorBudgetRemaining),
			Policy: orDash(string(sl.Spec.BudgetPolicy)), State: state})
	}
	sort.Slice(r.ServiceLevels, func(i, j int) bool {
		return r.ServiceLevels[i].Namespace+"/"+r.ServiceLevels[i].Name < r.ServiceLevels[j].Namespace+"/"+r.ServiceLevels[j].Name
	})
	return r
}

func percent(s string) string {
	if s == "" {
		return "-"
	}
	return s + "%"
}

func priorityRank(p string) int {
	if len(p) == 2 && p[0] == 'P' && p[1] >= '1' && p[1] <= '5' {
		return int(p[1] - '0')
	}
	return 9
}

// windowRow is the row of an active window (until its current end) or of a scheduled one
// (its next occurrence), from the operator's status; a one-off window the operator has not
// evaluated yet is judged from its schedules. Expired windows have no row.
func windowRow(mw *itopsv1alpha1.MaintenanceWindow, now time.Time) (WindowRow, bool) {
	row := WindowRow{Namespace: mw.Namespace, Name: mw.Name, Type: string(mw.Spec.Type), Scope: "all workloads"}
	if mw.Spec.Selector != nil && (len(mw.Spec.Selector.MatchLabels) > 0 || len(mw.Spec.Selector.MatchExpressions) > 0) {
		if sel, err := metav1LabelSelectorString(mw.Spec.Selector); err == nil {
			row.Scope = sel
		}
	}
	st := mw.Status
	if st.ObservedGeneration != mw.Generation || st.Phase == "" {
		// Not evaluated yet: one-off schedules speak for themselves.
		st = itopsv1alpha1.MaintenanceWindowStatus{}
		for _, s := range mw.Spec.Schedules {
			if s.Start == nil || s.End == nil {
				continue
			}
			if !now.Before(s.Start.Time) && now.Before(s.End.Time) {
				st.Phase, st.CurrentStart, st.CurrentEnd = itopsv1alpha1.WindowActive, s.Start, s.End
			} else if now.Before(s.Start.Time) && (st.NextStart == nil || s.Start.Before(st.NextStart)) {
				st.NextStart, st.NextEnd = s.Start, s.End
			}
		}
	}
	switch {
	case st.CurrentStart != nil && st.CurrentEnd != nil && now.Before(st.CurrentEnd.Time):
		row.State, row.Start, row.End = "Active", st.CurrentStart.UTC(), st.CurrentEnd.UTC()
		row.When = "until " + stamp(st.CurrentEnd) + " (" + ago(now, st.CurrentEnd.Time) + ")"
	case st.NextStart != nil && st.NextEnd != nil:
		row.State, row.Start, row.End = "Next", st.NextStart.UTC(), st.NextEnd.UTC()
		row.When = stamp(st.NextStart) + " (" + ago(now, st.NextStart.Time) + ") for " + duration.HumanDuration(st.NextEnd.Sub(st.NextStart.Time))
	default:
		return row, false
	}
	return row, true
}

// WriteText writes the report for a terminal: four sections of aligned columns, no color.
func (r StatusReport) WriteText(w io.Writer) error {
	all := r.Namespace == ""
	scope := "namespace " + r.Namespace
	if all {
		scope = "all namespaces"
	}
	fmt.Fprintf(w, "itops status of %s at %s\n", scope, r.Now.Format(time.RFC3339))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(ns string, cols ...string) {
		if all {
			cols = append([]string{ns}, cols...)
		}
		fmt.Fprintln(tw, strings.Join(cols, "\t"))
	}
	fmt.Fprintf(tw, "\nOPEN INCIDENTS (%d)\n", len(r.Incidents))
	if len(r.Incidents) > 0 {
		row("NAMESPACE", "PRIORITY", "NAME", "PHASE", "AGE", "RESPOND", "RESOLVE", "ASSIGNEE", "TITLE")
	}
	for _, i := range r.Incidents {
		row(i.Namespace, i.Priority, i.Name, i.Phase, i.Age, i.Response, i.Resolution, i.Assignee, i.Title)
	}
	fmt.Fprintf(tw, "\nCHANGES IN PLAY (%d)\n", len(r.Changes))
	if len(r.Changes) > 0 {
		row("NAMESPACE", "NAME", "PHASE", "TYPE", "RISK", "APPROVALS", "DECISIONS", "SCHEDULE", "TITLE")
	}
	for _, c := range r.Changes {
		row(c.Namespace, c.Name, c.Phase, c.Type, c.Risk, c.Approvals, c.Decisions, c.Schedule, c.Title)
	}
	fmt.Fprintf(tw, "\nWINDOWS AND FREEZES (%d)\n", len(r.Windows))
	if len(r.Windows) > 0 {
		row("NAMESPACE", "NAME", "TYPE", "STATE", "WHEN", "SCOPE")
	}
	for _, m := range r.Windows {
		row(m.Namespace, m.Name, m.Type, m.State, m.When, m.Scope)
	}
	fmt.Fprintf(tw, "\nSERVICE LEVELS (%d)\n", len(r.ServiceLevels))
	if len(r.ServiceLevels) > 0 {
		row("NAMESPACE", "NAME", "OBJECTIVE", "AVAILABILITY", "BUDGET LEFT", "POLICY", "STATE")
	}
	for _, s := range r.ServiceLevels {
		row(s.Namespace, s.Name, s.Objective, s.Availability, s.BudgetLeft, s.Policy, s.State)
	}
	if len(r.Notices) > 0 {
		fmt.Fprintln(tw)
	}
	for _, n := range r.Notices {
		fmt.Fprintln(tw, "warning: "+n)
	}
	return tw.Flush()
}

func newStatusCommand(o *Options) *cobra.Command {
	var allNamespaces bool
	var output string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "One screen: open incidents with SLA countdowns, changes in play, windows and freezes, error budgets",
		Example: `  kubectl itops status -n shop
  kubectl itops status -A -o yaml`,
		Args: cobra.NoArgs,
	}
	cmd.Flags().BoolVarP(&allNamespaces, "all-namespaces", "A", false, "summarise every namespace")
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json or yaml (default: text)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		now, err := o.Now()
		if err != nil {
			return err
		}
		c, ns, err := o.Client()
		if err != nil {
			return err
		}
		var opts []client.ListOption
		if allNamespaces {
			ns = ""
		} else {
			opts = append(opts, client.InNamespace(ns))
		}
		var (
			incs itopsv1alpha1.IncidentList
			crs  itopsv1alpha1.ChangeRequestList
			mws  itopsv1alpha1.MaintenanceWindowList
			sls  itopsv1alpha1.ServiceLevelList
		)
		for _, l := range []client.ObjectList{&incs, &crs, &mws, &sls} {
			if err := c.List(cmdContext(), l, opts...); err != nil {
				return err
			}
		}
		in := StatusInputs{Incidents: incs.Items, Changes: crs.Items, Windows: mws.Items, ServiceLevels: sls.Items, ClusterNamespace: o.ClusterNamespace}
		if ns != "" && ns != o.ClusterNamespace {
			// Best effort: the cluster namespace's windows that cover this namespace. A
			// namespace user may not read them; say so rather than show fewer freezes.
			var cws itopsv1alpha1.MaintenanceWindowList
			if err := c.List(cmdContext(), &cws, client.InNamespace(o.ClusterNamespace)); err != nil {
				in.Notices = append(in.Notices, readNotice("the MaintenanceWindows of namespace "+o.ClusterNamespace, err, "the report may miss cluster-wide freezes"))
			} else {
				in.ClusterWindows = cws.Items
				namespace := &metav1.PartialObjectMetadata{}
				namespace.SetGroupVersionKind(schema.GroupVersionKind{Version: "v1", Kind: "Namespace"})
				if err := c.Get(cmdContext(), client.ObjectKey{Name: ns}, namespace); err != nil {
					in.Notices = append(in.Notices, readNotice("namespace "+ns, err, "the report may miss cluster-wide freezes that select it by its labels"))
				}
				in.NamespaceLabels = namespace.GetLabels()
			}
		}
		r := BuildStatus(in, ns, now)
		switch output {
		case "":
			return r.WriteText(o.Streams.Out)
		case "json":
			enc := json.NewEncoder(o.Streams.Out)
			enc.SetIndent("", "    ")
			return enc.Encode(r)
		case "yaml":
			b, err := yaml.Marshal(r)
			if err != nil {
				return err
			}
			_, err = o.Streams.Out.Write(b)
			return err
		default:
			return fmt.Errorf("--output %q: status prints text, json or yaml", output)
		}
	}
	return cmd
}

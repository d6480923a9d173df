package cli

import (
	"context"
	"sort"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// cmdContext is the context of API calls; commands are short-lived and interrupted by the user.
func cmdContext() context.Context { return context.Background() }

// stamp formats an API timestamp in RFC 3339 UTC, or "-".
func stamp(t *metav1.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// ago is the age of t at now ("5m ago"), or "in 5m" for a time still ahead.
func ago(now, t time.Time) string {
	if t.After(now) {
		return "in " + duration.HumanDuration(t.Sub(now))
	}
	return duration.HumanDuration(now.Sub(t)) + " ago"
}

// until is a countdown to t at now: "in 3m", or "overdue 2m" once passed.
func until(now time.Time, t time.Time) string {
	if t.After(now) {
		return "in " + duration.HumanDuration(t.Sub(now))
	}
	return "OVERDUE " + duration.HumanDuration(now.Sub(t))
}

// ResponseSLA is the state of an incident's response deadline at now: "-" without one,
// "met"/"missed by D" once acknowledged, else a countdown ("in 3m", "OVERDUE 2m").
func ResponseSLA(inc *itopsv1alpha1.Incident, now time.Time) string {
	due := inc.Status.ResponseDueAt
	if due == nil {
		return "-"
	}
	if at := inc.Status.AcknowledgedAt; at != nil {
		if at.After(due.Time) {
			return "missed by " + duration.HumanDuration(at.Sub(due.Time))
		}
		return "met"
	}
	return until(now, due.Time)
}

// ResolutionSLA is the state of an incident's resolution deadline at now: "-" without one,
// else a countdown ("in 3h48m", "OVERDUE 10m").
func ResolutionSLA(inc *itopsv1alpha1.Incident, now time.Time) string {
	due := inc.Status.ResolutionDueAt
	if due == nil {
		return "-"
	}
	if at := inc.Status.ResolvedAt; at != nil {
		if at.After(due.Time) {
			return "missed by " + duration.HumanDuration(at.Sub(due.Time))
		}
		return "met"
	}
	return until(now, due.Time)
}

// completeNames completes the first argument with the names of list's objects in the namespace.
func completeNames(o *Options, list client.ObjectList) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		c, ns, err := o.Client()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		l := list.DeepCopyObject().(client.ObjectList)
		if err := c.List(cmdContext(), l, client.InNamespace(ns)); err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		items, err := meta.ExtractList(l)
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		var names []string
		for _, it := range items {
			if obj, ok := it.(client.Object); ok {
				names = append(names, obj.GetName())
			}
		}
		sort.Strings(names)
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}

// metav1LabelSelectorString renders a label selector the way kubectl's -l takes it.
func metav1LabelSelectorString(sel *metav1.LabelSelector) (string, error) {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return "", err
	}
	return s.String(), nil
}

package notify

import (
	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// OwnerOf is the ownership of a service's incidents: each field of the ServiceLevel's
// spec.owner (sl may be nil), else the namespace annotation (itops.dev/owner-team,
// itops.dev/escalation, itops.dev/runbook-url).
func OwnerOf(sl *itopsv1alpha1.ServiceOwner, nsAnnotations map[string]string) itopsv1alpha1.ServiceOwner {
	out := itopsv1alpha1.ServiceOwner{}
	if sl != nil {
		out = *sl
	}
	if out.Team == "" {
		out.Team = nsAnnotations[itopsv1alpha1.AnnotationOwnerTeam]
	}
	if out.Escalation == "" {
		out.Escalation = nsAnnotations[itopsv1alpha1.AnnotationEscalation]
	}
	if out.RunbookURL == "" {
		out.RunbookURL = nsAnnotations[itopsv1alpha1.AnnotationRunbookURL]
	}
	if len(out.Team) > 63 {
		out.Team = ""
	}
	if len(out.Escalation) > 63 {
		out.Escalation = ""
	}
	if len(out.RunbookURL) > 2048 {
		out.RunbookURL = ""
	}
	return out
}

package change

import (
	"slices"
	"sort"
	"time"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// maxRelated bounds an incident's status.relatedChanges.
const maxRelated = 16

// Related returns the changes that touched the incident's affected objects shortly before it
// was detected (what broke it?): changes applied to an affected workload within `within`
// before detectedAt (or after it, up to now, while the incident is open), and changes the
// incident names as affected itself. known are the incident's related changes so far, which
// stay listed: a change that is garbage-collected later still explains the incident.
func Related(changes []itopsv1alpha1.ChangeRequest, inc *itopsv1alpha1.Incident, detectedAt time.Time, within time.Duration, known []string) []string {
	out := slices.Clone(known)
	add := func(name string) {
		if !slices.Contains(out, name) && len(out) < maxRelated {
			out = append(out, name)
		}
	}
	candidates := append([]itopsv1alpha1.ChangeRequest(nil), changes...)
	sort.Slice(candidates, func(i, j int) bool { return candidates[i].Name < candidates[j].Name })
	for _, a := range inc.Spec.Affected {
		if a.Kind == "ChangeRequest" && (a.Namespace == "" || a.Namespace == inc.Namespace) {
			add(a.Name)
		}
	}
	for _, cr := range candidates {
		if cr.Namespace != inc.Namespace {
			continue
		}
		for _, ap := range cr.Status.Applied {
			if ap.At == nil || ap.At.After(detectedAt) || detectedAt.Sub(ap.At.Time) > within {
				continue
			}
			for _, a := range inc.Spec.Affected {
				if a.Kind == string(ap.Kind) && a.Name == ap.Name && (a.Namespace == "" || a.Namespace == cr.Namespace) {
					add(cr.Name)
				}
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

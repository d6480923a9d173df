package scaling

import (
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// Selecting returns the ServiceLevels whose selector matches a workload's labels, sorted by
// name. An invalid selector selects nothing.
func Selecting(sls []itopsv1alpha1.ServiceLevel, set labels.Set) []*itopsv1alpha1.ServiceLevel {
	var out []*itopsv1alpha1.ServiceLevel
	for i := range sls {
		sel, err := metav1.LabelSelectorAsSelector(&sls[i].Spec.Selector)
		if err == nil && sel.Matches(set) {
			out = append(out, &sls[i])
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// BoundsOf are the scaling bounds of the ServiceLevels selecting a workload with these labels.
func BoundsOf(sls []itopsv1alpha1.ServiceLevel, set labels.Set) []Bound {
	var out []Bound
	for _, sl := range Selecting(sls, set) {
		if sc := sl.Spec.Scaling; sc != nil && (sc.MinReplicas != nil || sc.MaxReplicas != nil) {
			out = append(out, Bound{ServiceLevel: sl.Name, Min: sc.MinReplicas, Max: sc.MaxReplicas})
		}
	}
	return out
}

// Actors name the ServiceLevels that act on a workload: the first by name among those
// selecting it with scaleOutOnBurn, and the first with drift: Correct. One ServiceLevel acts, so
// that several never step the same workload twice.
func Actors(sls []itopsv1alpha1.ServiceLevel, set labels.Set) (scaleOut, correct string) {
	for _, sl := range Selecting(sls, set) {
		sc := sl.Spec.Scaling
		if sc == nil {
			continue
		}
		if scaleOut == "" && sc.ScaleOutOnBurn != nil {
			scaleOut = sl.Name
		}
		if correct == "" && sc.Drift == itopsv1alpha1.DriftCorrect {
			correct = sl.Name
		}
	}
	return scaleOut, correct
}

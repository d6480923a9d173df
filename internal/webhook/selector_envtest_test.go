package webhook

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

var _ = Describe("Label selectors (issue 13)", func() {
	lowerIn := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "in", Values: []string{"web"}}}}

	It("refuse a ServiceLevel whose selector is invalid, naming the field", func() {
		sl := &itopsv1alpha1.ServiceLevel{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: newNamespace()},
			Spec: itopsv1alpha1.ServiceLevelSpec{Selector: *lowerIn}}
		Expect(env.Client.Create(ctx, sl)).To(MatchError(And(
			ContainSubstring(`ServiceLevel.itops.dev "shop" is invalid`),
			ContainSubstring(`spec.selector.matchExpressions[0].operator: Invalid value: "in"`))))
	})

	It("refuse a MaintenanceWindow whose selector or namespaceSelector is invalid, naming the fields", func() {
		start := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
		mw := &itopsv1alpha1.MaintenanceWindow{ObjectMeta: metav1.ObjectMeta{Name: "nightly", Namespace: newNamespace()},
			Spec: itopsv1alpha1.MaintenanceWindowSpec{Type: itopsv1alpha1.WindowMaintenance, Selector: lowerIn,
				NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: metav1.LabelSelectorOpExists, Values: []string{"x"}}}},
				Schedules:         []itopsv1alpha1.WindowSchedule{{Start: &metav1.Time{Time: start}, End: &metav1.Time{Time: start.Add(time.Hour)}}}}}
		Expect(env.Client.Create(ctx, mw)).To(MatchError(And(
			ContainSubstring(`spec.selector.matchExpressions[0].operator: Invalid value: "in"`),
			ContainSubstring(`spec.namespaceSelector.matchExpressions[0].values: Forbidden`))))
	})
})

package webhook

import (
	"encoding/json"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"sigs.k8s.io/controller-runtime/pkg/client"

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

	It("refuse a ServiceLevel whose window is neither a duration nor a known calendar, naming the field, and keep a valid calendar window as written", func() {
		ns := newNamespace()
		for _, tc := range []struct{ name, window, want string }{
			{"days", `"30d"`, `spec.objectives.window: Invalid value: "\"30d\"": window must be a duration between 1h and 8784h`},
			{"year", `{"calendar":{"period":"Year"}}`, `spec.objectives.window.calendar.period: Unsupported value: "Year"`},
			{"zone", `{"calendar":{"period":"Month","timeZone":"Europe/Berlim"}}`, `spec.objectives.window.calendar.timeZone: Invalid value: "Europe/Berlim"`},
		} {
			sl := &itopsv1alpha1.ServiceLevel{ObjectMeta: metav1.ObjectMeta{Name: "shop-" + tc.name, Namespace: ns}}
			Expect(json.Unmarshal([]byte(`{"spec":{"selector":{},"objectives":{"availability":"99.9","window":`+tc.window+`}}}`), sl)).To(Succeed())
			Expect(env.Client.Create(ctx, sl)).To(MatchError(ContainSubstring(tc.want)), tc.name)
		}
		sl := &itopsv1alpha1.ServiceLevel{ObjectMeta: metav1.ObjectMeta{Name: "monthly", Namespace: ns}, Spec: itopsv1alpha1.ServiceLevelSpec{
			Objectives: &itopsv1alpha1.Objectives{Availability: "99.9", Window: &itopsv1alpha1.SLOWindow{
				Calendar: &itopsv1alpha1.CalendarWindow{Period: itopsv1alpha1.CalendarMonth, TimeZone: "Europe/Berlin"}}}}}
		Expect(env.Client.Create(ctx, sl)).To(Succeed())
		got := &itopsv1alpha1.ServiceLevel{}
		Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(sl), got)).To(Succeed())
		Expect(got.Spec.Objectives.Window.Calendar).To(Equal(sl.Spec.Objectives.Window.Calendar))
		def := &itopsv1alpha1.ServiceLevel{ObjectMeta: metav1.ObjectMeta{Name: "rolling", Namespace: ns}, Spec: itopsv1alpha1.ServiceLevelSpec{
			Objectives: &itopsv1alpha1.Objectives{Availability: "99.9"}}}
		Expect(env.Client.Create(ctx, def)).To(Succeed())
		Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(def), got)).To(Succeed())
		Expect(got.Spec.Objectives.Window.Rolling).NotTo(BeNil())
		Expect(got.Spec.Objectives.Window.Rolling.Duration).To(Equal(720 * time.Hour))
	})
})

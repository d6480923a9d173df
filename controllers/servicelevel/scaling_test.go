package servicelevel

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/scaling"
	"github.com/itops-dev/itops-operator/internal/slo"
)

func withScaling(sl *itopsv1alpha1.ServiceLevel) {
	sl.Spec.Scaling = &itopsv1alpha1.ScalingPolicy{MinReplicas: ptr.To[int32](2), MaxReplicas: ptr.To[int32](6),
		ScaleOutOnBurn: &itopsv1alpha1.ScaleOutOnBurn{Step: 2, Cooldown: &metav1.Duration{Duration: 5 * time.Minute}}}
}

func TestScaling(t *testing.T) {
	bounds := scaling.Effective([]scaling.Bound{{ServiceLevel: "shop", Min: ptr.To[int32](2), Max: ptr.To[int32](6)}})
	web := func(replicas int32, mutate ...func(*workloadScaling)) []workloadScaling {
		w := workloadScaling{kind: "Deployment", name: "web", replicas: replicas, bounds: bounds, scaleOut: true}
		for _, m := range mutate {
			m(&w)
		}
		return []workloadScaling{w}
	}
	burning := []slo.WorkloadState{down(10 * time.Minute)}
	tests := []struct {
		name          string
		sl            *itopsv1alpha1.ServiceLevel
		in            inputs
		wantScale     string
		wantConflict  metav1.ConditionStatus
		wantDrift     metav1.ConditionStatus
		wantHistory   int
		wantWorkload  string
		wantEventOnWl bool
	}{
		{
			name:      "burning with pods that are not ready: scale out by a step, recorded",
			sl:        newSL(tracked, withScaling),
			in:        inputs{states: burning, continuous: true, scaling: web(3, func(w *workloadScaling) { w.notReadyOnly = true })},
			wantScale: "web 3->5 ScaleOutOnBurn", wantConflict: metav1.ConditionFalse, wantDrift: metav1.ConditionFalse, wantHistory: 1,
			wantWorkload: "scaled out from 3 to 5",
		},
		{
			name:         "burning from a crash loop: no step",
			sl:           newSL(tracked, withScaling),
			in:           inputs{states: burning, continuous: true, scaling: web(3)},
			wantConflict: metav1.ConditionFalse, wantDrift: metav1.ConditionFalse, wantWorkload: "more replicas cannot help",
		},
		{
			name:         "another ServiceLevel acts on the workload: no step from this one",
			sl:           newSL(tracked, withScaling),
			in:           inputs{states: burning, continuous: true, scaling: web(3, func(w *workloadScaling) { w.notReadyOnly, w.scaleOut = true, false })},
			wantConflict: metav1.ConditionFalse, wantDrift: metav1.ConditionFalse,
		},
		{
			name:         "drift is reported with an Event on the workload",
			sl:           newSL(tracked, withScaling),
			in:           inputs{states: []slo.WorkloadState{up()}, continuous: true, scaling: web(9)},
			wantConflict: metav1.ConditionFalse, wantDrift: metav1.ConditionTrue, wantEventOnWl: true,
			wantWorkload: "9 replicas, above maxReplicas 6 of ServiceLevel shop",
		},
		{
			name: "conflicting bounds",
			sl:   newSL(tracked, withScaling),
			in: inputs{states: []slo.WorkloadState{up()}, continuous: true, scaling: web(3, func(w *workloadScaling) {
				w.bounds = scaling.Effective([]scaling.Bound{{ServiceLevel: "shop", Min: ptr.To[int32](5)}, {ServiceLevel: "platform", Max: ptr.To[int32](3)}})
			})},
			wantConflict: metav1.ConditionTrue, wantDrift: metav1.ConditionFalse, wantWorkload: "do not intersect",
		},
		{
			name: "a ServiceLevel with only a scaling policy",
			sl: newSL(withScaling, func(sl *itopsv1alpha1.ServiceLevel) {
				sl.Spec.Objectives = nil
				sl.Spec.Scaling.Drift = itopsv1alpha1.DriftCorrect
			}),
			in:        inputs{states: []slo.WorkloadState{up()}, continuous: true, scaling: web(1, func(w *workloadScaling) { w.correct = true })},
			wantScale: "web 1->2 DriftCorrected", wantConflict: metav1.ConditionFalse, wantDrift: metav1.ConditionFalse, wantHistory: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := computeStatus(tt.sl, tt.in, t0)
			var got []string
			for _, a := range d.scale {
				got = append(got, a.name+" "+itoa(a.from)+"->"+itoa(a.to)+" "+a.reason)
			}
			if strings.Join(got, ",") != tt.wantScale {
				t.Errorf("scale = %v, want %q", got, tt.wantScale)
			}
			cond := func(typ string) metav1.ConditionStatus {
				if c := meta.FindStatusCondition(d.status.Conditions, typ); c != nil {
					return c.Status
				}
				return ""
			}
			if cond(itopsv1alpha1.SLConditionScalingConflict) != tt.wantConflict || cond(itopsv1alpha1.SLConditionScalingDrift) != tt.wantDrift {
				t.Errorf("ScalingConflict %q ScalingDrift %q, want %q %q", cond(itopsv1alpha1.SLConditionScalingConflict),
					cond(itopsv1alpha1.SLConditionScalingDrift), tt.wantConflict, tt.wantDrift)
			}
			if len(d.status.ScalingHistory) != tt.wantHistory {
				t.Errorf("history = %+v", d.status.ScalingHistory)
			}
			if (len(d.workloadEvents) > 0) != tt.wantEventOnWl {
				t.Errorf("workload events = %+v", d.workloadEvents)
			}
			if w := d.status.Workloads; tt.wantWorkload != "" && (len(w) == 0 || !strings.Contains(w[0].Scaling, tt.wantWorkload)) {
				t.Errorf("workloads = %+v, want scaling containing %q", w, tt.wantWorkload)
			}
		})
	}
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }

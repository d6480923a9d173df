package netcheck

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/event"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// The Service detector re-judges a namespace's Services only on the events that can change
// a verdict: a ServiceLevel's spec (not its status writes), an incident becoming or ceasing
// to be a cause (not its notification, evidence or timeline writes).
func TestWatchPredicates(t *testing.T) {
	sl := func(gen int64, met bool) *itopsv1alpha1.ServiceLevel {
		s := &itopsv1alpha1.ServiceLevel{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "checkout", Generation: gen}}
		if met {
			s.Status.ObservedGeneration = gen
		}
		return s
	}
	if scopeChanges.Update(event.UpdateEvent{ObjectOld: sl(3, false), ObjectNew: sl(3, true)}) {
		t.Error("a ServiceLevel status write re-queued the namespace's Services")
	}
	if !scopeChanges.Update(event.UpdateEvent{ObjectOld: sl(3, true), ObjectNew: sl(4, true)}) {
		t.Error("a ServiceLevel spec change did not re-queue the namespace's Services")
	}
	if !scopeChanges.Create(event.CreateEvent{Object: sl(1, false)}) || !scopeChanges.Delete(event.DeleteEvent{Object: sl(1, false)}) {
		t.Error("a ServiceLevel created or deleted did not re-queue the namespace's Services")
	}

	inc := func(phase itopsv1alpha1.IncidentPhase, active bool, note string) *itopsv1alpha1.Incident {
		i := &itopsv1alpha1.Incident{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "deployment-web"}}
		i.Status.Phase = phase
		i.Status.Signals = []itopsv1alpha1.Signal{{Reason: itopsv1alpha1.ReasonCrashLoopBackOff, Active: active, Message: note}}
		return i
	}
	for _, c := range []struct {
		name     string
		old, new *itopsv1alpha1.Incident
		want     bool
	}{
		{"a status write on an open incident", inc(itopsv1alpha1.IncidentOpen, true, "a"), inc(itopsv1alpha1.IncidentOpen, true, "b"), false},
		{"a write on a resolved incident", inc(itopsv1alpha1.IncidentResolved, false, "a"), inc(itopsv1alpha1.IncidentResolved, false, "b"), false},
		{"the signal clears", inc(itopsv1alpha1.IncidentOpen, true, "a"), inc(itopsv1alpha1.IncidentOpen, false, "a"), true},
		{"resolved", inc(itopsv1alpha1.IncidentOpen, true, "a"), inc(itopsv1alpha1.IncidentResolved, true, "a"), true},
		{"reopened", inc(itopsv1alpha1.IncidentResolved, true, "a"), inc(itopsv1alpha1.IncidentOpen, true, "a"), true},
	} {
		if got := causeTransitions.Update(event.UpdateEvent{ObjectOld: c.old, ObjectNew: c.new}); got != c.want {
			t.Errorf("%s: re-queue %v, want %v", c.name, got, c.want)
		}
	}
}

// A route re-judges its Services' ports: a Service update passes only when its type or ports
// change.
func TestServicePortsPredicate(t *testing.T) {
	svc := func(ports ...corev1.ServicePort) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"}, Spec: corev1.ServiceSpec{Ports: ports}}
	}
	http := corev1.ServicePort{Name: "http", Port: 80}
	if servicePorts.Update(event.UpdateEvent{ObjectOld: svc(http), ObjectNew: svc(http)}) {
		t.Error("an update that changes no port re-judged the routes")
	}
	if !servicePorts.Update(event.UpdateEvent{ObjectOld: svc(http), ObjectNew: svc(http, corev1.ServicePort{Port: 8080})}) {
		t.Error("a port added did not re-judge the routes")
	}
}

package health

import (
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Event is the part of a Warning Event (core/v1) the detectors and the evidence read: the
// object it is about, its reason and message, and how often and when it was seen. Events are
// cached trimmed to this (internal/cachetransform.Event).
type Event struct {
	// Kind and Name of the involved object (Pod, ReplicaSet, Node...); FieldPath names the
	// container of a pod's event (spec.containers{app}), when the kubelet sets it.
	Kind, Name, FieldPath string
	Reason, Message       string
	// Count is how often the event was seen (at least 1).
	Count int32
	// FirstSeen and LastSeen bound the series; LastSeen is never zero.
	FirstSeen, LastSeen time.Time
}

// Object names the event's object as Kind/name.
func (e Event) Object() string { return e.Kind + "/" + e.Name }

// EventFrom converts a core/v1 Event: the count of an event series (series.count) and its
// last observed time are used when the deprecated count and lastTimestamp are not set (the
// events.k8s.io/v1 client writes those), and eventTime when no timestamp is.
func EventFrom(e *corev1.Event) Event {
	out := Event{
		Kind: e.InvolvedObject.Kind, Name: e.InvolvedObject.Name, FieldPath: e.InvolvedObject.FieldPath,
		Reason: e.Reason, Message: e.Message, Count: e.Count,
		FirstSeen: e.FirstTimestamp.Time, LastSeen: e.LastTimestamp.Time,
	}
	if s := e.Series; s != nil {
		if s.Count > out.Count {
			out.Count = s.Count
		}
		if s.LastObservedTime.After(out.LastSeen) {
			out.LastSeen = s.LastObservedTime.Time
		}
	}
	if out.FirstSeen.IsZero() {
		out.FirstSeen = e.EventTime.Time
	}
	if out.FirstSeen.IsZero() {
		out.FirstSeen = e.CreationTimestamp.Time
	}
	if out.LastSeen.IsZero() || out.LastSeen.Before(out.FirstSeen) {
		out.LastSeen = out.FirstSeen
	}
	if out.Count < 1 {
		out.Count = 1
	}
	return out
}

// Event reasons the detectors read (set by the kubelet, the attach/detach controller and the
// workload controllers).
const (
	EventFailedMount            = "FailedMount"
	EventFailedAttachVolume     = "FailedAttachVolume"
	EventFailedMapVolume        = "FailedMapVolume"
	EventFailedCreatePodSandBox = "FailedCreatePodSandBox"
	EventUnhealthy              = "Unhealthy"
	EventFailedCreate           = "FailedCreate"
)

// DetectorEventReasons are the Warning Event reasons that change a detector's judgement: an
// Event with another reason is only evidence and triggers no reconcile.
var DetectorEventReasons = map[string]bool{
	EventFailedMount: true, EventFailedAttachVolume: true, EventFailedMapVolume: true,
	EventFailedCreatePodSandBox: true, EventUnhealthy: true, EventFailedCreate: true,
}

// mountEventReasons keep a pod in ContainerCreating: its volumes cannot be attached or
// mounted, or its sandbox (network, runtime) cannot be created.
var mountEventReasons = map[string]bool{
	EventFailedMount: true, EventFailedAttachVolume: true, EventFailedMapVolume: true, EventFailedCreatePodSandBox: true,
}

// latestEvent returns the most recent event (by LastSeen) that match accepts and that was
// seen within window before now, and the sum of the counts of all such events.
func latestEvent(events []Event, now time.Time, window time.Duration, match func(Event) bool) (*Event, int32) {
	var best *Event
	var count int32
	for i := range events {
		e := &events[i]
		if !match(*e) || now.Sub(e.LastSeen) > window {
			continue
		}
		count += e.Count
		if best == nil || e.LastSeen.After(best.LastSeen) {
			best = e
		}
	}
	return best, count
}

// probeEvent reports an Unhealthy event of the given probe kind ("Liveness", "Readiness",
// "Startup"): the kubelet's message starts with "<Kind> probe failed" or "<Kind> probe errored".
func probeEvent(e Event, kinds ...string) bool {
	if e.Reason != EventUnhealthy {
		return false
	}
	for _, k := range kinds {
		if strings.HasPrefix(e.Message, k+" probe") {
			return true
		}
	}
	return false
}

// forContainer reports whether a pod's event concerns the container (or names none).
func forContainer(e Event, container string) bool {
	return e.FieldPath == "" || strings.HasSuffix(e.FieldPath, "{"+container+"}")
}

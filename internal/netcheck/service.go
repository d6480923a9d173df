// Package netcheck judges the network side of a cluster (docs/detectors.md): Services whose
// EndpointSlices list no ready endpoint (ServiceWithoutEndpoints), Ingresses, Gateway API
// routes and Gateways that name a backend Service or a TLS Secret that does not exist, a
// backend port the Service does not expose, or a cross-namespace reference no ReferenceGrant
// allows, or whose gateway controller reports ResolvedRefs=False (RouteBackendMissing), and admission webhooks whose Service cannot answer
// (WebhookUnavailable). Pure: no client, the time is given; the controllers in
// controllers/netcheck gather the facts from their caches.
package netcheck

import (
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// ServiceNameLabel is the label that ties an EndpointSlice to its Service.
const ServiceNameLabel = discoveryv1.LabelServiceName

// maxNamed bounds how many objects a message names before "and N more".
const maxNamed = 5

// Judged reports whether the ServiceWithoutEndpoints detector judges the Service: one with a
// selector (the endpoints controller fills its EndpointSlices), not of type ExternalName (a
// DNS alias, no endpoints by design). A selector-less Service's endpoints are managed by
// someone else (a database operator, a mirrored Endpoints object): not ours to judge.
func Judged(svc *corev1.Service) bool {
	return svc.Spec.Type != corev1.ServiceTypeExternalName && len(svc.Spec.Selector) > 0
}

// ReadyEndpoints counts the ready endpoints the slices list. An endpoint is ready when its
// ready condition is true or absent (the API: "a nil value should be interpreted as true").
func ReadyEndpoints(slices []discoveryv1.EndpointSlice) int {
	n := 0
	for i := range slices {
		for _, e := range slices[i].Endpoints {
			if e.Conditions.Ready == nil || *e.Conditions.Ready {
				n++
			}
		}
	}
	return n
}

// PodFacts is what the Service detector reads of one selected pod.
type PodFacts struct {
	Name string
	// Ready is the pod's Ready condition.
	Ready bool
	// Job: the pod's controller is a Job (batch/v1; a CronJob's runs too).
	Job bool
	// Completed: the pod has terminated (phase Succeeded or Failed); it never serves again.
	Completed bool
	// NotReadySince is when the pod last stopped being ready: its Ready=False condition's
	// lastTransitionTime, else its creation.
	NotReadySince time.Time
}

// PodFactsOf reads a pod's readiness, whether a Job runs it and whether it has terminated.
func PodFactsOf(p *corev1.Pod) PodFacts {
	f := PodFacts{Name: p.Name, NotReadySince: p.CreationTimestamp.Time,
		Completed: p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed}
	if c := metav1.GetControllerOfNoCopy(p); c != nil && c.Kind == "Job" && strings.HasPrefix(c.APIVersion, "batch/") {
		f.Job = true
	}
	for _, c := range p.Status.Conditions {
		if c.Type != corev1.PodReady {
			continue
		}
		f.Ready = c.Status == corev1.ConditionTrue
		if !f.Ready && !c.LastTransitionTime.IsZero() {
			f.NotReadySince = c.LastTransitionTime.Time
		}
	}
	return f
}

// ServiceFacts is everything one Service is judged on.
type ServiceFacts struct {
	// Name and Created are the Service's.
	Name    string
	Created time.Time
	// Selector is the Service's spec.selector.
	Selector map[string]string
	// ReadyEndpoints counts the ready endpoints of its EndpointSlices (ReadyEndpoints).
	ReadyEndpoints int
	// Pods are the pods the selector selects (not being deleted).
	Pods []PodFacts
	// Idle names the workloads (Kind/name) whose pod template the selector matches and that
	// are scaled to zero, or Jobs that have finished: a Service of a workload scaled to zero
	// on purpose, or of a finished Job whose pods are gone, has no endpoints by design.
	Idle []string
	// Serving names the Deployments and StatefulSets whose pod template the selector matches
	// and that want pods (replicas > 0): while one does, neither Idle nor a selection of only
	// Jobs' or terminated pods makes a Service without endpoints normal (a finished migration
	// Job sharing the labels of a Deployment that cannot create its pods hides nothing).
	Serving []string
}

// ServiceVerdict is the judgement of one Service at one moment, before its grace period.
type ServiceVerdict struct {
	// Unhealthy: no ready endpoint, and nothing makes that normal.
	Unhealthy bool
	// Message says why, for a person.
	Message string
	// Since is when the Service last had a ready endpoint, as far as its pods tell (the
	// latest time one of them stopped being ready, at least the Service's creation); zero
	// when no pod is selected (the caller counts from when it first saw the Service so).
	Since time.Time
}

// JudgeService decides whether the Service is without endpoints: no ready endpoint in its
// EndpointSlices, and, unless a workload it selects wants pods (Serving), not a Service whose
// only workloads are scaled to zero or finished, nor one in front of Jobs' pods or of
// terminated pods only (a headless Service of an indexed
// Job, for its pods to find each other: once the Job completes, its pods are not ready and
// never will be; not a problem. The Job's own detectors judge a Job that fails).
func JudgeService(f ServiceFacts) ServiceVerdict {
	if f.ReadyEndpoints > 0 || (len(f.Serving) == 0 && onlyJobsOrTerminated(f.Pods)) {
		return ServiceVerdict{}
	}
	sel := labels.SelectorFromSet(f.Selector).String()
	if len(f.Pods) == 0 {
		if len(f.Idle) > 0 && len(f.Serving) == 0 {
			return ServiceVerdict{} // scaled to zero on purpose
		}
		return ServiceVerdict{Unhealthy: true,
			Message: fmt.Sprintf("Service %s has no endpoints: its selector %s selects no pods", f.Name, sel)}
	}
	pods := append([]PodFacts(nil), f.Pods...)
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	since := f.Created
	var notReady, ready []string
	for _, p := range pods {
		if p.Ready {
			ready = append(ready, p.Name)
			continue
		}
		notReady = append(notReady, p.Name)
		if p.NotReadySince.After(since) {
			since = p.NotReadySince
		}
	}
	if len(notReady) == 0 {
		// Ready pods the EndpointSlices do not list: the endpoints controller has not caught
		// up, or the Service's targetPort names a port the pods do not have.
		return ServiceVerdict{Unhealthy: true, Since: since, Message: fmt.Sprintf(
			"Service %s has no ready endpoint although %d selected pods are ready (%s): check that its targetPort matches a port of the pods",
			f.Name, len(ready), names(ready))}
	}
	return ServiceVerdict{Unhealthy: true, Since: since, Message: fmt.Sprintf(
		"Service %s has no ready endpoint: none of the %d pods its selector %s selects is ready (%s)",
		f.Name, len(pods), sel, names(notReady))}
}

// onlyJobsOrTerminated reports whether there are pods and every one is run by a Job or has
// terminated.
func onlyJobsOrTerminated(pods []PodFacts) bool {
	for _, p := range pods {
		if !p.Job && !p.Completed {
			return false
		}
	}
	return len(pods) > 0
}

// names lists the first maxNamed names, then "and N more".
func names(all []string) string {
	if len(all) <= maxNamed {
		return strings.Join(all, ", ")
	}
	return strings.Join(all[:maxNamed], ", ") + fmt.Sprintf(" and %d more", len(all)-maxNamed)
}

// Covered reports whether a ServiceLevel covers a Service: one of the ServiceLevels'
// selectors (of the Service's namespace, valid and not empty) matches the labels of one of
// the workloads the Service's pods belong to.
func Covered(serviceLevels []labels.Selector, workloads []labels.Set) bool {
	for _, sl := range serviceLevels {
		if sl == nil || sl.Empty() {
			continue
		}
		for _, w := range workloads {
			if sl.Matches(w) {
				return true
			}
		}
	}
	return false
}

// ServiceSeverity is the impact and urgency of ServiceWithoutEndpoints: Medium / Medium
// (P3), the impact raised one step (High: P2) for a Service a ServiceLevel covers, as for
// workloads (internal/health.SeverityFor).
func ServiceSeverity(covered bool) (impact, urgency itopsv1alpha1.Level) {
	if covered {
		return itopsv1alpha1.LevelHigh, itopsv1alpha1.LevelMedium
	}
	return itopsv1alpha1.LevelMedium, itopsv1alpha1.LevelMedium
}

// CauseCandidate is a workload a Service's not-ready pods belong to, with its open incident
// (nil when it has none, or none with an active signal).
type CauseCandidate struct {
	// Subject names the workload (Kind/namespace/name), for a deterministic order.
	Subject  string
	Incident *itopsv1alpha1.IncidentReference
}

// ServiceCause is the incident that explains a Service without endpoints: the open incident
// of a workload its not-ready pods belong to (the first by subject), or nil when none has
// one (the Service's incident stands on its own). Source: Alertmanager's inhibition of a
// symptom alert by its cause's.
func ServiceCause(candidates []CauseCandidate) *itopsv1alpha1.IncidentReference {
	var best *CauseCandidate
	for i := range candidates {
		c := &candidates[i]
		if c.Incident != nil && (best == nil || c.Subject < best.Subject) {
			best = c
		}
	}
	if best == nil {
		return nil
	}
	return best.Incident
}

package health

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// Subject is the object an incident is about, after pod problems are rolled up to the
// owning workload.
type Subject struct {
	APIVersion string
	Kind       string
	Namespace  string
	Name       string
}

// Reference returns the subject as an incident's spec.affected entry.
func (s Subject) Reference() itopsv1alpha1.ObjectReference {
	return itopsv1alpha1.ObjectReference{APIVersion: s.APIVersion, Kind: s.Kind, Namespace: s.Namespace, Name: s.Name}
}

func (s Subject) String() string {
	if s.Namespace == "" {
		return s.Kind + "/" + s.Name
	}
	return s.Kind + "/" + s.Namespace + "/" + s.Name
}

// ReplicaSetOwner returns the controller of the named ReplicaSet in the pod's namespace, or
// nil when it has none or is not known (yet).
type ReplicaSetOwner func(name string) *metav1.OwnerReference

// PodSubject rolls a pod up to the workload that owns it: Pod -> ReplicaSet -> Deployment,
// StatefulSet, DaemonSet, Job. A pod without a controller is its own subject.
func PodSubject(pod *corev1.Pod, rsOwner ReplicaSetOwner) Subject {
	ref := metav1.GetControllerOf(pod)
	if ref == nil {
		return Subject{APIVersion: "v1", Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name}
	}
	if ref.Kind == "ReplicaSet" && rsOwner != nil {
		if owner := rsOwner(ref.Name); owner != nil {
			return Subject{APIVersion: owner.APIVersion, Kind: owner.Kind, Namespace: pod.Namespace, Name: owner.Name}
		}
	}
	return Subject{APIVersion: ref.APIVersion, Kind: ref.Kind, Namespace: pod.Namespace, Name: ref.Name}
}

// Fingerprint is the deduplication key of an automated incident: one per subject and reason.
func Fingerprint(reason string, s Subject) string {
	sum := sha256.Sum256([]byte(strings.Join([]string{reason, s.Kind, s.Namespace, s.Name}, "\x00")))
	return "hc-" + hex.EncodeToString(sum[:])[:40]
}

// maxNameLength keeps generated names valid DNS subdomains with room for a sequence suffix.
const maxNameLength = 200

// IncidentName is the deterministic name of the seq-th incident (1, 2, ...) for a subject and
// reason, so that restarts, resyncs and racing replicas never create duplicates. seq grows
// when a manually resolved problem recurs and opens a new incident.
func IncidentName(reason string, s Subject, seq int) string {
	base := strings.ToLower(fmt.Sprintf("%s-%s-%s", s.Kind, s.Name, reason))
	base = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
			return r
		}
		return '-'
	}, base)
	if len(base) > maxNameLength {
		// Keep names unique when truncating: append a hash of the full key.
		base = strings.TrimRight(base[:maxNameLength-9], "-.") + "-" + Fingerprint(reason, s)[3:11]
	}
	if seq > 1 {
		return fmt.Sprintf("%s-%d", base, seq)
	}
	return base
}

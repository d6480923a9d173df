package health

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

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

// MaxOwnerDepth bounds the chain of controllers a pod is rolled up through (pod -> ReplicaSet
// -> Deployment is 2; pod -> Job -> CronJob is 2; operators rarely nest deeper than 3).
const MaxOwnerDepth = 5

// OwnerLookup returns the controller (ownerReference with controller=true) of the object that
// ref names in namespace, or nil when it has none. found is false when the object is not known
// (deleted, not in the cache yet, a kind the API server does not serve).
// It returns ErrOwnerNotReadable for an object of a kind the caller may not read.
type OwnerLookup func(namespace string, ref metav1.OwnerReference) (owner *metav1.OwnerReference, found bool, err error)

// ErrOwnerNotReadable is returned by an OwnerLookup for a controller of a kind the operator
// may not read (no RBAC grant): Rollup then stops at the last object it could read, so its
// pods are still judged, on an incident naming that object (the ReplicaSet of an unreadable
// Rollout), instead of on a thing nobody can check exists.
var ErrOwnerNotReadable = errors.New("owner kind not readable")

// Rollup follows the chain of controllers from obj (a Pod, a Job...) up to the top-most one
// that is known, at most MaxOwnerDepth steps: Pod -> ReplicaSet -> Deployment or Rollout, Pod
// -> Job -> CronJob, Pod -> any custom resource. An object without a controller is its own
// subject. A controller the lookup cannot find ends the chain there (its pods are still
// judged, on the last object known to exist or be named). A controller of a kind the lookup
// may not read (ErrOwnerNotReadable) ends the chain at the object it controls.
func Rollup(obj metav1.Object, apiVersion, kind string, lookup OwnerLookup) (Subject, error) {
	subj := Subject{APIVersion: apiVersion, Kind: kind, Namespace: obj.GetNamespace(), Name: obj.GetName()}
	ref := metav1.GetControllerOfNoCopy(obj)
	for depth := 0; ref != nil && depth < MaxOwnerDepth; depth++ {
		below := subj
		subj = Subject{APIVersion: ref.APIVersion, Kind: ref.Kind, Namespace: obj.GetNamespace(), Name: ref.Name}
		owner, found, err := lookup(obj.GetNamespace(), *ref)
		if errors.Is(err, ErrOwnerNotReadable) {
			return below, nil
		}
		if err != nil {
			return subj, err
		}
		if !found {
			break
		}
		ref = owner
	}
	return subj, nil
}

// Group is the API group of the subject ("" for the core group).
func (s Subject) Group() string {
	if i := strings.IndexByte(s.APIVersion, '/'); i >= 0 {
		return s.APIVersion[:i]
	}
	return ""
}

// Fingerprint is the deduplication key of a subject's incidents: one incident per affected
// thing (its group, kind, namespace and name), whatever problems it shows. It does not
// depend on the reason, so a new problem of the same thing joins its open incident.
func Fingerprint(s Subject) string {
	sum := sha256.Sum256([]byte(strings.Join([]string{"subject", s.Group(), s.Kind, s.Namespace, s.Name}, "\x00")))
	return "hc-" + hex.EncodeToString(sum[:])[:40]
}

// LegacyFingerprint is the per-reason key incidents had before signals (one incident per
// subject and reason); the writer recovers such incidents once, so none stays open forever
// after an upgrade.
func LegacyFingerprint(reason string, s Subject) string {
	sum := sha256.Sum256([]byte(strings.Join([]string{reason, s.Kind, s.Namespace, s.Name}, "\x00")))
	return "hc-" + hex.EncodeToString(sum[:])[:40]
}

// maxNameLength keeps generated names valid DNS subdomains with room for a sequence suffix.
const maxNameLength = 200

// IncidentName is the deterministic name of the seq-th incident (1, 2, ...) of a subject,
// <kind>-<name> in lower case (deployment-checkout, node-worker-7), so that restarts, resyncs
// and racing replicas never create duplicates. seq grows when a manually resolved problem
// recurs and opens a new incident.
func IncidentName(s Subject, seq int) string {
	base := strings.ToLower(s.Kind + "-" + s.Name)
	base = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
			return r
		}
		return '-'
	}, base)
	if len(base) > maxNameLength {
		// Keep names unique when truncating: append a hash of the full key.
		base = strings.TrimRight(base[:maxNameLength-9], "-.") + "-" + Fingerprint(s)[3:11]
	}
	if seq > 1 {
		return fmt.Sprintf("%s-%d", base, seq)
	}
	return base
}

// CollisionName is the name of the seq-th incident of a subject whose IncidentName is taken by
// an incident of another subject (the second incident of Deployment web and the first of
// Deployment web-2 are both deployment-web-2) or by a person's incident: the name carries a
// hash of the subject, so it is still deterministic and restart-safe.
func CollisionName(s Subject, seq int) string {
	base := IncidentName(s, 1)
	if len(base) > maxNameLength-9 {
		base = strings.TrimRight(base[:maxNameLength-9], "-.")
	}
	base += "-" + Fingerprint(s)[3:11]
	if seq > 1 {
		return fmt.Sprintf("%s-%d", base, seq)
	}
	return base
}

package change

import (
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

func TestRelated(t *testing.T) {
	applied := func(name, target string, at time.Time) itopsv1alpha1.ChangeRequest {
		return itopsv1alpha1.ChangeRequest{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"},
			Status: itopsv1alpha1.ChangeRequestStatus{Applied: []itopsv1alpha1.AppliedChange{
				{Kind: itopsv1alpha1.TargetDeployment, Name: target, At: &metav1.Time{Time: at}}}}}
	}
	inc := &itopsv1alpha1.Incident{ObjectMeta: metav1.ObjectMeta{Name: "deployment-web-crashloopbackoff", Namespace: "shop"},
		Spec: itopsv1alpha1.IncidentSpec{Affected: []itopsv1alpha1.ObjectReference{{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "shop", Name: "web"}}}}
	detected := t0.Add(time.Hour)
	changes := []itopsv1alpha1.ChangeRequest{
		applied("web-v2", "web", t0.Add(50*time.Minute)), // 10 minutes before: related
		applied("web-v1", "web", t0.Add(-time.Hour)),     // 2 hours before: too old
		applied("api-v2", "api", t0.Add(55*time.Minute)), // another workload
		applied("web-v3", "web", t0.Add(61*time.Minute)), // after detection: not a cause
	}
	got := Related(changes, inc, detected, time.Hour, nil)
	if !slices.Equal(got, []string{"web-v2"}) {
		t.Errorf("Related() = %v, want [web-v2]", got)
	}
	if got := Related(nil, inc, detected, time.Hour, []string{"web-v0"}); !slices.Equal(got, []string{"web-v0"}) {
		t.Errorf("known related changes were dropped: %v", got)
	}
	failed := inc.DeepCopy()
	failed.Spec.Affected = append(failed.Spec.Affected, itopsv1alpha1.ObjectReference{Kind: "ChangeRequest", Namespace: "shop", Name: "db-v2"})
	if got := Related(changes, failed, detected, time.Hour, nil); !slices.Equal(got, []string{"db-v2", "web-v2"}) {
		t.Errorf("Related(ChangeFailed incident) = %v, want [db-v2 web-v2]", got)
	}
	if got := Related(nil, &itopsv1alpha1.Incident{}, detected, time.Hour, nil); got != nil {
		t.Errorf("Related(no changes) = %v, want nil", got)
	}
}

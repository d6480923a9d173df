package webhook

import (
	"context"
	"errors"
	"fmt"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// StatusGuardPath is where the status guard is served.
const StatusGuardPath = "/validate-itops-dev-v1alpha1-status"

// The status guard covers the status subresource of all four kinds. failurePolicy Fail: only
// writes to our own kinds' status are refused while the operator is down (the cluster's own
// machinery never writes them), and the operator's own ServiceAccount never reaches the
// webhook at all (matchConditions), so its status writes never wait for itself. Status
// updates, patches and server-side applies all reach admission as UPDATE. The
// expression names the kustomize install's ServiceAccount; the Helm chart substitutes its own.
//
// +kubebuilder:webhook:path=/validate-itops-dev-v1alpha1-status,mutating=false,failurePolicy=fail,sideEffects=None,groups=itops.dev,resources=incidents/status;changerequests/status;maintenancewindows/status;servicelevels/status,verbs=update,versions=v1alpha1,name=vstatus.itops.dev,admissionReviewVersions=v1,patch=`{"matchConditions":[{"name":"not-the-operator","expression":"request.userInfo.username != 'system:serviceaccount:itops-system:itops-operator'"}]}`

// StatusGuard admits writes to the status subresource of Incidents, ChangeRequests,
// MaintenanceWindows and ServiceLevels only from the operator's own identity. Status is what
// the operator observed and decided: a person writing it would close an incident in the
// operator's name (which then deletes it), erase a ServiceLevel's outages and lift its
// FreezeChanges freeze, or give a ChangeRequest a terminal phase. People act through spec
// (acknowledgement, resolution, approvals), where the webhooks stamp their name. The guard
// holds whatever RBAC an administrator grants on the status subresources.
type StatusGuard struct {
	// OperatorUser is the operator's own username (from a SelfSubjectReview at start-up).
	// Empty refuses every write: the guard fails closed.
	OperatorUser string
}

// Handler is the admission handler served at StatusGuardPath.
func (g *StatusGuard) Handler() admission.Handler {
	return admission.HandlerFunc(func(_ context.Context, req admission.Request) admission.Response {
		if ok, why := DecideStatusWrite(req.Resource.Resource, req.SubResource, req.Name, req.UserInfo.Username, g.OperatorUser); !ok {
			return admission.Denied(why)
		}
		return admission.Allowed("")
	})
}

// DecideStatusWrite reports whether user may write the status subresource of the named
// object of resource (incidents, changerequests, ...), and if not, why. Only the operator may;
// an unknown operator identity refuses everyone. Any other subresource is not the guard's
// business and is allowed.
func DecideStatusWrite(resource, subresource, name, user, operator string) (bool, string) {
	if subresource != "status" {
		return true, ""
	}
	if operator == "" {
		return false, fmt.Sprintf("%s/status of %q is written only by the itops operator, whose identity is unknown to this webhook", resource, name)
	}
	if user == operator {
		return true, ""
	}
	return false, fmt.Sprintf("%s/status of %q is written only by the itops operator (%s); %s may not write it: "+
		"status records what the operator observed and decided, people act through spec (see docs/security.md)",
		resource, name, operator, user)
}

// WhoAmI asks the API server who cfg authenticates as (a SelfSubjectReview): the operator's
// own username, which alone may open automated incidents, write status and the operator's
// marks. It fails when the API server does not answer within 30 seconds.
func WhoAmI(cfg *rest.Config) (string, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	review, err := cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	if review.Status.UserInfo.Username == "" {
		return "", errors.New("the API server answered the SelfSubjectReview without a username")
	}
	return review.Status.UserInfo.Username, nil
}

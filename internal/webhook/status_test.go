package webhook

import (
	"strings"
	"testing"
)

func TestDecideStatusWrite(t *testing.T) {
	const op = "system:serviceaccount:itops-system:itops-operator"
	tests := []struct {
		name                               string
		resource, subresource, user, owner string
		want                               string // "" allowed, else part of the denial
	}{
		{name: "the operator writes status", resource: "incidents", subresource: "status", user: op, owner: op},
		{name: "a person closing an incident through status", resource: "incidents", subresource: "status", user: "alice", owner: op,
			want: `incidents/status of "x" is written only by the itops operator (` + op + `); alice may not write it`},
		{name: "a cluster admin erasing a ServiceLevel's outages", resource: "servicelevels", subresource: "status", user: "system:admin", owner: op,
			want: "servicelevels/status"},
		{name: "another ServiceAccount", resource: "changerequests", subresource: "status", user: "system:serviceaccount:flux-system:kustomize-controller", owner: op,
			want: "changerequests/status"},
		{name: "a name that looks like the operator's", resource: "maintenancewindows", subresource: "status", user: "itops-operator", owner: op,
			want: "maintenancewindows/status"},
		{name: "unknown operator identity fails closed", resource: "incidents", subresource: "status", user: op, owner: "",
			want: "whose identity is unknown"},
		{name: "not a status write", resource: "incidents", subresource: "", user: "alice", owner: op},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, why := DecideStatusWrite(tt.resource, tt.subresource, "x", tt.user, tt.owner)
			switch {
			case tt.want == "" && !ok:
				t.Errorf("denied: %s", why)
			case tt.want != "" && (ok || !strings.Contains(why, tt.want)):
				t.Errorf("DecideStatusWrite = %v, %q; want a denial containing %q", ok, why, tt.want)
			}
		})
	}
}

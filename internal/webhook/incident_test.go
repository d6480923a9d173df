package webhook

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

var (
	t0  = metav1.NewTime(time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC))
	now = metav1.NewTime(time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC))
)

func TestStampAcknowledgement(t *testing.T) {
	alices := &itopsv1alpha1.Acknowledgement{By: "alice", At: &t0, Note: "on it"}
	tests := []struct {
		name     string
		old, req *itopsv1alpha1.Acknowledgement
		wantBy   string
		wantAt   metav1.Time
		wantNil  bool
	}{
		{name: "none", wantNil: true},
		{name: "new: stamped with the user and the clock, whatever the request claims",
			req: &itopsv1alpha1.Acknowledgement{By: "mallory", At: &t0, Note: "x"}, wantBy: "bob", wantAt: now},
		{name: "unchanged: keeps who and when", old: alices, req: &itopsv1alpha1.Acknowledgement{Note: "on it"}, wantBy: "alice", wantAt: t0},
		{name: "unchanged, by rewritten in the request: restored", old: alices, req: &itopsv1alpha1.Acknowledgement{By: "bob", Note: "on it"}, wantBy: "alice", wantAt: t0},
		{name: "note changed: stamped anew (the validator decides if allowed)", old: alices, req: &itopsv1alpha1.Acknowledgement{Note: "escalated"}, wantBy: "bob", wantAt: now},
		{name: "withdrawn", old: alices, wantNil: true},
	}
	for _, tt := range tests {
		got := StampAcknowledgement(tt.old, tt.req, "bob", now)
		if tt.wantNil {
			if got != nil {
				t.Errorf("%s: got %+v, want nil", tt.name, got)
			}
			continue
		}
		if got.By != tt.wantBy || !got.At.Equal(&tt.wantAt) {
			t.Errorf("%s: by/at = %s/%s, want %s/%s", tt.name, got.By, got.At, tt.wantBy, tt.wantAt)
		}
	}
}

func TestStampResolution(t *testing.T) {
	old := &itopsv1alpha1.Resolution{By: "alice", At: &t0, Code: "Fixed", Note: "n"}
	if got := StampResolution(old, &itopsv1alpha1.Resolution{Code: "Fixed", Note: "n", By: "eve"}, "bob", now); got.By != "alice" || !got.At.Equal(&t0) {
		t.Errorf("unchanged resolution restamped: %+v", got)
	}
	if got := StampResolution(old, &itopsv1alpha1.Resolution{Code: "Workaround", Note: "n"}, "bob", now); got.By != "bob" || !got.At.Equal(&now) {
		t.Errorf("changed resolution not stamped: %+v", got)
	}
	if got := StampResolution(nil, &itopsv1alpha1.Resolution{Code: "Fixed", By: "eve", At: &t0}, "bob", now); got.By != "bob" || !got.At.Equal(&now) {
		t.Errorf("new resolution not stamped: %+v", got)
	}
}

func TestValidateIncidentUpdate(t *testing.T) {
	inc := func(ack *itopsv1alpha1.Acknowledgement, res *itopsv1alpha1.Resolution, phase itopsv1alpha1.IncidentPhase) *itopsv1alpha1.Incident {
		return &itopsv1alpha1.Incident{Spec: itopsv1alpha1.IncidentSpec{Title: "x", Acknowledgement: ack, Resolution: res},
			Status: itopsv1alpha1.IncidentStatus{Phase: phase}}
	}
	alicesAck := &itopsv1alpha1.Acknowledgement{By: "alice", At: &t0, Note: "on it"}
	bobsAck := &itopsv1alpha1.Acknowledgement{By: "bob", At: &now, Note: "mine now"}
	alicesRes := &itopsv1alpha1.Resolution{By: "alice", At: &t0, Code: "Fixed"}
	tests := []struct {
		name     string
		old, new *itopsv1alpha1.Incident
		user     string
		want     string
	}{
		{name: "acknowledging as oneself", old: inc(nil, nil, "Open"), new: inc(bobsAck, nil, "Open"), user: "bob"},
		{name: "acknowledging in someone else's name", old: inc(nil, nil, "Open"), new: inc(alicesAck, nil, "Open"), user: "bob",
			want: `spec.acknowledgement.by: Invalid value: "alice": must be the authenticated user "bob": nobody acknowledges in someone else's name`},
		{name: "editing another person's acknowledgement", old: inc(alicesAck, nil, "Acknowledged"), new: inc(bobsAck, nil, "Acknowledged"), user: "bob",
			want: "spec.acknowledgement: Forbidden: acknowledged by alice; only alice can change or withdraw this acknowledgement"},
		{name: "withdrawing another person's acknowledgement", old: inc(alicesAck, nil, "Acknowledged"), new: inc(nil, nil, "Acknowledged"), user: "bob",
			want: "only alice can change or withdraw this acknowledgement"},
		{name: "withdrawing one's own acknowledgement", old: inc(alicesAck, nil, "Acknowledged"), new: inc(nil, nil, "Acknowledged"), user: "alice"},
		{name: "resolving someone else's acknowledged incident", old: inc(alicesAck, nil, "Acknowledged"),
			new: inc(alicesAck, &itopsv1alpha1.Resolution{By: "bob", At: &now, Code: "Fixed"}, "Acknowledged"), user: "bob"},
		{name: "rewriting another person's resolution", old: inc(nil, alicesRes, "Resolved"),
			new: inc(nil, &itopsv1alpha1.Resolution{By: "bob", At: &now, Code: "NoAction"}, "Resolved"), user: "bob",
			want: "spec.resolution: Forbidden: resolved by alice; only alice can change or withdraw this resolution"},
		{name: "changing a closed incident", old: inc(nil, alicesRes, "Closed"), new: inc(nil, nil, "Closed"), user: "alice",
			want: "spec: Forbidden: the incident is Closed; closed incidents are final"},
		{name: "unrelated edits of a closed incident are fine", old: inc(nil, alicesRes, "Closed"), new: inc(nil, alicesRes, "Closed"), user: "bob"},
		{name: "create with an acknowledgement in one's own name", new: inc(bobsAck, nil, ""), user: "bob"},
	}
	for _, tt := range tests {
		errs := ValidateIncidentUpdate(tt.old, tt.new, tt.user)
		got := errs.ToAggregate()
		switch {
		case tt.want == "" && got != nil:
			t.Errorf("%s: unexpected error %v", tt.name, got)
		case tt.want != "" && (got == nil || !strings.Contains(got.Error(), tt.want)):
			t.Errorf("%s: error %v, want %q", tt.name, got, tt.want)
		}
	}
}

func TestValidateOperatorOwned(t *testing.T) {
	const op = "system:serviceaccount:itops-system:itops-operator"
	manual := &itopsv1alpha1.Incident{Spec: itopsv1alpha1.IncidentSpec{Title: "x"}}
	forged := &itopsv1alpha1.Incident{Spec: itopsv1alpha1.IncidentSpec{Title: "x", Source: "HealthCheck", Fingerprint: "hc-1"}}
	forged.Labels = map[string]string{itopsv1alpha1.LabelFingerprint: "hc-1"}
	automated := forged.DeepCopy()
	unlabelled := automated.DeepCopy()
	delete(unlabelled.Labels, itopsv1alpha1.LabelFingerprint)
	retitled := automated.DeepCopy()
	retitled.Spec.Title = "better title"
	detected := automated.DeepCopy()
	detected.Spec.Reason = "CrashLoopBackOff"
	detected.Spec.Affected = []itopsv1alpha1.ObjectReference{{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "shop", Name: "web"}}
	detected.Labels[itopsv1alpha1.LabelReason] = "CrashLoopBackOff"
	detected.Labels[itopsv1alpha1.LabelSource] = "HealthCheck"
	detected.Finalizers = []string{itopsv1alpha1.AuditFinalizer}
	recaused := detected.DeepCopy()
	recaused.Spec.Reason = "OOMKilled"
	recaused.Spec.Affected[0].Name = "api"
	relabelled := detected.DeepCopy()
	relabelled.Labels[itopsv1alpha1.LabelReason] = "Nothing"
	delete(relabelled.Labels, itopsv1alpha1.LabelSource)
	unfinalized := detected.DeepCopy()
	unfinalized.Finalizers = nil
	extraFinalizer := detected.DeepCopy()
	extraFinalizer.Finalizers = append(extraFinalizer.Finalizers, "example.com/keep")
	manualWithAudit := manual.DeepCopy()
	manualWithAudit.Finalizers = []string{itopsv1alpha1.AuditFinalizer}
	manualLabelled := manual.DeepCopy()
	manualLabelled.Labels = map[string]string{itopsv1alpha1.LabelSource: "HealthCheck", itopsv1alpha1.LabelReason: "CrashLoopBackOff"}
	manualRecaused := manual.DeepCopy()
	manualRecaused.Spec.Reason = "SlowCheckout"
	tests := []struct {
		name     string
		old, new *itopsv1alpha1.Incident
		want     []string
	}{
		{name: "a manual incident", new: manual},
		{name: "an incident passing for the operator's", new: forged, want: []string{"spec.source: Forbidden", "spec.fingerprint: Forbidden", "metadata.labels[itops.dev/fingerprint]: Forbidden"}},
		{name: "removing detection's label", old: automated, new: unlabelled, want: []string{"metadata.labels[itops.dev/fingerprint]: Forbidden"}},
		{name: "retitling an automated incident", old: automated, new: retitled},
		{name: "changing the detected cause of an automated incident", old: detected, new: recaused,
			want: []string{"spec.reason: Forbidden: the cause of an automated incident", "spec.affected: Forbidden"}},
		{name: "changing or removing the reason and source labels", old: detected, new: relabelled,
			want: []string{"metadata.labels[itops.dev/reason]: Forbidden", "metadata.labels[itops.dev/source]: Forbidden"}},
		{name: "removing the audit finalizer of an automated incident", old: detected, new: unfinalized,
			want: []string{"metadata.finalizers: Forbidden: the itops.dev/audit finalizer is removed only by the operator"}},
		{name: "removing the audit finalizer of a manual incident", old: manualWithAudit, new: manual,
			want: []string{"metadata.finalizers: Forbidden"}},
		{name: "adding a finalizer of one's own", old: detected, new: extraFinalizer},
		{name: "a manual incident labelled as the operator's", new: manualLabelled,
			want: []string{"metadata.labels[itops.dev/source]: Forbidden", "metadata.labels[itops.dev/reason]: Forbidden"}},
		{name: "a manual incident's reason is its reporter's", old: manual, new: manualRecaused},
	}
	for _, tt := range tests {
		got := ValidateOperatorOwned(tt.old, tt.new, op).ToAggregate()
		if len(tt.want) == 0 {
			if got != nil {
				t.Errorf("%s: unexpected %v", tt.name, got)
			}
			continue
		}
		for _, w := range tt.want {
			if got == nil || !strings.Contains(got.Error(), w) {
				t.Errorf("%s: error %v, want %q", tt.name, got, w)
			}
		}
	}
}

package main

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

const maintenanceNamespace = "inventory"

func (d *demo) windowPhase(ctx context.Context, ns, name string, want itopsv1alpha1.WindowPhase, timeout time.Duration) error {
	mw := &itopsv1alpha1.MaintenanceWindow{}
	return d.waitFor(ctx, fmt.Sprintf("MaintenanceWindow %s to be %s", name, want), timeout, func(ctx context.Context) (bool, error) {
		err := d.c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, mw)
		return err == nil && mw.Status.Phase == want && (want != itopsv1alpha1.WindowActive || covering(mw)), client.IgnoreNotFound(err)
	})
}

// covering: the window's status says its coverage has begun, the state the stories rely on
// before they cause a fault: its spec is the one observed, and for a Maintenance window the
// active period counts from status.coverageFrom (a problem detected before it is not suppressed).
func covering(mw *itopsv1alpha1.MaintenanceWindow) bool {
	st := mw.Status
	if st.ObservedGeneration != mw.Generation || st.CurrentStart == nil {
		return false
	}
	return mw.Spec.Type != itopsv1alpha1.WindowMaintenance || (st.CoverageFrom != nil && !st.CurrentStart.Before(st.CoverageFrom))
}

// maintenanceStory: planned work pages nobody, and a freeze really stops changes.
func maintenanceStory(ctx context.Context, d *demo) error {
	c := d.c.Client
	d.n.say("Windows are calendars in a time zone: the sample's weekly Sunday 02:00 Europe/Berlin window")
	d.n.say("(plus a one-off date) tells when it next opens, in UTC:")
	if err := d.kubectl("get", "maintenancewindows", "-A", "-o", "wide"); err != nil {
		return err
	}

	d.n.say("\nThe inventory team migrates its database now, for 30 seconds, and says so first:")
	if err := d.kubectl("create", "namespace", maintenanceNamespace); err != nil {
		return err
	}
	labels := map[string]string{"app": "inventory-api"}
	deploy := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "inventory-api", Namespace: maintenanceNamespace, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "api", Image: "registry.example.com/inventory/api:5.0.1"}}}},
		},
	}
	if err := c.Create(ctx, deploy); err != nil {
		return err
	}
	start := time.Now().UTC().Truncate(time.Second)
	mw, err := d.manifest("migration-window.yaml", fmt.Sprintf(`apiVersion: itops.dev/v1alpha1
kind: MaintenanceWindow
metadata:
  name: db-migration
  namespace: inventory
spec:
  type: Maintenance
  description: Schema migration; inventory-api restarts while it runs.
  schedules:
  - start: %q
    end: %q
  selector:
    matchLabels: {app: inventory-api}
`, start.Format(time.RFC3339), start.Add(30*time.Second).Format(time.RFC3339)))
	if err != nil {
		return err
	}
	if err := d.kubectl("apply", "-f", mw); err != nil {
		return err
	}
	if err := d.windowPhase(ctx, maintenanceNamespace, "db-migration", itopsv1alpha1.WindowActive, 20*time.Second); err != nil {
		return err
	}
	d.n.say("\nDuring the migration the pods crash-loop. The operator opens the incident, suppressed:")
	d.n.say("no SLA clock, nobody paged, and the time does not count against the service's SLO.")
	patch := client.MergeFrom(deploy.DeepCopy())
	deploy.Spec.Template.Labels["itops.dev/chaos"] = "crashloop"
	if err := c.Patch(ctx, deploy, patch); err != nil {
		return err
	}
	inc := &itopsv1alpha1.Incident{}
	key := client.ObjectKey{Namespace: maintenanceNamespace, Name: "deployment-inventory-api"}
	if err := d.waitFor(ctx, "the suppressed incident", 30*time.Second, func(ctx context.Context) (bool, error) {
		err := c.Get(ctx, key, inc)
		return err == nil && meta.IsStatusConditionTrue(inc.Status.Conditions, itopsv1alpha1.IncidentConditionSuppressed), client.IgnoreNotFound(err)
	}); err != nil {
		return err
	}
	columns := "custom-columns=NAME:.metadata.name,PHASE:.status.phase,SUPPRESSED:.status.conditions[?(@.type=='Suppressed')].status,BY:.status.suppressedBy,WHY:.status.conditions[?(@.type=='Suppressed')].message"
	if err := d.kubectl("get", "incidents", "-n", maintenanceNamespace, "-o", columns); err != nil {
		return err
	}
	d.n.say("\nThe window ends, but the pods still crash: the migration broke something. The incident")
	d.n.say("becomes a normal open incident the moment the window closes.")
	if err := d.windowPhase(ctx, maintenanceNamespace, "db-migration", itopsv1alpha1.WindowExpired, 40*time.Second); err != nil {
		return err
	}
	if err := d.waitFor(ctx, "the incident to lose its suppression", 10*time.Second, func(ctx context.Context) (bool, error) {
		err := c.Get(ctx, key, inc)
		return err == nil && meta.IsStatusConditionFalse(inc.Status.Conditions, itopsv1alpha1.IncidentConditionSuppressed), err
	}); err != nil {
		return err
	}
	if err := d.kubectl("get", "incidents", "-n", maintenanceNamespace, "-o", columns); err != nil {
		return err
	}
	patch = client.MergeFrom(deploy.DeepCopy())
	delete(deploy.Spec.Template.Labels, "itops.dev/chaos")
	if err := c.Patch(ctx, deploy, patch); err != nil {
		return err
	}

	d.n.say("\nThe inventory team stops changes in their own namespace while they find out, with one")
	d.n.say("command: a one-off Freeze window from now (no YAML, and the window records who made it).")
	if err := d.itops(asAlice, "freeze", "-n", maintenanceNamespace, "--for", "2h", "--reason", "migration broke stock sync: no changes until we know why", "--name", "stock-sync"); err != nil {
		return err
	}
	if err := d.windowPhase(ctx, maintenanceNamespace, "stock-sync", itopsv1alpha1.WindowActive, 20*time.Second); err != nil {
		return err
	}
	if err := d.itops(asAlice, "status", "-n", maintenanceNamespace); err != nil {
		return err
	}

	d.n.say("\nA freeze: the payments launch is tomorrow, so a cluster-wide Freeze window covers every")
	d.n.say("namespace labelled tier=critical for the next 20 seconds (think: until after the launch).")
	if err := d.kubectl("label", "namespace", changeNamespace, "tier=critical"); err != nil {
		return err
	}
	fstart := time.Now().UTC().Truncate(time.Second)
	freeze, err := d.manifest("launch-freeze.yaml", fmt.Sprintf(`apiVersion: itops.dev/v1alpha1
kind: MaintenanceWindow
metadata:
  name: launch-freeze
  namespace: itops-cluster
spec:
  type: Freeze
  description: Payments launch; only emergency changes.
  timeZone: Europe/Berlin
  schedules:
  - start: %q
    end: %q
  namespaceSelector:
    matchLabels: {tier: critical}
`, fstart.Format(time.RFC3339), fstart.Add(20*time.Second).Format(time.RFC3339)))
	if err != nil {
		return err
	}
	if err := d.kubectl("apply", "-f", freeze); err != nil {
		return err
	}
	if err := d.windowPhase(ctx, "itops-cluster", "launch-freeze", itopsv1alpha1.WindowActive, 20*time.Second); err != nil {
		return err
	}
	d.n.say("\nalice's change 3.3.0 is approved by bob, but the gate holds it, naming the freeze:")
	cr3, err := d.manifest("change-v3.yaml", changeRequest("payments-3-3", "Release payments-api 3.3.0", "registry.example.com/payments/api:3.3.0"))
	if err != nil {
		return err
	}
	if err := d.kubectl(append([]string{"apply", "-f", cr3}, asAlice...)...); err != nil {
		return err
	}
	if err := d.changePhase(ctx, "payments-3-3", itopsv1alpha1.ChangePending, 30*time.Second); err != nil {
		return err
	}
	if err := d.itops(asBob, "approve", "payments-3-3", "-n", changeNamespace); err != nil {
		return err
	}
	if err := d.kubectl("wait", "--for=condition=Approved", "changerequest/payments-3-3", "-n", changeNamespace, "--timeout=30s"); err != nil {
		return err
	}
	d.n.say("\ncan-i-deploy names the freeze and when the change could pass:")
	if err := d.itopsDenied(asAlice, "can-i-deploy", "deployment/payments-api", "-n", changeNamespace); err != nil {
		return err
	}
	v3, err := d.manifest("payments-v3.yaml", paymentsDeployment("registry.example.com/payments/api:3.3.0", false))
	if err != nil {
		return err
	}
	if err := d.kubectlDenied(append([]string{"apply", "-f", v3}, fluxApply...)...); err != nil {
		return err
	}
	if err := d.windowPhase(ctx, "itops-cluster", "launch-freeze", itopsv1alpha1.WindowExpired, 40*time.Second); err != nil {
		return err
	}
	d.n.say("\nThe freeze is over; the same apply goes through and the change completes:")
	if err := d.kubectl(append([]string{"apply", "-f", v3}, fluxApply...)...); err != nil {
		return err
	}
	if err := d.changePhase(ctx, "payments-3-3", itopsv1alpha1.ChangeCompleted, 90*time.Second); err != nil {
		return err
	}
	return d.kubectl("get", "maintenancewindows,changerequests", "-A")
}

package main

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

const serviceNamespace = "catalog"

// serviceLevel waits until the catalog ServiceLevel satisfies cond.
func (d *demo) serviceLevel(ctx context.Context, what string, timeout time.Duration, cond func(sl *itopsv1alpha1.ServiceLevel) bool) error {
	sl := &itopsv1alpha1.ServiceLevel{}
	return d.waitFor(ctx, what, timeout, func(ctx context.Context) (bool, error) {
		err := d.c.Client.Get(ctx, client.ObjectKey{Namespace: serviceNamespace, Name: "catalog"}, sl)
		return err == nil && cond(sl), client.IgnoreNotFound(err)
	})
}

// catalogDeployment is the catalog service at a version; with crashing, its pods crash-loop.
// Recreate replaces every pod at once, so a bad version takes the whole service down.
func catalogDeployment(version string, crashing bool) string {
	chaos := ""
	if crashing {
		chaos = "\n        itops.dev/chaos: crashloop"
	}
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: catalog-api
  namespace: catalog
  labels: {app: catalog-api}
spec:
  replicas: 2
  strategy: {type: Recreate}
  selector:
    matchLabels: {app: catalog-api}
  template:
    metadata:
      labels:
        app: catalog-api%s
    spec:
      containers:
      - name: api
        image: registry.example.com/catalog/api:%s
`, chaos, version)
}

const catalogServiceLevel = `apiVersion: itops.dev/v1alpha1
kind: ServiceLevel
metadata:
  name: catalog
  namespace: catalog
spec:
  description: The product catalog API.
  selector:
    matchLabels: {app: catalog-api}
  objectives:
    availability: "99"   # demo scale: 1% of one hour is a 36-second budget
    window: 1h
  burnRateAlerts:        # demo scale; the defaults are 1h/5m x14.4 and 6h/30m x6
  - {longWindow: 2m, shortWindow: 30s, factor: "2"}
  budgetPolicy: FreezeChanges
  sla:
  - {priority: P1, respondWithin: 5m, resolveWithin: 1h}
  - {priority: P2, respondWithin: 15m, resolveWithin: 4h}
  - {priority: P3, respondWithin: 1h, resolveWithin: 24h}
`

func serviceLevelsStory(ctx context.Context, d *demo) error {
	c := d.c.Client
	slColumns := "custom-columns=NAME:.metadata.name,OBJECTIVE:.spec.objectives.availability,AVAILABILITY:.status.availability,BUDGET-LEFT:.status.errorBudgetRemaining,BURN:.status.burnRate,DOWNTIME:.status.downtime,PLANNED:.status.plannedDowntime,EXHAUSTED:.status.conditions[?(@.type=='BudgetExhausted')].status"
	d.n.say("The catalog team promises 99%% availability over a rolling hour (demo scale: a 36-second")
	d.n.say("error budget), with a burn-rate alert, SLA deadlines by priority, and FreezeChanges: once")
	d.n.say("the budget is spent, only emergency changes may roll out.")
	if err := d.kubectl("create", "namespace", serviceNamespace); err != nil {
		return err
	}
	deploy, err := d.manifest("catalog.yaml", catalogDeployment("7.1.0", false))
	if err != nil {
		return err
	}
	sl, err := d.manifest("catalog-servicelevel.yaml", catalogServiceLevel)
	if err != nil {
		return err
	}
	if err := d.kubectl("apply", "-f", deploy, "-f", sl); err != nil {
		return err
	}
	if err := d.serviceLevel(ctx, "the books to start", 30*time.Second, func(sl *itopsv1alpha1.ServiceLevel) bool {
		return sl.Status.TrackingSince != nil && len(sl.Status.Workloads) == 1 && sl.Status.Workloads[0].Unavailable == "" &&
			sl.Status.Workloads[0].ReadyReplicas == 2
	}); err != nil {
		return err
	}

	d.n.say("\nFirst, planned work: a 30-second maintenance window for a schema migration, announced")
	d.n.say("before it starts. The migration takes the API down; the books call it planned downtime.")
	start := time.Now().UTC().Truncate(time.Second).Add(2 * time.Second)
	mw, err := d.manifest("catalog-window.yaml", fmt.Sprintf(`apiVersion: itops.dev/v1alpha1
kind: MaintenanceWindow
metadata:
  name: schema-migration
  namespace: catalog
spec:
  type: Maintenance
  schedules:
  - {start: %q, end: %q}
  selector:
    matchLabels: {app: catalog-api}
`, start.Format(time.RFC3339), start.Add(30*time.Second).Format(time.RFC3339)))
	if err != nil {
		return err
	}
	if err := d.kubectl("apply", "-f", mw); err != nil {
		return err
	}
	if err := d.windowPhase(ctx, serviceNamespace, "schema-migration", itopsv1alpha1.WindowActive, 20*time.Second); err != nil {
		return err
	}
	migrating, err := d.manifest("catalog-migrating.yaml", catalogDeployment("7.1.0", true))
	if err != nil {
		return err
	}
	if err := d.kubectl("apply", "-f", migrating); err != nil {
		return err
	}
	if err := d.serviceLevel(ctx, "the service to be down for 5 seconds (the migration runs)", 30*time.Second, func(sl *itopsv1alpha1.ServiceLevel) bool {
		n := len(sl.Status.Outages)
		return n > 0 && sl.Status.Outages[n-1].End == nil && time.Since(sl.Status.Outages[n-1].Start.Time) > 5*time.Second
	}); err != nil {
		return err
	}
	if err := d.kubectl("apply", "-f", deploy); err != nil {
		return err
	}
	if err := d.serviceLevel(ctx, "the migration to finish, inside the window", 25*time.Second, func(sl *itopsv1alpha1.ServiceLevel) bool {
		n := len(sl.Status.Outages)
		return n > 0 && sl.Status.Outages[n-1].End != nil
	}); err != nil {
		return err
	}
	d.n.say("The outage is booked as planned: no downtime charged, the budget untouched.")
	if err := d.kubectl("get", "servicelevels", "-n", serviceNamespace, "-o", slColumns); err != nil {
		return err
	}

	if err := d.windowPhase(ctx, serviceNamespace, "schema-migration", itopsv1alpha1.WindowExpired, 40*time.Second); err != nil {
		return err
	}
	d.n.say("\nThe window is over. Then a bad release: catalog-api 7.2.0 crash-loops on every pod.")
	crashing, err := d.manifest("catalog-7.2.0.yaml", catalogDeployment("7.2.0", true))
	if err != nil {
		return err
	}
	if err := d.kubectl("apply", "-f", crashing); err != nil {
		return err
	}
	if err := d.waitFor(ctx, "the burn-rate alert's incident", 60*time.Second, func(ctx context.Context) (bool, error) {
		list := &itopsv1alpha1.IncidentList{}
		err := c.List(ctx, list, client.InNamespace(serviceNamespace), client.MatchingLabels{itopsv1alpha1.LabelReason: itopsv1alpha1.ReasonErrorBudgetBurn})
		return err == nil && len(list.Items) > 0, err
	}); err != nil {
		return err
	}
	d.n.say("Both alert windows burn faster than the factor: an ErrorBudgetBurn incident opens for the")
	d.n.say("service, with SLA deadlines from its priority (the crash loop's own incident has them too).")
	if err := d.kubectl("get", "incidents", "-n", serviceNamespace, "-o",
		"custom-columns=NAME:.metadata.name,PRIORITY:.status.priority,PHASE:.status.phase,SERVICE:.spec.service,RESPOND-BY:.status.responseDueAt,RESOLVE-BY:.status.resolutionDueAt"); err != nil {
		return err
	}
	if err := d.serviceLevel(ctx, "the 36-second budget to be spent", 90*time.Second, func(sl *itopsv1alpha1.ServiceLevel) bool {
		return meta.IsStatusConditionTrue(sl.Status.Conditions, itopsv1alpha1.SLConditionBudgetExhausted)
	}); err != nil {
		return err
	}
	d.n.say("Availability counts the time observed so far (the books began a minute or two ago), the")
	d.n.say("budget the whole hour: the outage has spent more than its 36 seconds.")
	if err := d.kubectl("get", "servicelevels", "-n", serviceNamespace, "-o", slColumns); err != nil {
		return err
	}

	d.n.say("\nThe namespace is under change control. alice raises the fix as a normal change and bob")
	d.n.say("approves it, but with the budget spent the gate holds it, naming the service:")
	if err := d.kubectl("label", "namespace", serviceNamespace, "itops.dev/change-control=enforced"); err != nil {
		return err
	}
	change, err := d.manifest("catalog-change.yaml", `apiVersion: itops.dev/v1alpha1
kind: ChangeRequest
metadata:
  name: catalog-7-2-1
  namespace: catalog
spec:
  title: Release catalog-api 7.2.1 with the fix
  targets:
  - kind: Deployment
    name: catalog-api
`)
	if err != nil {
		return err
	}
	if err := d.kubectl(append([]string{"apply", "-f", change}, asAlice...)...); err != nil {
		return err
	}
	if err := d.itops(asBob, "approve", "catalog-7-2-1", "-n", serviceNamespace, "--comment", "the fix for the crash"); err != nil {
		return err
	}
	if err := d.kubectl("wait", "--for=condition=Approved", "changerequest/catalog-7-2-1", "-n", serviceNamespace, "--timeout=30s"); err != nil {
		return err
	}
	fixed, err := d.manifest("catalog-7.2.1.yaml", catalogDeployment("7.2.1", false))
	if err != nil {
		return err
	}
	if err := d.kubectlDenied(append([]string{"apply", "-f", fixed}, fluxApply...)...); err != nil {
		return err
	}
	d.n.say("\nWhat always works is a rollback to the workload's own earlier revision (7.1.0): no change")
	d.n.say("needed, and the gate records it.")
	if err := d.kubectl(append([]string{"rollout", "undo", "deployment/catalog-api", "-n", serviceNamespace}, asAlice...)...); err != nil {
		return err
	}
	if err := d.serviceLevel(ctx, "the service to be up again", 30*time.Second, func(sl *itopsv1alpha1.ServiceLevel) bool {
		n := len(sl.Status.Outages)
		return n > 0 && sl.Status.Outages[n-1].End != nil
	}); err != nil {
		return err
	}
	d.n.say("The outage is closed, but its downtime stays in the books: the budget stays spent (and")
	d.n.say("normal changes frozen) until the outage has left the rolling hour.")
	return d.kubectl("get", "servicelevels", "-n", serviceNamespace, "-o", slColumns)
}

package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

const changeNamespace = "payments"

// As whom the demo acts: kubectl impersonation, so that the webhooks see real identities.
var (
	asAlice    = []string{"--as=alice@example.com", "--as-group=system:masters"}
	asBob      = []string{"--as=bob@example.com", "--as-group=system:masters"}
	asPipeline = []string{"--as=system:serviceaccount:flux-system:kustomize-controller", "--as-group=system:masters"}
	// fluxApply applies as Flux's kustomize-controller does: server-side, taking ownership.
	fluxApply = append([]string{"--server-side", "--force-conflicts", "--field-manager=kustomize-controller"}, asPipeline...)
)

func paymentsDeployment(image string, crashing bool) string {
	chaos := ""
	if crashing {
		chaos = "\n        itops.dev/chaos: crashloop"
	}
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: payments-api
  namespace: payments
  labels: {app: payments-api}
spec:
  replicas: 2
  minReadySeconds: 3
  progressDeadlineSeconds: 8
  selector:
    matchLabels: {app: payments-api}
  template:
    metadata:
      labels:
        app: payments-api%s
    spec:
      containers:
      - name: api
        image: %s
`, chaos, image)
}

func changeRequest(name, title, image string) string {
	return fmt.Sprintf(`apiVersion: itops.dev/v1alpha1
kind: ChangeRequest
metadata:
  name: %s
  namespace: payments
spec:
  title: %s
  risk: Medium
  description: Roll out %s; roll back with kubectl rollout undo.
  targets:
  - kind: Deployment
    name: payments-api
    containers:
    - {name: api, image: "%s"}
`, name, title, image, image)
}

func (d *demo) changePhase(ctx context.Context, name string, want itopsv1alpha1.ChangePhase, timeout time.Duration) error {
	cr := &itopsv1alpha1.ChangeRequest{}
	return d.waitFor(ctx, fmt.Sprintf("ChangeRequest %s to be %s", name, want), timeout, func(ctx context.Context) (bool, error) {
		err := d.c.Client.Get(ctx, client.ObjectKey{Namespace: changeNamespace, Name: name}, cr)
		return err == nil && cr.Status.Phase == want, client.IgnoreNotFound(err)
	})
}

// changesStory: the change gate holds a rollout until a second person approves it, follows it
// to completion, and fails a bad rollout with an incident.
func changesStory(ctx context.Context, d *demo) error {
	d.n.say("The payments team puts its namespace under change control: from now on Deployments,")
	d.n.say("StatefulSets, DaemonSets and CronJobs there change only under an approved ChangeRequest.")
	steps := [][]string{
		{"create", "namespace", changeNamespace},
		{"label", "namespace", changeNamespace, "itops.dev/change-control=enforced"},
	}
	for _, s := range steps {
		if err := d.kubectl(s...); err != nil {
			return err
		}
	}
	v1, err := d.manifest("payments-v1.yaml", paymentsDeployment("registry.example.com/payments/api:3.1.0", false))
	if err != nil {
		return err
	}
	d.n.say("\nThe GitOps pipeline (Flux's kustomize-controller) first dry-runs the release, as Flux")
	d.n.say("does: the gate lets the dry run through with a warning saying what the real apply would meet.")
	if err := d.waitFor(ctx, "the operator to see the label", 10*time.Second, func(ctx context.Context) (bool, error) {
		cm := &corev1.ConfigMap{}
		err := d.c.Client.Get(ctx, client.ObjectKey{Namespace: "itops-system", Name: "itops-change-control"}, cm)
		return err == nil && cm.Data[changeNamespace] != "", client.IgnoreNotFound(err)
	}); err != nil {
		return err
	}
	if err := d.kubectl(append([]string{"apply", "--dry-run=server", "-f", v1}, fluxApply...)...); err != nil {
		return err
	}
	d.n.say("\nThe real apply is denied, and the denial says exactly what is missing:")
	if err := d.kubectlDenied(append([]string{"apply", "-f", v1}, fluxApply...)...); err != nil {
		return err
	}

	d.n.say("\nalice raises a change that pins the image to be released:")
	cr1, err := d.manifest("change-v1.yaml", changeRequest("payments-3-1", "Release payments-api 3.1.0", "registry.example.com/payments/api:3.1.0"))
	if err != nil {
		return err
	}
	if err := d.kubectl(append([]string{"apply", "-f", cr1}, asAlice...)...); err != nil {
		return err
	}
	if err := d.changePhase(ctx, "payments-3-1", itopsv1alpha1.ChangePending, 30*time.Second); err != nil {
		return err
	}
	if err := d.kubectl("get", "changerequests", "-n", changeNamespace, "-o", "wide"); err != nil {
		return err
	}
	d.n.say("\nalice tries to approve her own change: separation of duties refuses it.")
	if err := d.itopsDenied(asAlice, "approve", "payments-3-1", "-n", changeNamespace, "--comment", "looks good to me"); err != nil {
		return err
	}
	d.n.say("\nbob approves it with the plugin: he never types his name; the webhook stamps who, when,")
	d.n.say("and for which content (the generation):")
	if err := d.itops(asBob, "approve", "payments-3-1", "-n", changeNamespace, "--comment", "reviewed the diff"); err != nil {
		return err
	}
	if err := d.kubectl("wait", "--for=condition=Approved", "changerequest/payments-3-1", "-n", changeNamespace, "--timeout=30s"); err != nil {
		return err
	}
	if err := d.kubectl("get", "changerequest", "payments-3-1", "-n", changeNamespace, "-o",
		"jsonpath={range .spec.approvals[*]}{.approver} {.decision} at {.at} for generation {.generation}{\"\\n\"}{end}"); err != nil {
		return err
	}
	d.n.say("\nThe pipeline's apply now goes through; the operator follows the rollout:")
	if err := d.kubectl(append([]string{"apply", "-f", v1}, fluxApply...)...); err != nil {
		return err
	}
	if err := d.changePhase(ctx, "payments-3-1", itopsv1alpha1.ChangeCompleted, 90*time.Second); err != nil {
		return err
	}
	if err := d.kubectl("get", "changerequests,deployments", "-n", changeNamespace); err != nil {
		return err
	}

	d.n.say("\nRelease 3.2.0: a new change, approved by bob, whose pods crash after starting.")
	cr2, err := d.manifest("change-v2.yaml", changeRequest("payments-3-2", "Release payments-api 3.2.0", "registry.example.com/payments/api:3.2.0"))
	if err != nil {
		return err
	}
	if err := d.kubectl(append([]string{"apply", "-f", cr2}, asAlice...)...); err != nil {
		return err
	}
	if err := d.changePhase(ctx, "payments-3-2", itopsv1alpha1.ChangePending, 30*time.Second); err != nil {
		return err
	}
	d.n.say("\nCan the pipeline ship it yet? can-i-deploy asks the gate itself (a server-side dry run of")
	d.n.say("the pinned content, as alice) and says what is missing:")
	if err := d.itopsDenied(asAlice, "can-i-deploy", "deployment/payments-api", "-n", changeNamespace); err != nil {
		return err
	}
	if err := d.itops(asBob, "approve", "payments-3-2", "-n", changeNamespace, "--comment", "reviewed the diff"); err != nil {
		return err
	}
	if err := d.kubectl("wait", "--for=condition=Approved", "changerequest/payments-3-2", "-n", changeNamespace, "--timeout=30s"); err != nil {
		return err
	}
	if err := d.itops(asAlice, "can-i-deploy", "deployment/payments-api", "-n", changeNamespace); err != nil {
		return err
	}
	v2, err := d.manifest("payments-v2.yaml", paymentsDeployment("registry.example.com/payments/api:3.2.0", true))
	if err != nil {
		return err
	}
	if err := d.kubectl(append([]string{"apply", "-f", v2}, fluxApply...)...); err != nil {
		return err
	}
	d.n.say("The new pods never stay ready, so the Deployment exceeds its progress deadline:")
	if err := d.changePhase(ctx, "payments-3-2", itopsv1alpha1.ChangeFailed, 2*time.Minute); err != nil {
		return err
	}
	inc := &itopsv1alpha1.Incident{}
	if err := d.waitFor(ctx, "the workload's incident linked to the failed change", 30*time.Second, func(ctx context.Context) (bool, error) {
		err := d.c.Client.Get(ctx, client.ObjectKey{Namespace: changeNamespace, Name: "deployment-payments-api"}, inc)
		return err == nil && inc.Status.CausedBy != nil && len(inc.Status.RelatedChanges) > 0, client.IgnoreNotFound(err)
	}); err != nil {
		return err
	}
	if err := d.kubectl("get", "changerequests,incidents", "-n", changeNamespace); err != nil {
		return err
	}
	if err := d.kubectl("get", "incident", inc.Name, "-n", changeNamespace, "-o",
		"custom-columns=PRIORITY:.status.priority,REASON:.spec.reason,CAUSED-BY:.status.causedBy.name,SIGNALS:.status.signals[*].reason,RELATED-CHANGES:.status.relatedChanges"); err != nil {
		return err
	}
	d.n.say("\nRolling back to the previous revision is always allowed, without a change (and audited):")
	if err := d.kubectl(append([]string{"rollout", "undo", "deployment/payments-api", "-n", changeNamespace}, asBob...)...); err != nil {
		return err
	}
	d.n.say("\nThe manifests are in %s.", rel(d.root, filepath.Dir(v1)))
	return nil
}

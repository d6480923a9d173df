package main

import (
	"context"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// incidentsStory: a bad release crash-loops and a node fails; the operator opens incidents on
// its own, a person acknowledges and resolves one, the other resolves itself after the fix.
func incidentsStory(ctx context.Context, d *demo) error {
	c := d.c.Client
	d.n.say("A bad release of checkout-api (1.8.0) is rolled out. Its pods pass their readiness")
	d.n.say("probe, so the rollout completes; then they start crashing (kwok's simulated kubelet puts")
	d.n.say("them in CrashLoopBackOff). Nobody has noticed yet.")
	deploy := &appsv1.Deployment{}
	key := client.ObjectKey{Namespace: demoNamespace, Name: "checkout-api"}
	if err := c.Get(ctx, key, deploy); err != nil {
		return err
	}
	patch := client.MergeFrom(deploy.DeepCopy())
	deploy.Spec.Template.Labels["itops.dev/chaos"] = "crashloop"
	deploy.Spec.Template.Spec.Containers[0].Image = "registry.example.com/shop/checkout-api:1.8.0"
	if err := c.Patch(ctx, deploy, patch); err != nil {
		return err
	}
	crash := &itopsv1alpha1.Incident{}
	crashKey := client.ObjectKey{Namespace: demoNamespace, Name: "deployment-checkout-api"}
	if err := d.waitFor(ctx, "the operator to notice", time.Minute, func(ctx context.Context) (bool, error) {
		err := c.Get(ctx, crashKey, crash)
		return err == nil && crash.Status.Priority != "", client.IgnoreNotFound(err)
	}); err != nil {
		return err
	}
	if err := d.kubectl("get", "pods,incidents", "-n", demoNamespace); err != nil {
		return err
	}
	d.n.say("\nOne incident for the workload, not one per pod; if the Deployment stays unavailable beyond")
	d.n.say("its grace period, WorkloadUnavailable joins it as another signal, not another incident.")
	d.n.say("checkout-api belongs to the `checkout` ServiceLevel, so the incident names the service and")
	d.n.say("its impact is raised:")
	if err := d.kubectl("get", "incident", crashKey.Name, "-n", demoNamespace, "-o",
		"custom-columns=REASON:.spec.reason,SERVICE:.spec.service,IMPACT:.spec.impact,URGENCY:.spec.urgency,PRIORITY:.status.priority,WHAT:.status.conditions[?(@.type=='ProblemPresent')].message"); err != nil {
		return err
	}

	d.n.say("\nMeanwhile a node fails (kwok's node-not-ready chaos stage on kwok-node-2).")
	node := &corev1.Node{}
	if err := c.Get(ctx, client.ObjectKey{Name: "kwok-node-2"}, node); err != nil {
		return err
	}
	npatch := client.MergeFrom(node.DeepCopy())
	node.Labels["node-not-ready.stage.kwok.x-k8s.io"] = "true"
	node.Annotations["node-not-ready.stage.kwok.x-k8s.io/message"] = "kubelet stopped posting node status"
	if err := c.Patch(ctx, node, npatch); err != nil {
		return err
	}
	nodeInc := &itopsv1alpha1.Incident{}
	nodeKey := client.ObjectKey{Namespace: "itops-cluster", Name: "node-kwok-node-2"}
	if err := d.waitFor(ctx, "the NodeNotReady incident (after the node's grace period)", time.Minute, func(ctx context.Context) (bool, error) {
		err := c.Get(ctx, nodeKey, nodeInc)
		return err == nil && nodeInc.Status.Priority != "", client.IgnoreNotFound(err)
	}); err != nil {
		return err
	}
	d.n.say("Node incidents live in the cluster namespace, itops-cluster:")
	if err := d.kubectl("get", "incidents", "-A", "-l", "itops.dev/source=HealthCheck", "-o", "wide"); err != nil {
		return err
	}

	d.n.say("\nThe on-call view across namespaces, with SLA countdowns:")
	if err := d.itops(asAlice, "status", "-A"); err != nil {
		return err
	}
	d.n.say("\nalice acknowledges the node incident (the webhook stamps her name) and brings the node back.")
	if err := d.itops(asAlice, "ack", nodeKey.Name, "-n", nodeKey.Namespace, "--note", "rebooting the node"); err != nil {
		return err
	}
	npatch = client.MergeFrom(node.DeepCopy())
	delete(node.Labels, "node-not-ready.stage.kwok.x-k8s.io")
	if err := c.Patch(ctx, node, npatch); err != nil {
		return err
	}
	if err := d.waitFor(ctx, "kwok-node-2 to be Ready again", time.Minute, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(node), node); err != nil {
			return false, err
		}
		for _, cond := range node.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				return cond.Status == corev1.ConditionTrue, nil
			}
		}
		return false, nil
	}); err != nil {
		return err
	}
	d.n.say("bob tries to take over alice's acknowledgement; the webhook refuses, saying why:")
	if err := d.itopsDenied(asBob, "ack", nodeKey.Name, "-n", nodeKey.Namespace, "--note", "bob: I'll handle it"); err != nil {
		return err
	}
	d.n.say("alice resolves it with a resolution code:")
	if err := d.itops(asAlice, "resolve", nodeKey.Name, "-n", nodeKey.Namespace, "--code", "Workaround",
		"--note", "node rebooted; root cause with the hardware vendor"); err != nil {
		return err
	}

	d.n.say("\nThe release is rolled back to 1.7.3; once the workload has stayed healthy for")
	d.n.say("--resolve-after (10s in this demo, 5m by default) the operator resolves the crash incident itself.")
	if err := c.Get(ctx, key, deploy); err != nil {
		return err
	}
	patch = client.MergeFrom(deploy.DeepCopy())
	delete(deploy.Spec.Template.Labels, "itops.dev/chaos")
	deploy.Spec.Template.Spec.Containers[0].Image = "registry.example.com/shop/checkout-api:1.7.3"
	if err := c.Patch(ctx, deploy, patch); err != nil {
		return err
	}
	if err := d.waitFor(ctx, "auto-resolution", 2*time.Minute, func(ctx context.Context) (bool, error) {
		err := c.Get(ctx, crashKey, crash)
		return err == nil && crash.Status.Phase == itopsv1alpha1.IncidentResolved, err
	}); err != nil {
		return err
	}
	if err := d.kubectl("get", "incidents", "-A", "-l", "itops.dev/source=HealthCheck",
		"-o", "custom-columns=NAMESPACE:.metadata.namespace,NAME:.metadata.name,PRIORITY:.status.priority,PHASE:.status.phase,RESOLVED-BY:.status.resolvedBy"); err != nil {
		return err
	}
	d.n.say("\nEvery transition is in the incident's timeline, as an Event, and in the audit trail")
	d.n.say("(JSON lines with \"audit\": true in the operator's log):")
	if err := d.itops(asAlice, "timeline", crashKey.Name, "-n", demoNamespace); err != nil {
		return err
	}
	present := meta.FindStatusCondition(crash.Status.Conditions, itopsv1alpha1.IncidentConditionProblemPresent)
	if present != nil {
		d.n.say("  (problem cleared at %s)", present.LastTransitionTime.UTC().Format(time.RFC3339))
	}
	return nil
}

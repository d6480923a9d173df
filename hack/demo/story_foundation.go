package main

import (
	"context"
	"os"
	"path/filepath"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

const demoNamespace = "shop"

// foundationStory: the four kinds are served, the samples apply, a workload rolls out on
// simulated nodes, and an SRE's manual incident is prioritised and acknowledged.
func foundationStory(ctx context.Context, d *demo) error {
	c := d.c.Client
	d.n.say("The API group itops.dev serves four kinds, all in the kubectl category `itops`.")
	if err := d.kubectl("api-resources", "--api-group=itops.dev"); err != nil {
		return err
	}

	d.n.say("\nThe shop team runs checkout-api on three (simulated) nodes.")
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: demoNamespace}}
	if err := client.IgnoreAlreadyExists(c.Create(ctx, ns)); err != nil {
		return err
	}
	deploy := checkoutDeployment()
	if err := client.IgnoreAlreadyExists(c.Create(ctx, deploy)); err != nil {
		return err
	}
	if err := d.waitFor(ctx, "checkout-api to roll out 3 replicas", 2*time.Minute, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(deploy), deploy); err != nil {
			return false, err
		}
		return deploy.Status.AvailableReplicas == 3, nil
	}); err != nil {
		return err
	}
	if err := d.kubectl("get", "nodes,deployments,pods", "-n", demoNamespace, "-o", "wide"); err != nil {
		return err
	}

	d.n.say("\nThe team declares its service level, a maintenance window and a change, from config/samples.")
	files, err := filepath.Glob(filepath.Join(d.root, "config", "samples", "itops_*.yaml"))
	if err != nil {
		return err
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(data, &u.Object); err != nil {
			return err
		}
		if u.GetKind() == "Incident" {
			continue // opened below, as a person would
		}
		u.SetNamespace(demoNamespace)
		if err := client.IgnoreAlreadyExists(c.Create(ctx, u)); err != nil {
			return err
		}
	}
	if err := d.kubectl("get", "itops", "-n", demoNamespace); err != nil {
		return err
	}

	d.n.say("\nInvalid input is refused at admission with a message that names the field:")
	bad := &itopsv1alpha1.ServiceLevel{
		ObjectMeta: metav1.ObjectMeta{Name: "too-good", Namespace: demoNamespace},
		Spec: itopsv1alpha1.ServiceLevelSpec{
			Objectives: &itopsv1alpha1.Objectives{Availability: "100"},
			Scaling:    &itopsv1alpha1.ScalingPolicy{MinReplicas: ptr.To[int32](5), MaxReplicas: ptr.To[int32](2)},
		},
	}
	if err := c.Create(ctx, bad); err != nil {
		d.n.say("  %v", err)
	}

	d.n.say("\nSupport reports slow checkouts; an SRE opens an incident by hand (impact High, urgency Medium).")
	inc := &itopsv1alpha1.Incident{
		ObjectMeta: metav1.ObjectMeta{Name: "checkout-latency", Namespace: demoNamespace},
		Spec: itopsv1alpha1.IncidentSpec{
			Title:   "Checkout p99 latency above 2s for EU customers",
			Impact:  itopsv1alpha1.LevelHigh,
			Urgency: itopsv1alpha1.LevelMedium,
			Service: "checkout",
		},
	}
	if err := client.IgnoreAlreadyExists(c.Create(ctx, inc)); err != nil {
		return err
	}
	if err := d.waitFor(ctx, "the operator to prioritise it", 30*time.Second, func(ctx context.Context) (bool, error) {
		err := c.Get(ctx, client.ObjectKeyFromObject(inc), inc)
		return err == nil && inc.Status.Priority != "", err
	}); err != nil {
		return err
	}
	if err := d.kubectl("get", "incidents", "-n", demoNamespace); err != nil {
		return err
	}

	d.n.say("\nThe on-call engineer, alice@example.com, acknowledges it with the kubectl plugin. It sends")
	d.n.say("only her note: the admission webhook records who sent it, and when (a name in the request")
	d.n.say("would be overwritten just the same: nobody acts in someone else's name).")
	if err := d.itops(asAlice, "ack", "checkout-latency", "-n", demoNamespace, "--note", "looking at the payment provider"); err != nil {
		return err
	}
	if err := d.waitFor(ctx, "phase Acknowledged", 30*time.Second, func(ctx context.Context) (bool, error) {
		err := c.Get(ctx, client.ObjectKeyFromObject(inc), inc)
		return err == nil && inc.Status.Phase == itopsv1alpha1.IncidentAcknowledged, err
	}); err != nil {
		return err
	}
	return d.kubectl("get", "incident", "checkout-latency", "-n", demoNamespace,
		"-o", "custom-columns=PRIORITY:.status.priority,PHASE:.status.phase,ACK-BY:.spec.acknowledgement.by,ACK-AT:.spec.acknowledgement.at,TIMELINE:.status.timeline[*].type")
}

func checkoutDeployment() *appsv1.Deployment {
	labels := map[string]string{"app.kubernetes.io/name": "checkout-api", "app.kubernetes.io/part-of": "checkout"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "checkout-api", Namespace: demoNamespace, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{Name: "api", Image: "registry.example.com/shop/checkout-api:1.7.3"}},
				},
			},
		},
	}
}

package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/test/cluster"
)

const scalingNamespace = "search"

// searchDeployment is the search service.
const searchDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: search-api
  namespace: search
  labels: {app: search-api}
spec:
  replicas: 2
  strategy: {type: Recreate}
  selector:
    matchLabels: {app: search-api}
  template:
    metadata:
      labels:
        app: search-api
    spec:
      containers:
      - name: api
        image: registry.example.com/search/api:3.0.0
`

const searchServiceLevel = `apiVersion: itops.dev/v1alpha1
kind: ServiceLevel
metadata:
  name: search
  namespace: search
spec:
  selector:
    matchLabels: {app: search-api}
  objectives: {availability: "99.9", window: 1h}
  burnRateAlerts:
  - {longWindow: 1m, shortWindow: 10s, factor: "2"}   # demo scale
  scaling:
    minReplicas: 2
    maxReplicas: 3
    scaleOutOnBurn: {step: 1, cooldown: 30s}
`

func (d *demo) replicas(ctx context.Context, want int32, timeout time.Duration) error {
	dep := &appsv1.Deployment{}
	return d.waitFor(ctx, fmt.Sprintf("search-api at %d replicas", want), timeout, func(ctx context.Context) (bool, error) {
		err := d.c.Client.Get(ctx, client.ObjectKey{Namespace: scalingNamespace, Name: "search-api"}, dep)
		return err == nil && dep.Spec.Replicas != nil && *dep.Spec.Replicas == want && dep.Status.Replicas == want, client.IgnoreNotFound(err)
	})
}

func scalingStory(ctx context.Context, d *demo) error {
	history := "custom-columns=AT:.status.scalingHistory[*].at,REASON:.status.scalingHistory[*].reason,FROM:.status.scalingHistory[*].from,TO:.status.scalingHistory[*].to"
	d.n.say("The search team bounds search-api to 2..3 replicas and lets the operator add a replica")
	d.n.say("when the error budget burns because pods run but are not ready.")
	if err := d.kubectl("create", "namespace", scalingNamespace); err != nil {
		return err
	}
	deploy, err := d.manifest("search.yaml", searchDeployment)
	if err != nil {
		return err
	}
	sl, err := d.manifest("search-servicelevel.yaml", searchServiceLevel)
	if err != nil {
		return err
	}
	if err := d.kubectl("apply", "-f", sl, "-f", deploy); err != nil {
		return err
	}
	if err := d.replicas(ctx, 2, 30*time.Second); err != nil {
		return err
	}
	d.n.say("\nNo namespace label: the operator extends its scaling webhooks to every namespace holding a")
	d.n.say("ServiceLevel with scaling, and to no other (workload writes elsewhere never wait for it).")
	if err := d.waitFor(ctx, "the scaling webhooks to reach namespace "+scalingNamespace, 30*time.Second, func(ctx context.Context) (bool, error) {
		cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{}
		if err := d.c.Client.Get(ctx, client.ObjectKey{Name: cluster.InstalledWebhookConfiguration}, cfg); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		for _, wh := range cfg.Webhooks {
			if wh.Name == "vscaling.itops.dev" && wh.NamespaceSelector != nil {
				for _, e := range wh.NamespaceSelector.MatchExpressions {
					if e.Key == corev1.LabelMetadataName && e.Operator == metav1.LabelSelectorOpIn && slices.Contains(e.Values, scalingNamespace) {
						return true, nil
					}
				}
			}
		}
		return false, nil
	}); err != nil {
		return err
	}
	d.n.say("\nThe bounds hold at admission, for kubectl scale and for autoscalers alike:")
	if err := d.kubectlDenied("scale", "deployment/search-api", "-n", scalingNamespace, "--replicas=10"); err != nil {
		return err
	}
	hpa, err := d.manifest("search-hpa.yaml", `apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: search-api
  namespace: search
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: search-api}
  minReplicas: 2
  maxReplicas: 10
`)
	if err != nil {
		return err
	}
	if err := d.kubectlDenied("apply", "-f", hpa); err != nil {
		return err
	}

	d.n.say("\nA traffic spike: the pods keep running but fail their readiness probes. The burn-rate")
	d.n.say("alert fires, the pods are not crash-looping, so another replica can help (kwok's not-ready")
	d.n.say("chaos label stands in for the spike):")
	if err := d.kubectl("patch", "deployment", "search-api", "-n", scalingNamespace, "--type=json",
		"-p", `[{"op":"add","path":"/spec/template/metadata/labels/itops.dev~1chaos","value":"notready"}]`); err != nil {
		return err
	}
	if err := d.replicas(ctx, 3, 90*time.Second); err != nil {
		return err
	}
	if err := d.kubectl("get", "pods", "-n", scalingNamespace); err != nil {
		return err
	}
	d.n.say("\nThe spike passes (the pods are ready again; nobody touches the replicas). A cooldown after")
	d.n.say("the burn stops, the operator scales back to where it started; every step is in the status:")
	if err := d.kubectl("patch", "deployment", "search-api", "-n", scalingNamespace, "--type=json",
		"-p", `[{"op":"remove","path":"/spec/template/metadata/labels/itops.dev~1chaos"}]`); err != nil {
		return err
	}
	if err := d.waitFor(ctx, "the operator to scale back", 2*time.Minute, func(ctx context.Context) (bool, error) {
		sl := &itopsv1alpha1.ServiceLevel{}
		err := d.c.Client.Get(ctx, client.ObjectKey{Namespace: scalingNamespace, Name: "search"}, sl)
		n := len(sl.Status.ScalingHistory)
		return err == nil && n > 0 && sl.Status.ScalingHistory[n-1].Reason == "ScaleBack", client.IgnoreNotFound(err)
	}); err != nil {
		return err
	}
	if err := d.replicas(ctx, 2, 30*time.Second); err != nil {
		return err
	}
	return d.kubectl("get", "servicelevel", "search", "-n", scalingNamespace, "-o", history)
}

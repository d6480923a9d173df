package e2e

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// incidentNamed returns the incident ns/name, failing g until it exists.
func incidentNamed(g Gomega, ns, name string) *itopsv1alpha1.Incident {
	inc := &itopsv1alpha1.Incident{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, inc)).To(Succeed())
	return inc
}

var _ = Describe("Network detection", func() {
	It("opens one ServiceWithoutEndpoints incident for a Service whose pods never become ready, a symptom of the Deployment's, resolved once an endpoint is ready", func() {
		ns := newNamespace()
		Expect(k8s.Create(ctx, crashingDeployment(ns, "web", "notready", 1))).To(Succeed())
		Expect(k8s.Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Port: 80}}}})).To(Succeed())
		Eventually(func(g Gomega) {
			inc := incidentNamed(g, ns, "service-web")
			g.Expect(inc.Spec.Reason).To(Equal(itopsv1alpha1.ReasonServiceWithoutEndpoints))
			g.Expect(inc.Status.Signals).To(activeSignal(itopsv1alpha1.ReasonServiceWithoutEndpoints, "Service web has no ready endpoint"))
			g.Expect(inc.Status.CausedBy).NotTo(BeNil())
			g.Expect(inc.Status.CausedBy.Name).To(Equal("deployment-web"), "the Deployment's incident is the cause: one page")
		}).WithTimeout(90 * time.Second).WithPolling(time.Second).Should(Succeed())
		list := &itopsv1alpha1.IncidentList{}
		Expect(k8s.List(ctx, list, client.InNamespace(ns), client.MatchingLabels{itopsv1alpha1.LabelReason: itopsv1alpha1.ReasonServiceWithoutEndpoints})).To(Succeed())
		Expect(list.Items).To(HaveLen(1), "one incident per Service")

		By("the pods becoming ready: the EndpointSlice lists a ready endpoint")
		Eventually(func(g Gomega) {
			d := &appsv1.Deployment{}
			g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, d)).To(Succeed())
			d.Spec.Template.Labels[chaosLabel] = "none"
			g.Expect(k8s.Update(ctx, d)).To(Succeed())
		}).WithTimeout(10 * time.Second).Should(Succeed())
		Eventually(func(g Gomega) {
			inc := incidentNamed(g, ns, "service-web")
			g.Expect(inc.Status.Signals).NotTo(ContainElement(HaveField("Active", true)))
			g.Expect(inc.Status.Phase).To(Equal(itopsv1alpha1.IncidentResolved))
		}).WithTimeout(90 * time.Second).WithPolling(time.Second).Should(Succeed())
	})

	It("opens RouteBackendMissing for an Ingress whose backend Service does not exist, naming it and its field", func() {
		ns := newNamespace()
		Expect(k8s.Create(ctx, &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shop"}, Spec: networkingv1.IngressSpec{
			Rules: []networkingv1.IngressRule{{Host: "shop.example", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: ptr.To(networkingv1.PathTypePrefix),
					Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "storefront", Port: networkingv1.ServiceBackendPort{Number: 80}}}}}}}}}}})).To(Succeed())
		Eventually(func(g Gomega) {
			inc := incidentNamed(g, ns, "ingress-shop")
			g.Expect(inc.Spec.Reason).To(Equal(itopsv1alpha1.ReasonRouteBackendMissing))
			g.Expect(inc.Status.Signals).To(activeSignal(itopsv1alpha1.ReasonRouteBackendMissing,
				"Service "+ns+"/storefront does not exist (spec.rules[0].http.paths[0].backend.service.name)"))
		}).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed())

		By("creating the Service: the signal clears")
		Expect(k8s.Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "storefront"},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}})).To(Succeed())
		Eventually(func(g Gomega) {
			inc := incidentNamed(g, ns, "ingress-shop")
			g.Expect(inc.Status.Signals).NotTo(ContainElement(HaveField("Active", true)))
		}).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed())
	})

	It("opens RouteBackendMissing for a Gateway API HTTPRoute without its backend and a Gateway without its certificate Secret", func() {
		ns := newNamespace()
		route := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
			"metadata": map[string]any{"namespace": ns, "name": "shop"},
			"spec": map[string]any{
				"parentRefs": []any{map[string]any{"name": "shop"}},
				"rules":      []any{map[string]any{"backendRefs": []any{map[string]any{"name": "checkout", "port": int64(8080)}}}},
			},
		}}
		gateway := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
			"metadata": map[string]any{"namespace": ns, "name": "shop"},
			"spec": map[string]any{
				"gatewayClassName": "example",
				"listeners": []any{map[string]any{"name": "https", "port": int64(443), "protocol": "HTTPS",
					"tls": map[string]any{"certificateRefs": []any{map[string]any{"name": "shop-tls"}}}}},
			},
		}}
		Expect(k8s.Create(ctx, route)).To(Succeed())
		Expect(k8s.Create(ctx, gateway)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(incidentNamed(g, ns, "httproute-shop").Status.Signals).To(activeSignal(itopsv1alpha1.ReasonRouteBackendMissing,
				"HTTPRoute shop refers to objects that do not exist: Service "+ns+"/checkout does not exist (spec.rules[0].backendRefs[0])"))
			g.Expect(incidentNamed(g, ns, "gateway-shop").Status.Signals).To(activeSignal(itopsv1alpha1.ReasonRouteBackendMissing,
				"Secret "+ns+"/shop-tls does not exist (spec.listeners[0].tls.certificateRefs[0])"))
		}).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed())

		By("creating the Secret: the Gateway's signal clears")
		Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shop-tls"}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{corev1.TLSCertKey: []byte("-"), corev1.TLSPrivateKeyKey: []byte("-")}})).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(incidentNamed(g, ns, "gateway-shop").Status.Signals).NotTo(ContainElement(HaveField("Active", true)))
		}).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed())
	})

	It("pages P1 WebhookUnavailable on the incident of the Service a fail-closed webhook calls when it has no endpoints, naming the caller, and clears it with the webhook", func() {
		ns := newNamespace()
		Expect(k8s.Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "policy"},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "policy"}, Ports: []corev1.ServicePort{{Port: 443}}}})).To(Succeed())
		fail := admissionregistrationv1.Fail
		none := admissionregistrationv1.SideEffectClassNone
		cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "policy-" + ns},
			Webhooks: []admissionregistrationv1.ValidatingWebhook{{
				Name: "validate.policy.example", FailurePolicy: &fail, SideEffects: &none, AdmissionReviewVersions: []string{"v1"},
				ClientConfig: admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{Namespace: ns, Name: "policy"}},
				// Only this spec's namespace: the rest of the suite keeps admitting.
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: ns}},
				Rules: []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
					Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}}}},
			}}}
		Expect(k8s.Create(ctx, cfg)).To(Succeed())
		DeferCleanup(func() { _ = k8s.Delete(ctx, cfg) })
		// One incident per Service the API server calls (however many configurations call
		// it), in the Service's namespace, shared with its ServiceWithoutEndpoints signal.
		Eventually(func(g Gomega) {
			inc := incidentNamed(g, ns, "service-policy")
			g.Expect(inc.Status.Signals).To(activeSignal(itopsv1alpha1.ReasonWebhookUnavailable,
				"Service "+ns+"/policy, which the API server calls for 1 webhook or API, has no ready endpoint: "+
					"ValidatingWebhookConfiguration "+cfg.Name+"/validate.policy.example (failurePolicy Fail): the API server rejects CREATE of configmaps"))
			g.Expect(inc.Status.Priority).To(Equal(itopsv1alpha1.PriorityP1))
			g.Expect(inc.Spec.Affected).To(ContainElement(And(
				HaveField("Kind", "ValidatingWebhookConfiguration"), HaveField("Name", cfg.Name))))
		}).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed())
		list := &itopsv1alpha1.IncidentList{}
		Expect(k8s.List(ctx, list, client.InNamespace(clusterNamespace))).To(Succeed())
		Expect(list.Items).NotTo(ContainElement(HaveField("Spec.Reason", itopsv1alpha1.ReasonWebhookUnavailable)),
			"the webhook's Service has the incident, not the cluster namespace")

		By("removing the webhook: its signal clears")
		Expect(k8s.Delete(ctx, cfg)).To(Succeed())
		Eventually(func(g Gomega) {
			inc := incidentNamed(g, ns, "service-policy")
			g.Expect(inc.Status.Signals).To(ContainElement(And(
				HaveField("Reason", itopsv1alpha1.ReasonWebhookUnavailable), HaveField("Active", false))))
			g.Expect(inc.Status.Signals).NotTo(activeSignal(itopsv1alpha1.ReasonWebhookUnavailable, ""))
		}).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed())
	})
})

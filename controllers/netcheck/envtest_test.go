package netcheck

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/controllers/incidentwriter"
	"github.com/itops-dev/itops-operator/internal/config"
	"github.com/itops-dev/itops-operator/internal/lifecycle"
	"github.com/itops-dev/itops-operator/test/cluster"
	"github.com/itops-dev/itops-operator/test/testenv"
)

// TestDetectorsAsInstalled runs the three detectors against a real API server as the
// operator's ServiceAccount with the install's RBAC (config/rbac): every kind they watch is
// granted, Secrets are not. An Ingress's TLS Secret check waits and says so in the message
// until an administrator grants Secrets; then it runs without a restart.
func TestDetectorsAsInstalled(t *testing.T) {
	g := NewWithT(t)
	ctrl.SetLogger(zap.New(zap.UseDevMode(true)))
	env, err := testenv.Start()
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = env.Stop() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	const clusterNamespace = "itops-cluster-netcheck"
	g.Expect(testenv.EnsureNamespace(ctx, env.Client, clusterNamespace)).To(Succeed())
	operatorConfig, err := env.OperatorConfig(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	mgr, err := ctrl.NewManager(operatorConfig, ctrl.Options{Scheme: cluster.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"}})
	g.Expect(err).NotTo(HaveOccurred())
	w := &incidentwriter.Writer{Client: mgr.GetClient(), Policy: lifecycle.DefaultPolicy, ClusterNamespace: clusterNamespace}
	g.Expect(SetupWithOptions(mgr, w, config.DetectionPolicy{
		ServicesWithoutEndpoints: config.ServicesWithoutEndpointsPolicy{Scope: config.ServiceScopeAll},
	}, Options{RetryInterval: 200 * time.Millisecond})).To(Succeed())
	go func() { _ = mgr.Start(ctx) }()

	ns := "netcheck"
	g.Expect(testenv.EnsureNamespace(ctx, env.Client, ns)).To(Succeed())
	ignore := admissionregistrationv1.Ignore
	none := admissionregistrationv1.SideEffectClassNone
	for _, o := range []client.Object{
		&networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}, Spec: networkingv1.IngressSpec{
			TLS: []networkingv1.IngressTLS{{Hosts: []string{"web.example"}, SecretName: "web-tls"}},
			DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "api",
				Port: networkingv1.ServiceBackendPort{Number: 80}}}}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "lonely"},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "nothing"}, Ports: []corev1.ServicePort{{Port: 80}}}},
		&admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "audit-" + ns},
			Webhooks: []admissionregistrationv1.ValidatingWebhook{{Name: "audit.itops.example", FailurePolicy: &ignore, SideEffects: &none,
				AdmissionReviewVersions: []string{"v1"},
				ClientConfig:            admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{Namespace: ns, Name: "audit"}},
				NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: ns}},
				Rules: []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Delete},
					Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}}}}}}},
	} {
		g.Expect(env.Client.Create(ctx, o)).To(Succeed())
	}
	incident := func(ns, name string) func(g Gomega) *itopsv1alpha1.Incident {
		return func(g Gomega) *itopsv1alpha1.Incident {
			inc := &itopsv1alpha1.Incident{}
			g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, inc)).To(Succeed())
			g.Expect(inc.Status.Signals).NotTo(BeEmpty())
			return inc
		}
	}
	g.Eventually(func(g Gomega) {
		s := incident(ns, "ingress-web")(g).Status.Signals[0]
		g.Expect(s.Message).To(Equal("Ingress web refers to objects that do not exist: Service " + ns + "/api does not exist " +
			"(spec.defaultBackend.service.name) (TLS Secrets not checked: the operator may not list and watch Secrets)"))
		g.Expect(incident(ns, "service-lonely")(g).Status.Signals[0].Message).To(ContainSubstring("its selector app=nothing selects no pods"))
		w := incident(ns, "service-audit")(g).Status.Signals[0]
		g.Expect(w.Message).To(Equal("Service " + ns + "/audit, which the API server calls for 1 webhook or API, does not exist: " +
			"ValidatingWebhookConfiguration audit-" + ns + "/audit.itops.example (failurePolicy Ignore): DELETE of configmaps pass without it, each after the webhook's timeout"))
		g.Expect(w.Priority).To(Equal(itopsv1alpha1.PriorityP4))
	}).WithTimeout(30 * time.Second).WithPolling(200 * time.Millisecond).Should(Succeed())

	// An administrator grants Secrets: the TLS check starts, without a restart.
	g.Expect(env.Client.Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "netcheck-secrets"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"list", "watch"}}}})).To(Succeed())
	g.Expect(env.Client.Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "netcheck-secrets"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "netcheck-secrets"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: testenv.OperatorNamespace, Name: "itops-operator"}}})).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(incident(ns, "ingress-web")(g).Status.Signals[0].Message).To(Equal("Ingress web refers to objects that do not exist: " +
			"Secret " + ns + "/web-tls does not exist (spec.tls[0].secretName); Service " + ns + "/api does not exist (spec.defaultBackend.service.name)"))
	}).WithTimeout(30 * time.Second).WithPolling(200 * time.Millisecond).Should(Succeed())

	g.Expect(env.Client.Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "api"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}})).To(Succeed())
	g.Expect(env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web-tls"}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: []byte("-"), corev1.TLSPrivateKeyKey: []byte("-")}})).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(incident(ns, "ingress-web")(g).Status.Signals[0].Active).To(BeFalse())
	}).WithTimeout(30 * time.Second).WithPolling(200 * time.Millisecond).Should(Succeed())
}

package webhookcert

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/itops-dev/itops-operator/test/testenv"
)

var (
	env *testenv.Env
	ctx = context.Background()
)

func TestWebhookCert(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Webhook certificate suite")
}

var _ = BeforeSuite(func() {
	var err error
	env, err = testenv.Start()
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { Expect(env.Stop()).To(Succeed()) })
})

func webhookConfig(name, webhook string) *admissionregistrationv1.ValidatingWebhookConfiguration {
	return &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:                    webhook,
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{Namespace: "itops-system", Name: "itops-operator-webhook", Path: ptr.To("/validate")}},
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
			FailurePolicy:           ptr.To(admissionregistrationv1.Ignore),
			Rules: []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{"CREATE"},
				Rule: admissionregistrationv1.Rule{APIGroups: []string{"example.com"}, APIVersions: []string{"v1"}, Resources: []string{"widgets"}}}},
		}},
	}
}

var _ = Describe("The self-managed webhook certificate", func() {
	It("is issued once, shared by replicas, written to the certificate directory and trusted by the operator's webhooks only", func() {
		Expect(env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "itops-system"}})).To(Succeed())
		ours, foreign := webhookConfig("itops-operator", "vincident.itops.dev"), webhookConfig("someone-else", "vwidget.example.com")
		// Another product whose webhook happens to be named like ours: not ours to redirect.
		lookalike := webhookConfig("validating-webhook-configuration", "vpolicy.itops.dev")
		Expect(env.Client.Create(ctx, ours)).To(Succeed())
		Expect(env.Client.Create(ctx, foreign)).To(Succeed())
		Expect(env.Client.Create(ctx, lookalike)).To(Succeed())

		replica := func() *Manager {
			return &Manager{Client: env.Client, Namespace: "itops-system", SecretName: "itops-operator-webhook-cert",
				ServiceName: "itops-operator-webhook", CertDir: GinkgoT().TempDir(), WebhookConfiguration: "itops-operator"}
		}
		first, second := replica(), replica()
		Expect(HasCertificate(first.CertDir)).To(BeFalse())
		renewAt, err := first.Ensure(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(renewAt.IsZero()).To(BeFalse())
		Expect(HasCertificate(first.CertDir)).To(BeTrue())

		_, err = second.Ensure(ctx)
		Expect(err).NotTo(HaveOccurred())
		a, err := os.ReadFile(filepath.Join(first.CertDir, "tls.crt"))
		Expect(err).NotTo(HaveOccurred())
		b, err := os.ReadFile(filepath.Join(second.CertDir, "tls.crt"))
		Expect(err).NotTo(HaveOccurred())
		Expect(b).To(Equal(a), "replicas must serve the same certificate")

		secret := &corev1.Secret{}
		Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: "itops-system", Name: "itops-operator-webhook-cert"}, secret)).To(Succeed())
		Expect(secret.Data).To(HaveKey("ca.crt"))
		Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(ours), ours)).To(Succeed())
		Expect(ours.Webhooks[0].ClientConfig.CABundle).To(Equal(secret.Data["ca.crt"]))
		Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(foreign), foreign)).To(Succeed())
		Expect(foreign.Webhooks[0].ClientConfig.CABundle).To(BeEmpty())
		Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(lookalike), lookalike)).To(Succeed())
		Expect(lookalike.Webhooks[0].ClientConfig.CABundle).To(BeEmpty())
	})

	It("needs no more than the install's RBAC, which lets the operator patch its own webhook configurations only", func() {
		Expect(env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "itops-rbac"}})).To(Succeed())
		const sa = "system:serviceaccount:itops-rbac:itops-operator"
		for _, path := range []string{"role.yaml", "leader_election_role.yaml"} {
			for _, obj := range rbacObjects(path) {
				if obj.GetNamespace() != "" {
					obj.SetNamespace("itops-rbac")
				}
				obj.SetName("rbac-test-" + obj.GetName())
				Expect(env.Client.Create(ctx, obj)).To(Succeed())
			}
		}
		Expect(env.Client.Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "rbac-test-itops-operator"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "rbac-test-itops-operator"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: sa}},
		})).To(Succeed())
		Expect(env.Client.Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "rbac-test-itops-operator-leader-election", Namespace: "itops-rbac"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "rbac-test-itops-operator-leader-election"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: sa}},
		})).To(Succeed())
		u, err := env.AddUser(envtest.User{Name: sa}, nil)
		Expect(err).NotTo(HaveOccurred())
		operator, err := client.New(u.Config(), client.Options{})
		Expect(err).NotTo(HaveOccurred())

		m := &Manager{Client: operator, Namespace: "itops-rbac", SecretName: "itops-operator-webhook-cert",
			ServiceName: "itops-operator-webhook", CertDir: GinkgoT().TempDir(), WebhookConfiguration: "itops-operator"}
		Eventually(func() error { _, err := m.Ensure(ctx); return err }).WithTimeout(10 * time.Second).Should(Succeed())

		By("a webhook configuration of another product: the operator cannot touch it")
		gatekeeper := webhookConfig("gatekeeper-validating-webhook-configuration", "validation.gatekeeper.sh")
		Expect(env.Client.Create(ctx, gatekeeper)).To(Succeed())
		patch := client.MergeFrom(gatekeeper.DeepCopy())
		gatekeeper.Webhooks[0].ClientConfig.CABundle = []byte("not yours")
		Expect(apierrors.IsForbidden(operator.Patch(ctx, gatekeeper, patch))).To(BeTrue())
		// Reading every configuration is the WebhookUnavailable detector's (docs/detectors.md).
		Expect(operator.List(ctx, &admissionregistrationv1.ValidatingWebhookConfigurationList{})).To(Succeed())
		Expect(apierrors.IsForbidden(operator.Delete(ctx, gatekeeper))).To(BeTrue())
	})
})

// rbacObjects reads the install's generated RBAC objects from config/rbac.
func rbacObjects(file string) []*unstructured.Unstructured {
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "rbac", file))
	Expect(err).NotTo(HaveOccurred())
	var out []*unstructured.Unstructured
	for _, doc := range strings.Split(string(data), "\n---") {
		if strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(doc), "---")) == "" {
			continue
		}
		obj := &unstructured.Unstructured{}
		Expect(yaml.Unmarshal([]byte(doc), &obj.Object)).To(Succeed())
		out = append(out, obj)
	}
	return out
}

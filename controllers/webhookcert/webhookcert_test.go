package webhookcert

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

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
		Expect(env.Client.Create(ctx, ours)).To(Succeed())
		Expect(env.Client.Create(ctx, foreign)).To(Succeed())

		replica := func() *Manager {
			return &Manager{Client: env.Client, Namespace: "itops-system", SecretName: "itops-operator-webhook-cert",
				ServiceName: "itops-operator-webhook", CertDir: GinkgoT().TempDir()}
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
	})
})

package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/test/testenv"
)

// detectorCRDs are the minimal definitions of the kinds the shipped custom detector examples
// watch (Argo CD, Flux, cert-manager); the suite installs them before the operator starts.
func detectorCRDs() string {
	return filepath.Join(testenv.RepoRoot(), "test", "e2e", "testdata", "crds")
}

// detectorsPolicy is the suite policy's detectors key: the shipped examples of
// config/samples/detectors, with grace periods of seconds.
func detectorsPolicy() string {
	out := "detectors:\n"
	for _, f := range []string{"argocd-application.yaml", "flux-kustomization.yaml", "flux-helmrelease.yaml", "certmanager-certificate.yaml"} {
		data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "samples", "detectors", f))
		Expect(err).NotTo(HaveOccurred())
		m := map[string][]map[string]any{}
		Expect(yaml.Unmarshal(data, &m)).To(Succeed())
		for _, d := range m["detectors"] {
			d["gracePeriod"] = "2s"
			b, err := yaml.Marshal([]map[string]any{d})
			Expect(err).NotTo(HaveOccurred())
			out += string(b)
		}
	}
	// A kind no CRD defines when the operator starts: the detector waits for it.
	return out + `- {name: widget-broken, apiVersion: example.itops.dev/v1, kind: Widget, reason: WidgetBroken, gracePeriod: 0s,
   unhealthy: "has(object.status) && has(object.status.broken) && object.status.broken == true"}
`
}

// widgetCRD defines the kind of the widget-broken detector, which the suite's operator starts
// without.
func widgetCRD() *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": "widgets.example.itops.dev"},
		"spec": map[string]any{
			"group": "example.itops.dev", "scope": "Namespaced",
			"names": map[string]any{"kind": "Widget", "listKind": "WidgetList", "plural": "widgets", "singular": "widget"},
			"versions": []any{map[string]any{"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}},
		},
	}}
}

func customResource(apiVersion, kind, ns, name string, status map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": apiVersion, "kind": kind,
		"metadata": map[string]any{"name": name, "namespace": ns}, "spec": map[string]any{}}}
	if status != nil {
		u.Object["status"] = status
	}
	return u
}

func readyCondition(status, reason, message string) map[string]any {
	return readyConditionSince(status, reason, message, time.Now())
}

// readyConditionSince is readyCondition with the condition's lastTransitionTime at since.
func readyConditionSince(status, reason, message string, since time.Time) map[string]any {
	return map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": status, "reason": reason, "message": message,
		"lastTransitionTime": since.UTC().Format(time.RFC3339)}}}
}

// expectCustomResolved waits (60 s) until the Custom incident of the object kind/name in ns has
// no active signal and is Resolved.
func expectCustomResolved(ns, kind, name string) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		inc := customIncident(ns, kind, name)(g)
		for _, s := range inc.Status.Signals {
			g.Expect(s.Active).To(BeFalse(), s.Reason)
		}
		g.Expect(inc.Status.Phase).To(Equal(itopsv1alpha1.IncidentResolved))
	}).WithTimeout(60*time.Second).WithPolling(500*time.Millisecond).Should(Succeed(), kind+" "+name)
}

// customIncident waits for the one Custom incident about kind/name in ns and returns it.
func customIncident(ns, kind, name string) func(g Gomega) *itopsv1alpha1.Incident {
	return func(g Gomega) *itopsv1alpha1.Incident {
		var found []itopsv1alpha1.Incident
		for _, inc := range incidentsWithReason(ns, itopsv1alpha1.ReasonCustom)(g) {
			if len(inc.Spec.Affected) > 0 && inc.Spec.Affected[0].Kind == kind && inc.Spec.Affected[0].Name == name {
				found = append(found, inc)
			}
		}
		g.Expect(found).To(HaveLen(1), "one incident per affected thing")
		return &found[0]
	}
}

func activeSignalOf(inc *itopsv1alpha1.Incident, reason string) *itopsv1alpha1.Signal {
	for i := range inc.Status.Signals {
		if s := &inc.Status.Signals[i]; s.Reason == reason && s.Active {
			return s
		}
	}
	return nil
}

var _ = Describe("Custom detectors", func() {
	It("opens an incident for a Degraded Argo CD Application and a Ready=False Flux Kustomization, and resolves them when healthy", func() {
		ns := newNamespace()
		app := customResource("argoproj.io/v1alpha1", "Application", ns, "guestbook",
			map[string]any{"health": map[string]any{"status": "Degraded", "message": "Deployment guestbook-ui exceeded its progress deadline"}})
		ks := customResource("kustomize.toolkit.fluxcd.io/v1", "Kustomization", ns, "apps",
			readyCondition("False", "BuildFailed", "kustomize build failed: missing ./apps/podinfo"))
		Expect(k8s.Create(ctx, app)).To(Succeed())
		Expect(k8s.Create(ctx, ks)).To(Succeed())

		By("one incident each, reason Custom, the detector's reason in the signal")
		Eventually(func(g Gomega) {
			inc := customIncident(ns, "Application", "guestbook")(g)
			s := activeSignalOf(inc, "ArgoApplicationDegraded")
			g.Expect(s).NotTo(BeNil())
			g.Expect(s.Message).To(ContainSubstring("exceeded its progress deadline"))
			g.Expect(s.Priority).To(Equal(itopsv1alpha1.PriorityP2)) // impact Medium, urgency High
			g.Expect(inc.Spec.Reason).To(Equal(itopsv1alpha1.ReasonCustom))
			g.Expect(inc.Spec.Title).To(Equal("Application guestbook: ArgoApplicationDegraded"))
			g.Expect(inc.Status.Phase).To(Equal(itopsv1alpha1.IncidentOpen))
		}).WithTimeout(60 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())
		Eventually(func(g Gomega) {
			inc := customIncident(ns, "Kustomization", "apps")(g)
			s := activeSignalOf(inc, "FluxKustomizationNotReady")
			g.Expect(s).NotTo(BeNil())
			g.Expect(s.Message).To(HavePrefix("BuildFailed: kustomize build failed: missing ./apps/podinfo; unhealthy since "))
			g.Expect(inc.Status.Priority).To(Equal(itopsv1alpha1.PriorityP3))
		}).WithTimeout(60 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())
		Expect(incidentsWithReason(ns, itopsv1alpha1.ReasonCustom)(Default)).To(HaveLen(2))

		By("healthy again: the signals clear and the incidents auto-resolve")
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(app), app)).To(Succeed())
		app.Object["status"] = map[string]any{"health": map[string]any{"status": "Healthy"}}
		Expect(k8s.Update(ctx, app)).To(Succeed())
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(ks), ks)).To(Succeed())
		ks.Object["status"] = readyCondition("True", "ReconciliationSucceeded", "Applied revision: main@sha1:0a1b2c")
		Expect(k8s.Update(ctx, ks)).To(Succeed())
		expectCustomResolved(ns, "Application", "guestbook")
		expectCustomResolved(ns, "Kustomization", "apps")
	})

	It("opens an incident for a Ready=False Flux HelmRelease and a Ready=False cert-manager Certificate, and resolves them when Ready", func() {
		ns := newNamespace()
		// The examples' grace periods (5m, 10m) are 2s in the suite policy; the conditions
		// turned False a minute ago.
		past := time.Now().Add(-time.Minute)
		hr := customResource("helm.toolkit.fluxcd.io/v2", "HelmRelease", ns, "podinfo",
			readyConditionSince("False", "InstallFailed", "Helm install failed for release podinfo/podinfo: context deadline exceeded", past))
		cert := customResource("cert-manager.io/v1", "Certificate", ns, "web",
			readyConditionSince("False", "Failed", "The certificate request has failed to complete and will be retried", past))
		Expect(k8s.Create(ctx, hr)).To(Succeed())
		Expect(k8s.Create(ctx, cert)).To(Succeed())

		By("one incident each, reason Custom, the detector's reason in the signal")
		for _, c := range []struct{ kind, name, reason, message string }{
			{"HelmRelease", "podinfo", "FluxHelmReleaseNotReady", "InstallFailed: Helm install failed for release podinfo/podinfo: context deadline exceeded; unhealthy since "},
			{"Certificate", "web", "CertificateNotReady", "Failed: The certificate request has failed to complete and will be retried; unhealthy since "},
		} {
			Eventually(func(g Gomega) {
				inc := customIncident(ns, c.kind, c.name)(g)
				s := activeSignalOf(inc, c.reason)
				g.Expect(s).NotTo(BeNil())
				g.Expect(s.Message).To(HavePrefix(c.message))
				g.Expect(inc.Spec.Reason).To(Equal(itopsv1alpha1.ReasonCustom))
				g.Expect(inc.Spec.Title).To(Equal(c.kind + " " + c.name + ": " + c.reason))
				g.Expect(inc.Status.Priority).To(Equal(itopsv1alpha1.PriorityP3)) // impact Medium, urgency Medium
				g.Expect(inc.Status.Phase).To(Equal(itopsv1alpha1.IncidentOpen))
			}).WithTimeout(60*time.Second).WithPolling(500*time.Millisecond).Should(Succeed(), c.kind)
		}
		Expect(incidentsWithReason(ns, itopsv1alpha1.ReasonCustom)(Default)).To(HaveLen(2))

		By("Ready again: the signals clear and the incidents auto-resolve")
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(hr), hr)).To(Succeed())
		hr.Object["status"] = readyCondition("True", "InstallSucceeded", "Helm install succeeded for release podinfo/podinfo.v1 with chart podinfo@6.7.1")
		Expect(k8s.Update(ctx, hr)).To(Succeed())
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cert), cert)).To(Succeed())
		cert.Object["status"] = readyCondition("True", "Ready", "Certificate is up to date and has not expired")
		Expect(k8s.Update(ctx, cert)).To(Succeed())
		expectCustomResolved(ns, "HelmRelease", "podinfo")
		expectCustomResolved(ns, "Certificate", "web")
	})
})

var _ = Describe("Custom detectors in the policy file", func() {
	It("refuses to start with an expression that does not compile or is not a bool, naming the key", func() {
		path := filepath.Join(GinkgoT().TempDir(), "policy.yaml")
		Expect(os.WriteFile(path, []byte(`detectors:
- {name: ok, apiVersion: v1, kind: ConfigMap, reason: Fine, unhealthy: "false"}
- {name: argo, apiVersion: argoproj.io/v1alpha1, kind: Application, reason: ArgoApplicationDegraded, unhealthy: "object.status.health.status =="}
- {name: flux, apiVersion: kustomize.toolkit.fluxcd.io/v1, kind: Kustomization, reason: FluxNotReady, unhealthy: "'False'"}
`), 0o600)).To(Succeed())
		out, err := exec.Command(operatorBinary(), "--kubeconfig="+local.Kubeconfig, "--config="+path,
			"--metrics-bind-address=0", "--health-probe-bind-address=0").CombinedOutput()
		var exitErr *exec.ExitError
		Expect(err).To(BeAssignableToTypeOf(exitErr), string(out))
		Expect(string(out)).To(ContainSubstring(`detectors[1].unhealthy: Invalid value: \"object.status.health.status ==\"`))
		Expect(string(out)).To(ContainSubstring("Syntax error"))
		Expect(string(out)).To(ContainSubstring(`detectors[2].unhealthy: Invalid value: \"'False'\": must evaluate to bool, not string`))
	})
})

var _ = Describe("Custom detectors of a kind installed later", func() {
	It("waits for a CRD installed after the operator started, then detects without a restart", func() {
		crd := widgetCRD()
		if err := k8s.Create(ctx, crd); err != nil {
			Expect(apierrors.IsAlreadyExists(err)).To(BeTrue(), "%v", err)
		}
		ns := newNamespace()
		widget := customResource("example.itops.dev/v1", "Widget", ns, "sprocket", map[string]any{"broken": true})
		Eventually(func() error { return k8s.Create(ctx, widget) }).WithTimeout(30 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())
		// The detector checks for its kind every 30 seconds.
		Eventually(func(g Gomega) {
			inc := customIncident(ns, "Widget", "sprocket")(g)
			g.Expect(activeSignalOf(inc, "WidgetBroken")).NotTo(BeNil())
		}).WithTimeout(90 * time.Second).WithPolling(time.Second).Should(Succeed())
	})
})

// tlsSecret is a kubernetes.io/tls Secret whose self-signed certificate expires at notAfter.
func tlsSecret(ns, name string, notAfter time.Time, annotations map[string]string) *corev1.Secret {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	Expect(err).NotTo(HaveOccurred())
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name + ".example.com"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	Expect(err).NotTo(HaveOccurred())
	kder, err := x509.MarshalECPrivateKey(key)
	Expect(err).NotTo(HaveOccurred())
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: annotations},
		Type:       corev1.SecretTypeTLS,
		Data: map[string][]byte{
			corev1.TLSCertKey:       pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			corev1.TLSPrivateKeyKey: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}),
		},
	}
}

var _ = Describe("Certificate expiry", func() {
	It("opens CertificateExpiring for TLS Secrets and cert-manager Certificates close to expiry (about the Certificate when one issues the Secret) and resolves on renewal", func() {
		ns := newNamespace()
		day := 24 * time.Hour
		// A cert-manager Certificate judged by its status.notAfter (its Secret is not needed:
		// "shop-tls" does not exist), cert-manager's overdue renewal quoted.
		shop := customResource("cert-manager.io/v1", "Certificate", ns, "shop", map[string]any{
			"notAfter": time.Now().Add(3 * day).UTC().Format(time.RFC3339), "renewalTime": time.Now().Add(-27 * day).UTC().Format(time.RFC3339),
			"conditions": []any{map[string]any{"type": "Ready", "status": "True", "reason": "Ready", "message": "Certificate is up to date and has not expired"}}})
		shop.Object["spec"] = map[string]any{"secretName": "shop-tls", "commonName": "shop.example.com", "issuerRef": map[string]any{"kind": "ClusterIssuer", "name": "letsencrypt"}}
		Expect(k8s.Create(ctx, shop)).To(Succeed())
		Expect(k8s.Create(ctx, tlsSecret(ns, "api-tls", time.Now().Add(3*day), nil))).To(Succeed())
		Expect(k8s.Create(ctx, tlsSecret(ns, "web-tls", time.Now().Add(20*day), map[string]string{"cert-manager.io/certificate-name": "web"}))).To(Succeed())
		Expect(k8s.Create(ctx, tlsSecret(ns, "fresh-tls", time.Now().Add(300*day), nil))).To(Succeed())

		byAffected := func(g Gomega) map[string]itopsv1alpha1.Incident {
			out := map[string]itopsv1alpha1.Incident{}
			for _, inc := range incidentsWithReason(ns, itopsv1alpha1.ReasonCertificateExpiring)(g) {
				out[inc.Spec.Affected[0].Kind+"/"+inc.Spec.Affected[0].Name] = inc
			}
			return out
		}
		// With the install's RBAC (ITOPS_E2E_INSTALL_RBAC=1) the operator may not read Secrets:
		// only the Certificate is judged, which is the point of reading Certificates.
		secretsReadable := operatorRBACDir() == ""
		Eventually(func(g Gomega) {
			incs := byAffected(g)
			if !secretsReadable {
				g.Expect(incs).To(HaveKey("Certificate/shop"))
				g.Expect(incs).To(HaveLen(1), "Secrets are not read without the administrator's grant")
			} else {
				g.Expect(incs).To(HaveLen(3), "the 300-day certificate is fine")
			}
			api, web, shop := incs["Secret/api-tls"], incs["Certificate/web"], incs["Certificate/shop"]
			g.Expect(shop.Status.Priority).To(Equal(itopsv1alpha1.PriorityP2), "3 days: high")
			g.Expect(shop.Spec.Affected).To(ContainElement(itopsv1alpha1.ObjectReference{APIVersion: "v1", Kind: "Secret", Namespace: ns, Name: "shop-tls"}))
			g.Expect(activeSignalOf(&shop, itopsv1alpha1.ReasonCertificateExpiring).Message).To(And(
				HavePrefix(`Certificate shop: certificate "shop.example.com" issued by "ClusterIssuer/letsencrypt" expires at`),
				ContainSubstring("cert-manager's renewal was due at")))
			if !secretsReadable {
				return
			}
			g.Expect(api.Status.Priority).To(Equal(itopsv1alpha1.PriorityP2), "7 days: high")
			g.Expect(web.Status.Priority).To(Equal(itopsv1alpha1.PriorityP4), "30 days: low")
			g.Expect(web.Spec.Affected).To(ContainElement(itopsv1alpha1.ObjectReference{APIVersion: "v1", Kind: "Secret", Namespace: ns, Name: "web-tls"}))
			g.Expect(activeSignalOf(&api, itopsv1alpha1.ReasonCertificateExpiring).Message).To(ContainSubstring("expires at"))
		}).WithTimeout(60 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())

		By("renewed: the incidents resolve")
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(shop), shop)).To(Succeed())
		Expect(unstructured.SetNestedField(shop.Object, time.Now().Add(90*day).UTC().Format(time.RFC3339), "status", "notAfter")).To(Succeed())
		Expect(unstructured.SetNestedField(shop.Object, time.Now().Add(60*day).UTC().Format(time.RFC3339), "status", "renewalTime")).To(Succeed())
		Expect(k8s.Update(ctx, shop)).To(Succeed())
		renewed := tlsSecret(ns, "api-tls", time.Now().Add(90*day), nil)
		old := &corev1.Secret{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "api-tls"}, old)).To(Succeed())
		old.Data = renewed.Data
		Expect(k8s.Update(ctx, old)).To(Succeed())
		renewedKeys := []string{"Certificate/shop"}
		if secretsReadable {
			renewedKeys = append(renewedKeys, "Secret/api-tls")
		}
		Eventually(func(g Gomega) {
			for _, key := range renewedKeys {
				inc := byAffected(g)[key]
				g.Expect(activeSignalOf(&inc, itopsv1alpha1.ReasonCertificateExpiring)).To(BeNil(), key)
				g.Expect(inc.Status.Phase).To(Equal(itopsv1alpha1.IncidentResolved), key)
			}
		}).WithTimeout(60 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())
	})
})

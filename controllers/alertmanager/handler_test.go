package alertmanager

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/controllers/incidentwriter"
	"github.com/itops-dev/itops-operator/internal/config"
	"github.com/itops-dev/itops-operator/internal/health"
	"github.com/itops-dev/itops-operator/internal/lifecycle"
	"github.com/itops-dev/itops-operator/test/cluster"
)

const token = "s3cret-token"

func newReceiver(t *testing.T, policyDoc string, objs ...client.Object) (*Receiver, client.Client) {
	t.Helper()
	cfg, err := config.Parse([]byte(policyDoc))
	if err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "itops-system", Name: "itops-alertmanager"}, Data: map[string][]byte{"token": []byte(token)}}
	c := fake.NewClientBuilder().WithScheme(cluster.Scheme()).WithStatusSubresource(&itopsv1alpha1.Incident{}).
		WithObjects(append(objs, secret)...).Build()
	clock := clocktesting.NewFakePassiveClock(time.Date(2026, 12, 1, 4, 0, 0, 0, time.UTC))
	return &Receiver{
		Policy: cfg.Alertmanager, Reader: c, APIReader: c, Namespace: "itops-system", Log: logr.Discard(), Clock: clock,
		Writer: &incidentwriter.Writer{Client: c, Policy: lifecycle.DefaultPolicy, ClusterNamespace: "itops-cluster", Clock: clock},
	}, c
}

const enabled = "alertmanager: {enabled: true, tokenSecretRef: {name: itops-alertmanager, key: token}, maxBodyBytes: 4096}\n"

func post(r http.Handler, method, auth, body string) (*httptest.ResponseRecorder, response) {
	req := httptest.NewRequest(method, Path, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, req)
	var resp response
	_ = json.Unmarshal(rec.Body.Bytes(), &resp)
	return rec, resp
}

func payload(status string, alerts ...string) string {
	return fmt.Sprintf(`{"version":"4","status":%q,"receiver":"itops","groupKey":"g","groupLabels":{"namespace":"shop"},"alerts":[%s]}`, status, strings.Join(alerts, ","))
}

func alert(status, fp string, labels map[string]string) string {
	l, _ := json.Marshal(labels)
	return fmt.Sprintf(`{"status":%q,"labels":%s,"annotations":{"summary":"%s is wrong","runbook_url":"https://runbooks/%s"},"startsAt":"2026-12-01T03:59:00Z","fingerprint":%q,"generatorURL":"http://prom/g"}`,
		status, l, labels["alertname"], labels["alertname"], fp)
}

func TestHandlerRefusals(t *testing.T) {
	good := payload("firing", alert("firing", "aa", map[string]string{"alertname": "A", "namespace": "shop"}))
	for _, tt := range []struct {
		name, policy, method, auth, body string
		code                             int
		errContains                      string
	}{
		{"disabled", "", http.MethodPost, "Bearer " + token, good, 404, "set alertmanager.enabled"},
		{"wrong method", enabled, http.MethodGet, "Bearer " + token, "", 405, "method GET not allowed"},
		{"no token", enabled, http.MethodPost, "", good, 401, "Authorization: Bearer"},
		{"wrong token", enabled, http.MethodPost, "Bearer nope", good, 401, "unauthenticated"},
		{"basic auth", enabled, http.MethodPost, "Basic " + token, good, 401, "unauthenticated"},
		{"the Secret's key is missing", "alertmanager: {enabled: true, tokenSecretRef: {name: itops-alertmanager, key: other}}", http.MethodPost, "Bearer " + token, good, 503, "cannot read its token"},
		{"the Secret is missing", "alertmanager: {enabled: true, tokenSecretRef: {name: missing, key: token}}", http.MethodPost, "Bearer " + token, good, 503, "cannot read its token"},
		{"too large", enabled, http.MethodPost, "Bearer " + token, `{"version":"4","x":"` + strings.Repeat("x", 5000) + `"}`, 413, "exceeds 4096 bytes"},
		{"bad JSON", enabled, http.MethodPost, "Bearer " + token, `{"version":`, 400, "not Alertmanager's JSON webhook payload"},
		{"unknown version", enabled, http.MethodPost, "Bearer " + token, `{"version":"5","alerts":[]}`, 422, `accepts version "4"`},
		{"no certificate with mTLS only", "mtls", http.MethodPost, "Bearer " + token, good, 401, "client certificate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.policy == "mtls" {
				tt.policy = mtlsOnly(t)
			}
			r, c := newReceiver(t, tt.policy)
			rec, resp := post(r, tt.method, tt.auth, tt.body)
			if rec.Code != tt.code || !strings.Contains(resp.Error, tt.errContains) {
				t.Errorf("got %d %q, want %d containing %q", rec.Code, resp.Error, tt.code, tt.errContains)
			}
			if strings.Contains(rec.Body.String(), token) {
				t.Error("the answer shows the token")
			}
			list := &itopsv1alpha1.IncidentList{}
			if err := c.List(context.Background(), list); err != nil || len(list.Items) != 0 {
				t.Errorf("a refused notification wrote %d incidents (%v)", len(list.Items), err)
			}
		})
	}
}

// mtlsOnly is a policy trusting a CA of its own for mTLS, and no token.
func mtlsOnly(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca := strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	return "alertmanager:\n  enabled: true\n  clientCA: |\n    " + strings.ReplaceAll(ca, "\n", "\n    ") + "\n"
}

func incidentOf(t *testing.T, c client.Client, ns, name string) *itopsv1alpha1.Incident {
	t.Helper()
	inc := &itopsv1alpha1.Incident{}
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, inc); err != nil {
		t.Fatalf("incident %s/%s: %v", ns, name, err)
	}
	return inc
}

func signal(inc *itopsv1alpha1.Incident, reason string) *itopsv1alpha1.Signal {
	for i := range inc.Status.Signals {
		if inc.Status.Signals[i].Reason == reason {
			return &inc.Status.Signals[i]
		}
	}
	return nil
}

// The story of the issue, on the handler and the writer: a firing alert about a pod opens
// the incident of its Deployment; a second alert joins it; a re-post changes nothing; an alert
// about a workload with a detector's incident joins that incident; resolutions clear.
func TestHandlerWritesSignals(t *testing.T) {
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "checkout", UID: "dep-uid", Labels: map[string]string{"app": "checkout"}}}
	sl := &itopsv1alpha1.ServiceLevel{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "checkout-slo"},
		Spec: itopsv1alpha1.ServiceLevelSpec{Selector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "checkout"}}}}
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "checkout-7d9", UID: "rs-uid",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "checkout", UID: "dep-uid", Controller: ptr.To(true)}}}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "checkout-7d9-abcde",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "checkout-7d9", UID: "rs-uid", Controller: ptr.To(true)}}}}
	// The detectors already have an incident for Deployment cart.
	cart := health.Subject{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "shop", Name: "cart"}
	r, c := newReceiver(t, enabled, dep, rs, pod, sl)
	ctx := context.Background()
	if err := r.Writer.Sync(ctx, incidentwriter.Observation{Subject: cart, Judged: []string{"CrashLoopBackOff"},
		Problems: []health.Problem{{Reason: "CrashLoopBackOff", Message: "crashing"}}}); err != nil {
		t.Fatal(err)
	}
	auth := "Bearer " + token
	crash := alert("firing", "f1", map[string]string{"alertname": "KubePodCrashLooping", "severity": "critical", "namespace": "shop", "pod": pod.Name, "service": "ksm"})
	rec, resp := post(r, http.MethodPost, auth, payload("firing", crash))
	if rec.Code != 200 || strings.Join(resp.Subjects, ",") != "Deployment/shop/checkout" {
		t.Fatalf("got %d %+v", rec.Code, resp)
	}
	inc := incidentOf(t, c, "shop", "deployment-checkout")
	s := signal(inc, "KubePodCrashLooping")
	if inc.Spec.Source != itopsv1alpha1.SourceAlertmanager || inc.Labels[itopsv1alpha1.LabelSource] != "Alertmanager" || inc.Spec.Impact != "High" || inc.Spec.Urgency != "High" ||
		inc.Spec.Service != "checkout-slo" ||
		s == nil || !s.Active || s.Priority != "P1" || s.Source != "Alertmanager" || s.RunbookURL != "https://runbooks/KubePodCrashLooping" || s.GeneratorURL != "http://prom/g" ||
		s.Message != "KubePodCrashLooping is wrong" {
		t.Fatalf("incident %+v", inc)
	}
	rv := inc.ResourceVersion

	// Re-posted: idempotent.
	if rec, _ := post(r, http.MethodPost, auth, payload("firing", crash)); rec.Code != 200 {
		t.Fatal(rec.Code)
	}
	if incidentOf(t, c, "shop", "deployment-checkout").ResourceVersion != rv {
		t.Error("a re-posted alert wrote the incident again")
	}

	// A second alert about the deployment joins; one about cart joins the detector's incident.
	latency := alert("firing", "f2", map[string]string{"alertname": "HighLatency", "severity": "warning", "namespace": "shop", "deployment": "checkout"})
	cartAlert := alert("firing", "f3", map[string]string{"alertname": "CartErrors", "severity": "warning", "namespace": "shop", "deployment": "cart"})
	if rec, resp := post(r, http.MethodPost, auth, payload("firing", crash, latency, cartAlert)); rec.Code != 200 || len(resp.Subjects) != 2 {
		t.Fatalf("got %d %+v", rec.Code, resp)
	}
	inc = incidentOf(t, c, "shop", "deployment-checkout")
	if len(inc.Status.Signals) != 2 || signal(inc, "HighLatency") == nil || !signal(inc, "HighLatency").Active {
		t.Errorf("signals %+v", inc.Status.Signals)
	}
	cartInc := incidentOf(t, c, "shop", "deployment-cart")
	if cartInc.Spec.Source != itopsv1alpha1.SourceHealthCheck || signal(cartInc, "CartErrors") == nil || signal(cartInc, "CrashLoopBackOff") == nil ||
		cartInc.Spec.Reason != "CrashLoopBackOff" {
		t.Errorf("the cart alert did not join the detector's incident: %+v", cartInc.Status.Signals)
	}
	list := &itopsv1alpha1.IncidentList{}
	if err := c.List(ctx, list); err != nil || len(list.Items) != 2 {
		t.Fatalf("want 2 incidents, got %d (%v)", len(list.Items), err)
	}

	// A rollout replaced the pod before its alert resolves: the alert stays on the incident it
	// joined, though its labels no longer lead to the Deployment.
	if err := c.Delete(ctx, pod); err != nil {
		t.Fatal(err)
	}
	// Everything resolves: the signals clear, ProblemPresent turns False on checkout.
	resolved := strings.NewReplacer(`"status":"firing"`, `"status":"resolved"`)
	if rec, _ := post(r, http.MethodPost, auth, resolved.Replace(payload("resolved", crash, latency, cartAlert))); rec.Code != 200 {
		t.Fatal(rec.Code)
	}
	inc = incidentOf(t, c, "shop", "deployment-checkout")
	if health.AnyActive(inc.Status.Signals) || !meta.IsStatusConditionFalse(inc.Status.Conditions, itopsv1alpha1.IncidentConditionProblemPresent) {
		t.Errorf("checkout still active: %+v", inc.Status)
	}
	cartInc = incidentOf(t, c, "shop", "deployment-cart")
	if signal(cartInc, "CartErrors").Active || !signal(cartInc, "CrashLoopBackOff").Active {
		t.Errorf("cart signals %+v", cartInc.Status.Signals)
	}
}

// Severity none (Watchdog) is dropped; a resolution never seen firing opens nothing; an alert
// with no subject labels goes to its group's incident in the cluster namespace.
func TestHandlerIgnoredAndClusterLevel(t *testing.T) {
	r, c := newReceiver(t, enabled)
	auth := "Bearer " + token
	watchdog := alert("firing", "w1", map[string]string{"alertname": "Watchdog", "severity": "none"})
	gone := alert("resolved", "g1", map[string]string{"alertname": "Gone", "namespace": "shop"})
	if rec, resp := post(r, http.MethodPost, auth, payload("firing", watchdog, gone)); rec.Code != 200 || resp.Ignored != 1 {
		t.Fatalf("got %d %+v", rec.Code, resp)
	}
	list := &itopsv1alpha1.IncidentList{}
	if err := c.List(context.Background(), list); err != nil || len(list.Items) != 0 {
		t.Fatalf("want no incidents, got %d", len(list.Items))
	}
	etcd := alert("firing", "e1", map[string]string{"alertname": "etcdNoLeader", "severity": "critical"})
	body := strings.Replace(payload("firing", etcd), `"groupLabels":{"namespace":"shop"}`, `"groupLabels":{"alertname":"etcdNoLeader"}`, 1)
	if rec, resp := post(r, http.MethodPost, auth, body); rec.Code != 200 {
		t.Fatalf("got %d %+v", rec.Code, resp)
	}
	inc := incidentOf(t, c, "itops-cluster", "alertgroup-etcdnoleader")
	if s := signal(inc, "EtcdNoLeader"); s == nil || s.Priority != "P1" {
		t.Errorf("signals %+v", inc.Status.Signals)
	}
}

// mTLS: a client certificate the policy's clientCA trusts authenticates without a token.
func TestHandlerClientCertificate(t *testing.T) {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "am-ca"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "alertmanager"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	leafDER, _ := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	leaf, _ := x509.ParseCertificate(leafDER)
	caPEM := strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})))
	r, _ := newReceiver(t, "alertmanager:\n  enabled: true\n  clientCA: |\n    "+strings.ReplaceAll(caPEM, "\n", "\n    ")+"\n")
	body := payload("firing", alert("firing", "aa", map[string]string{"alertname": "A", "namespace": "shop"}))
	req := httptest.NewRequest(http.MethodPost, Path, strings.NewReader(body))
	req.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}}
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Errorf("trusted client certificate: %d %s", rec.Code, rec.Body)
	}
	req = httptest.NewRequest(http.MethodPost, Path, strings.NewReader(body))
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherDER, _ := x509.CreateCertificate(rand.Reader, leafTmpl, leafTmpl, &otherKey.PublicKey, otherKey) // self-signed
	other, _ := x509.ParseCertificate(otherDER)
	req.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{other}}
	rec = httptest.NewRecorder()
	r.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("untrusted certificate: %d", rec.Code)
	}
}

// A rotated token is honoured at once (a refusal re-reads the Secret); the old one is refused.
func TestHandlerTokenRotation(t *testing.T) {
	r, c := newReceiver(t, enabled)
	body := payload("firing", alert("firing", "aa", map[string]string{"alertname": "A", "namespace": "shop"}))
	if rec, _ := post(r, http.MethodPost, "Bearer "+token, body); rec.Code != 200 {
		t.Fatal(rec.Code)
	}
	secret := &corev1.Secret{}
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: "itops-system", Name: "itops-alertmanager"}, secret); err != nil {
		t.Fatal(err)
	}
	secret.Data["token"] = []byte("rotated")
	if err := c.Update(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	r.Clock.(*clocktesting.FakePassiveClock).SetTime(r.now().Add(6 * time.Second))
	if rec, _ := post(r, http.MethodPost, "Bearer rotated", body); rec.Code != 200 {
		t.Errorf("rotated token: %d", rec.Code)
	}
	if rec, _ := post(r, http.MethodPost, "Bearer "+token, body); rec.Code != 401 {
		t.Errorf("old token: %d", rec.Code)
	}
}

// Over a real TLS connection with TLSOptions: the server asks for a client certificate
// without requiring it, so a client without one still connects (as the API server's admission
// calls do) and is refused by the endpoint alone; a trusted client certificate is accepted.
func TestTLSOptionsClientCertificate(t *testing.T) {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "am-ca"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "alertmanager"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	leafDER, _ := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	caPEM := strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})))
	r, _ := newReceiver(t, "alertmanager:\n  enabled: true\n  clientCA: |\n    "+strings.ReplaceAll(caPEM, "\n", "\n    ")+"\n")

	srv := httptest.NewUnstartedServer(r)
	srv.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	for _, opt := range TLSOptions(nil, r.Policy) {
		opt(srv.TLS)
	}
	srv.StartTLS()
	defer srv.Close()
	body := payload("firing", alert("firing", "aa", map[string]string{"alertname": "A", "namespace": "shop"}))
	do := func(certs []tls.Certificate) int {
		transport := srv.Client().Transport.(*http.Transport).Clone()
		transport.TLSClientConfig.Certificates = certs
		resp, err := (&http.Client{Transport: transport}).Post(srv.URL+Path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	if code := do(nil); code != http.StatusUnauthorized {
		t.Errorf("without a client certificate: %d, want 401", code)
	}
	if code := do([]tls.Certificate{{Certificate: [][]byte{leafDER}, PrivateKey: key}}); code != http.StatusOK {
		t.Errorf("with a trusted client certificate: %d, want 200", code)
	}
	if len(TLSOptions(nil, config.AlertmanagerPolicy{Enabled: true})) != 0 {
		t.Error("without clientCA the server must not ask for client certificates")
	}
}

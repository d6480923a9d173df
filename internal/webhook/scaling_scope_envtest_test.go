package webhook

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/itops-dev/itops-operator/test/testenv"
)

// hungWebhook stands for a hung operator: it records every admission request it receives
// (namespace, operation, resource) and answers none outside release namespaces, so that the
// API server waits out timeoutSeconds. Requests in release namespaces are allowed at once.
type hungWebhook struct {
	*httptest.Server
	mu       sync.Mutex
	seen     []string
	released map[string]bool
}

func newHungWebhook() *hungWebhook {
	h := &hungWebhook{released: map[string]bool{}}
	h.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		review := &admissionv1.AdmissionReview{}
		if err := json.NewDecoder(r.Body).Decode(review); err != nil || review.Request == nil {
			http.Error(w, "bad review", http.StatusBadRequest)
			return
		}
		req := review.Request
		h.mu.Lock()
		h.seen = append(h.seen, strings.Join([]string{req.Namespace, string(req.Operation), req.Resource.Resource, req.SubResource}, " "))
		hang := !h.released[req.Namespace]
		h.mu.Unlock()
		if hang {
			<-r.Context().Done()
			return
		}
		review.Response = &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}
		review.Request = nil
		_ = json.NewEncoder(w).Encode(review)
	}))
	return h
}

func (h *hungWebhook) release(ns string) { h.mu.Lock(); h.released[ns] = true; h.mu.Unlock() }

// calls are the recorded requests in namespace ns.
func (h *hungWebhook) calls(ns string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, s := range h.seen {
		if strings.HasPrefix(s, ns+" ") {
			out = append(out, s)
		}
	}
	return out
}

// installScalingWebhooks installs the scaling bounds webhooks exactly as generated into
// config/webhook/manifests.yaml (rules, namespaceSelector, matchConditions, timeout, failure
// policy), under other names and pointed at url.
func installScalingWebhooks(url string, ca []byte) {
	GinkgoHelper()
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "webhook", "manifests.yaml"))
	Expect(err).NotTo(HaveOccurred())
	cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "itops-scaling-scope-test"}}
	for _, doc := range strings.Split(string(raw), "\n---") {
		var vwc admissionregistrationv1.ValidatingWebhookConfiguration
		Expect(utilyaml.Unmarshal([]byte(doc), &vwc)).To(Succeed())
		if vwc.Kind != "ValidatingWebhookConfiguration" {
			continue
		}
		for _, wh := range vwc.Webhooks {
			if wh.Name != "vscaling.itops.dev" && wh.Name != "vscalinghpa.itops.dev" {
				continue
			}
			wh.Name = strings.Replace(wh.Name, ".itops.dev", "-test.itops.dev", 1)
			wh.ClientConfig = admissionregistrationv1.WebhookClientConfig{URL: ptr.To(url + ScalingBoundsPath), CABundle: ca}
			cfg.Webhooks = append(cfg.Webhooks, wh)
		}
	}
	Expect(cfg.Webhooks).To(HaveLen(2))
	Expect(env.Client.Create(ctx, cfg)).To(Succeed())
	DeferCleanup(func() { Expect(env.Client.Delete(ctx, cfg)).To(Succeed()) })
}

var _ = Describe("The scaling bounds webhooks' scope (issue 15)", func() {
	It("send only replica changes in enrolled namespaces, so that a hung operator delays no other workload write", func() {
		hung := newHungWebhook()
		DeferCleanup(hung.Close)
		installScalingWebhooks(hung.URL, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: hung.Certificate().Raw}))
		enrolled := boundedNamespace()
		hung.release(enrolled)
		unrelated := testenv.NewNamespace(ctx, env.Client, "unrelated")

		By("a create in an enrolled namespace reaches the webhook (once the configuration is active)")
		n := 0
		Eventually(func() []string {
			n++
			probe := webDeployment(enrolled)
			probe.Name = fmt.Sprintf("probe-%d", n)
			Expect(env.Client.Create(ctx, probe)).To(Succeed())
			return hung.calls(enrolled)
		}).WithTimeout(20 * time.Second).ShouldNot(BeEmpty())

		By("nothing in an unrelated namespace does: create, update, scale, autoscalers")
		other := webDeployment(unrelated)
		other.Spec.Replicas = ptr.To[int32](3)
		Expect(env.Client.Create(ctx, other)).To(Succeed())
		patch := client.MergeFrom(other.DeepCopy())
		other.Spec.Replicas = ptr.To[int32](7)
		other.Spec.Template.Spec.Containers[0].Image = "shop/web:2"
		Expect(env.Client.Patch(ctx, other, patch)).To(Succeed())
		scale := &autoscalingv1.Scale{}
		Expect(env.Client.SubResource("scale").Get(ctx, other, scale)).To(Succeed())
		scale.Spec.Replicas = 9
		Expect(env.Client.SubResource("scale").Update(ctx, other, client.WithSubResourceBody(scale))).To(Succeed())
		hpa := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: unrelated},
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MaxReplicas: 10,
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"}}}
		Expect(env.Client.Create(ctx, hpa)).To(Succeed())
		Expect(hung.calls(unrelated)).To(BeEmpty())

		By("in the enrolled namespace, updates that cannot change a replica count do not either")
		web := webDeployment(enrolled)
		Expect(env.Client.Create(ctx, web)).To(Succeed())
		before := len(hung.calls(enrolled))
		patch = client.MergeFrom(web.DeepCopy())
		web.Spec.Template.Spec.Containers[0].Image = "shop/web:2"
		web.Labels["release"] = "2"
		Expect(env.Client.Patch(ctx, web, patch)).To(Succeed())
		ehpa := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: enrolled},
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: ptr.To[int32](2), MaxReplicas: 4,
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"}}}
		Expect(env.Client.Create(ctx, ehpa)).To(Succeed())
		hpaPatch := client.MergeFrom(ehpa.DeepCopy())
		ehpa.Labels = map[string]string{"team": "shop"}
		Expect(env.Client.Patch(ctx, ehpa, hpaPatch)).To(Succeed())
		Expect(hung.calls(enrolled)[before:]).To(Equal([]string{enrolled + " CREATE horizontalpodautoscalers "}))

		By("and every request that can change one does")
		before = len(hung.calls(enrolled))
		patch = client.MergeFrom(web.DeepCopy())
		web.Spec.Replicas = ptr.To[int32](3)
		Expect(env.Client.Patch(ctx, web, patch)).To(Succeed())
		Expect(env.Client.SubResource("scale").Get(ctx, web, scale)).To(Succeed())
		scale.Spec.Replicas = 4
		Expect(env.Client.SubResource("scale").Update(ctx, web, client.WithSubResourceBody(scale))).To(Succeed())
		hpaPatch = client.MergeFrom(ehpa.DeepCopy())
		ehpa.Spec.MaxReplicas = 5
		Expect(env.Client.Patch(ctx, ehpa, hpaPatch)).To(Succeed())
		hpaPatch = client.MergeFrom(ehpa.DeepCopy())
		ehpa.Spec.MinReplicas = nil
		Expect(env.Client.Patch(ctx, ehpa, hpaPatch)).To(Succeed())
		Expect(hung.calls(enrolled)[before:]).To(Equal([]string{
			enrolled + " UPDATE deployments ",
			enrolled + " UPDATE deployments scale",
			enrolled + " UPDATE horizontalpodautoscalers ",
			enrolled + " UPDATE horizontalpodautoscalers ",
		}))
	})
})

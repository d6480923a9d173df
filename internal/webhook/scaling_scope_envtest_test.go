package webhook

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/types"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/controllers/webhookscope"
	"github.com/itops-dev/itops-operator/test/cluster"
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

// scopeTestConfiguration is the ValidatingWebhookConfiguration the scope spec installs and
// scopes, beside the suite's own.
const scopeTestConfiguration = "itops-scaling-scope-test"

// installScalingWebhooks installs the scaling bounds webhooks exactly as generated into
// config/webhook/manifests.yaml (names, rules, the shipped namespaceSelector, matchConditions,
// timeout, failure policy) as the configuration scopeTestConfiguration, pointed at url.
func installScalingWebhooks(url string, ca []byte) {
	GinkgoHelper()
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "webhook", "manifests.yaml"))
	Expect(err).NotTo(HaveOccurred())
	cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: scopeTestConfiguration}}
	for _, doc := range strings.Split(string(raw), "\n---") {
		var vwc admissionregistrationv1.ValidatingWebhookConfiguration
		Expect(utilyaml.Unmarshal([]byte(doc), &vwc)).To(Succeed())
		if vwc.Kind != "ValidatingWebhookConfiguration" {
			continue
		}
		for _, wh := range vwc.Webhooks {
			if !slices.Contains(webhookscope.ScopedWebhooks, wh.Name) {
				continue
			}
			wh.ClientConfig = admissionregistrationv1.WebhookClientConfig{URL: ptr.To(url + ScalingBoundsPath), CABundle: ca}
			cfg.Webhooks = append(cfg.Webhooks, wh)
		}
	}
	Expect(cfg.Webhooks).To(HaveLen(2))
	Expect(env.Client.Create(ctx, cfg)).To(Succeed())
	DeferCleanup(func() { Expect(env.Client.Delete(ctx, cfg)).To(Succeed()) })
}

// startScope runs the scope controller for the configuration name in a manager of its own, as
// the operator runs it for its configuration, until the spec ends.
func startScope(name string) {
	GinkgoHelper()
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:     cluster.Scheme(),
		Metrics:    metricsserver.Options{BindAddress: "0"},
		Cache:      cache.Options{ByObject: map[client.Object]cache.ByObject{&admissionregistrationv1.ValidatingWebhookConfiguration{}: webhookscope.ConfigurationCache(name)}},
		Controller: config.Controller{SkipNameValidation: ptr.To(true)}, // the suite runs one for its own configuration
	})
	Expect(err).NotTo(HaveOccurred())
	Expect((&webhookscope.Reconciler{Client: mgr.GetClient(), WebhookConfiguration: name}).SetupWithManager(mgr)).To(Succeed())
	mctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(done)
		Expect(mgr.Start(mctx)).To(Succeed())
	}()
	DeferCleanup(func() { stop(); <-done })
}

// scope is the namespace list of the `kubernetes.io/metadata.name In` expression of each of
// the scaling webhooks in scopeTestConfiguration, read from the API server.
func scope() func(g Gomega) [][]string {
	return func(g Gomega) [][]string {
		cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{}
		g.Expect(env.Client.Get(ctx, client.ObjectKey{Name: scopeTestConfiguration}, cfg)).To(Succeed())
		var out [][]string
		for _, wh := range cfg.Webhooks {
			g.Expect(wh.NamespaceSelector).NotTo(BeNil())
			for _, e := range wh.NamespaceSelector.MatchExpressions {
				if e.Key == "kubernetes.io/metadata.name" && e.Operator == metav1.LabelSelectorOpIn {
					out = append(out, e.Values)
				}
			}
		}
		return out
	}
}

var _ = Describe("The scaling bounds webhooks' scope (issue 15)", func() {
	It("follow the ServiceLevels with scaling, with no namespace label: replica changes there reach the operator, nothing else does", func() {
		hung := newHungWebhook()
		DeferCleanup(hung.Close)
		installScalingWebhooks(hung.URL, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: hung.Certificate().Raw}))
		startScope(scopeTestConfiguration)
		scaled := testenv.NewNamespace(ctx, env.Client, "scaled")
		hung.release(scaled)
		unrelated := testenv.NewNamespace(ctx, env.Client, "unrelated")
		inScope := func(ns string) types.GomegaMatcher { return HaveExactElements(ContainElement(ns), ContainElement(ns)) }
		outOfScope := func(ns string) types.GomegaMatcher { return And(HaveLen(2), HaveEach(Not(ContainElement(ns)))) }

		By("a ServiceLevel with scaling puts its namespace in both webhooks' selector, the exclusions kept")
		sl := &itopsv1alpha1.ServiceLevel{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: scaled},
			Spec: itopsv1alpha1.ServiceLevelSpec{Selector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				Scaling: &itopsv1alpha1.ScalingPolicy{MinReplicas: ptr.To[int32](1), MaxReplicas: ptr.To[int32](10)}}}
		Expect(env.Client.Create(ctx, sl)).To(Succeed())
		Eventually(scope()).WithTimeout(20 * time.Second).Should(inScope(scaled))
		Expect(scope()(Default)).To(HaveEach(And(Not(ContainElement(unrelated)), Not(ContainElement(webhookscope.NoNamespace)))))
		cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{}
		Expect(env.Client.Get(ctx, client.ObjectKey{Name: scopeTestConfiguration}, cfg)).To(Succeed())
		for _, wh := range cfg.Webhooks {
			Expect(wh.NamespaceSelector.MatchExpressions).To(ContainElement(metav1.LabelSelectorRequirement{Key: "kubernetes.io/metadata.name",
				Operator: metav1.LabelSelectorOpNotIn, Values: []string{"kube-system", "itops-system", "itops-cluster"}}))
		}

		By("a create there reaches the webhook (once the API server uses the selector)")
		n := 0
		probe := func() *appsv1.Deployment {
			n++
			d := webDeployment(scaled)
			d.Name = fmt.Sprintf("probe-%d", n)
			return d
		}
		Eventually(func() []string {
			Expect(env.Client.Create(ctx, probe())).To(Succeed())
			return hung.calls(scaled)
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

		By("in the scaled namespace, updates that cannot change a replica count do not either")
		web := webDeployment(scaled)
		Expect(env.Client.Create(ctx, web)).To(Succeed())
		before := len(hung.calls(scaled))
		patch = client.MergeFrom(web.DeepCopy())
		web.Spec.Template.Spec.Containers[0].Image = "shop/web:2"
		web.Labels["release"] = "2"
		Expect(env.Client.Patch(ctx, web, patch)).To(Succeed())
		ehpa := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: scaled},
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: ptr.To[int32](2), MaxReplicas: 4,
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"}}}
		Expect(env.Client.Create(ctx, ehpa)).To(Succeed())
		hpaPatch := client.MergeFrom(ehpa.DeepCopy())
		ehpa.Labels = map[string]string{"team": "shop"}
		Expect(env.Client.Patch(ctx, ehpa, hpaPatch)).To(Succeed())
		Expect(hung.calls(scaled)[before:]).To(Equal([]string{scaled + " CREATE horizontalpodautoscalers "}))

		By("and every request that can change one does")
		before = len(hung.calls(scaled))
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
		Expect(hung.calls(scaled)[before:]).To(Equal([]string{
			scaled + " UPDATE deployments ",
			scaled + " UPDATE deployments scale",
			scaled + " UPDATE horizontalpodautoscalers ",
			scaled + " UPDATE horizontalpodautoscalers ",
		}))

		By("spec.scaling removed: the namespace leaves the selector, and its workload writes no longer reach the webhook")
		slPatch := client.MergeFrom(sl.DeepCopy())
		sl.Spec.Scaling = nil
		Expect(env.Client.Patch(ctx, sl, slPatch)).To(Succeed())
		Eventually(scope()).WithTimeout(20 * time.Second).Should(outOfScope(scaled))
		Eventually(func() int {
			before := len(hung.calls(scaled))
			Expect(env.Client.Create(ctx, probe())).To(Succeed())
			return len(hung.calls(scaled)) - before
		}).WithTimeout(20 * time.Second).Should(BeZero())

		By("scaling set again, then the selector reset to the shipped default (helm upgrade, a GitOps sync): the operator puts the namespace back")
		slPatch = client.MergeFrom(sl.DeepCopy())
		sl.Spec.Scaling = &itopsv1alpha1.ScalingPolicy{MaxReplicas: ptr.To[int32](10)}
		Expect(env.Client.Patch(ctx, sl, slPatch)).To(Succeed())
		Eventually(scope()).WithTimeout(20 * time.Second).Should(inScope(scaled))
		Expect(env.Client.Get(ctx, client.ObjectKey{Name: scopeTestConfiguration}, cfg)).To(Succeed())
		for i := range cfg.Webhooks {
			cfg.Webhooks[i].NamespaceSelector = webhookscope.ScopedSelector(cfg.Webhooks[i].NamespaceSelector, nil)
		}
		Expect(env.Client.Update(ctx, cfg)).To(Succeed())
		Eventually(scope()).WithTimeout(20 * time.Second).Should(inScope(scaled))

		By("the ServiceLevel deleted: the namespace leaves the selector")
		Expect(env.Client.Delete(ctx, sl)).To(Succeed())
		Eventually(scope()).WithTimeout(20 * time.Second).Should(outOfScope(scaled))
	})
})

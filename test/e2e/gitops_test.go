package e2e

import (
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/test/cluster"
	"github.com/itops-dev/itops-operator/test/gitops"
)

// warnings collects admission warnings, as kubectl and GitOps tools print them.
type warnings struct {
	sync.Mutex
	texts []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.Lock()
	defer w.Unlock()
	w.texts = append(w.texts, text)
}

func (w *warnings) all() []string {
	w.Lock()
	defer w.Unlock()
	return append([]string(nil), w.texts...)
}

// manifest decodes YAML as a GitOps tool reads it from Git.
func manifest(text, ns string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	Expect(yaml.Unmarshal([]byte(text), &u.Object)).To(Succeed())
	u.SetNamespace(ns)
	return u
}

// health is what Argo CD (the project's Lua check) and Flux (kstatus) make of the live object.
func health(obj client.Object) func(g Gomega) []string {
	return func(g Gomega) []string {
		live := &unstructured.Unstructured{}
		live.SetGroupVersionKind(itopsv1alpha1.GroupVersion.WithKind("ChangeRequest"))
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(obj), live)).To(Succeed())
		h, err := gitops.ArgoHealth(live)
		g.Expect(err).NotTo(HaveOccurred())
		r, err := gitops.Kstatus(live)
		g.Expect(err).NotTo(HaveOccurred())
		return []string{h.Status, r.Status.String()}
	}
}

const gitopsChange = `
apiVersion: itops.dev/v1alpha1
kind: ChangeRequest
metadata:
  name: shop-1-0
  annotations:
    argocd.argoproj.io/sync-wave: "-1"
spec:
  title: Ship shop 1.0
  requester: dev@example.com
  targets:
  - kind: Deployment
    name: shop
    containers:
    - {name: app, image: "shop/web:1.0"}
`

var _ = Describe("GitOps tools", func() {
	It("hold a rollout behind an earlier wave or a dependency until approval, with previews working and approvals kept across syncs", func() {
		ns := enforcedNamespace()
		seen := &warnings{}
		cfg, err := local.UserConfig("system:serviceaccount:flux-system:kustomize-controller", "system:masters")
		Expect(err).NotTo(HaveOccurred())
		cfg.WarningHandler = seen
		pipeline, err := client.New(cfg, client.Options{Scheme: cluster.Scheme()})
		Expect(err).NotTo(HaveOccurred())
		bob, err := local.UserClient("bob@example.com", "system:masters")
		Expect(err).NotTo(HaveOccurred())
		apply := func(u *unstructured.Unstructured, opts ...client.PatchOption) error {
			opts = append(opts, client.FieldOwner("kustomize-controller"), client.ForceOwnership)
			return pipeline.Patch(ctx, u.DeepCopy(), client.Apply, opts...) //nolint:staticcheck // SSA of unstructured, as Flux applies
		}

		By("the pipeline applying the change: Argo CD's wave and Flux's health check wait")
		cr := manifest(gitopsChange, ns)
		Expect(apply(cr)).To(Succeed())
		Eventually(health(cr)).WithTimeout(30 * time.Second).Should(Equal([]string{gitops.Progressing, kstatus.InProgressStatus.String()}))

		By("a dry run of the workload (Flux's dry-run, Argo CD's diff) passing with the reason the real apply would be denied")
		web := shopDeployment(ns)
		Expect(pipeline.Create(ctx, web.DeepCopy(), client.DryRunAll)).To(Succeed())
		Expect(seen.all()).To(ContainElement(ContainSubstring("ChangeRequest shop-1-0 is Pending")))
		Expect(pipeline.Create(ctx, web.DeepCopy())).To(MatchError(ContainSubstring("ChangeRequest shop-1-0 is Pending")))

		By("bob approving: the wave turns Healthy and the dependency Current")
		approve := &itopsv1alpha1.ChangeRequest{}
		Expect(bob.Get(ctx, client.ObjectKeyFromObject(cr), approve)).To(Succeed())
		patch := client.MergeFrom(approve.DeepCopy())
		approve.Spec.Approvals = []itopsv1alpha1.Approval{{Approver: "bob@example.com", Decision: itopsv1alpha1.DecisionApprove}}
		Expect(bob.Patch(ctx, approve, patch)).To(Succeed())
		Eventually(health(cr)).WithTimeout(30 * time.Second).Should(Equal([]string{gitops.Healthy, kstatus.CurrentStatus.String()}))

		By("the next sync re-applying the change from Git: bob's approval stays, the change stays approved")
		Expect(apply(cr)).To(Succeed())
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cr), approve)).To(Succeed())
		Expect(approve.Spec.Approvals).To(ConsistOf(HaveField("Approver", "bob@example.com")))
		Expect(approve.Status.Phase).To(Equal(itopsv1alpha1.ChangeApproved))

		By("the workload's wave applying, rolling out and completing the change")
		Expect(pipeline.Create(ctx, web.DeepCopy())).To(Succeed())
		Eventually(changePhase(approve)).WithTimeout(60 * time.Second).Should(Equal(itopsv1alpha1.ChangeCompleted))
		Expect(health(cr)(Default)).To(Equal([]string{gitops.Healthy, kstatus.CurrentStatus.String()}))

		By("a rejected change degrading the application and failing the dependency")
		rejected := manifest(gitopsChange, ns)
		rejected.SetName("shop-2-0")
		Expect(apply(rejected)).To(Succeed())
		reject := &itopsv1alpha1.ChangeRequest{}
		Expect(bob.Get(ctx, client.ObjectKeyFromObject(rejected), reject)).To(Succeed())
		patch = client.MergeFrom(reject.DeepCopy())
		reject.Spec.Approvals = []itopsv1alpha1.Approval{{Approver: "bob@example.com", Decision: itopsv1alpha1.DecisionReject, Comment: "not before the sale"}}
		Expect(bob.Patch(ctx, reject, patch)).To(Succeed())
		Eventually(health(rejected)).WithTimeout(30 * time.Second).Should(Equal([]string{gitops.Degraded, kstatus.FailedStatus.String()}))
	})
})

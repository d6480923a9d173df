package webhook

import (
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/change"
	"github.com/itops-dev/itops-operator/test/cluster"
	"github.com/itops-dev/itops-operator/test/testenv"
)

// installApproverRole creates the install's itops-approver ClusterRole, exactly as
// config/rbac/aggregated_roles.yaml ships it.
func installApproverRole() {
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "rbac", "aggregated_roles.yaml"))
	Expect(err).NotTo(HaveOccurred())
	for _, doc := range strings.Split(string(data), "\n---") {
		role := &rbacv1.ClusterRole{}
		Expect(yaml.Unmarshal([]byte(doc), role)).To(Succeed())
		if role.Name == "itops-approver" {
			Expect(client.IgnoreAlreadyExists(env.Client.Create(ctx, role))).To(Succeed())
			return
		}
	}
	Fail("config/rbac/aggregated_roles.yaml has no itops-approver ClusterRole")
}

// approverClient impersonates user, a member of groups and of no group RBAC knows: what it may
// do comes from its RoleBindings alone.
// Admission warnings go to seen.
func approverClient(seen *warnings, user string, groups ...string) client.Client {
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
	cfg.WarningHandler = seen
	c, err := client.New(cfg, client.Options{Scheme: cluster.Scheme()})
	Expect(err).NotTo(HaveOccurred())
	return c
}

var _ = Describe("ChangeRequest editors", func() {
	It("never approve what they edited: an itops-approver who rewrites a change cannot then approve it alone", func() {
		ns := enforcedNamespace()
		installApproverRole()
		Expect(env.Client.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "approvers", Namespace: ns},
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "itops-approver"},
			Subjects: []rbacv1.Subject{
				{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "bob"},
				{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "carol"},
			}})).To(Succeed())
		seen := &warnings{}
		bob, carol := approverClient(seen, "bob", "sre-leads"), approverClient(&warnings{}, "carol", "sre-leads")
		alice, deployer := userClient("alice"), userClient("deployer")

		By("alice raising a Medium-risk change (one approval needed) pinning web to 2.0")
		cr := newChangeRequest(ns, "web-v2", "web")
		cr.Spec.Targets[0].Containers = []itopsv1alpha1.ContainerPin{{Name: "app", Image: "shop/web:2.0"}}
		Expect(alice.Create(ctx, cr)).To(Succeed())
		Expect(cr.Spec.EditedBy).To(BeEmpty())

		By("bob, bound only to itops-approver, pinning another image: RBAC lets him patch, the webhook records him")
		edit := client.RawPatch(types.JSONPatchType, []byte(`[{"op":"replace","path":"/spec/targets/0/containers/0/image","value":"shop/web:2.1-bob"}]`))
		Eventually(func() error { return bob.Patch(ctx, cr, edit) }).WithTimeout(10 * time.Second).Should(Succeed())
		Expect(cr.Generation).To(Equal(int64(2)))
		Expect(cr.Spec.EditedBy).To(HaveLen(1))
		Expect(cr.Spec.EditedBy[0].User).To(Equal("bob"))
		Expect(cr.Spec.EditedBy[0].Generation).To(Equal(int64(2)))
		Expect(cr.Spec.EditedBy[0].At.Time).To(BeTemporally("==", fakeClock.Now()))
		Expect(seen.all()).To(ContainElement("bob edited the content of ChangeRequest web-v2 and is recorded in spec.editedBy: "+
			"an editor never approves or rejects this change (separation of duties)"), "told at the edit, not only when approving")

		By("bob approving it alone: refused, saying why")
		refused := "spec.approvals[0]: Forbidden: bob edited this change's content (generation 2) and cannot approve it: " +
			"whoever wrote any part of a change does not approve it (separation of duties); ask another approver"
		Expect(approve(bob, cr, "")).To(MatchError(ContainSubstring(refused)))

		By("bob removing himself from the record: the stored record stands")
		Expect(bob.Patch(ctx, cr, client.RawPatch(types.JSONPatchType, []byte(`[{"op":"remove","path":"/spec/editedBy"}]`)))).To(Succeed())
		Expect(cr.Spec.EditedBy).To(HaveLen(1))
		Expect(bob.Patch(ctx, cr, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"editedBy":[{"user":"mallory","generation":1}]}}`)))).To(Succeed())
		Expect(cr.Spec.EditedBy).To(ConsistOf(HaveField("User", "bob")))

		By("Git re-applying the change server-side (twice, force, as Flux does): the record is kept")
		fromGit := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": itopsv1alpha1.GroupVersion.String(), "kind": "ChangeRequest",
			"metadata": map[string]any{"name": "web-v2", "namespace": ns},
			"spec": map[string]any{"title": "roll out web-v2", "description": "from Git",
				"targets": []any{map[string]any{"kind": "Deployment", "name": "web",
					"containers": []any{map[string]any{"name": "app", "image": "shop/web:2.0"}}}}},
		}}
		for range 2 {
			//nolint:staticcheck // SSA of unstructured, as Flux applies
			Expect(alice.Patch(ctx, fromGit.DeepCopy(), client.Apply, client.FieldOwner("flux"), client.ForceOwnership)).To(Succeed())
		}
		Expect(alice.Get(ctx, client.ObjectKeyFromObject(cr), cr)).To(Succeed())
		Expect(cr.Spec.Targets[0].Containers[0].Image).To(Equal("shop/web:2.0"), "Git's content restored")
		Expect(cr.Spec.EditedBy).To(ConsistOf(HaveField("User", "bob"), HaveField("User", "alice")),
			"an apply that does not send the record neither drops it nor lets bob out of it")
		Expect(approve(bob, cr, "")).To(MatchError(ContainSubstring(refused)), "a reverted edit still had its author")

		By("carol, who edited nothing, approving: her approval counts and the gate admits the content")
		Expect(approve(carol, cr, "")).To(Succeed())
		Expect(cr.Spec.Approvals).To(ConsistOf(HaveField("Approver", "carol")))
		nsObj := &corev1.Namespace{}
		Expect(env.Client.Get(ctx, client.ObjectKey{Name: ns}, nsObj)).To(Succeed())
		a := change.Evaluate(cr, change.PolicyFor(cr, testPolicy.ChangePolicyFor(nsObj.Labels)))
		Expect(a.Authorised).To(BeTrue(), a.Summary())
		Expect(a.Approvers).To(Equal([]string{"carol"}))
		web := webDeployment(ns)
		web.Spec.Template.Spec.Containers[0].Image = "shop/web:2.0"
		Eventually(func() error { return deployer.Create(ctx, web) }).WithTimeout(10 * time.Second).Should(Succeed())
		Expect(web.Annotations).To(HaveKeyWithValue(itopsv1alpha1.AnnotationChangeRequest, "web-v2"))
	})
})

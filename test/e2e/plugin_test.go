package e2e

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/creack/pty"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/test/testenv"
)

// pluginBinary is bin/kubectl-itops as `make plugin` builds it (ITOPS_PLUGIN_BINARY), or one
// built for this run.
func pluginBinary() string {
	if b := os.Getenv("ITOPS_PLUGIN_BINARY"); b != "" {
		return b
	}
	b, err := gexec.Build("github.com/itops-dev/itops-operator/cmd/kubectl-itops")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(gexec.CleanupBuildArtifacts)
	return b
}

// terminal runs the plugin as one person, on a pseudo-terminal, as they would at a shell.
type terminal struct {
	bin, kubeconfig, namespace string
}

// run runs `kubectl itops args...` and returns what the terminal showed (line endings
// normalised) and the exit status.
func (t terminal) run(args ...string) (string, int) {
	GinkgoHelper()
	args = append([]string{"--kubeconfig", t.kubeconfig, "-n", t.namespace}, args...)
	cmd := exec.Command(t.bin, args...)
	cmd.Env = append(os.Environ(), "TERM=dumb")
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 60, Cols: 220})
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = tty.Close() }()
	var out bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(&out, tty) // ends with EIO once the program exited and its output is read
	}()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	Eventually(waited).WithTimeout(30 * time.Second).Should(Receive())
	Eventually(done).WithTimeout(10 * time.Second).Should(BeClosed())
	text := strings.ReplaceAll(out.String(), "\r\n", "\n")
	GinkgoWriter.Printf("$ kubectl itops %s\n%s", strings.Join(args[4:], " "), text)
	return text, cmd.ProcessState.ExitCode()
}

var _ = Describe("kubectl itops, the plugin", func() {
	It("lets people acknowledge, assign, resolve, approve, reject and freeze without JSON, recorded under their own names", func() {
		bin := pluginBinary()
		ns := newNamespace()
		Expect(k8s.Create(ctx, shopDeployment(ns))).To(Succeed())
		nsObj := &corev1.Namespace{}
		Expect(k8s.Get(ctx, client.ObjectKey{Name: ns}, nsObj)).To(Succeed())
		patch := client.MergeFrom(nsObj.DeepCopy())
		nsObj.Labels[itopsv1alpha1.LabelChangeControl] = itopsv1alpha1.ChangeControlEnforced
		Expect(k8s.Patch(ctx, nsObj, patch)).To(Succeed())

		as := func(user string) terminal {
			kubeconfig, err := local.UserKubeconfig(user)
			Expect(err).NotTo(HaveOccurred())
			return terminal{bin: bin, kubeconfig: kubeconfig, namespace: ns}
		}
		By("people hold the install's roles, bound in the namespace: developers the built-in edit (which aggregates itops-edit), approvers itops-approver")
		Expect(local.ApplyFile(ctx, filepath.Join(testenv.RepoRoot(), "config", "rbac", "aggregated_roles.yaml"))).To(Succeed())
		Eventually(func(g Gomega) {
			edit := &rbacv1.ClusterRole{}
			g.Expect(k8s.Get(ctx, client.ObjectKey{Name: "edit"}, edit)).To(Succeed())
			g.Expect(edit.Rules).To(ContainElement(HaveField("APIGroups", ContainElement("itops.dev"))), "kube-controller-manager aggregates itops-edit into edit")
		}).WithTimeout(30 * time.Second).Should(Succeed())
		bind := func(user, clusterRole string) {
			GinkgoHelper()
			Expect(k8s.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: strings.Split(user, "@")[0] + "-" + clusterRole, Namespace: ns},
				RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRole},
				Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}})).To(Succeed())
		}
		// alice and dave are developers (edit); bob and carol approvers (itops-approver only).
		bind("alice@example.com", "edit")
		bind("dave@example.com", "edit")
		bind("bob@example.com", "itops-approver")
		bind("carol@example.com", "itops-approver")
		alice, bob, carol, dave := as("alice@example.com"), as("bob@example.com"), as("carol@example.com"), as("dave@example.com")

		By("an incident acknowledged, assigned and resolved by a developer (edit), each stamped with the caller")
		Expect(k8s.Create(ctx, &itopsv1alpha1.ServiceLevel{ObjectMeta: metav1.ObjectMeta{Name: "checkout", Namespace: ns},
			Spec: itopsv1alpha1.ServiceLevelSpec{Selector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "shop"}},
				Objectives: &itopsv1alpha1.Objectives{Availability: "99.9"},
				SLA: []itopsv1alpha1.SLATarget{{Priority: itopsv1alpha1.PriorityP1,
					RespondWithin: &metav1.Duration{Duration: 15 * time.Minute}, ResolveWithin: &metav1.Duration{Duration: 4 * time.Hour}}}}})).To(Succeed())
		inc := &itopsv1alpha1.Incident{ObjectMeta: metav1.ObjectMeta{Name: "checkout-errors", Namespace: ns},
			Spec: itopsv1alpha1.IncidentSpec{Title: "Checkout errors", Service: "checkout", Impact: itopsv1alpha1.LevelHigh, Urgency: itopsv1alpha1.LevelHigh}}
		Expect(k8s.Create(ctx, inc)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(inc), inc)).To(Succeed())
			g.Expect(inc.Status.ResponseDueAt).NotTo(BeNil())
		}).WithTimeout(30 * time.Second).Should(Succeed())
		out, _ := alice.run("status")
		Expect(out).To(MatchRegexp(`P1\s+checkout-errors\s+Open\s+\S+\s+in 1[45]m\S*\s+in [34]h\S*\s+-\s+Checkout errors`), "SLA countdowns")
		Expect(out).To(MatchRegexp(`checkout\s+99.9% / 30d\s+`), "the service level")
		Expect(out).To(ContainSubstring("warning: could not read the MaintenanceWindows of namespace "+clusterNamespace+": forbidden; the report may miss cluster-wide freezes"),
			"a namespace developer may not read the cluster namespace: said, not swallowed")
		out, code := alice.run("ack", "checkout-errors", "--note", "looking at the last deploy")
		Expect(code).To(Equal(0))
		Expect(out).To(ContainSubstring("incident.itops.dev/checkout-errors acknowledged by alice@example.com at "))
		out, code = alice.run("assign", "checkout-errors", "dave@example.com", "--team", "payments")
		Expect(code).To(Equal(0))
		Expect(out).To(ContainSubstring("incident.itops.dev/checkout-errors assigned to dave@example.com (team payments)"))
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(inc), inc)).To(Succeed())
			g.Expect(inc.Status.Phase).To(Equal(itopsv1alpha1.IncidentAcknowledged))
		}).WithTimeout(30 * time.Second).Should(Succeed())
		Expect(inc.Spec.Acknowledgement.By).To(Equal("alice@example.com"))
		Expect(inc.Spec.Team).To(Equal("payments"))
		Expect(inc.Spec.Assignment).NotTo(BeNil())
		Expect(inc.Spec.Assignment.By).To(Equal("alice@example.com"))
		out, _ = dave.run("status")
		Expect(out).To(MatchRegexp(`P1\s+checkout-errors\s+Acknowledged\s+.*dave@example.com\s+Checkout errors`))
		out, code = dave.run("ack", "checkout-errors", "--note", "mine now")
		Expect(code).To(Equal(1))
		Expect(out).To(ContainSubstring("only alice@example.com can change or withdraw this acknowledgement"))
		out, code = dave.run("resolve", "checkout-errors", "--code", "Fixed", "--note", "rolled back")
		Expect(code).To(Equal(0))
		Expect(out).To(ContainSubstring("incident.itops.dev/checkout-errors resolved (Fixed) by dave@example.com"))
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(inc), inc)).To(Succeed())
			g.Expect(inc.Status.ResolvedBy).To(Equal("dave@example.com"))
		}).WithTimeout(30 * time.Second).Should(Succeed())
		out, _ = bob.run("timeline", "checkout-errors")
		Expect(out).To(ContainSubstring("Acknowledged by alice@example.com at "))
		Expect(out).To(ContainSubstring("Resolved (Fixed) by dave@example.com at "))
		out, _ = alice.run("resolve", "checkout-errors", "--code", "Fixd")
		Expect(out).To(ContainSubstring(`error: --code "Fixd": must be one of Fixed, Workaround, NoAction, Duplicate, FalsePositive`))

		By("a High-risk change: can-i-deploy says no and why, two approvers approve, then it says yes")
		cr := &itopsv1alpha1.ChangeRequest{ObjectMeta: metav1.ObjectMeta{Name: "shop-2-0", Namespace: ns},
			Spec: itopsv1alpha1.ChangeRequestSpec{Title: "Ship shop 2.0", Risk: itopsv1alpha1.LevelHigh,
				Targets: []itopsv1alpha1.ChangeTarget{{Kind: itopsv1alpha1.TargetDeployment, Name: "shop"}}}}
		aliceClient, err := local.UserClient("alice@example.com")
		Expect(err).NotTo(HaveOccurred())
		Expect(aliceClient.Create(ctx, cr)).To(Succeed())
		Eventually(changePhase(cr)).WithTimeout(30 * time.Second).Should(Equal(itopsv1alpha1.ChangePending))
		out, code = alice.run("can-i-deploy", "deployment/shop")
		Expect(code).To(Equal(1))
		Expect(out).To(ContainSubstring("no: the change gate would deny a change to deployment/shop in namespace " + ns))
		Expect(out).To(ContainSubstring("reason: itops change control: update of Deployment " + ns + "/shop denied: "))
		Expect(out).To(ContainSubstring("ChangeRequest shop-2-0 is Pending with 0/2 approvals: approvers run `kubectl itops approve shop-2-0 -n " + ns + "`"))
		Expect(out).To(ContainSubstring("warning: could not read the MaintenanceWindows of namespace " + clusterNamespace + ": forbidden; the answer may miss cluster-wide freezes"))

		By("dave, a developer (edit: he may patch changes, but holds no approve verb), is told what to grant")
		out, code = dave.run("approve", "shop-2-0")
		Expect(code).To(Equal(1))
		Expect(out).To(ContainSubstring("user dave@example.com may not approve changerequests in namespace " + ns + ": grant the itops-approver ClusterRole"))
		out, code = bob.run("approve", "shop-2-0", "--comment", "LGTM")
		Expect(code).To(Equal(0))
		Expect(out).To(ContainSubstring("changerequest.itops.dev/shop-2-0 approved by bob@example.com at "))
		out, code = carol.run("approve", "shop-2-0", "--comment", "rollback plan reviewed")
		Expect(code).To(Equal(0), "the second approver")
		Expect(out).To(ContainSubstring("changerequest.itops.dev/shop-2-0 approved by carol@example.com at "))
		Eventually(changePhase(cr)).WithTimeout(30 * time.Second).Should(Equal(itopsv1alpha1.ChangeApproved))
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cr), cr)).To(Succeed())
		Expect(cr.Spec.Approvals).To(HaveLen(2))
		Expect(cr.Spec.Approvals[0].Approver).To(Equal("bob@example.com"))
		Expect(cr.Spec.Approvals[1].Approver).To(Equal("carol@example.com"))
		out, code = alice.run("can-i-deploy", "deployment/shop")
		Expect(code).To(Equal(0), "a developer may ask the gate (a dry run of edit's patch)")
		Expect(out).To(ContainSubstring("yes: the change gate admits a change to deployment/shop in namespace " + ns + " now under ChangeRequest shop-2-0"))
		out, _ = alice.run("status")
		Expect(out).To(MatchRegexp(`shop-2-0\s+Approved\s+Normal\s+High\s+2/2\s+bob@example.com:Approve, carol@example.com:Approve`))

		By("a rejected change")
		rejected := &itopsv1alpha1.ChangeRequest{ObjectMeta: metav1.ObjectMeta{Name: "shop-3-0", Namespace: ns},
			Spec: itopsv1alpha1.ChangeRequestSpec{Title: "Ship shop 3.0", Targets: []itopsv1alpha1.ChangeTarget{{Kind: itopsv1alpha1.TargetDeployment, Name: "shop"}}}}
		Expect(aliceClient.Create(ctx, rejected)).To(Succeed())
		out, code = bob.run("reject", "shop-3-0", "--comment", "not before the sale")
		Expect(code).To(Equal(0), "an approver rejects")
		Expect(out).To(ContainSubstring("changerequest.itops.dev/shop-3-0 rejected by bob@example.com"))
		Eventually(changePhase(rejected)).WithTimeout(30 * time.Second).Should(Equal(itopsv1alpha1.ChangeRejected))

		By("a freeze: a one-off Freeze window, after which can-i-deploy says no until it ends")
		out, code = alice.run("freeze", "--for", "2h", "--reason", "Black Friday peak", "--name", "peak", "-o", "name")
		Expect(code).To(Equal(0))
		Expect(out).To(ContainSubstring("maintenancewindow.itops.dev/peak"))
		mw := &itopsv1alpha1.MaintenanceWindow{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "peak"}, mw)).To(Succeed())
		Expect(mw.Spec.Type).To(Equal(itopsv1alpha1.WindowFreeze))
		Expect(mw.Spec.Schedules).To(HaveLen(1))
		Expect(mw.Spec.Schedules[0].End.Sub(mw.Spec.Schedules[0].Start.Time)).To(Equal(2 * time.Hour))
		Eventually(func() string { out, _ := alice.run("can-i-deploy", "deployment/shop"); return out }).WithTimeout(30 * time.Second).Should(And(
			ContainSubstring("no: the change gate would deny"),
			ContainSubstring("freeze "+ns+"/peak is active until "),
			ContainSubstring("earliest: "+mw.Spec.Schedules[0].End.UTC().Format(time.RFC3339))))
		out, _ = alice.run("status")
		Expect(out).To(MatchRegexp(`peak\s+Freeze\s+Active\s+until `))
		Expect(out).To(ContainSubstring("OPEN INCIDENTS (0)"))
	})
})

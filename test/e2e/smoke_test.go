package e2e

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/test/testenv"
)

// kubectl runs kubectl against the local cluster and returns its combined output.
func kubectl(args ...string) (string, error) {
	cmd := exec.Command(local.Kubectl(), args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+local.Kubeconfig)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

var _ = Describe("Smoke", func() {
	It("runs a healthy operator", func() {
		Eventually(func(g Gomega) {
			resp, err := http.Get(operator.HealthURL) //nolint:noctx // loopback probe
			g.Expect(err).NotTo(HaveOccurred())
			defer func() { _ = resp.Body.Close() }()
			g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
		}).WithTimeout(10 * time.Second).Should(Succeed())
		Consistently(operator.Exited()).WithTimeout(2 * time.Second).ShouldNot(BeClosed())
	})

	It("serves the four kinds with the printer columns an SRE wants", func() {
		ns := newNamespace()
		files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "samples", "itops_*.yaml"))
		Expect(err).NotTo(HaveOccurred())
		Expect(files).To(HaveLen(4))
		for _, f := range files {
			data, err := os.ReadFile(f)
			Expect(err).NotTo(HaveOccurred())
			u := &unstructured.Unstructured{}
			Expect(yaml.Unmarshal(data, &u.Object)).To(Succeed())
			u.SetNamespace(ns)
			Expect(k8s.Create(ctx, u)).To(Succeed(), filepath.Base(f))
		}

		out, err := kubectl("get", "itops", "-n", ns)
		Expect(err).NotTo(HaveOccurred(), out)
		for _, name := range []string{
			"incident.itops.dev/checkout-latency", "changerequest.itops.dev/checkout-api-1-8-0",
			"maintenancewindow.itops.dev/db-sunday-maintenance", "servicelevel.itops.dev/checkout",
		} {
			Expect(out).To(ContainSubstring(name))
		}
		headers := map[string][]string{
			"inc": {"PRIORITY", "PHASE", "TITLE", "AGE"},
			"chg": {"PHASE", "TYPE", "RISK", "APPROVALS", "TITLE", "AGE"},
			"mw":  {"TYPE", "PHASE", "NEXT-START", "AGE"},
			"sl":  {"OBJECTIVE", "AVAILABILITY", "BUDGET-LEFT", "AGE"},
		}
		for short, cols := range headers {
			out, err := kubectl("get", short, "-n", ns)
			Expect(err).NotTo(HaveOccurred(), out)
			header := strings.Fields(strings.SplitN(out, "\n", 2)[0])
			Expect(header).To(ContainElements(cols), "kubectl get %s", short)
		}
	})

	It("rolls a Deployment out on simulated nodes", func() {
		ns := newNamespace()
		labels := map[string]string{"app": "web"}
		deploy := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](3),
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}}},
				},
			},
		}
		Expect(k8s.Create(ctx, deploy)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(deploy), deploy)).To(Succeed())
			g.Expect(deploy.Status.AvailableReplicas).To(Equal(int32(3)))
		}).WithTimeout(2 * time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())

		pods := &corev1.PodList{}
		Expect(k8s.List(ctx, pods, client.InNamespace(ns), client.MatchingLabels(labels))).To(Succeed())
		Expect(pods.Items).To(HaveLen(3))
		for _, p := range pods.Items {
			Expect(p.Spec.NodeName).To(HavePrefix("kwok-node-"))
			Expect(p.Status.Phase).To(Equal(corev1.PodRunning))
		}
	})

	It("prioritises a manual incident and follows its acknowledgement", func() {
		ns := newNamespace()
		inc := &itopsv1alpha1.Incident{
			ObjectMeta: metav1.ObjectMeta{Name: "db-slow", Namespace: ns},
			Spec:       itopsv1alpha1.IncidentSpec{Title: "Database is slow", Impact: "High", Urgency: "Medium"},
		}
		Expect(k8s.Create(ctx, inc)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(inc), inc)).To(Succeed())
			g.Expect(inc.Status.Priority).To(Equal(itopsv1alpha1.PriorityP2))
			g.Expect(inc.Status.Phase).To(Equal(itopsv1alpha1.IncidentOpen))
			g.Expect(inc.Status.ObservedGeneration).To(Equal(inc.Generation))
		}).WithTimeout(30 * time.Second).Should(Succeed())

		patch := client.MergeFrom(inc.DeepCopy())
		inc.Spec.Acknowledgement = &itopsv1alpha1.Acknowledgement{Note: "on it"}
		Expect(k8s.Patch(ctx, inc, patch)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(inc), inc)).To(Succeed())
			g.Expect(inc.Status.Phase).To(Equal(itopsv1alpha1.IncidentAcknowledged))
			g.Expect(inc.Status.Timeline).To(HaveLen(2))
		}).WithTimeout(30 * time.Second).Should(Succeed())

		out, err := kubectl("wait", "--for=condition=Ready", "incident/db-slow", "-n", ns, "--timeout=30s")
		Expect(err).NotTo(HaveOccurred(), out)
	})
})

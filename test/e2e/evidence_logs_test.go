package e2e

import (
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// The simulated cluster's kwok serves every container's logs through its kubelet API
// (test/cluster/logs.go): the previous instance's log is a crash with a database password
// in a URL and an API key in it.
var _ = Describe("Evidence: the previous container's log", func() {
	It("records the last lines of a crash-looping container's previous log, redacted, in a namespace that opts in, and shows them in kubectl describe", func() {
		ns := newNamespace()
		nsObj := &corev1.Namespace{}
		Expect(k8s.Get(ctx, client.ObjectKey{Name: ns}, nsObj)).To(Succeed())
		patch := client.MergeFrom(nsObj.DeepCopy())
		nsObj.Annotations = map[string]string{itopsv1alpha1.AnnotationEvidenceLogs: itopsv1alpha1.EvidenceLogsPrevious}
		Expect(k8s.Patch(ctx, nsObj, patch)).To(Succeed())
		Expect(k8s.Create(ctx, crashingDeployment(ns, "web", "crashloop", 1))).To(Succeed())

		var inc *itopsv1alpha1.Incident
		Eventually(func(g Gomega) {
			inc = onlyIncident(ns)(g)
			g.Expect(inc.Status.Signals).To(activeSignal(itopsv1alpha1.ReasonCrashLoopBackOff, ""))
			g.Expect(inc.Status.Evidence).NotTo(BeNil())
			g.Expect(inc.Status.Evidence.PreviousLogs).NotTo(BeNil())
		}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())
		logs := inc.Status.Evidence.PreviousLogs
		Expect(logs.Unavailable).To(BeEmpty())
		Expect(logs.Container).To(Equal("app"))
		Expect(logs.Instance).To(Equal(itopsv1alpha1.LogInstancePrevious))
		Expect(logs.Lines).To(Equal([]string{
			"starting web 1.4.2",
			"config: DB_URL=postgres://web:[REDACTED]@db.shop.svc:5432/web",
			"config: api_key=[REDACTED]",
			"connecting to db.shop.svc:5432",
			"panic: dial tcp 10.96.0.7:5432: connect: connection refused",
			"goroutine 1 [running]:",
			"main.main()",
			"\t/src/main.go:42 +0x1d",
		}))
		Expect(logs.Redacted).To(Equal(int32(2)))
		Expect(strings.Join(logs.Lines, "\n")).NotTo(Or(ContainSubstring("hunter2"), ContainSubstring("sk-test")))

		out, err := kubectl("describe", "incident", "-n", ns, inc.Name)
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(out).To(And(ContainSubstring("Previous Logs:"), ContainSubstring("panic: dial tcp 10.96.0.7:5432"), ContainSubstring("Redacted:")))
	})

	It("reads no log where the namespace has not opted in", func() {
		ns := newNamespace()
		Expect(k8s.Create(ctx, crashingDeployment(ns, "web", "crashloop", 1))).To(Succeed())
		Eventually(func(g Gomega) {
			inc := onlyIncident(ns)(g)
			g.Expect(inc.Status.Evidence).NotTo(BeNil())
			g.Expect(inc.Status.Evidence.LastTermination).NotTo(BeNil())
		}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(onlyIncident(ns)(g).Status.Evidence.PreviousLogs).To(BeNil())
		}).WithTimeout(3 * time.Second).Should(Succeed())
	})
})

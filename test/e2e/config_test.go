package e2e

import (
	"os"
	"os/exec"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("The administrator policy file", func() {
	It("refuses to start with an invalid --config, naming the offending key", func() {
		path := filepath.Join(GinkgoT().TempDir(), "policy.yaml")
		Expect(os.WriteFile(path, []byte("changePolicies:\n- minApprovals: {Critical: 1}\n"), 0o600)).To(Succeed())

		out, err := exec.Command(operatorBinary(), "--kubeconfig="+local.Kubeconfig, "--config="+path,
			"--metrics-bind-address=0", "--health-probe-bind-address=0").CombinedOutput()
		var exitErr *exec.ExitError
		Expect(err).To(BeAssignableToTypeOf(exitErr), string(out))
		Expect(string(out)).To(ContainSubstring(`changePolicies[0].minApprovals[Critical]: Unsupported value: \"Critical\"`))
	})

	It("starts with a valid --config", func() {
		path := filepath.Join(GinkgoT().TempDir(), "policy.yaml")
		Expect(os.WriteFile(path, []byte(`
changePolicies:
- namespaceSelector: {matchLabels: {tier: prod}}
  approverGroups: [sre-leads]
  minApprovals: {Low: 1, Medium: 2, High: 3}
  emergencyGroups: [oncall]
  approvalLifetime: 12h
`), 0o600)).To(Succeed())
		op, err := local.StartOperator(ctx, operatorBinary(), "--config="+path,
			"--enable-webhooks=false") // the suite's operator already serves the webhook port
		Expect(err).NotTo(HaveOccurred())
		op.Stop()
		log, err := os.ReadFile(op.LogPath)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(log)).To(ContainSubstring(`"msg":"policy loaded"`))
	})
})

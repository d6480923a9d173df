// Package crd proves, against a real kube-apiserver, that the CRDs accept the samples and
// reject invalid objects with a clear message.
package crd

import (
	"context"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/itops-dev/itops-operator/test/testenv"
)

var (
	env *testenv.Env
	ctx = context.Background()
)

func TestCRDs(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "CRD validation suite")
}

var _ = BeforeSuite(func() {
	var err error
	env, err = testenv.Start()
	Expect(err).NotTo(HaveOccurred())
})

var _ = AfterSuite(func() {
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})

func newNamespace() string { return testenv.NewNamespace(ctx, env.Client, "crd") }

// Package crd proves, against a real kube-apiserver, that the CRDs accept the samples and
// reject invalid objects with a clear message.
package crd

import (
	"context"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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

// newNamespace creates a namespace of the spec's own and returns its name.
func newNamespace() string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "crd-"}}
	Expect(env.Client.Create(ctx, ns)).To(Succeed())
	DeferCleanup(func() { Expect(env.Client.Delete(ctx, ns)).To(Succeed()) })
	return ns.Name
}

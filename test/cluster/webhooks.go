package cluster

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"
)

// InstalledWebhookConfiguration is the name the install gives both webhook configurations
// (config/webhook/kustomization.yaml, the operator's --webhook-configuration-name default).
const InstalledWebhookConfiguration = "itops-operator"

// webhookInstallOptions reads the webhook configurations of paths (controller-gen's output)
// and names them as the install does, so that the operator finds and patches its own
// configuration (the scaling webhooks' scope) under the name its RBAC allows.
func webhookInstallOptions(paths []string) (envtest.WebhookInstallOptions, error) {
	var opts envtest.WebhookInstallOptions
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			return opts, err
		}
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
		for {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return opts, fmt.Errorf("%s: %w", path, err)
			}
			var meta metav1.TypeMeta
			if err := yaml.Unmarshal(doc, &meta); err != nil {
				return opts, fmt.Errorf("%s: %w", path, err)
			}
			switch meta.Kind {
			case "MutatingWebhookConfiguration":
				cfg := &admissionregistrationv1.MutatingWebhookConfiguration{}
				if err := yaml.UnmarshalStrict(doc, cfg); err != nil {
					return opts, fmt.Errorf("%s: %w", path, err)
				}
				cfg.Name = InstalledWebhookConfiguration
				opts.MutatingWebhooks = append(opts.MutatingWebhooks, cfg)
			case "ValidatingWebhookConfiguration":
				cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{}
				if err := yaml.UnmarshalStrict(doc, cfg); err != nil {
					return opts, fmt.Errorf("%s: %w", path, err)
				}
				cfg.Name = InstalledWebhookConfiguration
				opts.ValidatingWebhooks = append(opts.ValidatingWebhooks, cfg)
			}
		}
	}
	if len(opts.MutatingWebhooks)+len(opts.ValidatingWebhooks) > 0 {
		// envtest would pick an ephemeral port; see freePort for why we do not.
		port, err := freePort()
		if err != nil {
			return opts, err
		}
		opts.LocalServingHost, opts.LocalServingPort = "127.0.0.1", port
	}
	return opts, nil
}

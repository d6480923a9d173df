package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	corev1 "k8s.io/api/core/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// PolicyKey is the key of the policy ConfigMap (the Helm chart's <fullname>-policy,
// config/manager's itops-operator-policy) that holds the policy file.
const PolicyKey = "policy.yaml"

// Problems decodes and validates a policy document exactly as Parse (and so the operator's
// start-up) does, and lists every problem: the decoding error (an unknown key or a wrong type:
// decoding stops at the first one) or every validation error, each naming its field path
// (e.g. `notifications.routes[0].receivers[0]: Not found: "sre-hook"`). Empty when Parse
// accepts data. The operator's --check-config mode prints these.
func Problems(data []byte) []string {
	c := &Config{}
	if len(bytes.TrimSpace(data)) > 0 {
		if err := yaml.UnmarshalStrict(data, c); err != nil {
			return []string{err.Error()}
		}
	}
	var out []string
	for _, e := range c.Validate() {
		out = append(out, e.Error())
	}
	return out
}

// PolicyFromManifests returns the policy file held by the first ConfigMap with a policy.yaml key
// in a stream of YAML documents (what `helm template ... --show-only templates/policy.yaml`, or
// a whole `helm template`, prints), and true; or data itself and false when no document is such
// a ConfigMap (data is then a policy file).
func PolicyFromManifests(data []byte) ([]byte, bool, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return data, false, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("reading YAML documents: %w", err)
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if yaml.Unmarshal(doc, &head) != nil || head.APIVersion != "v1" || head.Kind != "ConfigMap" {
			continue
		}
		var cm corev1.ConfigMap
		if err := yaml.Unmarshal(doc, &cm); err != nil {
			return nil, false, fmt.Errorf("decoding ConfigMap: %w", err)
		}
		if policy, ok := cm.Data[PolicyKey]; ok {
			return []byte(policy), true, nil
		}
	}
}

package main

import (
	"fmt"
	"io"
	"os"

	"github.com/itops-dev/itops-operator/internal/config"
)

// checkConfig is the --check-config mode: it loads and validates a policy exactly as start-up
// does (config.Problems is config.Parse's decoding and validation) and prints every problem with
// its field path. path "-" reads standard input. The input is the policy file itself or YAML
// manifests holding the policy ConfigMap (`helm template ... | itops-operator --check-config=-`).
// It returns the exit code: 0 valid, 1 invalid, 2 unreadable.
func checkConfig(path string, stdin io.Reader, out io.Writer) int {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		_, _ = fmt.Fprintf(out, "reading policy file: %v\n", err)
		return 2
	}
	policy, fromConfigMap, err := config.PolicyFromManifests(data)
	if err != nil {
		_, _ = fmt.Fprintf(out, "%s: %v\n", path, err)
		return 2
	}
	what := path
	if fromConfigMap {
		what = fmt.Sprintf("%s (ConfigMap key %s)", path, config.PolicyKey)
	}
	problems := config.Problems(policy)
	if len(problems) == 0 {
		_, _ = fmt.Fprintf(out, "%s: the policy is valid\n", what)
		return 0
	}
	_, _ = fmt.Fprintf(out, "%s: invalid policy: the operator would refuse to start (%d problem(s)):\n", what, len(problems))
	for _, p := range problems {
		_, _ = fmt.Fprintf(out, "  - %s\n", p)
	}
	return 1
}

// Command kubectl-itops is the kubectl plugin for itops-operator (`kubectl itops ...`): the
// things people do every day with incidents, changes and maintenance windows, without JSON.
package main

import (
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/itops-dev/itops-operator/internal/cli"
)

func main() {
	cmd := cli.NewRootCommand(genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
	if err := cmd.Execute(); err != nil {
		os.Exit(cli.ExitCode(err, os.Stderr))
	}
}

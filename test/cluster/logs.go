package cluster

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Every container of every pod on a fake node serves these logs through kwok's kubelet API
// (kubectl logs, and kubectl logs --previous for PreviousContainerLog): a crash as an
// application writes it, with credentials a redaction must catch. Lines are in the CRI log
// format the kubelet reads (time, stream, P/F tag, text).
var (
	CurrentContainerLog = []string{
		"starting web 1.4.2 (attempt after restart)",
	}
	PreviousContainerLog = []string{
		"starting web 1.4.2",
		"config: DB_URL=postgres://web:hunter2@db.shop.svc:5432/web",
		"config: api_key=sk-test-0123456789abcdef",
		"connecting to db.shop.svc:5432",
		"panic: dial tcp 10.96.0.7:5432: connect: connection refused",
		"goroutine 1 [running]:",
		"main.main()",
		"\t/src/main.go:42 +0x1d",
	}
)

// writeLogs writes the two logs and returns the kwok ClusterLogs document that serves them.
func (c *Cluster) writeLogs() (string, error) {
	current := filepath.Join(c.opts.Dir, "container-current.log")
	previous := filepath.Join(c.opts.Dir, "container-previous.log")
	for path, lines := range map[string][]string{current: CurrentContainerLog, previous: PreviousContainerLog} {
		var b strings.Builder
		for _, l := range lines {
			fmt.Fprintf(&b, "2026-12-01T07:00:00.000000000Z stderr F %s\n", l)
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf(`apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata:
  name: itops-test-logs
spec:
  selector: {}
  logs:
  - logsFile: %q
    previousLogsFile: %q
    follow: false`, current, previous), nil
}

package cachetransform

import (
	"encoding/json"
	"runtime"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/itops-dev/itops-operator/test/bench/podspec"
)

// BenchmarkPodCacheBytes reports the live heap one cached pod costs: a realistic running pod
// (podspec.Realistic with podspec.Run's status and managedFields) decoded from JSON as an
// informer decodes it, then kept as a bare informer keeps it (untrimmed), with managedFields
// stripped only, or trimmed by Pod. Run with
// `go test -run '^$' -bench PodCacheBytes -benchtime 2000x ./internal/cachetransform`.
func BenchmarkPodCacheBytes(b *testing.B) {
	p := podspec.Realistic("bench", "load-00001", 0)
	podspec.Run(p)
	raw, err := json.Marshal(p)
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name string
		keep func(*corev1.Pod) any
	}{
		{"untrimmed", func(p *corev1.Pod) any { return p }},
		{"managedFieldsStripped", func(p *corev1.Pod) any { p.ManagedFields = nil; return p }},
		{"trimmed", func(p *corev1.Pod) any { out, _ := Pod(p); return out }},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			kept := make([]any, 0, b.N)
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for range b.N {
				decoded := &corev1.Pod{}
				if err := json.Unmarshal(raw, decoded); err != nil {
					b.Fatal(err)
				}
				kept = append(kept, tc.keep(decoded))
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(b.N), "live-B/pod")
			b.ReportMetric(float64(len(raw)), "json-B/pod")
			runtime.KeepAlive(kept)
		})
	}
}

package capacity

import (
	"strings"
	"testing"
	"time"
)

func TestJudgeMemory(t *testing.T) {
	const mi = 1 << 20
	p := MemoryPolicy{ThresholdPercent: 90, For: 5 * time.Minute}
	cases := []struct {
		name    string
		c       ContainerMemory
		since   time.Time
		firing  bool
		pending bool
		next    time.Time
		msg     string
	}{
		{name: "no limit", c: ContainerMemory{Pod: "web-1", Container: "app", WorkingSet: 900 * mi}},
		{name: "well below", c: ContainerMemory{Pod: "web-1", Container: "app", WorkingSet: 200 * mi, Limit: 512 * mi}},
		{name: "just below the threshold", c: ContainerMemory{Pod: "web-1", Container: "app", WorkingSet: 460 * mi, Limit: 512 * mi}},
		{name: "at the threshold exactly, first seen now", c: ContainerMemory{Pod: "web-1", Container: "app", WorkingSet: 900 * mi, Limit: 1000 * mi},
			pending: true, next: t0.Add(5 * time.Minute), msg: "container app of pod web-1 is near its 1000Mi memory limit since 2026-12-01T10:00:00Z (900Mi, 90% when first seen; threshold 90%)"},
		{name: "near for 4 minutes", c: ContainerMemory{Pod: "web-1", Container: "app", WorkingSet: 480 * mi, Limit: 512 * mi}, since: t0.Add(-4 * time.Minute),
			pending: true, next: t0.Add(time.Minute)},
		{name: "near for 5 minutes", c: ContainerMemory{Pod: "web-1", Container: "app", WorkingSet: 480 * mi, Limit: 512 * mi}, since: t0.Add(-5 * time.Minute),
			firing: true, msg: "since 2026-12-01T09:55:00Z (480Mi, 93% when first seen; threshold 90%)"},
		{name: "over the limit (cgroup v1 caches)", c: ContainerMemory{Pod: "web-1", Container: "app", WorkingSet: 520 * mi, Limit: 512 * mi}, since: t0.Add(-time.Hour),
			firing: true, msg: "(520Mi, 101%"},
		{name: "the message quotes the first-seen figure, not the live one", c: ContainerMemory{Pod: "web-1", Container: "app", WorkingSet: 500 * mi, Limit: 512 * mi,
			FirstWorkingSet: 470 * mi}, since: t0.Add(-time.Hour), firing: true, msg: "(470Mi, 91% when first seen; threshold 90%)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := JudgeMemory(tc.c, tc.since, t0, p)
			if f.Firing != tc.firing || f.Pending != tc.pending || !f.Next.Equal(tc.next) {
				t.Fatalf("got firing=%v pending=%v next=%s, want %v %v %s", f.Firing, f.Pending, f.Next, tc.firing, tc.pending, tc.next)
			}
			if !strings.Contains(f.Message, tc.msg) {
				t.Fatalf("message %q does not contain %q", f.Message, tc.msg)
			}
		})
	}
	if (ContainerMemory{WorkingSet: 99, Limit: 100}).Near(100) || !(ContainerMemory{WorkingSet: 100, Limit: 100}).Near(100) {
		t.Fatal("threshold 100% is the limit itself")
	}
}

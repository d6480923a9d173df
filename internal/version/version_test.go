package version

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	vcs := &debug.BuildInfo{Main: debug.Module{Version: "v0.3.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.time", Value: "2026-11-30T10:00:00Z"}}}
	tests := []struct {
		name         string
		v, c, d      string
		bi           *debug.BuildInfo
		wantV, wantC string
		wantD        string
	}{
		{"ldflags win", "v0.2.0", "deadbeef", "2026-12-01T03:00:00Z", vcs, "v0.2.0", "deadbeef", "2026-12-01T03:00:00Z"},
		{"build info fallback", "", "", "", vcs, "v0.3.0", "abc123", "2026-11-30T10:00:00Z"},
		{"nothing known", "", "", "", &debug.BuildInfo{}, Unknown, Unknown, Unknown},
		{"no build info", "", "", "", nil, Unknown, Unknown, Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := resolve(tt.v, tt.c, tt.d, tt.bi)
			if got.Version != tt.wantV || got.Commit != tt.wantC || got.Date != tt.wantD {
				t.Errorf("resolve() = %+v, want version %q commit %q date %q", got, tt.wantV, tt.wantC, tt.wantD)
			}
			if got.GoVersion == "" || !strings.Contains(got.Platform, "/") {
				t.Errorf("resolve() = %+v, want go version and platform", got)
			}
			if s := got.String(); !strings.HasPrefix(s, "itops-operator "+tt.wantV+" (commit "+tt.wantC+", built "+tt.wantD) {
				t.Errorf("String() = %q", s)
			}
		})
	}
}

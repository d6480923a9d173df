// Package version holds the operator's build identity: the release version, the source commit
// and the build time. `make build`, `make image` and the Dockerfile set them with
//
//	-ldflags "-X github.com/itops-dev/itops-operator/internal/version.version=v0.2.0
//	          -X github.com/itops-dev/itops-operator/internal/version.commit=<40 hex>
//	          -X github.com/itops-dev/itops-operator/internal/version.date=<RFC 3339 UTC>"
//
// (hack/ldflags.sh computes them from git). A plain `go build` or `go install` leaves them
// empty; Get then falls back to the Go build information: the main module's version (set by `go
// install module@version`) and the vcs.revision and vcs.time stamped when the build ran inside a
// git checkout without -buildvcs=false.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set at link time with -X; see the package documentation.
var (
	version string
	commit  string
	date    string
)

// Unknown stands for a field that neither -ldflags nor the build information provides.
const Unknown = "unknown"

// Info is the build identity of the running binary.
type Info struct {
	// Version is the release (a semantic version such as v0.2.0, or `git describe` output
	// such as v0.1.0-12-gabcdef0-dirty), "(devel)" or Unknown.
	Version string `json:"version"`
	// Commit is the full git commit the binary was built from, or Unknown.
	Commit string `json:"commit"`
	// Date is the build time (RFC 3339, UTC), or the commit time from the build information,
	// or Unknown.
	Date string `json:"date"`
	// GoVersion is the Go toolchain that built the binary (runtime.Version()).
	GoVersion string `json:"goVersion"`
	// Platform is GOOS/GOARCH of the binary.
	Platform string `json:"platform"`
}

// Get returns the build identity: the -ldflags values, else the Go build information, else
// Unknown for each field.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return resolve(version, commit, date, bi)
}

// resolve is Get with its inputs injected (bi may be nil).
func resolve(v, c, d string, bi *debug.BuildInfo) Info {
	info := Info{Version: v, Commit: c, Date: d, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		if info.Version == "" && bi.Main.Version != "" {
			info.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if info.Commit == "" {
					info.Commit = s.Value
				}
			case "vcs.time":
				if info.Date == "" {
					info.Date = s.Value
				}
			}
		}
	}
	for _, f := range []*string{&info.Version, &info.Commit, &info.Date} {
		if *f == "" {
			*f = Unknown
		}
	}
	return info
}

// String is the one line `itops-operator --version` prints, e.g.
// "itops-operator v0.2.0 (commit 1a2b3c..., built 2026-12-01T03:00:00Z, go1.26.8, linux/amd64)".
func (i Info) String() string {
	return fmt.Sprintf("itops-operator %s (commit %s, built %s, %s, %s)", i.Version, i.Commit, i.Date, i.GoVersion, i.Platform)
}

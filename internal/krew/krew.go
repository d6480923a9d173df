// Package krew renders the krew plugin manifest of `kubectl itops` (plugins/krew/itops.yaml,
// a text/template) with a release's version, download base URL and archive checksums, and
// names the platforms the plugin is released for. `make plugin-dist` (hack/plugin-dist)
// builds the archives and calls Render; krew's manifest format is
// https://krew.sigs.k8s.io/docs/developer-guide/plugin-manifest/.
package krew

import (
	"bytes"
	"fmt"
	"regexp"
	"text/template"
)

// Platform is one GOOS/GOARCH the plugin is released for.
type Platform struct{ OS, Arch string }

// Key is "<os>_<arch>", the archive's suffix and the key of Values.SHA256.
func (p Platform) Key() string { return p.OS + "_" + p.Arch }

// Bin is the executable's name in the archive (.exe on Windows).
func (p Platform) Bin() string {
	if p.OS == "windows" {
		return "kubectl-itops.exe"
	}
	return "kubectl-itops"
}

// Archive is the archive's file name: kubectl-itops_<os>_<arch>.tar.gz.
func (p Platform) Archive() string { return "kubectl-itops_" + p.Key() + ".tar.gz" }

// Platforms are linux, darwin and windows on amd64 and arm64.
var Platforms = []Platform{
	{"linux", "amd64"}, {"linux", "arm64"},
	{"darwin", "amd64"}, {"darwin", "arm64"},
	{"windows", "amd64"}, {"windows", "arm64"},
}

// Values fill the manifest template.
type Values struct {
	// Version is the release tag, v-prefixed (v0.2.0), as krew requires.
	Version string
	// BaseURL is where the archives are downloaded from, without a trailing slash
	// (https://github.com/itops-dev/itops-operator/releases/download/v0.2.0).
	BaseURL string
	// SHA256 maps Platform.Key() to the archive's SHA-256, 64 lower-case hex digits.
	SHA256 map[string]string
}

var (
	semver = regexp.MustCompile(`^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)
	hex64  = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// Render fills the manifest template. It fails on a version krew refuses (not v-prefixed
// semver), a missing or malformed checksum of any platform, or a template that refers to
// something Values lacks.
func Render(tmpl []byte, v Values) ([]byte, error) {
	if !semver.MatchString(v.Version) {
		return nil, fmt.Errorf("version %q: krew needs a v-prefixed semantic version such as v0.2.0", v.Version)
	}
	for _, p := range Platforms {
		if !hex64.MatchString(v.SHA256[p.Key()]) {
			return nil, fmt.Errorf("sha256 of %s: %q is not 64 lower-case hex digits", p.Archive(), v.SHA256[p.Key()])
		}
	}
	t, err := template.New("itops.yaml").Option("missingkey=error").Parse(string(tmpl))
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := t.Execute(&out, struct {
		Values
		Platforms []Platform
	}{v, Platforms}); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

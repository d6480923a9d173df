package krew

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func sums(digit string) map[string]string {
	m := map[string]string{}
	for _, p := range Platforms {
		m[p.Key()] = strings.Repeat(digit, 64)
	}
	return m
}

// manifest is krew's Plugin (v1alpha2), the fields krew reads; strict decoding refuses any
// other key.
type manifest struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version          string `json:"version"`
		Homepage         string `json:"homepage"`
		ShortDescription string `json:"shortDescription"`
		Description      string `json:"description"`
		Caveats          string `json:"caveats"`
		Platforms        []struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			URI    string `json:"uri"`
			SHA256 string `json:"sha256"`
			Bin    string `json:"bin"`
		} `json:"platforms"`
	} `json:"spec"`
}

// TestRenderCommittedTemplate renders plugins/krew/itops.yaml as make plugin-dist does and
// checks the manifest krew would read: every platform with its uri, sha256 and bin.
func TestRenderCommittedTemplate(t *testing.T) {
	tmpl, err := os.ReadFile(filepath.Join("..", "..", "plugins", "krew", "itops.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	base := "https://github.com/itops-dev/itops-operator/releases/download/v0.2.0"
	out, err := Render(tmpl, Values{Version: "v0.2.0", BaseURL: base, SHA256: sums("a")})
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := yaml.UnmarshalStrict(out, &m); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if m.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || m.Kind != "Plugin" || m.Metadata.Name != "itops" ||
		m.Spec.Version != "v0.2.0" || m.Spec.ShortDescription == "" || m.Spec.Homepage == "" {
		t.Errorf("header: %+v", m)
	}
	if len(m.Spec.Platforms) != len(Platforms) {
		t.Fatalf("%d platforms, want %d", len(m.Spec.Platforms), len(Platforms))
	}
	for i, p := range m.Spec.Platforms {
		want := Platforms[i]
		if p.Selector.MatchLabels["os"] != want.OS || p.Selector.MatchLabels["arch"] != want.Arch || len(p.Selector.MatchLabels) != 2 ||
			p.URI != base+"/kubectl-itops_"+want.OS+"_"+want.Arch+".tar.gz" || p.SHA256 != strings.Repeat("a", 64) || p.Bin != want.Bin() {
			t.Errorf("platform %d: %+v", i, p)
		}
	}
	if m.Spec.Platforms[4].Bin != "kubectl-itops.exe" {
		t.Errorf("windows bin %q", m.Spec.Platforms[4].Bin)
	}
}

func TestRenderRefuses(t *testing.T) {
	tmpl := []byte("version: {{ .Version }}\n")
	missing := sums("b")
	delete(missing, "darwin_arm64")
	upper := sums("c")
	upper["linux_amd64"] = strings.Repeat("A", 64)
	for _, tt := range []struct {
		name string
		v    Values
		want string
	}{
		{"no v prefix", Values{Version: "0.2.0", SHA256: sums("a")}, `version "0.2.0": krew needs a v-prefixed semantic version`},
		{"a dev build", Values{Version: "v0.1.0-dev.abc", SHA256: sums("a")}, ""},
		{"a missing sum", Values{Version: "v0.2.0", SHA256: missing}, "sha256 of kubectl-itops_darwin_arm64.tar.gz"},
		{"upper-case hex", Values{Version: "v0.2.0", SHA256: upper}, "sha256 of kubectl-itops_linux_amd64.tar.gz"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Render(tmpl, tt.v)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := Render([]byte("{{ .Nope }}"), Values{Version: "v1.0.0", SHA256: sums("a")}); err == nil {
		t.Error("a template field Values lacks rendered")
	}
}

// The committed file is the template, never a manifest with fake sums.
func TestCommittedFileIsTheTemplate(t *testing.T) {
	tmpl, err := os.ReadFile(filepath.Join("..", "..", "plugins", "krew", "itops.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(tmpl), "{{ index $.SHA256 .Key }}") || strings.Contains(string(tmpl), strings.Repeat("0", 64)) {
		t.Error("plugins/krew/itops.yaml should be the template with placeholders")
	}
}

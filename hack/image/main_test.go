package main

import (
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestBuildAndPush builds a two-platform image from a stand-in binary (this test's own, which
// carries Go build information) and pushes it to an in-memory registry: the index and, per
// platform, an SBOM referrer whose subject is that platform's image.
func TestBuildAndPush(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, arch := range []string{"amd64", "arm64"} {
		p := filepath.Join(dir, "build", "linux_"+arch, "itops-operator")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, raw, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ca := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(ca, []byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	args := []string{"--bin-dir", filepath.Join(dir, "build"), "--out", out, "--platforms", "linux/amd64,linux/arm64",
		"--ca-bundle", ca, "--version", "1.2.3", "--revision", strings.Repeat("a", 40), "--created", "2026-12-01T00:00:00Z"}
	if err := build(args); err != nil {
		t.Fatal(err)
	}
	first, err := os.ReadFile(filepath.Join(out, "itops-operator.oci.tar"))
	if err != nil {
		t.Fatal(err)
	}
	// Reproducible: the same inputs give the same archive.
	if err := build(args); err != nil {
		t.Fatal(err)
	}
	if second, _ := os.ReadFile(filepath.Join(out, "itops-operator.oci.tar")); string(first) != string(second) {
		t.Error("two builds of the same inputs differ")
	}

	srv := httptest.NewServer(registry.New(registry.WithReferrersSupport(true), registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	ref, err := name.ParseReference(u.Host+"/itops/itops-operator:1.2.3", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := loadIndex(filepath.Join(out, "oci"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pushWithSBOMs(ref, idx, out); err != nil {
		t.Fatal(err)
	}
	got, err := remote.Index(ref)
	if err != nil {
		t.Fatal(err)
	}
	m, err := got.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 2 {
		t.Fatalf("pushed index has %d images, want 2", len(m.Manifests))
	}
	for _, d := range m.Manifests {
		refs, err := remote.Referrers(ref.Context().Digest(d.Digest.String()))
		if err != nil {
			t.Fatal(err)
		}
		rm, err := refs.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		if len(rm.Manifests) != 1 {
			t.Fatalf("referrers of the %s image: %+v, want one SBOM", d.Platform, rm.Manifests)
		}
		// (The in-memory registry reports the config's media type as artifactType; read the
		// manifest itself.)
		desc, err := remote.Get(ref.Context().Digest(rm.Manifests[0].Digest.String()))
		if err != nil {
			t.Fatal(err)
		}
		var art v1.Manifest
		if err := json.Unmarshal(desc.Manifest, &art); err != nil {
			t.Fatal(err)
		}
		if art.ArtifactType != SBOMMediaType || art.Subject == nil || art.Subject.Digest != d.Digest ||
			len(art.Layers) != 1 || art.Layers[0].MediaType != SBOMMediaType {
			t.Errorf("SBOM referrer of the %s image: %s", d.Platform, desc.Manifest)
		}
	}
}

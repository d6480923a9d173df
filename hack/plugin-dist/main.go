// Command plugin-dist cross-builds `kubectl itops` for krew (make plugin-dist): for each of
// internal/krew.Platforms a static binary, packed with LICENSE (when the repository has one)
// into bin/plugin-dist/kubectl-itops_<os>_<arch>.tar.gz (reproducible: fixed file times,
// owner and order), its checksum in <archive>.sha256 and all of them in SHA256SUMS, and the
// krew manifest plugins/krew/itops.yaml rendered with them into bin/plugin-dist/itops.yaml.
package main

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/itops-dev/itops-operator/internal/krew"
)

func main() {
	version := flag.String("version", "", "the plugin version, without v (0.2.0); the manifest says v<version>")
	out := flag.String("out", "bin/plugin-dist", "output directory")
	baseURL := flag.String("base-url", "", "where the archives are downloaded from (default: the GitHub release of v<version>)")
	ldflags := flag.String("ldflags", "", "extra -ldflags for go build")
	flag.Parse()
	if err := run(*version, *out, *baseURL, *ldflags); err != nil {
		fmt.Fprintln(os.Stderr, "plugin-dist: "+err.Error())
		os.Exit(1)
	}
}

func run(version, out, baseURL, ldflags string) error {
	if version == "" {
		return fmt.Errorf("-version is required")
	}
	tag := "v" + strings.TrimPrefix(version, "v")
	if baseURL == "" {
		baseURL = "https://github.com/itops-dev/itops-operator/releases/download/" + tag
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	license, err := os.ReadFile("LICENSE")
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	sums := map[string]string{}
	var sumsFile strings.Builder
	for _, p := range krew.Platforms {
		start := time.Now()
		bin := filepath.Join(out, p.Key(), p.Bin())
		cmd := exec.Command("go", "build", "-trimpath",
			"-ldflags", strings.TrimSpace("-s -w -X github.com/itops-dev/itops-operator/internal/cli.Version="+strings.TrimPrefix(version, "v")+" "+ldflags),
			"-o", bin, "./cmd/kubectl-itops")
		cmd.Env = append(os.Environ(), "GOOS="+p.OS, "GOARCH="+p.Arch, "CGO_ENABLED=0")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("building %s: %w", p.Key(), err)
		}
		archive := filepath.Join(out, p.Archive())
		sum, err := pack(archive, bin, p.Bin(), license)
		if err != nil {
			return fmt.Errorf("packing %s: %w", archive, err)
		}
		if err := os.WriteFile(archive+".sha256", []byte(sum+"  "+p.Archive()+"\n"), 0o644); err != nil {
			return err
		}
		sums[p.Key()] = sum
		fmt.Fprintf(&sumsFile, "%s  %s\n", sum, p.Archive())
		fmt.Printf("%-28s %s (%s)\n", p.Archive(), sum, time.Since(start).Round(100*time.Millisecond))
	}
	if err := os.WriteFile(filepath.Join(out, "SHA256SUMS"), []byte(sumsFile.String()), 0o644); err != nil {
		return err
	}
	tmpl, err := os.ReadFile(filepath.Join("plugins", "krew", "itops.yaml"))
	if err != nil {
		return err
	}
	manifest, err := krew.Render(tmpl, krew.Values{Version: tag, BaseURL: baseURL, SHA256: sums})
	if err != nil {
		return err
	}
	path := filepath.Join(out, "itops.yaml")
	if err := os.WriteFile(path, manifest, 0o644); err != nil {
		return err
	}
	fmt.Printf("krew manifest: %s\n", path)
	return nil
}

// pack writes a reproducible .tar.gz of the binary (as name) and LICENSE (when given) and
// returns its SHA-256.
func pack(archive, bin, name string, license []byte) (string, error) {
	f, err := os.Create(archive)
	if err != nil {
		return "", err
	}
	defer func() { _ = f.Close() }() // closed below; this only covers the error paths
	h := sha256.New()
	gz := gzip.NewWriter(io.MultiWriter(f, h))
	tw := tar.NewWriter(gz)
	epoch := time.Unix(0, 0).UTC()
	add := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(data)), ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return "", err
	}
	if err := add(name, 0o755, data); err != nil {
		return "", err
	}
	if license != nil {
		if err := add("LICENSE", 0o644, license); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	if err := gz.Close(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), f.Close()
}

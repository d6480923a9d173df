// Command image builds the itops-operator container image without a Docker daemon, as an OCI
// image layout, and pushes it with its SBOM. `make image` runs it; see docs/image.md.
//
//	go run ./hack/image build --bin-dir bin/image/build --platforms linux/amd64,linux/arm64 \
//	    --out bin/image --version 0.1.0 --revision <commit> --created 2026-12-01T03:00:00Z
//	go run ./hack/image push --out bin/image registry.example/itops/itops-operator:0.1.0
//
// build reads one static binary per platform from <bin-dir>/<os>_<arch>/itops-operator (built
// by the Makefile with CGO_ENABLED=0 -trimpath and the version -ldflags) and writes into <out>:
//
//   - oci/: an OCI image layout whose index.json holds one entry, the image index (one image
//     per platform), named --name (org.opencontainers.image.ref.name, REPOSITORY:TAG); crane,
//     skopeo and podman read it;
//   - itops-operator.oci.tar: the same layout as a tar (an "oci-archive"), for `podman load`,
//     `skopeo copy oci-archive:...` and air-gapped transfer;
//   - sbom-<os>-<arch>.spdx.json: the SPDX 2.3 SBOM of each platform's binary (sbom.go).
//
// Every image is built from scratch, two layers: a base (/etc/passwd and /etc/group with root
// and nonroot 65532, /etc/nsswitch.conf, the build machine's CA bundle at
// /etc/ssl/certs/ca-certificates.crt, /home/nonroot, /tmp) and the binary at /itops-operator.
// There is no shell and no package manager. The config runs as 65532:65532 with the binary as
// entrypoint and carries the org.opencontainers.image.* labels. All timestamps are --created
// (the Makefile passes the commit time), so a rebuild of one commit gives the same digests.
//
// push writes the index to the registry under the given reference and attaches each platform's
// SBOM as an OCI 1.1 referrer (an artifact manifest of artifactType application/spdx+json whose
// subject is that platform's image), so `oras discover` and registries' referrers API find it.
package main

import (
	"archive/tar"
	"bytes"
	"debug/buildinfo"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	// Entrypoint is where the binary lives in the image.
	Entrypoint = "/itops-operator"
	// NonRoot is the user and group the image runs as (distroless's nonroot).
	NonRoot = 65532
	// SBOMMediaType is the media type of the SPDX JSON SBOM blob and the referrer's artifactType.
	SBOMMediaType = "application/spdx+json"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: image build|push [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "build":
		err = build(os.Args[2:])
	case "push":
		err = push(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q: want build or push", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

// buildOptions are the flags of `image build`.
type buildOptions struct {
	binDir, out, platforms, caBundle  string
	version, revision, created, tag   string
	source, license, title, imageDesc string
}

func build(args []string) error {
	var o buildOptions
	fs := flag.NewFlagSet("build", flag.ExitOnError)
	fs.StringVar(&o.binDir, "bin-dir", "bin/image/build", "Directory with <os>_<arch>/itops-operator, one static binary per platform.")
	fs.StringVar(&o.out, "out", "bin/image", "Output directory (oci/, itops-operator.oci.tar, sbom-*.spdx.json).")
	fs.StringVar(&o.platforms, "platforms", "linux/amd64", "Comma-separated os/arch[/variant] list.")
	fs.StringVar(&o.caBundle, "ca-bundle", "/etc/ssl/certs/ca-certificates.crt", "The PEM CA bundle copied into the image.")
	fs.StringVar(&o.version, "version", "", "The version (label org.opencontainers.image.version); required.")
	fs.StringVar(&o.revision, "revision", "", "The source commit (label org.opencontainers.image.revision); required.")
	fs.StringVar(&o.created, "created", "", "Build time, RFC 3339 (label org.opencontainers.image.created and every timestamp); required.")
	fs.StringVar(&o.tag, "name", "", "The reference the layout names the image by, REPOSITORY:TAG (org.opencontainers.image.ref.name; podman load uses it); default ghcr.io/itops-dev/itops-operator:<version>.")
	fs.StringVar(&o.source, "source", "https://github.com/itops-dev/itops-operator", "The source repository (label org.opencontainers.image.source).")
	fs.StringVar(&o.license, "license", "Apache-2.0", "SPDX license expression (label org.opencontainers.image.licenses).")
	fs.StringVar(&o.title, "title", "itops-operator", "The image title.")
	fs.StringVar(&o.imageDesc, "description", "ITIL incident, change, maintenance and service-level management for Kubernetes.", "The image description.")
	_ = fs.Parse(args)
	if o.version == "" || o.revision == "" || o.created == "" {
		return errors.New("--version, --revision and --created are required")
	}
	if o.tag == "" {
		o.tag = "ghcr.io/itops-dev/itops-operator:" + o.version
	}
	created, err := time.Parse(time.RFC3339, o.created)
	if err != nil {
		return fmt.Errorf("--created: %w", err)
	}
	created = created.UTC()
	ca, err := os.ReadFile(o.caBundle)
	if err != nil {
		return fmt.Errorf("reading the CA bundle (--ca-bundle): %w", err)
	}
	base, err := baseLayer(ca, created)
	if err != nil {
		return err
	}
	labels := map[string]string{
		"org.opencontainers.image.title":       o.title,
		"org.opencontainers.image.description": o.imageDesc,
		"org.opencontainers.image.version":     o.version,
		"org.opencontainers.image.revision":    o.revision,
		"org.opencontainers.image.created":     created.Format(time.RFC3339),
		"org.opencontainers.image.source":      o.source,
		"org.opencontainers.image.url":         o.source,
		"org.opencontainers.image.licenses":    o.license,
		"org.opencontainers.image.vendor":      "itops-dev",
	}

	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	for _, p := range strings.Split(o.platforms, ",") {
		plat, err := v1.ParsePlatform(strings.TrimSpace(p))
		if err != nil {
			return err
		}
		bin := filepath.Join(o.binDir, plat.OS+"_"+plat.Architecture, "itops-operator")
		img, err := platformImage(bin, plat, base, labels, created)
		if err != nil {
			return fmt.Errorf("%s: %w", plat, err)
		}
		bi, err := buildinfo.ReadFile(bin)
		if err != nil {
			return fmt.Errorf("reading the Go build information of %s: %w", bin, err)
		}
		sbom, err := sbomFor(bin, bi, o.version, created.Format(time.RFC3339), o.source, o.license)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(o.out, sbomFile(*plat)), sbom, 0o644); err != nil {
			return err
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: plat}})
	}
	idx = mutate.Annotations(idx, labels).(v1.ImageIndex)

	dir := filepath.Join(o.out, "oci")
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	if err := lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": o.tag})); err != nil {
		return err
	}
	if err := tarDir(dir, filepath.Join(o.out, "itops-operator.oci.tar"), created); err != nil {
		return err
	}
	d, _ := idx.Digest()
	fmt.Printf("image: %s@%s in %s and %s\n", o.tag, d, dir, filepath.Join(o.out, "itops-operator.oci.tar"))
	return nil
}

func sbomFile(p v1.Platform) string { return "sbom-" + p.OS + "-" + p.Architecture + ".spdx.json" }

// platformImage is the image of one platform: the base layer, the binary, the config.
func platformImage(bin string, plat *v1.Platform, base v1.Layer, labels map[string]string, created time.Time) (v1.Image, error) {
	raw, err := os.ReadFile(bin)
	if err != nil {
		return nil, fmt.Errorf("reading the binary (built by make image): %w", err)
	}
	app, err := layerOf([]entry{{name: strings.TrimPrefix(Entrypoint, "/"), mode: 0o755, data: raw}}, created)
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	at := v1.Time{Time: created}
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: base, History: v1.History{Created: at, CreatedBy: "hack/image: /etc/passwd, /etc/group (nonroot 65532), CA certificates", Comment: "base"}},
		mutate.Addendum{Layer: app, History: v1.History{Created: at, CreatedBy: "hack/image: " + Entrypoint + " (CGO_ENABLED=0, -trimpath)", Comment: "itops-operator"}})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = plat.OS, plat.Architecture, plat.Variant
	cf.Created = at
	cf.Author = "itops-dev"
	cf.Config = v1.Config{
		User:       fmt.Sprintf("%d:%d", NonRoot, NonRoot),
		Entrypoint: []string{Entrypoint},
		WorkingDir: "/home/nonroot",
		Env: []string{
			"PATH=/",
			"HOME=/home/nonroot",
			"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
		},
		Labels: labels,
	}
	return mutate.ConfigFile(img, cf)
}

// entry is one file or directory of a layer; dirs end in "/".
type entry struct {
	name     string
	mode     int64
	uid, gid int
	data     []byte
}

// baseLayer holds what a static Go binary needs from an OS: users, name service switch, CA
// certificates, a home for nonroot and a /tmp.
func baseLayer(ca []byte, created time.Time) (v1.Layer, error) {
	return layerOf([]entry{
		{name: "etc/", mode: 0o755},
		{name: "etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{name: "etc/group", mode: 0o644, data: []byte("root:x:0:\nnonroot:x:65532:\n")},
		{name: "etc/nsswitch.conf", mode: 0o644, data: []byte("hosts: files dns\n")},
		{name: "etc/ssl/", mode: 0o755},
		{name: "etc/ssl/certs/", mode: 0o755},
		{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, data: ca},
		{name: "home/", mode: 0o755},
		{name: "home/nonroot/", mode: 0o700, uid: NonRoot, gid: NonRoot},
		{name: "root/", mode: 0o700},
		{name: "tmp/", mode: 0o1777},
	}, created)
}

// layerOf writes the entries as a reproducible gzip'd tar layer (fixed times, numeric owners).
func layerOf(entries []entry, created time.Time) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.gid, ModTime: created, Format: tar.FormatPAX}
		if strings.HasSuffix(e.name, "/") {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	raw := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil },
		tarball.WithMediaType(types.OCILayer))
}

// tarDir writes the layout directory as a tar with sorted names and fixed times (an
// oci-archive).
func tarDir(dir, out string, created time.Time) error {
	var names []string
	if err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			names = append(names, p)
		}
		return nil
	}); err != nil {
		return err
	}
	sort.Strings(names)
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	for _, p := range names {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		h := &tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, ModTime: created, Format: tar.FormatPAX, Typeflag: tar.TypeReg, Size: fi.Size()}
		if fi.IsDir() {
			h.Name, h.Mode, h.Typeflag, h.Size = h.Name+"/", 0o755, tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if !fi.IsDir() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if _, err := tw.Write(b); err != nil {
				return err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return f.Close()
}

// push writes the layout's image index to ref and attaches each platform's SBOM as a referrer.
func push(args []string) error {
	fs := flag.NewFlagSet("push", flag.ExitOnError)
	out := fs.String("out", "bin/image", "The output directory of `image build`.")
	insecure := fs.Bool("insecure", false, "Allow a plain-HTTP registry.")
	_ = fs.Parse(args)
	if fs.NArg() != 1 {
		return errors.New("usage: image push [--out bin/image] REGISTRY/REPOSITORY:TAG")
	}
	var nameOpts []name.Option
	if *insecure {
		nameOpts = append(nameOpts, name.Insecure)
	}
	ref, err := name.ParseReference(fs.Arg(0), nameOpts...)
	if err != nil {
		return err
	}
	idx, err := loadIndex(filepath.Join(*out, "oci"))
	if err != nil {
		return err
	}
	opts := []remote.Option{remote.WithAuthFromKeychain(authn.DefaultKeychain)}
	digests, err := pushWithSBOMs(ref, idx, *out, opts...)
	if err != nil {
		return err
	}
	for _, d := range digests {
		fmt.Println(d)
	}
	return nil
}

// loadIndex reads the single image index a layout built by `image build` names.
func loadIndex(dir string) (v1.ImageIndex, error) {
	lp, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("reading the OCI layout %s (run make image): %w", dir, err)
	}
	m, err := lp.IndexManifest()
	if err != nil {
		return nil, err
	}
	if len(m.Manifests) != 1 || !m.Manifests[0].MediaType.IsIndex() {
		return nil, fmt.Errorf("the OCI layout %s must hold exactly one image index", dir)
	}
	return lp.ImageIndex(m.Manifests[0].Digest)
}

// pushWithSBOMs writes idx under ref, then each platform image's SBOM (sbom-<os>-<arch>.spdx.json
// in dir) as a referrer of that image; it returns the references written.
func pushWithSBOMs(ref name.Reference, idx v1.ImageIndex, dir string, opts ...remote.Option) ([]string, error) {
	if err := remote.WriteIndex(ref, idx, opts...); err != nil {
		return nil, fmt.Errorf("pushing %s: %w", ref, err)
	}
	d, _ := idx.Digest()
	written := []string{ref.Context().Digest(d.String()).String()}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	for _, desc := range m.Manifests {
		if desc.Platform == nil {
			continue
		}
		sbom, err := os.ReadFile(filepath.Join(dir, sbomFile(*desc.Platform)))
		if err != nil {
			return nil, fmt.Errorf("the SBOM of %s: %w", desc.Platform, err)
		}
		aref, err := pushSBOM(ref.Context(), sbom, desc, opts...)
		if err != nil {
			return nil, fmt.Errorf("pushing the SBOM of %s: %w", desc.Platform, err)
		}
		written = append(written, aref.String())
	}
	return written, nil
}

// emptyConfigMediaType is the OCI 1.1 "empty" descriptor's media type (content "{}"), the
// config of artifacts that have none.
const emptyConfigMediaType = "application/vnd.oci.empty.v1+json"

// rawManifest is a manifest remote.Put writes as is.
type rawManifest []byte

func (r rawManifest) RawManifest() ([]byte, error) { return r, nil }

func (r rawManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

// pushSBOM writes an OCI 1.1 artifact manifest carrying the SBOM (artifactType
// application/spdx+json, the empty config) whose subject is the image it describes, by digest
// into repo, and returns that digest.
func pushSBOM(repo name.Repository, sbom []byte, subject v1.Descriptor, opts ...remote.Option) (name.Digest, error) {
	config := static.NewLayer([]byte("{}"), types.MediaType(emptyConfigMediaType))
	layer := static.NewLayer(sbom, SBOMMediaType)
	var descs []v1.Descriptor
	for _, l := range []v1.Layer{config, layer} {
		if err := remote.WriteLayer(repo, l, opts...); err != nil {
			return name.Digest{}, err
		}
		d, err := partial.Descriptor(l)
		if err != nil {
			return name.Digest{}, err
		}
		descs = append(descs, *d)
	}
	descs[1].Annotations = map[string]string{"org.opencontainers.image.title": sbomFile(*subject.Platform)}
	subject.Platform, subject.Annotations = nil, nil
	raw, err := json.Marshal(v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, ArtifactType: SBOMMediaType,
		Config: descs[0], Layers: descs[1:], Subject: &subject})
	if err != nil {
		return name.Digest{}, err
	}
	h, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return name.Digest{}, err
	}
	ref := repo.Digest(h.String())
	return ref, remote.Put(ref, rawManifest(raw), opts...)
}

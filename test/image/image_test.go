// Package image proves the image `make image` builds (issue 15): it reads the OCI layout with
// go-containerregistry, checks the config (non-root user, entrypoint, labels) and the contents
// (no shell, CA bundle, users), checks the SBOM against the binary, then unpacks the image and
// runs its entrypoint as the image's user (chrooted into the unpacked filesystem when the test
// runs as root) with --version and against a local control plane with the flags the Helm chart
// passes, until /readyz answers. No container runtime is needed (docs/image.md).
//
// Run by `make test-image` (ITOPS_IMAGE_DIR=bin/image); without a built image it fails and
// says how to build one.
package image

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/itops-dev/itops-operator/test/testenv"
)

const (
	entrypoint = "/itops-operator"
	nonRoot    = 65532
)

// imageDir is the output directory of `make image`.
func imageDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("ITOPS_IMAGE_DIR")
	if dir == "" {
		dir = filepath.Join(testenv.RepoRoot(), "bin", "image")
	}
	if _, err := os.Stat(filepath.Join(dir, "oci", "index.json")); err != nil {
		t.Fatalf("no image in %s (%v): run `make image` (or `make test-image`)", dir, err)
	}
	return dir
}

// platformImages reads the layout's single image index and returns its images by os/arch.
func platformImages(t *testing.T, dir string) (v1.ImageIndex, map[string]v1.Image) {
	t.Helper()
	lp, err := layout.ImageIndexFromPath(filepath.Join(dir, "oci"))
	if err != nil {
		t.Fatal(err)
	}
	top, err := lp.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(top.Manifests) != 1 || !top.Manifests[0].MediaType.IsIndex() {
		t.Fatalf("index.json: want one image index (so crane push, skopeo and podman load take the layout as is), got %+v", top.Manifests)
	}
	if ref := top.Manifests[0].Annotations["org.opencontainers.image.ref.name"]; ref == "" {
		t.Errorf("index.json: the image index has no org.opencontainers.image.ref.name")
	}
	idx, err := lp.ImageIndex(top.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	images := map[string]v1.Image{}
	for _, d := range m.Manifests {
		if d.Platform == nil {
			t.Fatalf("image %s has no platform in the index", d.Digest)
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		images[d.Platform.OS+"/"+d.Platform.Architecture] = img
	}
	return idx, images
}

// TestImage checks every platform's image; it runs the one of this machine's platform.
func TestImage(t *testing.T) {
	dir := imageDir(t)
	idx, images := platformImages(t, dir)
	here := runtime.GOOS + "/" + runtime.GOARCH
	if images[here] == nil {
		t.Fatalf("the image has no %s variant (platforms: %v)", here, keys(images))
	}
	var labels map[string]string
	for plat, img := range images {
		t.Run(strings.ReplaceAll(plat, "/", "-"), func(t *testing.T) {
			labels = checkConfig(t, img, plat)
			files := checkContents(t, img)
			checkSBOM(t, dir, plat, files[strings.TrimPrefix(entrypoint, "/")])
		})
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"org.opencontainers.image.version", "org.opencontainers.image.revision", "org.opencontainers.image.source"} {
		if im.Annotations[k] == "" || im.Annotations[k] != labels[k] {
			t.Errorf("index annotation %s = %q, want the label's %q", k, im.Annotations[k], labels[k])
		}
	}

	rootfs := unpack(t, images[here])
	t.Run("version", func(t *testing.T) {
		out, err := command(rootfs, nil, "--version").CombinedOutput()
		if err != nil {
			t.Fatalf("%s --version: %v\n%s", entrypoint, err, out)
		}
		want := fmt.Sprintf("itops-operator %s (commit %s, built %s,", labels["org.opencontainers.image.version"],
			labels["org.opencontainers.image.revision"], labels["org.opencontainers.image.created"])
		if !strings.HasPrefix(string(out), want) {
			t.Errorf("--version printed %q, want it to start with %q (the image labels)", out, want)
		}
	})
	t.Run("runs against a control plane", func(t *testing.T) { runAgainstControlPlane(t, rootfs) })
}

func keys(m map[string]v1.Image) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// checkConfig checks the user, entrypoint, platform and labels, and returns the labels.
func checkConfig(t *testing.T, img v1.Image, plat string) map[string]string {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := cf.OS + "/" + cf.Architecture; got != plat {
		t.Errorf("config platform %s, index says %s", got, plat)
	}
	c := cf.Config
	if c.User != "65532:65532" {
		t.Errorf("User = %q, want 65532:65532 (non-root)", c.User)
	}
	if len(c.Entrypoint) != 1 || c.Entrypoint[0] != entrypoint || len(c.Cmd) != 0 {
		t.Errorf("Entrypoint %q Cmd %q, want [%s] and no Cmd", c.Entrypoint, c.Cmd, entrypoint)
	}
	for _, k := range []string{"version", "revision", "created", "source", "licenses", "title"} {
		if c.Labels["org.opencontainers.image."+k] == "" {
			t.Errorf("label org.opencontainers.image.%s missing (labels %v)", k, c.Labels)
		}
	}
	if _, err := time.Parse(time.RFC3339, c.Labels["org.opencontainers.image.created"]); err != nil {
		t.Errorf("label created: %v", err)
	}
	if rev := c.Labels["org.opencontainers.image.revision"]; len(rev) != 40 {
		t.Errorf("label revision = %q, want a full commit", rev)
	}
	return c.Labels
}

// checkContents walks every layer: no shell or other executable than the entrypoint, the CA
// bundle and the nonroot user present. It returns the flattened regular files.
func checkContents(t *testing.T, img v1.Image) map[string][]byte {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			name := path.Clean(h.Name)
			if base := path.Base(name); strings.HasSuffix(base, "sh") && (strings.Contains(name, "bin/") || base == "sh") || base == "busybox" {
				t.Errorf("layer %d holds a shell: %s", i, name)
			}
			if h.Typeflag == tar.TypeSymlink || h.Typeflag == tar.TypeLink {
				t.Errorf("layer %d holds a link %s -> %s", i, name, h.Linkname)
			}
			if h.Typeflag == tar.TypeReg && h.Mode&0o111 != 0 && "/"+name != entrypoint {
				t.Errorf("layer %d holds an executable other than the entrypoint: %s", i, name)
			}
		}
		_ = rc.Close()
	}
	files := map[string][]byte{}
	tr := tar.NewReader(mutate.Extract(img))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[path.Clean(h.Name)] = b
		}
	}
	if ca := files["etc/ssl/certs/ca-certificates.crt"]; !strings.Contains(string(ca), "BEGIN CERTIFICATE") {
		t.Errorf("no CA bundle at /etc/ssl/certs/ca-certificates.crt")
	}
	if !strings.Contains(string(files["etc/passwd"]), "nonroot:x:65532:65532:") || !strings.Contains(string(files["etc/group"]), "nonroot:x:65532:") {
		t.Errorf("/etc/passwd or /etc/group lacks nonroot 65532")
	}
	if len(files[strings.TrimPrefix(entrypoint, "/")]) == 0 {
		t.Fatalf("no %s in the image", entrypoint)
	}
	return files
}

// checkSBOM checks the platform's SPDX SBOM: it describes this very binary (SHA-256) and lists
// the modules the operator is built on, with versions.
func checkSBOM(t *testing.T, dir, plat string, binary []byte) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "sbom-"+strings.ReplaceAll(plat, "/", "-")+".spdx.json"))
	if err != nil {
		t.Fatalf("SBOM: %v", err)
	}
	var doc struct {
		SPDXVersion string `json:"spdxVersion"`
		Packages    []struct {
			Name      string `json:"name"`
			Version   string `json:"versionInfo"`
			Checksums []struct {
				Algorithm string `json:"algorithm"`
				Value     string `json:"checksumValue"`
			} `json:"checksums"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("SBOM: %v", err)
	}
	if doc.SPDXVersion != "SPDX-2.3" || len(doc.Packages) < 20 {
		t.Fatalf("SBOM: %s with %d packages, want SPDX-2.3 listing every module", doc.SPDXVersion, len(doc.Packages))
	}
	sum := sha256.Sum256(binary)
	if main := doc.Packages[0]; main.Name != "github.com/itops-dev/itops-operator" || len(main.Checksums) != 1 || main.Checksums[0].Value != hex.EncodeToString(sum[:]) {
		t.Errorf("SBOM: first package %+v, want the operator with the SHA-256 of %s", main, entrypoint)
	}
	versions := map[string]string{}
	for _, p := range doc.Packages {
		versions[p.Name] = p.Version
	}
	for _, m := range []string{"sigs.k8s.io/controller-runtime", "k8s.io/client-go", "stdlib"} {
		if versions[m] == "" {
			t.Errorf("SBOM: no version of %s", m)
		}
	}
}

// unpack extracts the image's filesystem into a directory others can traverse (the binary runs
// as 65532), keeping the layers' owners and modes.
func unpack(t *testing.T, img v1.Image) string {
	t.Helper()
	root, err := os.MkdirTemp("", "itops-image-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(root) })
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(mutate.Extract(img))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		target := filepath.Join(root, filepath.FromSlash(path.Clean("/"+h.Name)))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(f, tr); err != nil { //nolint:gosec // our own image
				t.Fatal(err)
			}
			_ = f.Close()
		default:
			continue
		}
		if err := os.Chmod(target, os.FileMode(h.Mode&0o777)|modeBits(h.Mode)); err != nil {
			t.Fatal(err)
		}
		if os.Getuid() == 0 {
			if err := os.Lchown(target, h.Uid, h.Gid); err != nil {
				t.Fatal(err)
			}
		}
	}
	return root
}

func modeBits(m int64) os.FileMode {
	var out os.FileMode
	if m&0o1000 != 0 {
		out |= os.ModeSticky
	}
	return out
}

// asRoot reports whether the test can chroot and switch to the image's user.
func asRoot() bool { return os.Getuid() == 0 }

// command runs the image's entrypoint: as root, chrooted into rootfs as 65532:65532 with the
// image's environment, as a container runtime would (minus namespaces); otherwise as the
// current user from rootfs.
func command(rootfs string, env []string, args ...string) *exec.Cmd {
	bin := filepath.Join(rootfs, entrypoint)
	if asRoot() {
		bin = entrypoint
	}
	cmd := exec.Command(bin, args...) //nolint:gosec // the image's own entrypoint
	cmd.Env = append([]string{"PATH=/", "HOME=/home/nonroot", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"}, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if asRoot() {
		cmd.SysProcAttr.Chroot = rootfs
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: nonRoot, Gid: nonRoot}
		cmd.Dir = "/home/nonroot"
		cmd.Path = entrypoint // resolved inside the chroot
	}
	return cmd
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return port
}

// runAgainstControlPlane starts envtest, writes a kubeconfig of the operator's ServiceAccount
// (the install's RBAC) into the image's /tmp, runs the entrypoint with the chart's flags and
// waits for /readyz.
func runAgainstControlPlane(t *testing.T, rootfs string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	env, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	cfg, err := env.OperatorConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"itops-cluster"} {
		if err := testenv.EnsureNamespace(ctx, env.Client, ns); err != nil {
			t.Fatal(err)
		}
	}

	// What the chart mounts: the policy ConfigMap and an emptyDir for the webhook certificate.
	// Here they live in the image's /tmp, owned by the image's user.
	work := filepath.Join(rootfs, "tmp", "itops")
	for _, d := range []string{work, filepath.Join(work, "serving-certs")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if asRoot() {
			if err := os.Chown(d, nonRoot, nonRoot); err != nil {
				t.Fatal(err)
			}
		}
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["itops-operator"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "itops-operator"}
	kc.CurrentContext = "envtest"
	files := map[string][]byte{"policy.yaml": []byte("{}\n")}
	if files["kubeconfig"], err = clientcmd.Write(*kc); err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		p := filepath.Join(work, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if asRoot() {
			if err := os.Chown(p, nonRoot, nonRoot); err != nil {
				t.Fatal(err)
			}
		}
	}
	inImage := func(name string) string {
		if asRoot() {
			return "/tmp/itops/" + name
		}
		return filepath.Join(work, name)
	}

	probe, metrics, webhook := freePort(t), freePort(t), freePort(t)
	// The flags of charts/itops-operator/templates/deployment.yaml, ports made free for the test.
	cmd := command(rootfs, []string{"POD_NAMESPACE=" + testenv.OperatorNamespace},
		"--kubeconfig="+inImage("kubeconfig"),
		"--leader-elect",
		"--health-probe-bind-address=127.0.0.1:"+strconv.Itoa(probe),
		"--metrics-bind-address=127.0.0.1:"+strconv.Itoa(metrics),
		"--webhook-port="+strconv.Itoa(webhook),
		"--cluster-namespace=itops-cluster",
		"--resolve-after=5m",
		"--config="+inImage("policy.yaml"),
		"--webhook-service-name=itops-operator-webhook",
		"--webhook-configuration-name=itops-operator",
		"--webhook-cert-dir="+inImage("serving-certs"),
	)
	logPath := filepath.Join(t.TempDir(), "operator.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", entrypoint, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case err := <-exited:
			t.Logf("the operator exited: %v", err)
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			t.Logf("the operator was killed: %v", <-exited)
		}
		_ = logFile.Close()
		if t.Failed() {
			out, _ := os.ReadFile(logPath)
			t.Logf("operator log:\n%s", out)
		}
	})

	readyz := "http://127.0.0.1:" + strconv.Itoa(probe) + "/readyz"
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("the operator exited before it was ready: %v", err)
		case <-ctx.Done():
			t.Fatalf("%s did not answer 200 within 2 minutes", readyz)
		case <-tick.C:
		}
		resp, err := http.Get(readyz) //nolint:gosec,noctx // loopback probe of our own process
		if err != nil {
			continue
		}
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			break
		}
	}
	if asRoot() {
		// It really runs as the image's user.
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(status), "\nUid:\t65532\t65532\t65532\t65532\n") {
			t.Errorf("the operator does not run as 65532:\n%s", status)
		}
	}
}

package ciimage_test

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/graft-build/graft/builder/buildtest"
	"github.com/graft-build/graft/builder/contract"
	"github.com/graft-build/graft/builder/publish"
	"github.com/graft-build/graft/internal/ciimage"
	"github.com/graft-build/graft/internal/gittest"
	"github.com/graft-build/graft/internal/imageref"
)

// need skips without the thing, and fails under CI=true, where everything must run.
func need(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true and %s: %v", what, err)
	}
	t.Skipf("%s: %v", what, err)
}

func inputs(t *testing.T) ciimage.Inputs {
	bb, err := os.ReadFile(buildtest.BusyboxBin)
	need(t, "no static busybox (apt-get install busybox-static)", err)
	bin, err := os.ReadFile(filepath.Join(buildtest.LauncherDir(t, "amd64"), "graft-launcher-linux-amd64"))
	if err != nil {
		t.Fatal(err)
	}
	return ciimage.Inputs{Graft: bin, Busybox: bb, CA: []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"),
		Version: "v0.0.0-test", Arch: "amd64", Epoch: time.Unix(1700000000, 0)}
}

func files(t *testing.T, img v1.Image) map[string]*tar.Header {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*tar.Header{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			out["/"+strings.TrimSuffix(strings.TrimPrefix(h.Name, "/"), "/")] = h
		}
		rc.Close()
	}
	return out
}

func TestImageIsReproducibleAndNonRoot(t *testing.T) {
	in := inputs(t)
	a, err := ciimage.Image(in)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := ciimage.Image(in)
	da, _ := a.Digest()
	db, _ := b.Digest()
	if da != db {
		t.Fatalf("same inputs, two digests: %s %s", da, db)
	}
	in.Epoch = in.Epoch.Add(time.Hour)
	c, _ := ciimage.Image(in)
	if dc, _ := c.Digest(); dc == da {
		t.Fatal("the epoch does not reach the image")
	}
	cf, _ := a.ConfigFile()
	if cf.Config.User != "65532:65532" || cf.Config.Entrypoint[0] != ciimage.GraftPath || cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Fatalf("config %+v", cf.Config)
	}
	fs := files(t, a)
	for name, check := range map[string]func(h *tar.Header) bool{
		ciimage.CAPath:    func(h *tar.Header) bool { return h.Typeflag == tar.TypeReg && h.Mode == 0o644 },
		ciimage.GraftPath: func(h *tar.Header) bool { return h.Mode == 0o755 && h.Uid == 0 },
		ciimage.Home: func(h *tar.Header) bool {
			return h.Typeflag == tar.TypeDir && h.Uid == ciimage.UID && h.Gid == ciimage.UID
		},
		"/tmp":        func(h *tar.Header) bool { return h.Mode&0o1777 == 0o1777 },
		"/bin/sh":     func(h *tar.Header) bool { return h.Typeflag == tar.TypeSymlink && h.Linkname == "busybox" },
		"/etc/passwd": func(h *tar.Header) bool { return h.Uid == 0 },
	} {
		if h, ok := fs[name]; !ok || !check(h) {
			t.Errorf("%s: %+v", name, h)
		}
	}
	// Read back from a layout it validates (the in-memory image is not a fair test).
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(a); err != nil {
		t.Fatal(err)
	}
	back, err := p.Image(da)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(back); err != nil {
		t.Fatal(err)
	}
	// A dynamic busybox would not run from scratch: refused.
	in.Busybox, _ = os.ReadFile("/bin/true")
	if _, err := ciimage.Image(in); err == nil || !strings.Contains(err.Error(), "dynamically linked") {
		t.Fatalf("dynamic busybox: %v", err)
	}
}

func moduleRoot(t *testing.T) string {
	wd, _ := os.Getwd()
	return filepath.Join(wd, "../..")
}

// graftImage runs the command as CI does and returns the layout folder and the digest.
func graftImage(t *testing.T, version string) (string, string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "graft-image")
	cmd := exec.Command("go", "run", "./internal/ciimage/cmd/graft-image", "-o", out, "-version", version)
	cmd.Dir = moduleRoot(t)
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("graft-image: %v\n%s", err, b)
	}
	return out, strings.TrimSpace(string(b))
}

// The image CI uses: built twice, one digest; loaded into Docker, it runs graft version as a
// non-root user with CA certificates, and builds a small site whose plugins come over HTTP.
func TestGraftImageRunsInDocker(t *testing.T) {
	_, err := exec.LookPath(buildtest.BusyboxBin)
	need(t, "no static busybox (apt-get install busybox-static)", err)
	need(t, "no Docker Engine", exec.Command("docker", "version").Run())
	const version = "v0.0.0-citest"
	dir, digest := graftImage(t, version)
	if _, again := graftImage(t, version); again != digest {
		t.Fatalf("two builds of the graft image: %s and %s", digest, again)
	}
	ref, err := imageref.Parse("oci-layout://"+dir, "/")
	if err != nil {
		t.Fatal(err)
	}
	res, err := ref.Resolve(context.Background())
	if err != nil || res.Digest.String() != digest {
		t.Fatalf("layout holds %v (%v), built %s", res, err, digest)
	}
	tag := fmt.Sprintf("graft-citest:%d", time.Now().UnixNano())
	pub, err := publish.Parse("type=daemon,name="+tag, publish.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Publish(context.Background(), publish.Artifact{Image: res.Image}, io.Discard); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", tag).Run() })

	docker := func(args ...string) string {
		t.Helper()
		// stdout alone: graft's digest is its last line, progress goes to stderr.
		var stdout, stderr strings.Builder
		cmd := exec.Command("docker", append([]string{"run", "--rm"}, args...)...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("docker run %v: %v\n%s%s", args, err, stdout.String(), stderr.String())
		}
		return stdout.String()
	}
	if out := docker(tag); !strings.HasPrefix(out, "graft "+version+" linux/amd64") {
		t.Fatalf("graft version in the image: %q", out)
	}
	if out := docker("--entrypoint", "/bin/sh", tag, "-c", `id -u; test -s "$SSL_CERT_FILE" && echo ca; graft version`); out != "65532\nca\ngraft "+version+" linux/amd64\n" {
		t.Fatalf("shell in the image: %q", out)
	}

	// A site build inside the container: plugins over HTTP from the host, base from the site.
	s := buildtest.NewSite(t, "oci-layout://base", "")
	buildtest.WriteBaseLayout(t, filepath.Join(s.Dir, "base"), "linux/amd64")
	s.Plugin("alpha", map[string]string{"a.txt": "alpha"}, "")
	srv := gittest.NewServer(t, s.Git)
	s.WriteFile("plugins/alpha/plugin.toml", fmt.Sprintf("[source]\ngit = %q\nref = \"main\"\n", srv.URL+"/alpha.git"))
	s.Lock()
	// A CI checkout is readable by the job's user; ggcr writes layout blobs 0600.
	if b, err := exec.Command("chmod", "-R", "a+rX", s.Dir).CombinedOutput(); err != nil {
		t.Fatalf("chmod: %v %s", err, b)
	}
	out := t.TempDir()
	os.Chmod(out, 0o777) // the image's user writes here
	got := docker("--network", "host", "-v", s.Dir+":/site:ro", "-v", out+":/out", tag,
		"build", "-C", "/site", "--progress", "plain", "-o", "type=oci,dest=/out/image")
	lines := strings.Split(strings.TrimSpace(got), "\n")
	built := lines[len(lines)-1]
	img, err := imageref.Parse("oci-layout://"+filepath.Join(out, "image"), "/")
	if err != nil {
		t.Fatal(err)
	}
	r, err := img.Resolve(context.Background())
	if err != nil || r.Digest.String() != built {
		t.Fatalf("site image %v (%v), graft printed %q\n%s", r, err, built, got)
	}
	cf, _ := r.Image.ConfigFile()
	var plugins []contract.PluginInfo
	json.Unmarshal([]byte(cf.Config.Labels[contract.LabelPlugins]), &plugins)
	if cf.Config.Labels[contract.LabelGraftVersion] != version || len(plugins) != 1 || plugins[0].Commit != s.Repos["alpha"].Head() {
		t.Fatalf("labels %v", cf.Config.Labels)
	}
}

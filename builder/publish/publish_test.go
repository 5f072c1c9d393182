package publish_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/graft-build/graft/builder"
	"github.com/graft-build/graft/builder/buildtest"
	"github.com/graft-build/graft/builder/contract"
	"github.com/graft-build/graft/builder/fetch"
	"github.com/graft-build/graft/builder/publish"
	"github.com/graft-build/graft/internal/imageref"
	"github.com/graft-build/graft/internal/registrytest"
	"github.com/graft-build/graft/lockfile"
)

func site(t *testing.T, platforms ...string) *buildtest.Site {
	s := buildtest.NewSite(t, "oci-layout://base", "[launcher]\ntmp_dir = \"/app/tmp\"")
	buildtest.WriteBaseLayout(t, filepath.Join(s.Dir, "base"), platforms...)
	s.Plugin("alpha", map[string]string{"a.txt": strings.Repeat("alpha ", 1000)}, "")
	s.Plugin("beta", map[string]string{"b.txt": "beta"},
		"[launcher]\nsettings = [{ name = \"beta_key\", env = \"BETA_KEY\", secret = true }]")
	s.Lock()
	return s
}

func build(t *testing.T, p *lockfile.Project, archs ...string) *contract.Result {
	t.Helper()
	res, err := builder.Build(context.Background(), p, builder.WithCache(fetch.NewCache(t.TempDir())),
		builder.WithLaunchers(buildtest.Launchers(t, archs...)))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func artifact(r *contract.Result) publish.Artifact {
	return publish.Artifact{Image: r.Image, Index: r.Index, Names: r.Names()}
}

func publishTo(t *testing.T, spec string, o publish.Options, a publish.Artifact) string {
	t.Helper()
	p, err := publish.Parse(spec, o)
	if err != nil {
		t.Fatal(err)
	}
	where, err := p.Publish(context.Background(), a, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return where
}

func TestLayoutReadBackValidates(t *testing.T) {
	s := site(t, "linux/amd64")
	res := build(t, s.Load(), "amd64")
	publishTo(t, "type=oci,dest=out/image", publish.Options{BaseDir: s.Dir, DefaultName: "registry.test/lib/app:v1"}, artifact(res))
	// The tag from the name is the ref.name annotation; a second build replaces the folder.
	publishTo(t, "type=oci,dest=out/image", publish.Options{BaseDir: s.Dir, DefaultName: "registry.test/lib/app:v1"}, artifact(res))
	if st, err := os.Stat(filepath.Join(s.Dir, "out/image")); err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("layout folder mode: %v %v, want 0755 like any folder graft makes", st.Mode(), err)
	}
	ref, _ := imageref.Parse("oci-layout://out/image:v1", s.Dir)
	got, err := ref.Resolve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != res.Digest {
		t.Fatalf("layout holds %s, built %s", got.Digest, res.Digest)
	}
	if err := validate.Image(got.Image); err != nil {
		t.Fatalf("image read back from the layout: %v", err)
	}
}

func TestMultiPlatformLayoutValidates(t *testing.T) {
	s := site(t, "linux/amd64", "linux/arm64")
	res := build(t, s.Load(), "amd64", "arm64")
	dest := filepath.Join(t.TempDir(), "img")
	publishTo(t, "type=oci,dest="+dest, publish.Options{}, artifact(res))
	ref, _ := imageref.Parse("oci-layout://"+dest+":latest", "/")
	got, err := ref.Resolve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got.Index == nil || got.Digest != res.Digest {
		t.Fatalf("read back %s (index %v), built %s", got.Digest, got.Index != nil, res.Digest)
	}
	if err := validate.Index(got.Index); err != nil {
		t.Fatal(err)
	}
}

func TestLayoutRefusesAFolderThatIsNotALayout(t *testing.T) {
	s := site(t, "linux/amd64")
	p, err := publish.Parse("type=oci,dest=.", publish.Options{BaseDir: s.Dir})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Publish(context.Background(), artifact(build(t, s.Load(), "amd64")), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "is not an OCI layout") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir, "graft.toml")); err != nil {
		t.Fatal("the site repository was touched")
	}
}

func TestDockerTarLoadsBack(t *testing.T) {
	s := site(t, "linux/amd64")
	res := build(t, s.Load(), "amd64")
	dest := filepath.Join(t.TempDir(), "img.tar")
	publishTo(t, "type=docker,dest="+dest+",name=registry.test/lib/app:v2", publish.Options{}, artifact(res))
	if st, err := os.Stat(dest); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("docker tar mode: %v %v, want 0644 like any file graft writes", st.Mode(), err)
	}
	tag, _ := name.NewTag("registry.test/lib/app:v2")
	img, err := tarball.ImageFromPath(dest, &tag)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := res.Image.ConfigName()
	if got, _ := img.ConfigName(); got != want {
		t.Fatalf("config %s, built %s", got, want)
	}
}

func size(t *testing.T, f func() (int64, error)) int64 {
	n, err := f()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRegistryPushSendsOnlyTheChangedLayer(t *testing.T) {
	reg := registrytest.New(t, registrytest.WithGGCR(false))
	s := site(t, "linux/amd64")
	ref := reg.Host + "/lib/app:latest"
	first := build(t, s.Load(), "amd64")
	where := publishTo(t, "type=registry,name="+ref, publish.Options{}, artifact(first))
	if !strings.HasSuffix(where, "@"+first.Digest.String()) {
		t.Errorf("published at %s", where)
	}
	firstBytes := reg.Uploaded()

	time.Sleep(1100 * time.Millisecond)
	s.Plugin("beta", map[string]string{"b.txt": "beta, changed"}, "")
	second := build(t, s.Lock(), "amd64")
	before := reg.Uploaded()
	pub, err := publish.Parse("type=registry,name="+ref, publish.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var progress strings.Builder
	if _, err := pub.Publish(context.Background(), artifact(second), &progress); err != nil {
		t.Fatal(err)
	}
	got := reg.Uploaded() - before
	t.Logf("progress of the second push:\n%s", progress.String())
	if !strings.Contains(progress.String(), fmt.Sprintf("sent %d bytes", got)) {
		t.Errorf("progress %q does not report the %d bytes sent", progress.String(), got)
	}
	for _, want := range []string{"plugin beta " + s.Repos["beta"].Head() + " ", "launcher configuration"} {
		if !regexp.MustCompile(regexp.QuoteMeta(want) + `.*: sent`).MatchString(progress.String()) {
			t.Errorf("progress does not say %q was sent:\n%s", want, progress.String())
		}
	}
	if !strings.Contains(progress.String(), "plugin alpha") || strings.Contains(progress.String(), "plugin alpha sent") ||
		!regexp.MustCompile(`plugin alpha .*: already in the registry`).MatchString(progress.String()) {
		t.Errorf("progress does not say alpha's layer was already there:\n%s", progress.String())
	}

	ls, _ := second.Image.Layers()
	beta, conf := ls[2], ls[4] // base, alpha, beta, launcher, launcher.toml
	raw, _ := second.Image.RawManifest()
	cfg, _ := second.Image.RawConfigFile()
	want := size(t, beta.Size) + size(t, conf.Size) + int64(len(raw)+len(cfg))
	t.Logf("first push %d bytes; after one plugin changed %d bytes (beta layer %d, launcher.toml layer %d, config %d, manifest %d)",
		firstBytes, got, size(t, beta.Size), size(t, conf.Size), len(cfg), len(raw))
	if got != want {
		t.Fatalf("uploaded %d bytes, want exactly the changed layers + config + manifest = %d", got, want)
	}
	// The registry serves what was built.
	nref, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(nref)
	if err != nil || desc.Digest != second.Digest {
		t.Fatalf("registry has %v (%v), built %s", desc, err, second.Digest)
	}
	img, _ := desc.Image()
	if err := validate.Image(img); err != nil {
		t.Fatal(err)
	}
}

func TestParseRejectsBadSpecs(t *testing.T) {
	for spec, want := range map[string]string{
		"dest=x":                             "no type",
		"type=tarball,dest=x":                "unknown type",
		"type=oci":                           "needs dest",
		"type=oci,dest=x,colour=red":         "unknown key colour",
		"type=registry":                      "needs name",
		"type=docker,dest=x,name=UPPER/case": "name",
		"type=oci,dest=a,dest=b":             "given twice",
	} {
		_, err := publish.Parse(spec, publish.Options{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", spec, err, want)
		}
	}
}

// TestDaemonLoadsAndRuns loads an image into this machine's Docker Engine and runs its
// launcher. The base is made here from scratch: a static busybox when the machine has one.
func TestDaemonLoadsAndRuns(t *testing.T) {
	if _, err := exec.LookPath("docker"); err != nil || exec.Command("docker", "version").Run() != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but no working Docker Engine")
		}
		t.Skip("no working Docker Engine (docker version failed)")
	}
	s := site(t, "linux/amd64")
	res := build(t, s.Load(), "amd64")
	tag := "graft-test/daemon:" + res.Digest.Hex[:12]
	where := publishTo(t, "type=daemon,name="+tag, publish.Options{}, artifact(res))
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", tag).Run() })
	t.Logf("loaded: %s", where)
	out, err := exec.Command("docker", "run", "--rm", "-e", "BETA_KEY=s3cret-value", "--entrypoint", builder.LauncherPath,
		tag, "config").CombinedOutput()
	if err != nil {
		t.Fatalf("docker run: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), `tmp_dir = "/app/tmp"`) || !strings.Contains(string(out), "beta_key") ||
		strings.Contains(string(out), "s3cret-value") {
		t.Fatalf("graft-launcher config printed:\n%s", out)
	}
	insp, err := exec.Command("docker", "image", "inspect", "--format", "{{json .Config.Labels}}", tag).CombinedOutput()
	if err != nil || !strings.Contains(string(insp), "org.graft.plugins") {
		t.Fatalf("labels %s %v", insp, err)
	}
}

func mustRead(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// cancelImage cancels a context when the layout writer first reads a layer's bytes: an
// interrupt arriving while the output is being written.
type cancelImage struct {
	v1.Image
	cancel func()
}

func (c cancelImage) Layers() ([]v1.Layer, error) {
	ls, err := c.Image.Layers()
	for i, l := range ls {
		ls[i] = cancelLayer{l, c.cancel}
	}
	return ls, err
}

type cancelLayer struct {
	v1.Layer
	cancel func()
}

func (c cancelLayer) Compressed() (io.ReadCloser, error) {
	c.cancel()
	return c.Layer.Compressed()
}

// An interrupt while the output is written (after the layout is complete in its temporary
// folder, before the swap) leaves dest as it was and no temporary folder behind.
func TestOutputsHonourCancelUntilCommitted(t *testing.T) {
	s := site(t, "linux/amd64")
	res := build(t, s.Load(), "amd64")
	o := publish.Options{BaseDir: s.Dir, DefaultName: "registry.test/lib/app:v1"}
	publishTo(t, "type=oci,dest=out/image", o, artifact(res))
	before, err := os.ReadFile(filepath.Join(s.Dir, "out/image/index.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, spec := range []string{"type=oci,dest=out/image", "type=docker,dest=out/image.tar", "type=oci,dest=out/fresh"} {
		ctx, cancel := context.WithCancel(context.Background())
		p, err := publish.Parse(spec, o)
		if err != nil {
			t.Fatal(err)
		}
		img := &cancelImage{res.Image, cancel} // a pointer: ggcr uses images as map keys
		_, err = p.Publish(ctx, publish.Artifact{Image: img}, io.Discard)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: cancelled while writing: %v, want context.Canceled", spec, err)
		}
		if ctx.Err() == nil {
			t.Fatalf("%s: no layer was read, the test proves nothing", spec)
		}
	}
	after, err := os.ReadFile(filepath.Join(s.Dir, "out/image/index.json"))
	if err != nil || !bytes.Equal(before, after) {
		t.Errorf("dest changed by a cancelled output (%v)", err)
	}
	for _, gone := range []string{"out/image.tar", "out/fresh"} {
		if _, err := os.Stat(filepath.Join(s.Dir, gone)); !os.IsNotExist(err) {
			t.Errorf("%s exists after a cancelled output: %v", gone, err)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(s.Dir, "out", ".graft-*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestLayoutLinksCachedLayersAndRefusesChangedOnes(t *testing.T) {
	s := site(t, "linux/amd64")
	layers := t.TempDir()
	buildCached := func() *contract.Result {
		res, err := builder.Build(context.Background(), s.Load(), builder.WithCache(fetch.NewCache(t.TempDir())),
			builder.WithLaunchers(buildtest.Launchers(t, "amd64")), builder.WithLayerCache(layers))
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res := buildCached()
	publishTo(t, "type=oci,dest=out/image", publish.Options{BaseDir: s.Dir}, artifact(res))
	var linked []string
	for _, info := range res.Layers {
		if info.Kind != contract.KindPlugin {
			continue
		}
		out, err := os.Stat(filepath.Join(s.Dir, "out/image/blobs/sha256", info.Digest.Hex))
		if err != nil {
			t.Fatal(err)
		}
		cached, _ := filepath.Glob(filepath.Join(layers, "*"))
		for _, c := range cached {
			if st, err := os.Stat(c); err == nil && os.SameFile(st, out) {
				linked = append(linked, c)
			}
		}
	}
	if len(linked) != 2 {
		t.Fatalf("plugin blobs linked from the cache: %v, want both plugins'", linked)
	}
	ref, _ := imageref.Parse("oci-layout://out/image:latest", s.Dir)
	got, err := ref.Resolve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(got.Image); err != nil {
		t.Fatalf("layout of linked blobs: %v", err)
	}
	// A cache blob changed in place (same size, new mtime) is checked when the next build
	// looks it up, and made again: the layout never links the changed bytes.
	data, _ := os.ReadFile(linked[0])
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(linked[0], data, 0o644); err != nil {
		t.Fatal(err)
	}
	publishTo(t, "type=oci,dest=out/again", publish.Options{BaseDir: s.Dir}, artifact(buildCached()))
	ref, _ = imageref.Parse("oci-layout://out/again:latest", s.Dir)
	if got, err = ref.Resolve(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(got.Image); err != nil {
		t.Fatalf("a changed cache blob was published: %v", err)
	}
}

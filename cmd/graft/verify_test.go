package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/graft-build/graft/builder"
	"github.com/graft-build/graft/builder/buildtest"
	"github.com/graft-build/graft/builder/contract"
	"github.com/graft-build/graft/builder/fetch"
	"github.com/graft-build/graft/internal/buildopts"
	"github.com/graft-build/graft/internal/imageref"
	"github.com/graft-build/graft/internal/registrytest"
)

func TestVerifyAcceptsWhatTheLockBuilds(t *testing.T) {
	buildEnv(t)
	s := graftSite(t)
	host := registrytest.Distribution(t)
	code, out, errOut := graft(t, "build", "-C", s.Dir, "--output", "type=oci,dest=out/image",
		"--output", "type=docker,dest=out/image.tar", "--output", "type=registry,name="+host+"/lib/app:v1")
	if code != 0 {
		t.Fatalf("build: exit %d: %s", code, errOut)
	}
	digest := lastLine(out)
	// Another machine: a fresh cache, the site checked out elsewhere.
	t.Setenv("GRAFT_CACHE_DIR", t.TempDir())
	for _, img := range []string{"oci-layout://" + filepath.Join(s.Dir, "out/image"), host + "/lib/app:v1"} {
		code, out, errOut := graft(t, "verify", img, "-C", s.Dir)
		if code != 0 || !strings.Contains(out, "is exactly what graft.lock builds ("+digest+")") {
			t.Errorf("verify %s: exit %d\n%s%s", img, code, out, errOut)
		}
	}
	// A docker save tar keeps the config and the layers, not the manifest: it is named by the
	// image ID Docker shows (its config's digest).
	ref, _ := imageref.Parse("oci-layout://"+filepath.Join(s.Dir, "out/image"), "/")
	res, err := ref.Resolve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	id, _ := res.Image.ConfigName()
	code, out, errOut = graft(t, "verify", filepath.Join(s.Dir, "out/image.tar"), "-C", s.Dir)
	if code != 0 || !strings.Contains(out, "is exactly what graft.lock builds (image ID "+id.String()+"; a docker save tar keeps no manifest") {
		t.Errorf("verify the docker tar: exit %d\n%s%s", code, out, errOut)
	}
}

// swapLayer writes to dir the image of layout src with layer i replaced by l; config, labels
// and every other layer stay.
func swapLayer(t *testing.T, src string, i int, l v1.Layer, dir string) {
	t.Helper()
	ref, _ := imageref.Parse("oci-layout://"+src, "/")
	res, err := ref.Resolve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cf, err := res.Image.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	layers, _ := res.Image.Layers()
	layers[i] = l
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.AppendLayers(img, layers...)
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	if cf.RootFS.DiffIDs[i], err = l.DiffID(); err != nil {
		t.Fatal(err)
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	m, err := res.Image.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.Annotations(img, m.Annotations).(v1.Image)
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyNamesASwappedLayer(t *testing.T) {
	buildEnv(t)
	s := graftSite(t)
	if code, _, errOut := graft(t, "build", "-C", s.Dir); code != 0 {
		t.Fatalf("build: exit %d: %s", code, errOut)
	}
	good := filepath.Join(s.Dir, "out/image")
	other := graftSite(t)
	other.Plugin("beta", map[string]string{"lib/b.rb": "evil"}, "")
	other.Lock()
	if code, _, errOut := graft(t, "build", "-C", other.Dir); code != 0 {
		t.Fatalf("build: exit %d: %s", code, errOut)
	}
	ref, _ := imageref.Parse("oci-layout://"+filepath.Join(other.Dir, "out/image"), "/")
	res, err := ref.Resolve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	evil, _ := res.Image.Layers()
	// Layers: the base's one, alpha, beta, launcher, launcher.toml.
	bad := t.TempDir()
	swapLayer(t, good, 2, evil[2], bad)
	code, out, errOut := graft(t, "verify", "oci-layout://"+bad, "-C", s.Dir)
	beta := s.Load().PluginLock("beta")
	if code != 1 {
		t.Fatalf("verify of a swapped layer: exit %d\n%s%s", code, out, errOut)
	}
	lines := regexp.MustCompile(`(?m)^platform linux/amd64: .*$`).FindAllString(out, -1)
	if len(lines) != 1 || !strings.Contains(lines[0], "layer 2 differs") || !strings.Contains(lines[0], "plugin beta at commit "+beta.Commit) {
		t.Errorf("want one line naming layer 2 and plugin beta at %s, got:\n%s", beta.Commit, out)
	}
	// The untouched image still verifies.
	if code, out, errOut := graft(t, "verify", "oci-layout://"+good, "-C", s.Dir); code != 0 {
		t.Errorf("verify of the good image: exit %d\n%s%s", code, out, errOut)
	}
	// Verifying another site's image (other commits) against this lock names its plugin layers
	// and the labels, not the base's or the launcher binary's.
	code, out, _ = graft(t, "verify", "oci-layout://"+filepath.Join(other.Dir, "out/image"), "-C", s.Dir)
	if code != 1 || !strings.Contains(out, "layer 2 differs") || !strings.Contains(out, "label org.graft.plugins") ||
		strings.Contains(out, "layer 0 differs") || strings.Contains(out, "layer 3 differs") {
		t.Errorf("verify of another lock's image: exit %d\n%s", code, out)
	}
}

func TestVerifySourceDateEpochAndStale(t *testing.T) {
	buildEnv(t)
	s := graftSite(t)
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	if code, _, errOut := graft(t, "build", "-C", s.Dir); code != 0 {
		t.Fatalf("build: exit %d: %s", code, errOut)
	}
	t.Setenv("SOURCE_DATE_EPOCH", "")
	if code, out, errOut := graft(t, "verify", "oci-layout://out/image", "-C", s.Dir); code != 2 {
		// A relative layout path is taken from the current directory, not the site: names nothing.
		t.Errorf("verify of a missing layout: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := graft(t, "verify", "oci-layout://"+filepath.Join(s.Dir, "out/image"), "-C", s.Dir); code != 0 {
		t.Errorf("verify of an image built with SOURCE_DATE_EPOCH: exit %d\n%s%s", code, out, errOut)
	}
	s.WriteFile("graft.toml", strings.Replace(readFileT(t, filepath.Join(s.Dir, "graft.toml")), "plugins_dir", "# edited\nplugins_dir", 1))
	if code, _, errOut := graft(t, "verify", "oci-layout://"+filepath.Join(s.Dir, "out/image"), "-C", s.Dir); code != 2 || !strings.Contains(errOut, "graft lock") {
		t.Errorf("verify with a stale lock: exit %d %s", code, errOut)
	}
}

// stepRunner stands in for BuildKit when making the test image: the plugin's files as its layer.
type stepRunner struct{}

func (stepRunner) RunSteps(_ context.Context, r contract.StepRequest) (v1.Layer, error) {
	return tarball.LayerFromOpener(r.PluginTar, tarball.WithMediaType(r.MediaType))
}

func TestVerifySaysWhichLayersNeedBuildKit(t *testing.T) {
	buildEnv(t)
	s := graftSite(t)
	s.Plugin("gamma", map[string]string{"x": "y"}, "[build]\nrun = [\"make\"]")
	p := s.Lock()
	res, err := builder.Build(context.Background(), p, builder.WithCache(fetch.NewCache(t.TempDir())),
		builder.WithLaunchers(buildtest.Launchers(t, "amd64")), builder.WithStepRunner(stepRunner{}))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(res.Image); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := graft(t, "verify", "oci-layout://"+dir, "-C", s.Dir)
	if code != 1 || !strings.Contains(out, "layer 3 (plugin gamma) not recomputed: its [build] steps need BuildKit") ||
		strings.Contains(out, "differs") {
		t.Errorf("verify with a build-step plugin and no BuildKit: exit %d\n%s%s", code, out, errOut)
	}
}

func readFileT(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A multi-platform image: the SBOM and provenance refer to the index, every platform's
// launcher is in the SBOM, and verify checks every platform (and one built for fewer
// platforms than the base has).
func TestMultiPlatformAttestAndVerify(t *testing.T) {
	buildEnv(t)
	t.Setenv(buildopts.EnvLauncherDir, buildtest.LauncherDir(t, "amd64", "arm64"))
	s := buildtest.NewSite(t, "oci-layout://base", "")
	buildtest.WriteBaseLayout(t, filepath.Join(s.Dir, "base"), "linux/amd64", "linux/arm64")
	s.Plugin("alpha", map[string]string{"a": "a"}, "")
	s.Plugin("beta", map[string]string{"b": "b"}, "")
	s.Lock()
	host := registrytest.Distribution(t)
	code, out, errOut := graft(t, "build", "-C", s.Dir, "--output", "type=oci,dest=out/image", "--output", "type=registry,name="+host+"/lib/multi:1")
	if code != 0 {
		t.Fatalf("build: exit %d: %s", code, errOut)
	}
	digest := lastLine(out)
	for _, img := range []string{"oci-layout://" + filepath.Join(s.Dir, "out/image"), host + "/lib/multi:1"} {
		code, sbom, errOut := graft(t, "sbom", img)
		if code != 0 || !strings.Contains(sbom, "SPDXRef-Launcher-linux-amd64") || !strings.Contains(sbom, "SPDXRef-Launcher-linux-arm64") {
			t.Errorf("sbom %s: exit %d %s", img, code, errOut)
		}
		checkSBOM(t, sbom, digest)
		if code, out, errOut := graft(t, "verify", img, "-C", s.Dir); code != 0 || !strings.Contains(out, digest) {
			t.Errorf("verify %s: exit %d\n%s%s", img, code, out, errOut)
		}
	}
	code, out, errOut = graft(t, "build", "-C", s.Dir, "--platform", "linux/arm64", "--output", "type=oci,dest=out/arm")
	if code != 0 {
		t.Fatalf("build: exit %d: %s", code, errOut)
	}
	if code, out, errOut := graft(t, "verify", "oci-layout://"+filepath.Join(s.Dir, "out/arm"), "-C", s.Dir); code != 0 {
		t.Errorf("verify of the arm64-only image: exit %d\n%s%s", code, out, errOut)
	}
}

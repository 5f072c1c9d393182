package main

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/graft-build/graft/builder/buildtest"
	"github.com/graft-build/graft/builder/layercache"
	"github.com/graft-build/graft/internal/buildkittest"
	"github.com/graft-build/graft/internal/buildopts"
	"github.com/graft-build/graft/internal/imageref"
	"github.com/graft-build/graft/internal/registrytest"
)

// TestBuildRunsStepsWithBuildKit: a plugin with [build] run goes through a real buildkitd
// (address from BUILDKIT_HOST), its generated file lands in its layer, the other plugin's
// layer is the daemonless one.
func TestBuildRunsStepsWithBuildKit(t *testing.T) {
	buildEnv(t)
	d := buildkittest.Start(t)
	s := buildtest.NewSite(t, "oci-layout://base", "")
	buildtest.WriteBusyboxBaseLayout(t, filepath.Join(s.Dir, "base"))
	s.Plugin("alpha", map[string]string{"a.txt": "alpha"}, "")
	s.Plugin("gamma", map[string]string{"src.txt": "gamma"}, "[build]\nrun = [\"echo built-by-$(id -u) > generated.txt\"]")
	s.Lock()
	t.Setenv(buildopts.EnvBuildkitHost, d.Addr)
	code, out, errOut := graft(t, "build", "-C", s.Dir, "--progress", "plain")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	ref, _ := imageref.Parse("oci-layout://out/image", s.Dir)
	res, err := ref.Resolve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Digest.String() != lastLine(out) {
		t.Fatalf("layout %s, printed %s", res.Digest, lastLine(out))
	}
	ls, _ := res.Image.Layers()
	if len(ls) != 5 {
		t.Fatalf("%d layers", len(ls))
	}
	got := tarFile(t, ls[2], "app/plugins/gamma/generated.txt")
	if got != "built-by-1000\n" {
		t.Fatalf("generated.txt = %q", got)
	}
	if tarFile(t, ls[2], "app/plugins/gamma/src.txt") != "gamma" {
		t.Fatal("gamma's own files are not in its layer")
	}
}

// outputImage reads the image graft build wrote to the site's default output.
func outputImage(t *testing.T, site string) (*imageref.Resolved, []v1.Layer) {
	t.Helper()
	ref, _ := imageref.Parse("oci-layout://out/image", site)
	res, err := ref.Resolve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ls, err := res.Image.Layers()
	if err != nil {
		t.Fatal(err)
	}
	return res, ls
}

// wantStepRan checks the file the test plugins' step writes: the step ran as the owner.
func wantStepRan(t *testing.T, l v1.Layer) {
	t.Helper()
	if got := tarFile(t, l, "app/plugins/gamma/generated.txt"); got != "built-by-1000\n" {
		t.Fatalf("generated.txt = %q", got)
	}
}

func tarFile(t *testing.T, l interface{ Uncompressed() (io.ReadCloser, error) }, name string) string {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	var names []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			t.Fatalf("%s not in layer (has %s)", name, strings.Join(names, " "))
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Name == name {
			b, _ := io.ReadAll(tr)
			return string(b)
		}
	}
}

// With BuildKit, one local cache folder holds BuildKit's step cache and graft's layer cache
// side by side: a fresh runner whose plugin repositories are gone builds the same image from
// it, its step plugin's files coming from graft's cache and the step from BuildKit's.
func TestBuildKitAndLayerCacheShareAFolder(t *testing.T) {
	buildEnv(t)
	d := buildkittest.Start(t)
	s := buildtest.NewSite(t, "oci-layout://base", "")
	buildtest.WriteBusyboxBaseLayout(t, filepath.Join(s.Dir, "base"))
	s.Plugin("alpha", map[string]string{"a.txt": "alpha"}, "")
	s.Plugin("gamma", map[string]string{"src.txt": "gamma"}, "[build]\nrun = [\"echo built-by-$(id -u) > generated.txt\"]")
	s.Lock()
	t.Setenv(buildopts.EnvBuildkitHost, d.Addr)
	dir := filepath.Join(t.TempDir(), "cache")
	code, out, errOut := graft(t, "build", "-C", s.Dir, "--progress", "plain", "--cache-to", "type=local,dest="+dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, f := range []string{"index.json", layercache.IndexFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("the cache folder lacks %s: %v", f, err)
		}
	}
	if err := os.RemoveAll(s.Git); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GRAFT_CACHE_DIR", t.TempDir())
	code, out2, errOut := graft(t, "build", "-C", s.Dir, "--progress", "plain", "--cache-from", "type=local,src="+dir,
		"--output", "type=oci,dest="+filepath.Join(t.TempDir(), "img"))
	if code != 0 || lastLine(out2) != lastLine(out) {
		t.Fatalf("exit %d, digest %q (want %s): %s", code, lastLine(out2), lastLine(out), errOut)
	}
}

// TestBuildKitInContainerLoopbackBase: buildkitd in a Docker container (as --buildkit auto
// starts it) has a loopback of its own, so a base in a registry on graft's 127.0.0.1 is out of
// its reach ("connection refused" before). graft hands over the base it read through the
// session: the build succeeds and the daemon never asks the registry.
func TestBuildKitInContainerLoopbackBase(t *testing.T) {
	buildEnv(t)
	addr := buildkittest.StartContainer(t)
	layoutDir := t.TempDir()
	buildtest.WriteBusyboxBaseLayout(t, layoutDir)
	idx, err := layout.ImageIndexFromPath(layoutDir)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := idx.IndexManifest()
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	reg := registrytest.New(t, registrytest.WithGGCR(false))
	base := reg.Host + "/base:1"
	tag, _ := name.NewTag(base)
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	s := buildtest.NewSite(t, base, "")
	s.Plugin("gamma", map[string]string{"src.txt": "gamma"}, "[build]\nrun = [\"echo built-by-$(id -u) > generated.txt\"]")
	s.Lock()
	pushed := len(reg.Requests())
	code, _, errOut := graft(t, "build", "-C", s.Dir, "--progress", "plain", "--buildkit", addr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	_, ls := outputImage(t, s.Dir)
	wantStepRan(t, ls[1])
	if len(reg.Requests()) == pushed {
		t.Fatal("graft did not read the base from the registry (the test proves nothing)")
	}
}

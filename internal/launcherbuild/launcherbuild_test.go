package launcherbuild_test

import (
	"archive/zip"
	"bytes"
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/graft-build/graft/builder"
	"github.com/graft-build/graft/builder/buildcache"
	"github.com/graft-build/graft/builder/buildtest"
	"github.com/graft-build/graft/builder/contract"
	"github.com/graft-build/graft/internal/launcherbuild"
	"github.com/graft-build/graft/internal/usererr"
)

const fakeVersion = "v0.99.0-test"

// checkout is the module root of this test's source.
func checkout(t *testing.T) string {
	wd, _ := os.Getwd()
	root, ok := launcherbuild.ModuleRoot(wd)
	if !ok {
		t.Fatal("no graft module above", wd)
	}
	return root
}

// moduleProxy serves this checkout as graft@fakeVersion from a file:// GOPROXY (as the module
// proxy would serve a release), and everything else from the local module cache, so `go mod
// download` and the launcher's build run offline. GOMODCACHE is a fresh folder.
func moduleProxy(t *testing.T) {
	t.Helper()
	root := checkout(t)
	out, err := exec.Command("git", "-C", root, "ls-files", "-co", "--exclude-standard").Output()
	if err != nil {
		t.Skipf("git ls-files in %s: %v (the test zips the checkout's files)", root, err)
	}
	proxy := t.TempDir()
	dir := filepath.Join(proxy, "github.com/graft-build/graft/@v")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var zbuf bytes.Buffer
	zw := zip.NewWriter(&zbuf)
	for _, name := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		data, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			continue // deleted in the working tree
		}
		w, err := zw.Create(launcherbuild.Module + "@" + fakeVersion + "/" + name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"list": []byte(fakeVersion + "\n"), fakeVersion + ".mod": gomod, fakeVersion + ".zip": zbuf.Bytes(),
		fakeVersion + ".info": []byte(`{"Version":"` + fakeVersion + `","Time":"2026-01-01T00:00:00Z"}`),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	realCache, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	modcache := t.TempDir()
	// The module cache is read-only; make it removable before TempDir's cleanup runs.
	t.Cleanup(func() {
		filepath.WalkDir(modcache, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(p, 0o755)
			}
			return nil
		})
	})
	t.Setenv("GOMODCACHE", modcache)
	t.Setenv("GOPROXY", "file://"+proxy+",file://"+filepath.Join(strings.TrimSpace(string(realCache)), "cache/download"))
	t.Setenv("GOSUMDB", "off")
	t.Setenv("GOFLAGS", "")
}

// generated builds the launcher as `go generate ./cmd/graft` does, in the checkout, for a
// release of version.
func generated(t *testing.T, arch, version string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "launcher")
	cmd, err := launcherbuild.Command(context.Background(), launcherbuild.Target{OS: "linux", Arch: arch}, version, checkout(t), out)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// A `go install ...@VERSION` graft builds its launcher from VERSION in the module cache; it is
// byte for byte the one a release of VERSION embeds, so the image digest is the same.
func TestGoInstalledGraftBuildsTheReleaseLauncher(t *testing.T) {
	moduleProxy(t)
	want := generated(t, "amd64", fakeVersion)
	loc := launcherbuild.Locator{BuildInfo: &debug.BuildInfo{Main: debug.Module{Path: launcherbuild.Module, Version: fakeVersion}}}
	var log bytes.Buffer
	cache := t.TempDir()
	kept := buildcache.New(buildcache.Options{LauncherDir: cache, KeyFile: filepath.Join(t.TempDir(), "key")})
	b := &launcherbuild.Builder{Ctx: context.Background(), Cache: kept, Log: &log, Locate: loc.Locate}
	got, _, err := b.Launcher(v1.Platform{OS: "linux", Architecture: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("launcher built from the module cache (%d bytes) differs from the release's (%d bytes)", len(got), len(want))
	}
	if !strings.Contains(log.String(), "building graft-launcher "+fakeVersion+" with go") || !strings.Contains(log.String(), "@"+fakeVersion) {
		t.Errorf("log: %q", log.String())
	}
	cached := filepath.Join(cache, fakeVersion, "graft-launcher-linux-amd64")
	if data, err := os.ReadFile(cached); err != nil || !bytes.Equal(data, want) {
		t.Fatalf("not kept in %s: %v", cached, err)
	}
	// A second graft run takes it from the cache: no build, no log line.
	log.Reset()
	b2 := &launcherbuild.Builder{Ctx: context.Background(), Cache: kept, Log: &log, Locate: loc.Locate}
	if again, _, err := b2.Launcher(v1.Platform{OS: "linux", Architecture: "amd64"}); err != nil || !bytes.Equal(again, want) || log.Len() != 0 {
		t.Fatalf("from cache: %v, log %q", err, log.String())
	}
	entries, _ := os.ReadDir(filepath.Join(cache, fakeVersion))
	if len(entries) != 2 {
		t.Errorf("cache folder holds %d entries, want the launcher and its MAC (a temporary file left?)", len(entries))
	}
	// A launcher this machine did not build (a CI cache restored from elsewhere, an edited
	// file) is built again, never put into an image.
	bad := append([]byte(nil), want...)
	bad[len(bad)/2] ^= 0xff
	if err := os.WriteFile(cached, bad, 0o755); err != nil {
		t.Fatal(err)
	}
	log.Reset()
	b3 := &launcherbuild.Builder{Ctx: context.Background(), Cache: kept, Log: &log, Locate: loc.Locate}
	if again, _, err := b3.Launcher(v1.Platform{OS: "linux", Architecture: "amd64"}); err != nil || !bytes.Equal(again, want) || log.Len() == 0 {
		t.Fatalf("a changed cached launcher: %v, log %q", err, log.String())
	}

	// The image: the same digest with the release's launcher and with the built one.
	s := buildtest.NewSite(t, "oci-layout://base", "")
	buildtest.WriteBaseLayout(t, filepath.Join(s.Dir, "base"), "linux/amd64")
	s.Plugin("alpha", map[string]string{"a.txt": "alpha"}, "")
	p := s.Lock()
	// The release's set, as `GRAFT_VERSION=... go generate ./cmd/graft` writes it.
	release := t.TempDir()
	if err := launcherbuild.Generate(context.Background(), checkout(t), release, fakeVersion, launcherbuild.Target{OS: "linux", Arch: "amd64"}); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(filepath.Join(release, "graft-launcher-linux-amd64")); !bytes.Equal(data, want) {
		t.Fatal("Generate and Command disagree")
	}
	digest := func(l builder.Launchers) string {
		res, err := builder.Build(context.Background(), p, builder.WithLaunchers(l))
		if err != nil {
			t.Fatal(err)
		}
		cf, _ := res.Image.ConfigFile()
		if v := cf.Config.Labels[contract.LabelLauncherVersion]; v != fakeVersion {
			t.Errorf("launcher version label %q, want %s", v, fakeVersion)
		}
		return res.Digest.String()
	}
	embedded := digest(builder.Launchers{FS: os.DirFS(release)})
	built := digest(builder.Launchers{Fallback: &launcherbuild.Builder{Ctx: context.Background(), Locate: loc.Locate}})
	if embedded != built {
		t.Fatalf("image with the release's launcher %s, with the built one %s", embedded, built)
	}
	if launcherbuild.VersionSuffix != builder.LauncherVersionSuffix {
		t.Fatal("launcherbuild and builder name the version file differently")
	}
}

// The recipe ignores what the caller's environment would change in the binary.
func TestRecipeIgnoresTheCallersGoEnvironment(t *testing.T) {
	want := generated(t, "amd64", "")
	t.Setenv("GOAMD64", "v3")
	t.Setenv("GOFLAGS", "-ldflags=-X=main.x=y")
	t.Setenv("CGO_ENABLED", "1")
	if got := generated(t, "amd64", ""); !bytes.Equal(got, want) {
		t.Fatal("GOAMD64, GOFLAGS or CGO_ENABLED in the environment changed the launcher")
	}
}

func TestLocate(t *testing.T) {
	root := checkout(t)
	here := filepath.Join(root, "internal/launcherbuild/source.go")
	// Built from a checkout without -trimpath: that checkout, no release version.
	src, err := launcherbuild.Locator{Here: here}.Locate(context.Background())
	if err != nil || src.Dir != root || src.Version != "" || src.Immutable {
		t.Fatalf("checkout: %+v %v", src, err)
	}
	// -trimpath and no module version: nothing to build from; say what to do (exit 2).
	_, err = launcherbuild.Locator{Here: launcherbuild.Module + "/internal/launcherbuild/source.go",
		BuildInfo: &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}}.Locate(context.Background())
	if err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), "built with -trimpath") || !strings.Contains(err.Error(), "go install "+launcherbuild.Module+"/cmd/graft@VERSION") {
		t.Fatalf("trimpath devel: %v", err)
	}
	// A release version the proxy does not have: the module proxy's answer, one line.
	t.Setenv("GOPROXY", "file://"+t.TempDir())
	t.Setenv("GOSUMDB", "off")
	_, err = launcherbuild.Locator{Release: "v0.98.0"}.Locate(context.Background())
	if err == nil || !strings.Contains(err.Error(), "through the Go module proxy") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("unknown release: %v", err)
	}
	if _, err := launcherbuild.LDFlags("v1 -X evil=1"); err == nil {
		t.Fatal("a version with spaces went into -ldflags")
	}
}

// Without a go command the error says what to install, as bad input (exit 2).
func TestNoGoToolchain(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	b := &launcherbuild.Builder{Ctx: context.Background(),
		Locate: launcherbuild.Locator{Here: filepath.Join(checkout(t), "x/y/z.go")}.Locate}
	_, _, err := b.Launcher(v1.Platform{OS: "linux", Architecture: "arm64"})
	if err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), "install Go (https://go.dev/dl/") ||
		!strings.Contains(err.Error(), "graft-launcher-linux-arm64") {
		t.Fatalf("%v", err)
	}
}

// copyCheckout copies this checkout's files (as git lists them) into a new git repository with
// one commit, and returns its root and commit.
func copyCheckout(t *testing.T) (string, string) {
	t.Helper()
	root := checkout(t)
	out, err := exec.Command("git", "-C", root, "ls-files", "-co", "--exclude-standard").Output()
	if err != nil {
		t.Skipf("git ls-files in %s: %v (the test copies the checkout's files)", root, err)
	}
	dst := t.TempDir()
	for _, name := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		data, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			continue // deleted in the working tree
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dst, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git(t, dst, "init", "-q")
	git(t, dst, "add", "-A")
	git(t, dst, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "copy")
	return dst, git(t, dst, "rev-parse", "HEAD")
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// A graft built from a checkout records the checkout's commit (and -dirty) as the launcher's
// version instead of "devel", while the launcher's bytes, and so every layer of the image, stay
// the same whatever the commit or the state of the working tree.
func TestCheckoutLauncherRecordsItsCommit(t *testing.T) {
	root, rev := copyCheckout(t)
	s := buildtest.NewSite(t, "oci-layout://base", "")
	buildtest.WriteBaseLayout(t, filepath.Join(s.Dir, "base"), "linux/amd64")
	s.Plugin("alpha", map[string]string{"a.txt": "alpha"}, "")
	p := s.Lock()
	build := func() (label string, layers []string) {
		loc := launcherbuild.Locator{Here: filepath.Join(root, "internal/launcherbuild/source.go")}
		l := builder.Launchers{Fallback: &launcherbuild.Builder{Ctx: context.Background(), Locate: loc.Locate}}
		res, err := builder.Build(context.Background(), p, builder.WithLaunchers(l))
		if err != nil {
			t.Fatal(err)
		}
		cf, _ := res.Image.ConfigFile()
		ls, _ := res.Image.Layers()
		for _, l := range ls {
			d, _ := l.Digest()
			layers = append(layers, d.String())
		}
		return cf.Config.Labels[contract.LabelLauncherVersion], layers
	}
	clean, want := build()
	if clean != "devel+"+rev[:12] {
		t.Fatalf("clean checkout: launcher version %q, want devel+%s", clean, rev[:12])
	}
	if err := os.WriteFile(filepath.Join(root, "NOTES.local"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	dirty, layers := build()
	if dirty != clean+"-dirty" || strings.Join(layers, " ") != strings.Join(want, " ") {
		t.Fatalf("dirty checkout: version %q, layers changed: %v", dirty, strings.Join(layers, " ") != strings.Join(want, " "))
	}
	git(t, root, "add", "-A")
	git(t, root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "notes")
	next, layers := build()
	if next != "devel+"+git(t, root, "rev-parse", "--short=12", "HEAD") || strings.Join(layers, " ") != strings.Join(want, " ") {
		t.Fatalf("next commit: version %q, layers changed: %v", next, strings.Join(layers, " ") != strings.Join(want, " "))
	}
}

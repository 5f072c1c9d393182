package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/graft-build/graft/internal/buildopts"
	"github.com/graft-build/graft/internal/launcherbuild"
)

// graftWith runs graft with the given embedded launcher set.
func graftWith(t *testing.T, embedded fstest.MapFS, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = runWith(context.Background(), args, &out, &errb, embedded)
	return code, out.String(), errb.String()
}

// `go install ./cmd/graft` from a checkout embeds no launcher: graft builds it from that
// checkout with launcherbuild's recipe, and the image is the one a graft built after
// `go generate ./cmd/graft` makes.
func TestGoInstalledGraftBuildsTheSameImage(t *testing.T) {
	buildEnv(t)
	t.Setenv(buildopts.EnvLauncherDir, "")
	s := graftSite(t)
	gen := t.TempDir()
	cmd := exec.Command("go", "run", "./internal/launcherbuild/cmd/genlaunchers", "-o", gen, "linux/amd64")
	cmd.Dir = "../.."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go generate's command: %v\n%s", err, b)
	}
	bin, err := os.ReadFile(filepath.Join(gen, "graft-launcher-linux-amd64"))
	if err != nil {
		t.Fatal(err)
	}
	// The version file names the checkout's commit, as a graft building from it labels its own.
	ver, err := os.ReadFile(filepath.Join(gen, "graft-launcher-linux-amd64.version"))
	if err != nil || !strings.HasPrefix(string(ver), "devel+") {
		t.Fatalf("version file %q: %v", ver, err)
	}
	set := fstest.MapFS{"graft-launcher-linux-amd64": {Data: bin}, "graft-launcher-linux-amd64.version": {Data: ver}}
	code, out, errOut := graftWith(t, set, "build", "-C", s.Dir, "-o", "type=oci,dest="+t.TempDir())
	if code != 0 {
		t.Fatalf("embedded: exit %d: %s", code, errOut)
	}
	embedded := lastLine(out)
	code, out, errOut = graftWith(t, fstest.MapFS{}, "build", "-C", s.Dir, "-o", "type=oci,dest="+t.TempDir())
	if code != 0 || lastLine(out) != embedded {
		t.Fatalf("without embedded launchers: exit %d, digest %q, want %s\n%s", code, lastLine(out), embedded, errOut)
	}
	if !strings.Contains(errOut, "building graft-launcher devel+") {
		t.Errorf("no line about building the launcher:\n%s", errOut)
	}
}

// Without embedded launchers and without Go, the error says what to install: exit 2.
func TestGoInstalledGraftWithoutGoSaysWhatToInstall(t *testing.T) {
	buildEnv(t)
	t.Setenv(buildopts.EnvLauncherDir, "")
	s := graftSite(t)
	// Only git stays reachable (file:// plugin fetches run git-upload-pack).
	bin := t.TempDir()
	for _, tool := range []string{"git", "git-upload-pack"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Skip(tool, "not found")
		}
		os.Symlink(p, filepath.Join(bin, tool))
	}
	t.Setenv("PATH", bin)
	code, _, errOut := graftWith(t, fstest.MapFS{}, "build", "-C", s.Dir, "--progress", "quiet")
	if code != 2 || !strings.Contains(errOut, "install Go (https://go.dev/dl/") || strings.Count(strings.TrimSpace(errOut), "\n") > 0 {
		t.Fatalf("exit %d: %q", code, errOut)
	}
}

// A launcher in GRAFT_LAUNCHER_DIR that would not start in the image is refused, naming the
// file and the fix: here a dynamically linked one (what `go build` makes with cgo).
func TestDynamicLauncherIsRefused(t *testing.T) {
	buildEnv(t)
	s := graftSite(t)
	dir := t.TempDir()
	file := filepath.Join(dir, launcherbuild.FileName(launcherbuild.Target{OS: "linux", Arch: "amd64"}))
	dynamic, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Skip(err)
	}
	os.WriteFile(file, dynamic, 0o755)
	t.Setenv(buildopts.EnvLauncherDir, dir)
	code, _, errOut := graft(t, "build", "-C", s.Dir, "--progress", "quiet")
	if code != 2 || !strings.Contains(errOut, file+": dynamically linked (interpreter /lib") ||
		!strings.Contains(errOut, "CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build") {
		t.Fatalf("exit %d: %q", code, errOut)
	}
}

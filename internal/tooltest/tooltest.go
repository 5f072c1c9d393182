// Package tooltest finds the standard container tools that tests run against what graft writes
// (crane, oras, cosign, syft, skopeo, umoci), at pinned versions. The Go tools are built once
// from the module proxy with `go build` inside the pinned module and cached under the user
// cache dir (as internal/buildkittest does for buildkitd); skopeo and umoci come from Debian
// (.ci/run installs them) and are found on PATH.
//
// A test that needs a tool calls Require: without the tool it skips with the reason, and under
// CI=true it fails instead, so CI never silently skips an interoperability check.
package tooltest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Tool is one standard tool. A tool with a Module is built from the module proxy; one without
// is looked up on PATH (AptPackage says what installs it).
type Tool struct {
	Name       string // the binary's name
	Module     string // Go module path, "" for a system tool
	Version    string // pinned module version
	Package    string // the command's package inside the module, e.g. "./cmd/crane"
	AptPackage string // Debian package of a system tool
}

// The pinned tools. Versions are the ones checked to build here (NOTES.md, "Other people's
// tools"); crane follows the go-containerregistry version in go.mod.
var (
	Crane  = Tool{Name: "crane", Module: "github.com/google/go-containerregistry", Version: "v0.22.1", Package: "./cmd/crane"}
	Oras   = Tool{Name: "oras", Module: "oras.land/oras", Version: "v1.3.6", Package: "./cmd/oras"}
	Cosign = Tool{Name: "cosign", Module: "github.com/sigstore/cosign/v2", Version: "v2.6.5", Package: "./cmd/cosign"}
	Syft   = Tool{Name: "syft", Module: "github.com/anchore/syft", Version: "v1.57.2", Package: "./cmd/syft"}
	Skopeo = Tool{Name: "skopeo", AptPackage: "skopeo"}
	Umoci  = Tool{Name: "umoci", AptPackage: "umoci"}
	// Docker is the machine's Docker CLI (its engine is started before the session and in
	// CI); tests that pull or load with it also need the engine to answer.
	Docker = Tool{Name: "docker", AptPackage: "docker.io"}
)

// All lists every tool, in the order .ci/run prepares them (the longest build last).
var All = []Tool{Skopeo, Umoci, Crane, Oras, Cosign, Syft}

// Built reports whether the tool is built from a Go module rather than found on PATH.
func (t Tool) Built() bool { return t.Module != "" }

func (t Tool) String() string {
	if t.Built() {
		return t.Name + " " + t.Version
	}
	return t.Name
}

// CachedPath is where a built tool lives: <user cache dir>/graft/tools/<name>-<version>/<name>.
func (t Tool) CachedPath() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("%s cache: %w", t.Name, err)
	}
	return filepath.Join(dir, "graft", "tools", t.Name+"-"+t.Version, t.Name), nil
}

// Find returns the tool's binary without building anything: the cached build, or the system
// tool on PATH. The error says how to get it.
func (t Tool) Find() (string, error) {
	if !t.Built() {
		p, err := exec.LookPath(t.Name)
		if err != nil {
			return "", fmt.Errorf("%s is not on PATH (apt-get install %s)", t.Name, t.AptPackage)
		}
		return p, nil
	}
	bin, err := t.CachedPath()
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("%s is not built yet (go run ./internal/tooltest/cmd/prepare builds it into %s)", t, filepath.Dir(bin))
	}
	return bin, nil
}

// Ensure returns the tool's binary, building a Go tool first when it is not cached. Builds are
// serialised by a lock file beside the binary, so two test packages never build the same tool
// twice at once.
func (t Tool) Ensure(ctx context.Context) (string, error) {
	if bin, err := t.Find(); err == nil || !t.Built() {
		return bin, err
	}
	bin, err := t.CachedPath()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return "", fmt.Errorf("build %s: %w", t, err)
	}
	unlock, err := lockFile(bin + ".lock")
	if err != nil {
		return "", fmt.Errorf("build %s: %w", t, err)
	}
	defer unlock()
	if _, err := os.Stat(bin); err == nil { // built by another process while we waited
		return bin, nil
	}
	if err := GoBuild(ctx, t.Module, t.Version, t.Package, nil, bin); err != nil {
		return "", err
	}
	return bin, nil
}

func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil // closing releases the lock
}

// GoBuild compiles pkg of module@version into bin. It builds inside the downloaded module, with
// the module's own go.mod and go.sum (`go install mod@version` refuses modules whose go.mod has
// replace or exclude directives), writes a temp file beside bin and renames it, so a half-built
// binary is never seen.
func GoBuild(ctx context.Context, module, version, pkg string, ldflags []string, bin string) error {
	modDir, err := ModuleDir(ctx, module, version)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return fmt.Errorf("build %s: %w", pkg, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(bin), ".build-*")
	if err != nil {
		return fmt.Errorf("build %s: %w", pkg, err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name()) // no-op after the rename
	args := []string{"build", "-trimpath"}
	if len(ldflags) > 0 {
		args = append(args, "-ldflags", strings.Join(ldflags, " "))
	}
	cmd := exec.CommandContext(ctx, "go", append(args, "-o", tmp.Name(), pkg)...)
	cmd.Dir = modDir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s of %s@%s: %w\n%s", pkg, module, version, err, Tail(out, 20))
	}
	if err := os.Chmod(tmp.Name(), 0o755); err != nil {
		return fmt.Errorf("build %s: %w", pkg, err)
	}
	if err := os.Rename(tmp.Name(), bin); err != nil {
		return fmt.Errorf("build %s: %w", pkg, err)
	}
	return nil
}

// ModuleDir downloads module@version (a no-op when it is in the module cache) and returns its
// folder.
func ModuleDir(ctx context.Context, module, version string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", module+"@"+version)
	cmd.Dir = os.TempDir() // outside any module, so no go.mod or go.sum is touched
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var info struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &info); jerr == nil && info.Error != "" {
		return "", fmt.Errorf("download %s@%s: %s", module, version, info.Error)
	}
	if err != nil {
		return "", fmt.Errorf("download %s@%s: %w: %s", module, version, err, strings.TrimSpace(stderr.String()))
	}
	if info.Dir == "" {
		return "", fmt.Errorf("download %s@%s: no folder reported", module, version)
	}
	return info.Dir, nil
}

// Tail is the last n lines of out.
func Tail(out []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// InCI reports whether a missing tool must fail the test rather than skip it.
func InCI() bool { return os.Getenv("CI") == "true" }

// Require returns the tool's binary for a test. A Go tool not built yet is built now (minutes
// for syft; .ci/run builds them all before go test). Without the tool the test skips with the
// reason, or fails under CI=true.
func Require(t testing.TB, tool Tool) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	bin, err := tool.Ensure(ctx)
	if err != nil {
		if InCI() {
			t.Fatalf("CI=true and no %s: %v", tool, err)
		}
		t.Skipf("no %s: %v", tool, err)
	}
	return bin
}

// Run runs the tool with args and returns its standard output; a non-zero exit fails the test
// with the tool's output. The environment keeps HOME and PATH (skopeo and oras read their
// configuration from HOME).
func Run(t testing.TB, bin string, args ...string) string {
	t.Helper()
	out, errOut, err := Exec(bin, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\nstdout: %s\nstderr: %s", filepath.Base(bin), strings.Join(args, " "), err, Tail(out, 30), Tail(errOut, 30))
	}
	return string(out)
}

// Exec runs the tool with args, for tests that expect it to fail; it returns stdout, stderr and
// the exit error.
func Exec(bin string, args ...string) (stdout, stderr []byte, err error) {
	return ExecEnv(nil, bin, args...)
}

// ExecEnv is Exec with env ("K=V") added to the environment.
func ExecEnv(env []string, bin string, args ...string) (stdout, stderr []byte, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.Bytes(), e.Bytes(), err
}

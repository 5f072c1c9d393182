// Package buildkittest runs a real buildkitd for tests: it builds buildkitd from the BuildKit
// module graft's client uses (same version, so client and daemon agree), caches the binary under
// the user cache dir, and starts daemons on a unix socket or on tcp:// with mTLS.
//
// Tests that need a daemon skip with a visible reason when the machine cannot run one (not root,
// no runc); under CI=true they fail instead, so CI never silently skips the BuildKit suites.
package buildkittest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/graft-build/graft/builder/buildkitd"
)

// Module and Version are the BuildKit module built into buildkitd: the version of the client in
// go.mod (see buildkitd.Version).
const (
	Module  = "github.com/moby/buildkit"
	Version = buildkitd.Version
)

// BinaryPath is where the cached buildkitd lives: <user cache dir>/graft/buildkitd-<version>/buildkitd.
func BinaryPath() (string, error) { return cachedPath("buildkitd") }

func cachedPath(name string) (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("%s cache: %w", name, err)
	}
	return filepath.Join(dir, "graft", "buildkitd-"+Version, name), nil
}

// Binary returns the cached buildkitd, building it first when it is missing. The build takes a
// few minutes on a small machine; .ci/run calls cmd/prepare so go test does not pay for it.
func Binary(ctx context.Context) (string, error) { return cached(ctx, "buildkitd") }

// Buildctl returns the cached buildctl of the same version (built like buildkitd, in seconds once
// buildkitd's packages are compiled): the docker-container:// helper runs `buildctl dial-stdio`
// inside the daemon's container.
func Buildctl(ctx context.Context) (string, error) { return cached(ctx, "buildctl") }

func cached(ctx context.Context, name string) (string, error) {
	bin, err := cachedPath(name)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := build(ctx, bin, "./cmd/"+name); err != nil {
		return "", err
	}
	return bin, nil
}

// build compiles a BuildKit command inside the downloaded module: `go install mod@version`
// refuses BuildKit's go.mod (it has exclude directives). It writes a temp file beside bin and
// renames it, so a half-built or concurrently built binary is never seen.
func build(ctx context.Context, bin, pkg string) error {
	modDir, err := moduleDir(ctx)
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
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath",
		"-ldflags", "-X "+Module+"/version.Version="+Version,
		"-o", tmp.Name(), pkg)
	cmd.Dir = modDir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s %s in %s: %w\n%s", pkg, Version, modDir, err, tail(out, 20))
	}
	if err := os.Chmod(tmp.Name(), 0o755); err != nil {
		return fmt.Errorf("build %s: %w", pkg, err)
	}
	if err := os.Rename(tmp.Name(), bin); err != nil {
		return fmt.Errorf("build %s: %w", pkg, err)
	}
	return nil
}

// moduleDir downloads the BuildKit module (a no-op when it is in the module cache) and returns
// its folder.
func moduleDir(ctx context.Context) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", Module+"@"+Version)
	cmd.Dir = os.TempDir() // outside any module, so no go.mod or go.sum is touched
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("download %s@%s: %w: %s", Module, Version, err, strings.TrimSpace(stderr.String()))
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out, &info); err != nil {
		return "", fmt.Errorf("download %s@%s: %w", Module, Version, err)
	}
	if info.Error != "" || info.Dir == "" {
		return "", fmt.Errorf("download %s@%s: %s", Module, Version, info.Error)
	}
	return info.Dir, nil
}

// tail is the last n lines of out.
func tail(out []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Package buildkittest runs a real buildkitd for tests: it builds buildkitd from the BuildKit
// module graft's client uses (same version, so client and daemon agree), caches the binary under
// the user cache dir, and starts daemons on a unix socket or on tcp:// with mTLS.
//
// Tests that need a daemon skip with a visible reason when the machine cannot run one (not root,
// no runc); under CI=true they fail instead, so CI never silently skips the BuildKit suites.
package buildkittest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/graft-build/graft/builder/buildkitd"
	"github.com/graft-build/graft/internal/tooltest"
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

// build compiles a BuildKit command inside the downloaded module (tooltest.GoBuild: `go install
// mod@version` refuses BuildKit's go.mod, which has exclude directives), stamping the version.
func build(ctx context.Context, bin, pkg string) error {
	return tooltest.GoBuild(ctx, Module, Version, pkg, []string{"-X " + Module + "/version.Version=" + Version}, bin)
}

// tail is the last n lines of out.
func tail(out []byte, n int) string { return tooltest.Tail(out, n) }

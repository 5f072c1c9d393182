package launcherbuild

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/graft-build/graft/internal/usererr"
)

// Builder is a launcher source (contract.LauncherSource) that builds graft-launcher of graft's
// own version with the local Go toolchain, for a graft that has none embedded for a platform.
// A launcher of a released module version is kept in Cache and built once; any launcher is
// built at most once per Builder (a build asks for it again for its SBOM).
type Builder struct {
	Ctx    context.Context
	Cache  Cache     // nil: nothing kept
	Log    io.Writer // one line per build; nil: none
	Locate func(context.Context) (Source, error)

	once  sync.Once
	src   Source
	err   error
	mu    sync.Mutex // one go build at a time: each already uses every core
	built map[Target][]byte
}

// FileName is the launcher's name for t in a launcher folder: graft-launcher-linux-arm64-v8.
// Cache keeps launchers of released versions between runs; package builder/buildcache's Cache
// is one (it keeps only what this machine built).
type Cache interface {
	// Launcher is the kept launcher file of version, else what build makes (then kept).
	Launcher(version, file string, build func() ([]byte, error)) ([]byte, error)
}

func FileName(t Target) string {
	name := "graft-launcher-" + t.OS + "-" + t.Arch
	if t.Variant != "" {
		name += "-" + t.Variant
	}
	return name
}

// Launcher implements contract.LauncherSource; the version is the release version the launcher
// was built with, or for a checkout's its commit (Source.Label).
func (b *Builder) Launcher(p v1.Platform) ([]byte, string, error) {
	t := Target{OS: p.OS, Arch: p.Architecture, Variant: p.Variant}
	if _, err := exec.LookPath("go"); err != nil {
		return nil, "", noGo(t)
	}
	b.once.Do(func() { b.src, b.err = b.Locate(b.Ctx) })
	if errors.Is(b.err, ErrNoGo) {
		return nil, "", noGo(t)
	}
	if b.err != nil {
		return nil, "", fmt.Errorf("no graft-launcher for %s embedded: %w", t, b.err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	data, ok := b.built[t]
	if !ok {
		var err error
		if data, err = b.build(t); err != nil {
			return nil, "", fmt.Errorf("no graft-launcher for %s embedded, and building one failed: %w", t, err)
		}
		if b.built == nil {
			b.built = map[Target][]byte{}
		}
		b.built[t] = data
	}
	// The version it was built with: what a release records beside its launchers.
	return data, b.src.Label(), nil
}

func noGo(t Target) error {
	return usererr.New("no graft-launcher for %s in this graft (a `go install`ed graft embeds none) and no `go` command "+
		"to build one: install Go (https://go.dev/dl/, the version in graft's go.mod or newer) and put `go` on PATH, "+
		"or use a release archive or image of graft (launchers embedded), or set GRAFT_LAUNCHER_DIR to a folder holding %s",
		t, FileName(t))
}

// build returns the kept launcher of an immutable source, else builds it.
func (b *Builder) build(t Target) ([]byte, error) {
	if b.src.Immutable && b.Cache != nil {
		return b.Cache.Launcher(b.src.Version, FileName(t), func() ([]byte, error) { return b.compile(t) })
	}
	return b.compile(t)
}

// compile builds the launcher into a temporary folder and reads it.
func (b *Builder) compile(t Target) ([]byte, error) {
	tmpDir, err := os.MkdirTemp("", "graft-launcher-build-*")
	if err != nil {
		return nil, fmt.Errorf("launcher build: %w", err)
	}
	defer os.RemoveAll(tmpDir)
	out := filepath.Join(tmpDir, FileName(t))
	cmd, err := Command(b.Ctx, t, b.src.Version, b.src.Dir, out)
	if err != nil {
		return nil, err
	}
	tc, _ := Toolchain(filepath.Join(b.src.Dir, "go.mod")) // Command read it already
	if b.Log != nil {
		fmt.Fprintf(b.Log, "launcher %s: building graft-launcher %s with %s from %s\n", t, b.src.Label(), tc, b.src.Dir)
	}
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &errb, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go build (%s, in %s): %v: %s", tc, b.src.Dir, err, oneLine(errb.String()))
	}
	return os.ReadFile(out)
}

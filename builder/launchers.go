package builder

import (
	"bytes"
	"debug/buildinfo"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/graft-build/graft/builder/contract"
	"github.com/graft-build/graft/internal/elfcheck"
	"github.com/graft-build/graft/internal/usererr"
	"github.com/graft-build/graft/internal/version"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// LauncherFile is the file name of the launcher binary for a platform:
// graft-launcher-linux-amd64, graft-launcher-linux-arm64-v8 (variant only when given).
func LauncherFile(p v1.Platform) string {
	name := "graft-launcher-" + p.OS + "-" + p.Architecture
	if p.Variant != "" {
		name += "-" + p.Variant
	}
	return name
}

// Launchers finds launcher binaries in each of Override (an explicit choice, e.g.
// $GRAFT_LAUNCHER_DIR), then in FS (graft's embedded set; may be nil), then in each of Dirs,
// then asks Fallback (may be nil; graft builds one with the Go toolchain). A binary without
// variant serves every variant of its architecture. Every binary is checked (elfcheck.Static)
// before it is returned: a bad one is bad input (exit 2) naming the file and the fix.
type Launchers struct {
	Override []string
	FS       fs.FS
	Dirs     []string
	Fallback contract.LauncherSource
}

// Launcher implements contract.LauncherSource.
func (l Launchers) Launcher(p v1.Platform) ([]byte, string, error) {
	names := []string{LauncherFile(p)}
	if p.Variant != "" {
		names = append(names, LauncherFile(v1.Platform{OS: p.OS, Architecture: p.Architecture}))
	}
	for _, name := range names {
		if data, from, read, err := l.find(name); err == nil {
			if err := elfcheck.Static(data, p); err != nil {
				return nil, "", usererr.New("%s: %v; %s", from, err, launcherFix(p))
			}
			if v := sidecarVersion(read, name); v != "" {
				return data, v, nil
			}
			return data, binaryVersion(data), nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, "", fmt.Errorf("launcher for %s: %w", contract.Platform(p), err)
		}
	}
	if l.Fallback != nil {
		data, v, err := l.Fallback.Launcher(p)
		if err != nil {
			return nil, "", err
		}
		if err := elfcheck.Static(data, p); err != nil {
			return nil, "", fmt.Errorf("graft-launcher built for %s: %w", contract.Platform(p), err)
		}
		if v == "" {
			v = binaryVersion(data)
		}
		return data, v, nil
	}
	where := append(append(append([]string{}, l.Override...), "graft's embedded set"), l.Dirs...)
	return nil, "", fmt.Errorf("no graft-launcher for %s (looked for %s in %s); build it with "+
		"`CGO_ENABLED=0 GOOS=%s GOARCH=%s go build -trimpath -ldflags='-s -w' -o %s ./cmd/graft-launcher` "+
		"and put it in $GRAFT_LAUNCHER_DIR or beside the graft executable, or build graft after `go generate ./cmd/graft`",
		contract.Platform(p), names[0], strings.Join(where, ", "), p.OS, p.Architecture, names[0])
}

// LauncherVersionSuffix names the file beside a launcher that holds its release version (one
// line): a -trimpath build does not record -ldflags, so -X cannot be read back from the binary.
const LauncherVersionSuffix = ".version"

// sidecarVersion reads a launcher's version file (one short line), "" when there is none.
func sidecarVersion(read func(string) ([]byte, error), name string) string {
	raw, err := read(name + LauncherVersionSuffix)
	if err != nil || len(raw) > 129 {
		return ""
	}
	if v := strings.TrimSpace(string(raw)); !strings.ContainsAny(v, " \t\n\"'") {
		return v
	}
	return ""
}

// find returns the binary, where it was found, and a reader of files beside it.
func (l Launchers) find(name string) ([]byte, string, func(string) ([]byte, error), error) {
	if data, from, read, err := findIn(l.Override, name); !errors.Is(err, fs.ErrNotExist) {
		return data, from, read, err
	}
	if l.FS != nil {
		data, err := fs.ReadFile(l.FS, name)
		if err == nil && len(data) > 0 {
			return data, "graft's embedded " + name, func(n string) ([]byte, error) { return fs.ReadFile(l.FS, n) }, nil
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, "", nil, err
		}
	}
	return findIn(l.Dirs, name)
}

func findIn(dirs []string, name string) ([]byte, string, func(string) ([]byte, error), error) {
	for _, dir := range dirs {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, name)
		data, err := os.ReadFile(p)
		if err == nil {
			return data, p, func(n string) ([]byte, error) { return os.ReadFile(filepath.Join(dir, n)) }, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, "", nil, err
		}
	}
	return nil, "", nil, fs.ErrNotExist
}

// binaryVersion reads the module version and VCS revision Go stamped into the binary, without
// running it (it may be for another architecture).
func binaryVersion(data []byte) string {
	bi, err := buildinfo.Read(bytes.NewReader(data))
	if err != nil {
		return "unknown"
	}
	v := version.FromBuildInfo("", bi) // module version, else the commit Go stamped, else devel
	// A release sets the version with -ldflags -X (internal/version); prefer it.
	const x = "github.com/graft-build/graft/internal/version.Version="
	for _, s := range bi.Settings {
		if _, after, ok := strings.Cut(s.Value, x); ok && s.Key == "-ldflags" {
			if f := strings.Fields(strings.Trim(after, `'"`)); len(f) > 0 {
				return strings.Trim(f[0], `'"`)
			}
		}
	}
	return v
}

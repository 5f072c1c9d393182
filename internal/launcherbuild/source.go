package launcherbuild

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/graft-build/graft/internal/usererr"
	"github.com/graft-build/graft/internal/version"
)

// Source is where a launcher is built from.
type Source struct {
	Dir     string // module root holding cmd/graft-launcher
	Version string // the release version for -ldflags -X; "" for a checkout
	// Immutable: Dir is a module version in the module cache, so its launcher may be kept
	// under Version. A checkout changes under graft's feet: Go's own build cache serves it.
	Immutable bool
	// Commit is a checkout's state when graft built from it ("devel+abc123def456[-dirty]",
	// version.FromVCS), for the image's launcher version label only: the recipe builds with
	// -buildvcs=false, so the binary, hence every layer, is the same whatever the checkout's
	// commit or state.
	Commit string
}

// Label is the version an image records for a launcher built from s: the release version,
// else the checkout's commit, else "devel".
func (s Source) Label() string {
	switch {
	case s.Version != "":
		return s.Version
	case s.Commit != "":
		return s.Commit
	}
	return version.Devel
}

// Locator finds the source of graft's own version.
type Locator struct {
	Release   string           // internal/version.Version (set by release builds)
	BuildInfo *debug.BuildInfo // graft's build info (module version)
	Here      string           // a source file of this package as compiled into graft
}

// NewLocator describes the running graft.
func NewLocator(release string) Locator {
	bi, _ := debug.ReadBuildInfo()
	_, here, _, _ := runtime.Caller(0)
	return Locator{Release: release, BuildInfo: bi, Here: here}
}

// ErrNoGo is returned when no go command is on PATH.
var ErrNoGo = errors.New("no Go toolchain")

// Locate picks the source of the launcher that belongs to this graft:
//   - a release (version set with -X): that version from the Go module proxy / module cache;
//   - graft built from a checkout without -trimpath (`go install ./cmd/graft`, `go build`):
//     that checkout, found through the source path Go compiled into graft;
//   - `go install github.com/graft-build/graft/cmd/graft@VERSION`: VERSION from the module
//     cache, where go install put it (downloaded again through the proxy if it was cleaned).
func (l Locator) Locate(ctx context.Context) (Source, error) {
	if l.Release != "" {
		return l.download(ctx, l.Release)
	}
	gomodcache := ""
	if out, err := output(exec.CommandContext(ctx, "go", "env", "GOMODCACHE")); err == nil {
		gomodcache = strings.TrimSpace(out)
	}
	if filepath.IsAbs(l.Here) {
		if root, ok := ModuleRoot(filepath.Dir(l.Here)); ok && (gomodcache == "" || !within(root, gomodcache)) {
			if _, err := os.Stat(filepath.Join(root, Package)); err == nil {
				return Source{Dir: root, Commit: checkoutCommit(ctx, root)}, nil
			}
		}
	}
	v := ""
	if l.BuildInfo != nil {
		v = l.BuildInfo.Main.Version
	}
	if v != "" && v != "(devel)" && !strings.HasSuffix(v, "+dirty") {
		return l.download(ctx, v)
	}
	where := "its source path is not recorded (built with -trimpath)"
	if filepath.IsAbs(l.Here) {
		where = "its source " + filepath.Dir(filepath.Dir(filepath.Dir(l.Here))) + " is gone"
	}
	return Source{}, usererr.New("this graft (version %s) was built from a checkout and %s, so it cannot build "+
		"graft-launcher of its own version: install graft with `go install %s/cmd/graft@VERSION` or from a release archive, "+
		"rebuild it from the checkout without -trimpath, or set GRAFT_LAUNCHER_DIR", orDevel(v), where, Module)
}

// checkoutCommit is the commit of the git checkout at root and whether it has changes, as Go
// stamps them (version.FromVCS); "" when root is no git checkout or git is missing.
func checkoutCommit(ctx context.Context, root string) string {
	git := func(args ...string) (string, error) {
		var out bytes.Buffer
		cmd := exec.CommandContext(ctx, "git", append([]string{"-C", root}, args...)...)
		cmd.Stdout = &out
		err := cmd.Run()
		return strings.TrimSpace(out.String()), err
	}
	rev, err := git("rev-parse", "--verify", "--quiet", "HEAD")
	if err != nil || rev == "" {
		return ""
	}
	status, err := git("status", "--porcelain")
	if err != nil {
		return ""
	}
	return version.FromVCS(rev, status != "")
}

func orDevel(v string) string {
	if v == "" || v == "(devel)" {
		return "devel"
	}
	return v
}

func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// download asks the go command for module version v's folder (the module cache, filled from
// GOPROXY when needed).
func (l Locator) download(ctx context.Context, v string) (Source, error) {
	if _, err := LDFlags(v); err != nil {
		return Source{}, err
	}
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", Module+"@"+v)
	// Outside any module, so a go.work or go.mod in the current folder cannot interfere.
	cmd.Dir = os.TempDir()
	cmd.Env = append(cleanEnv(os.Environ()), "GOWORK=off", "GO111MODULE=on", "GOFLAGS=-mod=mod")
	out, err := output(cmd)
	var m struct{ Dir, Error string }
	_ = json.Unmarshal([]byte(out), &m)
	if err != nil || m.Dir == "" {
		msg := m.Error
		if msg == "" && err != nil {
			msg = err.Error()
		}
		if errors.Is(err, ErrNoGo) {
			return Source{}, err
		}
		return Source{}, fmt.Errorf("get graft-launcher's source (%s@%s) through the Go module proxy: %s", Module, v, oneLine(msg))
	}
	return Source{Dir: m.Dir, Version: v, Immutable: true}, nil
}

// output runs cmd and returns its stdout; a missing go command is ErrNoGo.
func output(cmd *exec.Cmd) (string, error) {
	if _, err := exec.LookPath("go"); err != nil {
		return "", ErrNoGo
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		if s := strings.TrimSpace(errb.String()); s != "" {
			return out.String(), fmt.Errorf("%w: %s", err, oneLine(s))
		}
		return out.String(), err
	}
	return out.String(), nil
}

// oneLine keeps the first lines of a tool's output on one line.
func oneLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 3 {
		lines = append(lines[:3], "...")
	}
	return strings.Join(lines, "; ")
}

// Package demokit is the demo's pipeline, shared by `go run ./plugins-example/cmd/demo` and the
// end-to-end tests: build the base image and the plugin repositories offline, build graft and
// graft-launcher from this checkout, and run graft on a site.
package demokit

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/graft-build/graft/internal/launcherbuild"
	"github.com/graft-build/graft/plugins-example/demo/base"
	"github.com/graft-build/graft/plugins-example/demo/repos"
)

// Layout of a demo tree. The sites' relative paths (../../../out/demo/...) need the site at
// ROOT/plugins-example/demo/<site> and the artifacts at ROOT/out/demo.
const (
	SitesDir   = "plugins-example/demo"
	PluginsSrc = "plugins-example/demo/plugins"
	OutDir     = "out/demo"
)

// Kit is one demo tree: Root holds the sites (the checkout, or a test's copy of them).
type Kit struct {
	Root   string // where plugins-example/demo/<site> and out/demo are
	Module string // the graft checkout (go.mod) that builds demo-app, graft and graft-launcher
	Bin    string // graft and graft-launcher-linux-<arch>
	Log    io.Writer
}

// ModuleRoot finds the checkout from the working directory up.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if data, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil &&
			bytes.Contains(data, []byte("module github.com/graft-build/graft\n")) {
			return d, nil
		}
		if d == filepath.Dir(d) {
			return "", fmt.Errorf("not inside the graft checkout (no go.mod of github.com/graft-build/graft above %s)", dir)
		}
	}
}

// Out is ROOT/out/demo.
func (k *Kit) Out(parts ...string) string {
	return filepath.Join(append([]string{k.Root, OutDir}, parts...)...)
}

// Site is the folder of the named site (site, site-buildkit).
func (k *Kit) Site(name string) string { return filepath.Join(k.Root, SitesDir, name) }

func (k *Kit) logf(format string, args ...any) {
	if k.Log != nil {
		fmt.Fprintf(k.Log, format+"\n", args...)
	}
}

// BuildBase writes the demo base image to out/demo/base and returns its digest.
func (k *Kit) BuildBase(ctx context.Context) (string, error) {
	in, err := base.DefaultInputs(ctx, k.Module, runtime.GOARCH)
	if err != nil {
		return "", err
	}
	img, err := base.Image(in)
	if err != nil {
		return "", err
	}
	d, err := base.WriteLayout(k.Out("base"), img)
	if err != nil {
		return "", err
	}
	k.logf("base image: %s (oci-layout://%s:%s)", d, k.Out("base"), base.Tag)
	return d.String(), nil
}

// CreateRepos makes out/demo/repos/<plugin>.git from plugins-example/demo/plugins.
func (k *Kit) CreateRepos(ctx context.Context) (map[string]string, error) {
	commits, err := repos.Create(ctx, filepath.Join(k.Module, PluginsSrc), k.Out("repos"))
	if err != nil {
		return nil, err
	}
	for _, name := range sortedKeys(commits) {
		k.logf("plugin repo %-9s %s", name, commits[name])
	}
	return commits, nil
}

// Repo is the bare repository of a plugin.
func (k *Kit) Repo(plugin string) string { return k.Out("repos", plugin+".git") }

// BuildTools builds graft and graft-launcher-linux-<arch> into Bin (graft finds the launcher
// there through GRAFT_LAUNCHER_DIR).
func (k *Kit) BuildTools(ctx context.Context) error {
	if err := os.MkdirAll(k.Bin, 0o755); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", filepath.Join(k.Bin, "graft"), "./cmd/graft")
	cmd.Dir = k.Module
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/graft: %w: %s", err, out)
	}
	// The launcher as a release embeds it and a `go install`ed graft builds it (one recipe), so
	// the demo image has the digest any installation of this checkout's graft gives.
	t := launcherbuild.Target{OS: "linux", Arch: runtime.GOARCH}
	cmd, err := launcherbuild.Command(ctx, t, "", k.Module, filepath.Join(k.Bin, launcherbuild.FileName(t)))
	if err != nil {
		return err
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w: %s", launcherbuild.Package, err, out)
	}
	return nil
}

// Graft runs the graft binary on a site and returns its stdout; stderr goes to the log and,
// on failure, into the error.
func (k *Kit) Graft(ctx context.Context, site string, args ...string) (string, error) {
	full := append([]string{"-C", site}, args...)
	cmd := exec.CommandContext(ctx, filepath.Join(k.Bin, "graft"), full...)
	cmd.Env = append(os.Environ(), "GRAFT_LAUNCHER_DIR="+k.Bin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	if k.Log != nil && stderr.Len() > 0 {
		k.Log.Write(stderr.Bytes())
	}
	if err != nil {
		return stdout.String(), fmt.Errorf("graft %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// LastLine is graft build's digest line.
func LastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// CopySites copies the demo sites from the checkout into Root (for tests working in a temp
// tree), leaving out locks and outputs.
func (k *Kit) CopySites() error {
	src := filepath.Join(k.Module, SitesDir)
	for _, site := range []string{"site", "site-buildkit"} {
		from, to := filepath.Join(src, site), k.Site(site)
		err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(from, p)
			if rel == "graft.lock" || rel == "out" {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				return os.MkdirAll(filepath.Join(to, rel), 0o755)
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(to, rel), data, 0o644)
		})
		if err != nil {
			return fmt.Errorf("copy site %s: %w", site, err)
		}
	}
	return nil
}

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

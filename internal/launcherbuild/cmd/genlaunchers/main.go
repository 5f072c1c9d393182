// Command genlaunchers cross-compiles graft-launcher into a folder with launcherbuild's recipe,
// the one a graft without embedded launchers uses too: `go generate ./cmd/graft` runs it.
//
//	go run ./internal/launcherbuild/cmd/genlaunchers -o DIR linux/amd64 linux/arm64
//
// $GRAFT_VERSION (a release's tag, e.g. v1.2.3) goes into the launcher with -ldflags -X, as it
// does into graft; unset, the launcher says "devel".
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/graft-build/graft/internal/launcherbuild"
)

func main() {
	out := flag.String("o", "", "output folder (created)")
	flag.Parse()
	if err := run(*out, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "genlaunchers:", err)
		os.Exit(1)
	}
}

func run(out string, platforms []string) error {
	if out == "" || len(platforms) == 0 {
		return fmt.Errorf("usage: genlaunchers -o DIR os/arch[/variant]...")
	}
	cwd, err := os.Getwd()
	if err != nil {
		return err
	}
	root, ok := launcherbuild.ModuleRoot(cwd)
	if !ok {
		return fmt.Errorf("run inside the graft module (no go.mod of %s above %s)", launcherbuild.Module, cwd)
	}
	if out, err = filepath.Abs(out); err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for _, p := range platforms {
		parts := strings.Split(p, "/")
		if len(parts) < 2 || len(parts) > 3 {
			return fmt.Errorf("platform %q: write os/arch[/variant]", p)
		}
		t := launcherbuild.Target{OS: parts[0], Arch: parts[1]}
		if len(parts) == 3 {
			t.Variant = parts[2]
		}
		if err := one(t, root, out); err != nil {
			return err
		}
	}
	return nil
}

// one builds into a temporary file and renames it, so an interrupted run leaves no half binary
// for `go build` to embed.
func one(t launcherbuild.Target, root, out string) error {
	final := filepath.Join(out, launcherbuild.FileName(t))
	tmp := filepath.Join(out, "."+launcherbuild.FileName(t)+".tmp") // go:embed skips dot files
	cmd, err := launcherbuild.Command(context.Background(), t, os.Getenv("GRAFT_VERSION"), root, tmp)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("build %s: %w", t, err)
	}
	return os.Rename(tmp, final)
}

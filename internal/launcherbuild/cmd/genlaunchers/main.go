// Command genlaunchers cross-compiles graft-launcher into a folder with launcherbuild's recipe,
// the one a graft without embedded launchers uses too: `go generate ./cmd/graft` runs it.
//
//	go run ./internal/launcherbuild/cmd/genlaunchers -o DIR linux/amd64 linux/arm64
//
// $GRAFT_VERSION (a release's tag, e.g. v1.2.3) goes into the launcher with -ldflags -X, as it
// does into graft; unset, the launcher's version file names the checkout's commit
// (devel+abc123def456[-dirty]), which images record as its version; the binary is the same.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
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
	var targets []launcherbuild.Target
	for _, p := range platforms {
		parts := strings.Split(p, "/")
		if len(parts) < 2 || len(parts) > 3 {
			return fmt.Errorf("platform %q: write os/arch[/variant]", p)
		}
		t := launcherbuild.Target{OS: parts[0], Arch: parts[1]}
		if len(parts) == 3 {
			t.Variant = parts[2]
		}
		targets = append(targets, t)
	}
	return launcherbuild.Generate(context.Background(), root, out, os.Getenv("GRAFT_VERSION"), targets...)
}

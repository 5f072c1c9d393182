// Package launcherbuild is the one recipe for building graft-launcher. `go generate
// ./cmd/graft` uses it to fill graft's embedded set (release builds do that), and a graft with no
// embedded launcher for a platform (installed with `go install`) uses it with the local Go
// toolchain. One recipe means one binary: the same source, toolchain and flags give the same
// bytes, so an image's digest does not depend on how graft was installed.
package launcherbuild

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

const (
	// Module is graft's module path.
	Module = "github.com/graft-build/graft"
	// Package is the launcher's main package, relative to the module root.
	Package = "./cmd/graft-launcher"
	// VersionVar is the variable a release sets with -ldflags -X (internal/version).
	VersionVar = Module + "/internal/version.Version"
)

// Target is the platform a launcher is built for (as in an OCI platform: linux, arm64, v8).
type Target struct{ OS, Arch, Variant string }

func (t Target) String() string {
	s := t.OS + "/" + t.Arch
	if t.Variant != "" {
		s += "/" + t.Variant
	}
	return s
}

// versionRE is what may go into -ldflags -X: a module version, nothing the linker would split.
var versionRE = regexp.MustCompile(`^v?[0-9][0-9A-Za-z.+\-]*$`)

// LDFlags are the linker flags of a launcher: no symbol table or DWARF (half the size), and the
// release version when there is one (so the image records it).
func LDFlags(version string) (string, error) {
	if version == "" {
		return "-s -w", nil
	}
	if !versionRE.MatchString(version) {
		return "", fmt.Errorf("launcher version %q: want a module version such as v1.2.3", version)
	}
	return "-s -w -X " + VersionVar + "=" + version, nil
}

// Command is `go build` of the launcher in srcDir (a module root holding cmd/graft-launcher) for
// t, writing out. Everything that changes the bytes is fixed here rather than taken from the
// caller's environment: cgo off (a static binary, the image may have no libc), -trimpath (no
// build paths), no VCS stamping (a module cache has none, a checkout would), default
// micro-architecture levels, no GOFLAGS or GOEXPERIMENT, and the toolchain named by srcDir's
// go.mod (toolchain line, else go line), so Go downloads that one through the module proxy when
// the local go is another version.
func Command(ctx context.Context, t Target, version, srcDir, out string) (*exec.Cmd, error) {
	return GoBuild(ctx, t, version, srcDir, out, Package)
}

// GoBuild is Command for another main package of the module (graft itself, for its image).
func GoBuild(ctx context.Context, t Target, version, srcDir, out, pkg string) (*exec.Cmd, error) {
	ld, err := LDFlags(version)
	if err != nil {
		return nil, err
	}
	tc, err := Toolchain(filepath.Join(srcDir, "go.mod"))
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags="+ld, "-o", out, pkg)
	cmd.Dir = srcDir
	cmd.Env = append(cleanEnv(os.Environ()), "CGO_ENABLED=0", "GOOS="+t.OS, "GOARCH="+t.Arch,
		"GOFLAGS=-mod=readonly", "GOWORK=off", "GO111MODULE=on", "GOTOOLCHAIN="+tc)
	cmd.Env = append(cmd.Env, microarch(t)...)
	return cmd, nil
}

// droppedEnv are variables that would change the launcher's bytes; Command sets its own.
var droppedEnv = []string{"GOFLAGS", "GOOS", "GOARCH", "GOAMD64", "GOARM", "GOARM64", "GO386",
	"GOPPC64", "GORISCV64", "GOMIPS", "GOMIPS64", "GOWASM", "GOEXPERIMENT", "GOFIPS140",
	"CGO_ENABLED", "GOWORK", "GOTOOLCHAIN", "GO111MODULE"}

func cleanEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, "CGO_") && !slices.Contains(droppedEnv, k) {
			out = append(out, kv)
		}
	}
	return out
}

// microarch sets the level Go compiles for: the platform's variant, else Go's default, written
// out so a GOAMD64=v3 in the caller's environment cannot change the binary.
func microarch(t Target) []string {
	v := strings.TrimPrefix(t.Variant, "v")
	switch t.Arch {
	case "amd64":
		if v == "" {
			v = "1"
		}
		return []string{"GOAMD64=v" + v}
	case "arm64":
		if v == "" || v == "8" {
			v = "8.0"
		} else if !strings.Contains(v, ".") {
			v += ".0"
		}
		return []string{"GOARM64=v" + v}
	case "arm":
		if v == "" {
			v = "7"
		}
		return []string{"GOARM=" + v}
	case "386":
		return []string{"GO386=sse2"}
	}
	return nil
}

// Toolchain is the Go toolchain the launcher of the module with this go.mod is built with: its
// toolchain line, else its go line as a release (go1.26 -> go1.26.0).
func Toolchain(gomod string) (string, error) {
	f, err := os.Open(gomod)
	if err != nil {
		return "", fmt.Errorf("launcher source: %w", err)
	}
	defer f.Close()
	var goLine, toolchain string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 2 && fields[0] == "go" {
			goLine = fields[1]
		}
		if len(fields) == 2 && fields[0] == "toolchain" {
			toolchain = fields[1]
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("read %s: %w", gomod, err)
	}
	if toolchain != "" && toolchain != "default" {
		return toolchain, nil
	}
	if !regexp.MustCompile(`^1\.[0-9]+(\.[0-9]+)?$`).MatchString(goLine) {
		return "", fmt.Errorf("%s: no usable go line (found %q)", gomod, goLine)
	}
	if strings.Count(goLine, ".") == 1 {
		goLine += ".0"
	}
	return "go" + goLine, nil
}

// ModuleRoot walks up from dir to the folder whose go.mod declares graft's module.
func ModuleRoot(dir string) (string, bool) {
	for {
		if declaresModule(filepath.Join(dir, "go.mod")) {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

func declaresModule(gomod string) bool {
	f, err := os.Open(gomod)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) == 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`) == Module
		}
	}
	return false
}

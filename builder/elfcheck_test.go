package builder_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/graft-build/graft/builder"
	"github.com/graft-build/graft/builder/buildtest"
	"github.com/graft-build/graft/internal/usererr"
)

var amd64, arm64 = v1.Platform{OS: "linux", Architecture: "amd64"}, v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}

func TestCheckLauncher(t *testing.T) {
	dir := buildtest.LauncherDir(t, "amd64", "arm64")
	static, _ := os.ReadFile(filepath.Join(dir, "graft-launcher-linux-amd64"))
	staticArm, _ := os.ReadFile(filepath.Join(dir, "graft-launcher-linux-arm64"))
	if err := builder.CheckLauncher(static, amd64); err != nil {
		t.Errorf("static amd64 launcher refused: %v", err)
	}
	if err := builder.CheckLauncher(staticArm, arm64); err != nil {
		t.Errorf("static arm64 launcher refused: %v", err)
	}
	cases := []struct {
		name string
		data []byte
		p    v1.Platform
		want string
	}{
		{"wrong arch", static, arm64, "built for amd64 (ELFCLASS64), the image is linux/arm64/v8"},
		{"wrong arch the other way", staticArm, amd64, "built for arm64"},
		{"a script", []byte("#!/bin/sh\nexec /app/start\n"), amd64, "not an ELF executable"},
		{"empty", nil, amd64, "not an ELF executable"},
		{"not linux", static, v1.Platform{OS: "windows", Architecture: "amd64"}, "linux only"},
	}
	if true1, err := os.ReadFile("/bin/true"); err == nil {
		cases = append(cases, struct {
			name string
			data []byte
			p    v1.Platform
			want string
		}{"dynamic system binary", true1, amd64, "dynamically linked (interpreter /lib"})
	}
	for _, c := range cases {
		if err := builder.CheckLauncher(c.data, c.p); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

// What the issue saw: graft-launcher built with cgo (plain `go build` where gcc is installed)
// used to go into the image and die at start; now Launchers refuses it, naming file and fix.
func TestCgoLauncherIsRefused(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("no gcc under CI=true: .ci/run installs it")
		}
		t.Skip("no gcc: cgo cannot be used here (TestCheckLauncher covers a dynamic binary)")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "graft-launcher-linux-amd64")
	cmd := exec.Command("go", "build", "-o", out, "github.com/graft-build/graft/cmd/graft-launcher")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1", "GOOS=linux", "GOARCH=amd64", "GOFLAGS=-buildvcs=false")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cgo build: %v\n%s", err, b)
	}
	_, _, err := builder.Launchers{Override: []string{dir}}.Launcher(amd64)
	if err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), out+": dynamically linked") ||
		!strings.Contains(err.Error(), "CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build") {
		t.Fatalf("%v", err)
	}
}

package builder_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/graft-build/graft/builder"
	"github.com/graft-build/graft/internal/usererr"
)

var amd64 = v1.Platform{OS: "linux", Architecture: "amd64"}

// What the issue saw: graft-launcher built with cgo (plain `go build` where gcc is installed)
// used to go into the image and die at start; now Launchers refuses it, naming file and fix.
func TestCgoLauncherIsRefused(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("no gcc under CI=true: .ci/run installs it")
		}
		t.Skip("no gcc: cgo cannot be used here (elfcheck.TestStatic covers a dynamic binary)")
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

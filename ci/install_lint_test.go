package ci

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// install.sh runs under sh on runners of every kind (GitHub's images, busybox): shellcheck it
// as POSIX sh.
func TestInstallScriptShellcheck(t *testing.T) {
	sc, err := exec.LookPath("shellcheck")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true and no shellcheck (.ci/run installs it)")
		}
		t.Skip("shellcheck not installed")
	}
	if out, err := exec.Command(sc, "-s", "sh", filepath.Join(root, "ci/install.sh")).CombinedOutput(); err != nil {
		t.Fatalf("shellcheck ci/install.sh: %v\n%s", err, out)
	}
}

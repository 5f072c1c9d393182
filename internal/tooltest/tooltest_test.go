package tooltest

import (
	"strings"
	"testing"
)

// TestToolsRun runs every pinned tool's version command: a tool that is found but cannot run
// (a broken build, a missing library) fails here rather than in the interoperability tests.
func TestToolsRun(t *testing.T) {
	versionArgs := map[string][]string{
		"skopeo": {"--version"}, "umoci": {"--version"}, "crane": {"version"},
		"oras": {"version"}, "cosign": {"version"}, "syft": {"version"},
	}
	for _, tool := range All {
		t.Run(tool.Name, func(t *testing.T) {
			bin := Require(t, tool)
			out := Run(t, bin, versionArgs[tool.Name]...)
			if strings.TrimSpace(out) == "" {
				t.Errorf("%s printed no version", tool)
			}
		})
	}
}

// TestMissingToolSaysHowToGetIt: the reason a test skips names the package that installs it.
func TestMissingToolSaysHowToGetIt(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := Tool{Name: "skopeo", AptPackage: "skopeo"}.Find()
	if err == nil || !strings.Contains(err.Error(), "apt-get install skopeo") {
		t.Fatalf("err = %v, want one naming apt-get install skopeo", err)
	}
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	_, err = Crane.Find()
	if err == nil || !strings.Contains(err.Error(), "internal/tooltest/cmd/prepare") {
		t.Fatalf("err = %v, want one naming the prepare command", err)
	}
}

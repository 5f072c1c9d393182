package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-build/graft/builder/attest"
	"github.com/graft-build/graft/builder/buildtest"
	"github.com/graft-build/graft/internal/buildkittest"
	"github.com/graft-build/graft/internal/buildopts"
)

// TestVerifyRecomputesBuildStepsWithBuildKit: an image whose plugin ran build steps through a
// real buildkitd verifies through BuildKit (the step layer is reproducible), is named as not
// recomputed without it, and its provenance names the steps.
func TestVerifyRecomputesBuildStepsWithBuildKit(t *testing.T) {
	buildEnv(t)
	d := buildkittest.Start(t)
	s := buildtest.NewSite(t, "oci-layout://base", "")
	buildtest.WriteBusyboxBaseLayout(t, filepath.Join(s.Dir, "base"))
	s.Plugin("alpha", map[string]string{"a.txt": "alpha"}, "")
	s.Plugin("gamma", map[string]string{"src.txt": "gamma"}, "[build]\nrun = [\"echo built > generated.txt\"]")
	s.Lock()
	t.Setenv(buildopts.EnvBuildkitHost, d.Addr)
	code, out, errOut := graft(t, "build", "-C", s.Dir, "--progress", "quiet")
	if code != 0 {
		t.Fatalf("build: exit %d: %s", code, errOut)
	}
	digest := lastLine(out)
	img := "oci-layout://" + filepath.Join(s.Dir, "out/image")
	t.Setenv("GRAFT_CACHE_DIR", t.TempDir())
	if code, out, errOut := graft(t, "verify", img, "-C", s.Dir); code != 0 || !strings.Contains(out, digest) {
		t.Errorf("verify through BuildKit: exit %d\n%s%s", code, out, errOut)
	}
	t.Setenv(buildopts.EnvBuildkitHost, "")
	if code, out, errOut := graft(t, "verify", img, "-C", s.Dir); code != 1 ||
		!strings.Contains(out, "layer 2 (plugin gamma) not recomputed") || strings.Contains(out, "differs") {
		t.Errorf("verify without BuildKit: exit %d\n%s%s", code, out, errOut)
	}
	code, prov, errOut := graft(t, "sbom", "--provenance", img)
	if code != 0 || !strings.Contains(prov, `"builtBy": "buildkit"`) || !strings.Contains(prov, "echo built > generated.txt") ||
		!strings.Contains(prov, attest.SLSAProvenance) {
		t.Errorf("provenance of a build-step image: exit %d %s\n%s", code, errOut, prov)
	}
}

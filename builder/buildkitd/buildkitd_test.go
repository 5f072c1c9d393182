package buildkitd

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-build/graft/internal/usererr"
)

// TestDefaultImageIsPinned: the image auto starts is the BuildKit release graft's client is
// built from (the daemon the tests build is the same version), pinned by the digest of the
// official image's index, and so is its rootless variant.
func TestDefaultImageIsPinned(t *testing.T) {
	want := "moby/buildkit:" + Version + "@sha256:"
	if got := DefaultImage(); !strings.HasPrefix(got, want) || len(got) != len(want)+64 {
		t.Fatalf("DefaultImage() = %s, want %s<64 hex digits>", got, want)
	}
	want = "moby/buildkit:" + Version + "-rootless@sha256:"
	if got := DefaultRootlessImage(); !strings.HasPrefix(got, want) || len(got) != len(want)+64 {
		t.Fatalf("DefaultRootlessImage() = %s, want %s<64 hex digits>", got, want)
	}
	if got := image("v0.0.1", false); got != "moby/buildkit:v0.0.1" {
		t.Fatalf("an unpinned version: %s", got)
	}
}

func TestContainerNames(t *testing.T) {
	for _, ok := range []string{"graft-buildkitd", "a", "b_1.x-y"} {
		if err := checkName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-x", "a/b", "a b", "x?context=evil", "../x", strings.Repeat("a", 129)} {
		if err := checkName(bad); !usererr.Is(err) {
			t.Errorf("%q: %v, want a usage error", bad, err)
		}
	}
}

// TestNoDocker: an engine that does not answer is a usage error that says what to do.
func TestNoDocker(t *testing.T) {
	_, err := Ensure(context.Background(), WithDockerHost("unix://"+filepath.Join(t.TempDir(), "none.sock")))
	if !usererr.Is(err) || !strings.Contains(err.Error(), "no Docker Engine answers") || !strings.Contains(err.Error(), "--buildkit ADDR") {
		t.Fatalf("%v", err)
	}
}

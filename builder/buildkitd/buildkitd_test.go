package buildkitd

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-build/graft/internal/usererr"
)

// TestDefaultImageMatchesClient: the image auto starts is the BuildKit release graft's client
// is built from, and Version (the daemon the tests build) names the same release.
func TestDefaultImageMatchesClient(t *testing.T) {
	if got, want := DefaultImage(), "moby/buildkit:"+Version; got != want {
		t.Fatalf("DefaultImage() = %s, want %s", got, want)
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

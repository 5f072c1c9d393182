package imageref

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// Resolve's error says, by its type, whether the reference names nothing (bad input) or what
// it names could not be read.
func TestNotFoundIsTyped(t *testing.T) {
	dir := t.TempDir()
	if _, err := layout.Write(filepath.Join(dir, "empty"), empty.Index); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "broken"), 0o755)
	os.WriteFile(filepath.Join(dir, "broken", "index.json"), []byte("{not json"), 0o644)
	srv := httptest.NewServer(registry.New())
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, c := range []struct {
		ref      string
		notFound bool
	}{
		{"oci-layout://" + filepath.Join(dir, "missing"), true},
		{"oci-layout://" + filepath.Join(dir, "empty") + ":v1", true},
		{"oci-layout://" + filepath.Join(dir, "empty") + "@sha256:" + strings.Repeat("a", 64), true},
		{filepath.Join(dir, "missing.tar"), true},
		{host + "/lib/none:v1", true},
		{"oci-layout://" + filepath.Join(dir, "broken"), false},
		{"127.0.0.1:1/lib/app:v1", false}, // nothing answers: not a name that names nothing
	} {
		ref, err := Parse(c.ref, dir)
		if err != nil {
			t.Fatal(err)
		}
		_, err = ref.Resolve(context.Background())
		if err == nil || IsNotFound(err) != c.notFound {
			t.Errorf("%s: %v (not found: %v, want %v)", c.ref, err, IsNotFound(err), c.notFound)
		}
	}
}

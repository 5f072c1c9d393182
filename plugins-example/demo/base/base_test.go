package base

import (
	"archive/tar"
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/layout"
)

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, _ := os.Getwd()
	for ; dir != "/"; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
	}
	t.Fatal("go.mod not found")
	return ""
}

func TestBaseIsDeterministicAndHasWhatTheDemoNeeds(t *testing.T) {
	if _, err := ReadBusybox(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skipf("no static busybox: %v", err)
	}
	ctx := context.Background()
	var digests []string
	for i := 0; i < 2; i++ {
		in, err := DefaultInputs(ctx, moduleRoot(t), runtime.GOARCH)
		if err != nil {
			t.Fatal(err)
		}
		img, err := Image(in)
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(t.TempDir(), "layout")
		d, err := WriteLayout(dir, img)
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, d.String())
		if i == 0 {
			checkLayout(t, dir)
		}
	}
	if digests[0] != digests[1] {
		t.Fatalf("two builds differ: %v", digests)
	}
	t.Logf("base digest %s", digests[0])
}

func checkLayout(t *testing.T, dir string) {
	t.Helper()
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, _ := p.ImageIndex()
	m, err := idx.IndexManifest()
	if err != nil || len(m.Manifests) != 1 || m.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != Tag {
		t.Fatalf("index: %+v %v", m, err)
	}
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	if cf.Config.User != "1000:1000" || cf.OS != "linux" || !cf.Created.Time.Equal(DefaultEpoch) {
		t.Errorf("config: %+v", cf)
	}
	layers, _ := img.Layers()
	rc, _ := layers[0].Uncompressed()
	defer rc.Close()
	want := map[string]func(*tar.Header) bool{
		"bin/sh":                            func(h *tar.Header) bool { return h.Linkname == "busybox" },
		"bin/busybox":                       func(h *tar.Header) bool { return h.Mode == 0o755 && h.Size > 100000 },
		"usr/local/bin/demo-app":            func(h *tar.Header) bool { return h.Mode == 0o755 },
		"srv/demo/data/":                    func(h *tar.Header) bool { return h.Uid == AppUID },
		"run/graft/ports/":                  func(h *tar.Header) bool { return h.Uid == AppUID },
		"srv/demo/templates/demo.conf.tmpl": func(h *tar.Header) bool { return h.Uid == 0 },
		"tmp/":                              func(h *tar.Header) bool { return h.Mode == 0o1777 },
	}
	tr := tar.NewReader(rc)
	prev := ""
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name <= prev {
			t.Errorf("entries not sorted: %s after %s", h.Name, prev)
		}
		prev = h.Name
		if !h.ModTime.Equal(DefaultEpoch) || h.Uname != "" {
			t.Errorf("%s: mtime %v uname %q", h.Name, h.ModTime, h.Uname)
		}
		if check, ok := want[h.Name]; ok {
			if !check(h) {
				t.Errorf("%s: unexpected header %+v", h.Name, h)
			}
			delete(want, h.Name)
		}
	}
	for name := range want {
		t.Errorf("%s missing from the base layer", name)
	}
}

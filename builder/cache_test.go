package builder_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/graft-build/graft/builder"
	"github.com/graft-build/graft/builder/buildcache"
	"github.com/graft-build/graft/builder/buildtest"
	"github.com/graft-build/graft/builder/contract"
	"github.com/graft-build/graft/builder/fetch"
)

// A no-op rebuild takes each plugin's layer from the layer cache by its commit, tree, path and
// options, without reading the git cache: here the git cache is gone and replaced by a file,
// which any read of it would fail on.
func TestNoOpRebuildReadsNoGitObjects(t *testing.T) {
	s := newSite(t)
	gitDir, layerDir := filepath.Join(t.TempDir(), "git"), t.TempDir()
	cold := build(t, s.Load(), gitDir, builder.WithLayerCache(layerDir))
	if err := os.RemoveAll(gitDir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(gitDir, []byte("not a cache"), 0o644); err != nil {
		t.Fatal(err)
	}
	warm := build(t, s.Load(), gitDir, builder.WithLayerCache(layerDir))
	if warm.Digest != cold.Digest {
		t.Fatalf("rebuild from the layer cache: %s, cold build %s", warm.Digest, cold.Digest)
	}
	// Another owner is another layer: it needs the files, so the broken git cache shows.
	p := s.Load()
	p.Site.Owner = "2000:2000"
	if _, err := builder.Build(context.Background(), p, builder.WithCache(fetch.NewCache(gitDir)),
		builder.WithLaunchers(buildtest.Launchers(t, "amd64")), builder.WithLayerCache(layerDir)); err == nil {
		t.Fatal("a layer with another owner was built without reading the plugin's files")
	}
}

// A cached layer changed in place (same size, other bytes) is a claim its record no longer
// backs: the build notes it and makes the layer again, and what it writes holds the right bytes.
func TestTamperedLayerCacheIsMadeAgain(t *testing.T) {
	s := newSite(t)
	gitDir, layerDir := t.TempDir(), t.TempDir()
	key := filepath.Join(t.TempDir(), "key")
	cache := func(notes io.Writer) builder.Option {
		return builder.WithBuildCache(buildcache.New(buildcache.Options{LayerDir: layerDir, KeyFile: key, Notes: notes}))
	}
	cold := build(t, s.Load(), gitDir, cache(nil))
	tamperInPlace(t, layerDir, false)
	var notes strings.Builder
	warm := build(t, s.Load(), gitDir, cache(&notes))
	if warm.Digest != cold.Digest {
		t.Fatalf("digest %s, want %s", warm.Digest, cold.Digest)
	}
	if !strings.Contains(notes.String(), "local cache: plugin alpha's layer") || !strings.Contains(notes.String(), "making it again") {
		t.Errorf("notes:\n%s", notes.String())
	}
	out, err := layout.Write(t.TempDir(), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := out.AppendImage(warm.Image); err != nil {
		t.Fatalf("writing the image after the cache was repaired: %v", err)
	}
}

// tamperInPlace flips a byte of every cached blob; keepTime gives each its old modification
// time back, as a cache restored from an archive someone else saved can.
func tamperInPlace(t *testing.T, layerDir string, keepTime bool) {
	blobs, _ := filepath.Glob(filepath.Join(layerDir, "*-gzip*"))
	if len(blobs) == 0 {
		t.Fatal("no cached layers")
	}
	for _, b := range blobs {
		st, err := os.Stat(b)
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(b)
		if err != nil {
			t.Fatal(err)
		}
		data[len(data)/2] ^= 0xff
		if err := os.WriteFile(b, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if !keepTime {
			continue
		}
		if err := os.Chtimes(b, st.ModTime(), st.ModTime()); err != nil {
			t.Fatal(err)
		}
	}
}

// A local record is this machine's only with its key's MAC: under another key (a cache
// restored on another runner) every record is checked in full, so a blob changed behind its
// record is made again. Under its own key, a record whose blob kept its modification time is
// taken as recorded — what stays trusted — and the blob's digest is checked when an output
// reads it, which fails rather than writing the changed bytes.
func TestLocalRecordsAreThisMachinesOnlyUnderItsKey(t *testing.T) {
	s := newSite(t)
	gitDir, layerDir := t.TempDir(), t.TempDir()
	keyA, keyB := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	cache := func(key string, notes io.Writer) builder.Option {
		return builder.WithBuildCache(buildcache.New(buildcache.Options{LayerDir: layerDir, KeyFile: key, Notes: notes}))
	}
	cold := build(t, s.Load(), gitDir, cache(keyA, nil))
	write := func(res *contract.Result) error {
		out, err := layout.Write(t.TempDir(), empty.Index)
		if err != nil {
			t.Fatal(err)
		}
		return out.AppendImage(res.Image)
	}

	tamperInPlace(t, layerDir, true)
	var notes strings.Builder
	other := build(t, s.Load(), gitDir, cache(keyB, &notes))
	if other.Digest != cold.Digest || !strings.Contains(notes.String(), "local cache: plugin alpha's layer") {
		t.Fatalf("another machine's key: digest %s (want %s), notes:\n%s", other.Digest, cold.Digest, notes.String())
	}
	if err := write(other); err != nil {
		t.Fatalf("after another machine's records were checked: %v", err)
	}

	tamperInPlace(t, layerDir, true)
	notes.Reset()
	own := build(t, s.Load(), gitDir, cache(keyB, &notes))
	if own.Digest != cold.Digest || notes.Len() != 0 {
		t.Fatalf("own records: digest %s, notes %q", own.Digest, notes.String())
	}
	if err := write(own); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("a changed blob behind this machine's record was written: %v", err)
	}
}

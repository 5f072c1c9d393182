package layercache

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/graft-build/graft/internal/regtest"
	"github.com/graft-build/graft/internal/usererr"
)

func TestParse(t *testing.T) {
	cases := []struct {
		spec, dirKey string
		want         string // store's String, "" for BuildKit-only types
		err          string
	}{
		{"type=registry,ref=reg.example/c:ci,mode=max", "dest", "reg.example/c:ci", ""},
		{"reg.example/c:ci", "src", "reg.example/c:ci", ""},
		{"type=local,src=/ci/cache", "src", "/ci/cache", ""},
		{"type=local,dest=/ci/cache", "dest", "/ci/cache", ""},
		{"type=gha,scope=x", "src", "", ""},
		{"type=inline", "dest", "", "type=inline needs an image BuildKit pushes"}, // as BuildKit's parser says
		{"type=local,dest=/x", "src", "", "type=local needs src=DIR"},
		{"type=registry", "src", "", "needs ref=REF"},
		{"type=registry,ref=UPPER/x", "src", "", "needs ref=REF (a valid image reference)"},
		{"type=registry,ref=r.example/c@sha256:" + strings.Repeat("a", 64), "dest", "", "not a digest"},
		{"type=local,src", "src", "", "is not key=value"},
		{" ", "src", "", "empty cache spec"},
	}
	for _, c := range cases {
		s, ok, err := Parse(c.spec, "--flag", c.dirKey)
		switch {
		case c.err != "":
			if err == nil || !strings.Contains(err.Error(), c.err) || !usererr.Is(err) {
				t.Errorf("%q: err %v, want %q (bad input)", c.spec, err, c.err)
			}
		case err != nil:
			t.Errorf("%q: %v", c.spec, err)
		case c.want == "" && ok, c.want != "" && (!ok || s.String() != c.want):
			t.Errorf("%q: %v %v, want %q", c.spec, s, ok, c.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"type=registry,ref=a/b:c", "type=local,src=/x", "a/b", "type=local,src", ",,=,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		s, ok, err := Parse(spec, "--cache-from", "src")
		if err != nil && !usererr.Is(err) {
			t.Fatalf("%q: not a bad-input error: %v", spec, err)
		}
		if ok && s == nil {
			t.Fatalf("%q: ok without a store", spec)
		}
	})
}

func FuzzParseIndex(f *testing.F) {
	f.Add([]byte(`{"version":"graft-layer-cache/1","layers":{},"listings":{}}`))
	f.Add([]byte(`{"version":"graft-layer-cache/1","listings":{"` + strings.Repeat("a", 64) + `":{"commit_time":"2020-01-01T00:00:00Z","files":[{"path":"../x","mode":33188}]}}}`))
	f.Add([]byte(`{"version":"graft-layer-cache/0"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		idx, why := parseIndex(data)
		if idx == nil {
			if why == "" {
				t.Fatal("rejected without a reason")
			}
			return
		}
		for id, d := range idx.Layers {
			if _, err := d.parse(""); err != nil || !isID(id) {
				t.Fatalf("kept layer %q %+v", id, d)
			}
		}
		for id, l := range idx.Listings {
			if !isID(id) || !validListing(l) {
				t.Fatalf("kept listing %q %+v", id, l)
			}
		}
	})
}

func TestListingRefusesNamesGitCannotHave(t *testing.T) {
	for _, p := range []string{"../x", "/etc/passwd", "a/./b", "a//b", ".git/config", "x/.GIT/y", "a/"} {
		if validListing(Listing{Files: []File{{Path: p, Mode: 0o100644}}}) {
			t.Errorf("accepted %q", p)
		}
	}
	if validListing(Listing{Files: []File{{Path: "x", Mode: 0o160000}}}) {
		t.Error("accepted a submodule mode")
	}
	if !validListing(Listing{Files: []File{{Path: "bin/run", Mode: 0o100755}, {Path: "l", Mode: 0o120000, Link: "bin/run"}}}) {
		t.Error("refused a plain listing")
	}
}

// A registry cache written in another format version is ignored, with a note saying so; one
// in this version round-trips its layers (mountable from the cache repository) and listings.
func TestRegistryIndexVersions(t *testing.T) {
	reg := regtest.New(t)
	ctx := context.Background()
	ref, err := name.ParseReference(reg.Host + "/ci/cache:v")
	if err != nil {
		t.Fatal(err)
	}
	l, err := random.Layer(512, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	id := strings.Repeat("ab", 32)
	listing := Listing{CommitTime: time.Unix(1700000000, 0).UTC(), Files: []File{{Path: "a.txt", Mode: 0o100644}}}
	for _, version := range []string{"graft-layer-cache/0", Version} {
		w := New(nil, []Store{Registry(ref)}, nil)
		if err := w.Remember(id, l); err != nil {
			t.Fatal(err)
		}
		w.RememberListing(id, listing)
		w.used.Version = version
		if err := w.Export(ctx, nil); err != nil {
			t.Fatal(err)
		}
		var notes bytes.Buffer
		r := New([]Store{Registry(ref)}, nil, &notes)
		r.Load(ctx)
		got, hit := r.Layer(ctx, id, types.DockerLayer)
		_, listed := r.Listing(id)
		if version != Version {
			if hit || listed || !strings.Contains(notes.String(), "ignored") {
				t.Errorf("version %s: hit %v listed %v notes %q", version, hit, listed, notes.String())
			}
			continue
		}
		if !hit || !listed {
			t.Fatalf("hit %v listed %v notes %q", hit, listed, notes.String())
		}
		want, _ := l.Digest()
		if d, _ := got.Digest(); d != want {
			t.Errorf("digest %s, want %s", d, want)
		}
		if mt, _ := got.MediaType(); mt != types.DockerLayer {
			t.Errorf("media type %s: the build's, not the cache's, is wanted", mt)
		}
		rc, err := got.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if _, err := buf.ReadFrom(rc); err != nil {
			t.Errorf("reading the cached layer back: %v", err)
		}
		if _, ok := got.(*remote.MountableLayer); !ok {
			t.Errorf("a registry hit is a %T, not mountable from the cache repository", got)
		}
	}
}

// An entry whose size is not the blob's is a miss: the image's manifest would carry it.
func TestRegistryEntryOfAnotherSizeIsAMiss(t *testing.T) {
	reg := regtest.New(t)
	ctx := context.Background()
	ref, _ := name.ParseReference(reg.Host + "/ci/cache:size")
	l, err := random.Layer(300, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	id := strings.Repeat("cd", 32)
	w := New(nil, []Store{Registry(ref)}, nil)
	if err := w.Remember(id, l); err != nil {
		t.Fatal(err)
	}
	if err := w.Export(ctx, nil); err != nil {
		t.Fatal(err)
	}
	var notes bytes.Buffer
	r := New([]Store{Registry(ref)}, nil, &notes)
	r.Load(ctx)
	if _, hit := r.Layer(ctx, id, ""); !hit {
		t.Fatalf("honest entry missed: %s", notes.String())
	}
	d := r.imported[0].Layers[id]
	d.Size++
	r.imported[0].Layers[id] = d
	if _, hit := r.Layer(ctx, id, ""); hit || !strings.Contains(notes.String(), "the index says") {
		t.Errorf("hit %v with a wrong size; notes %q", hit, notes.String())
	}
}

// A base's folders written by one runner come back on the next; entries that are not absolute
// clean paths with permission bits only are dropped on reading.
func TestFoldersRoundTripThroughALocalCache(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	id := strings.Repeat("a", 64)
	bad := strings.Repeat("b", 64)
	w := New(nil, []Store{Local(dir)}, io.Discard)
	w.Load(ctx)
	w.RememberFolders(id, []Folder{{Path: "/app", UID: 1000, GID: 1000, Mode: 0o750}})
	w.RememberFolders(bad, []Folder{{Path: "app/../etc", Mode: 0o755}})
	if err := w.Export(ctx, nil); err != nil {
		t.Fatal(err)
	}
	r := New([]Store{Local(dir)}, nil, io.Discard)
	r.Load(ctx)
	fs, ok := r.Folders(id)
	if !ok || len(fs) != 1 || fs[0] != (Folder{Path: "/app", UID: 1000, GID: 1000, Mode: 0o750}) {
		t.Fatalf("folders %+v, %v", fs, ok)
	}
	if fs, ok := r.Folders(bad); ok {
		t.Fatalf("a relative path was kept: %+v", fs)
	}
}

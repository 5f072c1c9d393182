package buildkit

import (
	"archive/tar"
	"errors"
	"io"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/graft-build/graft/builder/contract"
	"github.com/graft-build/graft/builder/layer"
)

func dir(name string) layer.Entry { return layer.Entry{Name: name, Type: tar.TypeDir, Mode: 0o755} }
func file(name, data string) layer.Entry {
	return layer.Entry{Name: name, Type: tar.TypeReg, Mode: 0o644, Data: []byte(data)}
}
func wh(name string) layer.Entry { return layer.Entry{Name: name, Type: tar.TypeReg} }

// filesystem applies layers in order with go-containerregistry's whiteout handling and lists
// the result: "path type data".
func filesystem(t *testing.T, layers ...[]layer.Entry) string {
	t.Helper()
	img := empty.Image
	for _, entries := range layers {
		l, err := layer.New(entries)
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			t.Fatal(err)
		}
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	var lines []string
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		lines = append(lines, "/"+strings.Trim(h.Name, "/")+" "+string(h.Typeflag)+" "+string(data))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// TestSquashSameFilesystem: base + squashed layer gives the same files as base + every layer.
func TestSquashSameFilesystem(t *testing.T) {
	base := []layer.Entry{dir("/d"), file("/d/old", "o"), file("/d/keep", "k"), dir("/d/cache"),
		file("/d/cache/stale", "s"), file("/f", "file"), dir("/g"), file("/g/x", "x")}
	cases := map[string][][]layer.Entry{
		"add and change":   {{file("/d/new", "n")}, {file("/d/keep", "k2")}},
		"delete from base": {{wh("/d/.wh.old")}},
		"delete then recreate folder": {
			{wh("/d/.wh.cache")},
			{dir("/d/cache"), file("/d/cache/fresh", "f")},
		},
		"opaque folder":       {{dir("/d/cache"), wh("/d/cache/.wh..wh..opq"), file("/d/cache/fresh", "f")}},
		"file becomes folder": {{wh("/.wh.f")}, {dir("/f"), file("/f/in", "i")}},
		"folder becomes file": {{wh("/.wh.g")}, {file("/g", "now a file")}},
		"created then deleted": {
			{file("/d/tmp", "t"), dir("/d/tmpdir"), file("/d/tmpdir/a", "a")},
			{wh("/d/.wh.tmp"), wh("/d/.wh.tmpdir")},
		},
		"later layer wins": {{file("/d/v", "1")}, {file("/d/v", "2")}, {file("/d/v", "3")}},
	}
	for name, layers := range cases {
		t.Run(name, func(t *testing.T) {
			want := filesystem(t, append([][]layer.Entry{base}, layers...)...)
			got := filesystem(t, base, squash(layers))
			if got != want {
				t.Errorf("squashed:\n%s\nlayer by layer:\n%s", got, want)
			}
		})
	}
}

// TestStepDeletesBaseFiles: what a step deletes from the base is gone from the image too, and a
// folder it empties and refills holds only the new files.
func TestStepDeletesBaseFiles(t *testing.T) {
	d := shared.Daemon(t)
	base := newBase(t)
	owned := func(e layer.Entry) layer.Entry { e.UID, e.GID = uid, gid; return e }
	extra, err := layer.New([]layer.Entry{owned(dir("/data")), owned(file("/data/old.txt", "old")),
		owned(file("/data/keep.txt", "keep")), owned(dir("/data/cache")), owned(file("/data/cache/stale", "s"))},
		layer.WithRoot("/nowhere")) // keep the entries' own owner
	if err != nil {
		t.Fatal(err)
	}
	base.withLayer(t, extra)
	p := testPlugin{name: "cleaner", files: map[string]string{"f": "f"}, build: contract.Steps{Run: []string{
		"rm /data/old.txt",
		"echo new > /data/keep.txt",
		"rm -r /data/cache && mkdir /data/cache && echo fresh > /data/cache/new",
	}}}
	l := mustRun(t, newEngine(t, d.Addr), p.request(t, base.layout, base, nil))
	img, err := mutate.AppendLayers(base.img, l)
	if err != nil {
		t.Fatal(err)
	}
	fs := map[string]string{}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		fs["/"+strings.Trim(h.Name, "/")] = string(data)
	}
	if _, ok := fs["/data/old.txt"]; ok {
		t.Error("/data/old.txt was deleted by a step but is in the image")
	}
	if _, ok := fs["/data/cache/stale"]; ok {
		t.Error("/data/cache/stale was deleted by a step but is in the image")
	}
	if fs["/data/keep.txt"] != "new\n" || fs["/data/cache/new"] != "fresh\n" {
		t.Errorf("keep.txt %q, cache/new %q", fs["/data/keep.txt"], fs["/data/cache/new"])
	}
}

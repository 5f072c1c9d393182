package imageref_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/graft-build/graft/internal/imageref"
	"github.com/graft-build/graft/internal/usererr"
)

// ResolveArg takes paths from the current directory, and calls an IMAGE that names nothing,
// or names a layout missing its manifest, bad input.
func TestResolveArg(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	img := image(t)
	p, err := layout.Write(filepath.Join(dir, "out"), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	ref, res, err := imageref.ResolveArg(context.Background(), "out")
	if err != nil || ref.Kind != imageref.Layout || res.Digest != want {
		t.Fatalf("out: %v %v, %v", ref, res, err)
	}
	if ref.Shown("out") != "out" {
		t.Errorf("a plain path shown as %q", ref.Shown("out"))
	}
	if ref, _ := imageref.Parse("oci-layout://out", dir); ref.Shown("oci-layout://out") != "oci-layout://"+filepath.Join(dir, "out") {
		t.Errorf("a layout reference shown as %q", ref.Shown("oci-layout://out"))
	}
	if ref, _ := imageref.Parse("reg.example/app:v1", dir); ref.Shown("reg.example/app:v1") != "reg.example/app:v1" {
		t.Errorf("a registry reference shown as %q", ref.Shown("reg.example/app:v1"))
	}
	if _, _, err := imageref.ResolveArg(context.Background(), "./nothing-here"); !usererr.Is(err) {
		t.Fatalf("a path that names nothing: %v", err)
	}
	if err := os.Remove(filepath.Join(dir, "out", "blobs", want.Algorithm, want.Hex)); err != nil {
		t.Fatal(err)
	}
	_, _, err = imageref.ResolveArg(context.Background(), "out")
	if !usererr.Is(err) || !strings.Contains(err.Error(), "manifest "+want.String()) {
		t.Fatalf("a layout without its manifest: %v", err)
	}
}

// EachImage visits the images an index lists, in order, and neither attachments nor what
// nested indexes hold.
func TestEachImage(t *testing.T) {
	a, b, nested := image(t), image(t), image(t)
	inner := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: nested})
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: a},
		mutate.IndexAddendum{Add: image(t), Descriptor: v1.Descriptor{ArtifactType: "application/spdx+json"}},
		mutate.IndexAddendum{Add: inner},
		mutate.IndexAddendum{Add: b, Descriptor: v1.Descriptor{MediaType: types.OCIManifestSchema1}},
	)
	var got []v1.Hash
	err := imageref.EachImage(idx, func(d v1.Descriptor, img v1.Image) error {
		if h, _ := img.Digest(); h != d.Digest {
			t.Errorf("image %s read for descriptor %s", h, d.Digest)
		}
		got = append(got, d.Digest)
		return nil
	})
	da, _ := a.Digest()
	db, _ := b.Digest()
	if err != nil || len(got) != 2 || got[0] != da || got[1] != db {
		t.Fatalf("visited %v (%v), want %s, %s", got, err, da, db)
	}
}

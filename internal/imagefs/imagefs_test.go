package imagefs

import (
	"archive/tar"
	"context"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/graft-build/graft/builder/layer"
)

func TestFindTopDownWithWhiteouts(t *testing.T) {
	mk := func(es ...layer.Entry) *layer.Layer {
		l, err := layer.New(es)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	l1 := mk(layer.Entry{Name: "/app/README", Type: tar.TypeReg, Mode: 0o644, Data: []byte("x")},
		layer.Entry{Name: "/app/old/x", Type: tar.TypeReg, Mode: 0o644},
		layer.Entry{Name: "/app/link", Type: tar.TypeSymlink, Linkname: "/srv"},
		layer.Entry{Name: "/app/ext/Foo/x.php", Type: tar.TypeReg, Mode: 0o644})
	l2 := mk(layer.Entry{Name: "/app/.wh.old", Type: tar.TypeReg})
	img, err := mutate.AppendLayers(empty.Image, l1, l2)
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{"/app/README", "/app/old", "/app/link", "/app/ext/Foo", "/app/none"}
	got, err := Find(context.Background(), img, paths, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got["/app/README"].Type != tar.TypeReg || got["/app/link"].Link != "/srv" || got["/app/ext/Foo"].Type != tar.TypeDir {
		t.Errorf("found %+v", got)
	}
	if _, ok := got["/app/old"]; ok {
		t.Error("a whited-out folder was found")
	}
	explicit, _ := Find(context.Background(), img, paths, false)
	if _, ok := explicit["/app/ext/Foo"]; !ok {
		t.Error("layer.New writes parents explicitly; Foo should be found either way")
	}
}

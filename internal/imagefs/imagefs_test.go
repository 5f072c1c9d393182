package imagefs

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
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

// slowLayer takes delay to open, as a layer in a registry takes a round trip, and records
// what was opened and closed.
type slowLayer struct {
	*layer.Layer
	delay          time.Duration
	opened, closed *atomic.Int32
}

func (l slowLayer) Uncompressed() (io.ReadCloser, error) {
	time.Sleep(l.delay)
	l.opened.Add(1)
	rc, err := l.Layer.Uncompressed()
	return closeCounter{rc, l.closed}, err
}

type closeCounter struct {
	io.ReadCloser
	n *atomic.Int32
}

func (c closeCounter) Close() error { c.n.Add(1); return c.ReadCloser.Close() }

// The layers' round trips overlap: 6 layers that take 100 ms each to open are read in much
// less than 600 ms; every layer opened is closed, those opened ahead and never reached too.
func TestFindOpensLayersAhead(t *testing.T) {
	var opened, closed atomic.Int32
	var layers []v1.Layer
	for i := range 6 {
		l, err := layer.New([]layer.Entry{{Name: fmt.Sprintf("/opt/lib%d/a.jar", i), Type: tar.TypeReg, Mode: 0o644}})
		if err != nil {
			t.Fatal(err)
		}
		layers = append(layers, slowLayer{Layer: l, delay: 100 * time.Millisecond, opened: &opened, closed: &closed})
	}
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	got, err := Find(context.Background(), img, []string{"/opt/lib0"}, true) // in the bottom layer
	took := time.Since(start)
	if err != nil || got["/opt/lib0"].Type != tar.TypeDir {
		t.Fatalf("found %+v, %v", got, err)
	}
	if took > 450*time.Millisecond {
		t.Errorf("6 layers of 100 ms each read in %s: their opening did not overlap", took)
	}
	if opened.Load() != 6 || closed.Load() != 6 {
		t.Errorf("opened %d, closed %d; want all 6", opened.Load(), closed.Load())
	}
	opened.Store(0)
	closed.Store(0)
	if _, err := Find(context.Background(), img, []string{"/opt/lib5"}, true); err != nil { // the top layer decides
		t.Fatal(err)
	}
	if opened.Load() > 1+ahead || opened.Load() != closed.Load() {
		t.Errorf("opened %d, closed %d; want at most %d, each closed", opened.Load(), closed.Load(), 1+ahead)
	}
}

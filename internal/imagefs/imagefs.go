// Package imagefs answers what an image's file system holds at given paths, reading its layers'
// tar headers from the top layer down and stopping once every path is decided: the topmost
// layer that holds a path (or a file below it), or deletes it with a whiteout, decides it.
// Contents are never read. The next few layers down are opened while one is read, so that
// their requests to a registry do not wait one after another.
package imagefs

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Entry is what the image has at a path.
type Entry struct {
	Path string
	Type byte // tar type: tar.TypeDir, TypeReg, TypeSymlink, ...
	UID  int
	GID  int
	Mode int64
	Link string // a symlink's target
}

// Find returns the entries the image has at paths (cleaned, absolute); a path the image does
// not have is absent from the map. With implied, a path with no entry of its own but files
// below it in a layer counts as a folder there (tars need not list folders; owner and mode are
// then unknown and given as root's 0755); without it only explicit entries count.
func Find(ctx context.Context, img v1.Image, paths []string, implied bool) (map[string]Entry, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("image layers: %w", err)
	}
	pending := map[string]bool{}
	for _, p := range paths {
		pending[p] = true
	}
	next := openAhead(layers)
	defer next.close()
	found := map[string]Entry{}
	for i := len(layers) - 1; i >= 0 && len(pending) > 0; i-- {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rc, err := next.take(i)
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", i+1, err)
		}
		decided, err := scanLayer(rc, pending, implied)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", i+1, err)
		}
		for p, e := range decided {
			delete(pending, p)
			if e != nil {
				found[p] = *e
			}
		}
	}
	return found, nil
}

// ahead is how many layers below the one being read are opened already: a layer in a registry
// is a request whose round trip then overlaps the reading of the layers above it. A layer
// opened but never reached (the paths were decided above it) is closed unread, having cost at
// most what the connection buffered.
const ahead = 3

// opener opens layers from the top down, ahead of the reader.
type opener struct {
	layers []v1.Layer
	opened []chan opened
}

type opened struct {
	rc  io.ReadCloser
	err error
}

func openAhead(layers []v1.Layer) *opener {
	o := &opener{layers: layers, opened: make([]chan opened, len(layers))}
	for i := len(layers) - 1; i >= 0 && i >= len(layers)-1-ahead; i-- {
		o.open(i)
	}
	return o
}

func (o *opener) open(i int) {
	ch := make(chan opened, 1)
	o.opened[i] = ch
	go func() {
		rc, err := o.layers[i].Uncompressed()
		ch <- opened{rc, err}
	}()
}

// take is layer i's reader, and opens the next layer down the window.
func (o *opener) take(i int) (io.ReadCloser, error) {
	if j := i - ahead; j >= 0 && o.opened[j] == nil {
		o.open(j)
	}
	r := <-o.opened[i]
	o.opened[i] = nil
	return r.rc, r.err
}

// close closes the layers opened and not taken.
func (o *opener) close() {
	for _, ch := range o.opened {
		if ch != nil {
			if r := <-ch; r.rc != nil {
				r.rc.Close()
			}
		}
	}
}

// scanLayer reads one layer's headers and returns the pending paths it decides: their entry,
// or nil when the layer deletes them (a whiteout of the path or of a folder above it, or an
// opaque folder above it).
func scanLayer(rc io.Reader, pending map[string]bool, implied bool) (map[string]*Entry, error) {
	decided := map[string]*Entry{}
	below := map[string]bool{} // pending paths with an entry below them in this layer
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		name := path.Clean("/" + h.Name)
		dir, base := path.Split(name)
		dir = path.Clean(dir)
		if strings.HasPrefix(base, ".wh.") {
			gone := path.Join(dir, strings.TrimPrefix(base, ".wh."))
			opaque := base == ".wh..wh..opq"
			for p := range pending {
				if _, ok := decided[p]; ok {
					continue
				}
				if (!opaque && (p == gone || strings.HasPrefix(p, gone+"/"))) || (opaque && strings.HasPrefix(p, dir+"/")) {
					decided[p] = nil
				}
			}
			continue
		}
		for d := path.Dir(name); implied && d != "/"; d = path.Dir(d) {
			if pending[d] {
				below[d] = true
			}
		}
		if !pending[name] {
			continue
		}
		decided[name] = &Entry{Path: name, Type: h.Typeflag, UID: h.Uid, GID: h.Gid, Mode: h.Mode & 0o7777, Link: h.Linkname}
	}
	for p := range below {
		if _, ok := decided[p]; !ok {
			decided[p] = &Entry{Path: p, Type: tar.TypeDir, Mode: 0o755}
		}
	}
	return decided, nil
}

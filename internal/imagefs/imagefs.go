// Package imagefs answers what an image's file system holds at given paths, reading its layers'
// tar headers from the top layer down and stopping once every path is decided: the topmost
// layer that holds a path (or a file below it), or deletes it with a whiteout, decides it.
// Contents are never read.
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
	found := map[string]Entry{}
	for i := len(layers) - 1; i >= 0 && len(pending) > 0; i-- {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		decided, err := scanLayer(layers[i], pending, implied)
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

// scanLayer reads one layer's headers and returns the pending paths it decides: their entry,
// or nil when the layer deletes them (a whiteout of the path or of a folder above it, or an
// opaque folder above it).
func scanLayer(l v1.Layer, pending map[string]bool, implied bool) (map[string]*Entry, error) {
	rc, err := l.Uncompressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
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

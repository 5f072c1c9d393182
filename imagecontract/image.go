package imagecontract

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/graft-build/graft/internal/imageref"
	"github.com/graft-build/graft/launcher/config"
)

// MaxConfigSize bounds the launcher.toml read from an image (graft writes a few KiB).
const MaxConfigSize = 1 << 20

// ErrNoLauncherConfig means the image carries no launcher configuration: graft did not build it.
var ErrNoLauncherConfig = errors.New("no " + config.DefaultPath + " in the image: graft did not build it")

// FromImage reads the contract of an image graft built: the launcher.toml the container sees
// (its layers searched from the top, as the container's filesystem stacks them) and the health
// check and environment of its config.
func FromImage(img v1.Image) (*Contract, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("image layers: %w", err)
	}
	want := strings.TrimPrefix(config.DefaultPath, "/")
	for i := len(layers) - 1; i >= 0; i-- {
		data, st, err := findFile(layers[i], want)
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", i+1, err)
		}
		switch st {
		case deleted:
			return nil, ErrNoLauncherConfig
		case found:
			cfg, err := config.Parse(config.DefaultPath, data)
			if err != nil {
				return nil, fmt.Errorf("the image's %w", err)
			}
			return FromConfig(cfg).WithImageConfig(cf.Config), nil
		}
	}
	return nil, ErrNoLauncherConfig
}

type state int

const (
	absent state = iota
	found
	deleted // a whiteout in this layer hides it
)

// findFile reads name from one layer's tar, or says whether the layer deletes it (a whiteout
// of the file, or an opaque whiteout of its folder, without the file added back).
func findFile(l v1.Layer, name string) ([]byte, state, error) {
	rc, err := l.Uncompressed()
	if err != nil {
		return nil, absent, err
	}
	defer rc.Close()
	dir, base := path.Split(name)
	whiteout := false
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			if whiteout {
				return nil, deleted, nil
			}
			return nil, absent, nil
		}
		if err != nil {
			return nil, absent, err
		}
		switch strings.TrimPrefix(path.Clean("/"+h.Name), "/") {
		case name:
			if h.Typeflag != tar.TypeReg {
				return nil, absent, fmt.Errorf("%s is not a regular file in the image", config.DefaultPath)
			}
			if h.Size > MaxConfigSize {
				return nil, absent, fmt.Errorf("%s is %d bytes, over the %d a launcher configuration may have", config.DefaultPath, h.Size, MaxConfigSize)
			}
			data, err := io.ReadAll(io.LimitReader(tr, MaxConfigSize))
			return data, found, err
		case dir + ".wh." + base, dir + ".wh..wh..opq":
			whiteout = true
		}
	}
}

// FromResolved reads the contract of a resolved image or index: an index's first image speaks
// for all (every platform carries the same launcher.toml).
func FromResolved(res *imageref.Resolved) (*Contract, error) {
	img := res.Image
	if res.Index != nil {
		err := imageref.EachImage(res.Index, func(_ v1.Descriptor, i v1.Image) error {
			if img == nil {
				img = i
			}
			return nil
		})
		if err != nil || img == nil {
			return nil, fmt.Errorf("no image in its index (%v)", err)
		}
	}
	return FromImage(img)
}

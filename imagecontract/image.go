package imagecontract

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

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

// findFile reads name from one layer's tar, or says whether the layer deletes it.
func findFile(l v1.Layer, name string) ([]byte, state, error) {
	rc, err := l.Uncompressed()
	if err != nil {
		return nil, absent, err
	}
	defer rc.Close()
	dir, base := path.Split(name)
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, absent, nil
		}
		if err != nil {
			return nil, absent, err
		}
		entry := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		switch entry {
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
			// The file itself would come first in its own layer's order only by chance: keep
			// reading for it, and report the deletion only if this layer does not add it back.
			if rest, st, err := findAfterWhiteout(tr, name); err != nil || st == found {
				return rest, st, err
			}
			return nil, deleted, nil
		}
	}
}

// findAfterWhiteout reads the rest of a layer for name after a whiteout entry.
func findAfterWhiteout(tr *tar.Reader, name string) ([]byte, state, error) {
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, absent, nil
		}
		if err != nil {
			return nil, absent, err
		}
		if strings.TrimPrefix(path.Clean("/"+h.Name), "/") == name && h.Typeflag == tar.TypeReg && h.Size <= MaxConfigSize {
			data, err := io.ReadAll(io.LimitReader(tr, MaxConfigSize))
			return data, found, err
		}
	}
}

package buildkit

import (
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/graft-build/graft/builder/layer"
	"github.com/graft-build/graft/internal/tarx"
)

// ociExportAttrs ask BuildKit for the diff as an OCI image with uncompressed layers: graft only
// reads them back, compressing would be wasted work on the daemon.
var ociExportAttrs = map[string]string{"compression": "uncompressed", "oci-mediatypes": "true"}

// readExport reads the OCI image tar BuildKit exported for llb.Diff(base, after) and returns its
// layers' entries, bottom first: one layer for the plugin's files, one per command.
func readExport(tarPath, dir string) ([][]layer.Entry, error) {
	if err := tarx.Extract(tarPath, dir, 0); err != nil {
		return nil, fmt.Errorf("build steps' output: %w", err)
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("build steps' output: %w", err)
	}
	m, err := idx.IndexManifest()
	if err != nil || len(m.Manifests) != 1 {
		return nil, fmt.Errorf("build steps' output: want one image, got %d (%v)", len(m.Manifests), err)
	}
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		return nil, fmt.Errorf("build steps' output: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("build steps' output: %w", err)
	}
	out := make([][]layer.Entry, 0, len(layers))
	for i, l := range layers {
		entries, err := readLayer(l.Uncompressed)
		if err != nil {
			return nil, fmt.Errorf("build steps' output, layer %d: %w", i+1, err)
		}
		out = append(out, entries)
	}
	return out, nil
}

func readLayer(open func() (io.ReadCloser, error)) ([]layer.Entry, error) {
	rc, err := open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return layer.ReadTar(rc)
}

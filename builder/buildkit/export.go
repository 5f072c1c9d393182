package buildkit

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/graft-build/graft/builder/layer"
)

// ociExportAttrs ask BuildKit for the diff as an OCI image with uncompressed layers: graft only
// reads them back, compressing would be wasted work on the daemon.
var ociExportAttrs = map[string]string{"compression": "uncompressed", "oci-mediatypes": "true"}

// readExport reads the OCI image tar BuildKit exported for llb.Diff(base, after) and returns its
// layers' entries, bottom first: one layer for the plugin's files, one per command.
func readExport(tarPath, dir string) ([][]layer.Entry, error) {
	if err := untarLayout(tarPath, dir); err != nil {
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

// untarLayout writes the OCI layout tar's regular files (oci-layout, index.json, blobs) to dir.
func untarLayout(tarPath, dir string) error {
	f, err := os.Open(tarPath)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		name := path.Clean("/" + h.Name) // never above dir
		target := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
			return err
		}
		if err := copyTo(target, tr); err != nil {
			return err
		}
	}
}

func copyTo(target string, r io.Reader) error {
	w, err := os.Create(target)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, r); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

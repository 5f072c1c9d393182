package attest

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/graft-build/graft/internal/imageref"
)

// tarSource reads referrers listed in the index.json of a tar holding an OCI layout.
type tarSource struct {
	file string
	idx  v1.IndexManifest
}

// openTar reads the layout index of the tar file and picks its image: the one tag names, else
// the only one.
func openTar(file, tag string) (source, v1.Hash, error) {
	raw, err := tarEntry(file, "index.json", maxManifest)
	if errors.Is(err, os.ErrNotExist) {
		return nil, v1.Hash{}, fmt.Errorf("%s is a docker-archive tar without an OCI index.json, which holds no attached documents: %w "+
			"(graft attaches them to type=registry and type=oci outputs)", file, ErrNotAttached)
	}
	if err != nil {
		return nil, v1.Hash{}, fmt.Errorf("%s: %w", file, err)
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, v1.Hash{}, fmt.Errorf("%s: index.json: %w", file, err)
	}
	subject, err := tarImage(idx, tag)
	if err != nil {
		return nil, v1.Hash{}, fmt.Errorf("%s: %w", file, err)
	}
	return &tarSource{file: file, idx: idx}, subject, nil
}

func (t *tarSource) String() string { return t.file }

func (t *tarSource) candidates(want func(string) bool) ([]v1.Descriptor, error) {
	return wanted(t.idx.Manifests, want), nil
}

func (t *tarSource) manifest(d v1.Descriptor) ([]byte, error) {
	return readBounded(t.blob, d.Digest, maxManifest)
}

func (t *tarSource) blob(h v1.Hash) (io.ReadCloser, error) {
	b, err := tarEntry(t.file, "blobs/"+h.Algorithm+"/"+h.Hex, MaxDocument)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// tarImage picks the image's digest from a layout's index: by tag, else the only image
// (referrers, which have an artifactType of their own, are not images).
func tarImage(idx v1.IndexManifest, tag string) (v1.Hash, error) {
	var images []v1.Descriptor
	for _, d := range idx.Manifests {
		switch types.MediaType(d.ArtifactType) {
		case "", types.OCIConfigJSON, types.DockerConfigJSON:
			images = append(images, d)
		}
	}
	if tag != "" {
		for _, d := range images {
			if ref := d.Annotations[imageref.RefNameAnnotation]; ref == tag || strings.HasSuffix(ref, ":"+tag) {
				return d.Digest, nil
			}
		}
		return v1.Hash{}, fmt.Errorf("tag %q is not in index.json", tag)
	}
	if len(images) != 1 {
		return v1.Hash{}, fmt.Errorf("index.json holds %d images; name one with :tag", len(images))
	}
	return images[0].Digest, nil
}

// tarEntry reads the regular file name (at most limit bytes) from the tar file; os.ErrNotExist
// when it has none.
func tarEntry(file, name string, limit int64) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: %w", name, os.ErrNotExist)
		}
		if err != nil {
			return nil, err
		}
		if h.Typeflag != tar.TypeReg || path.Clean(strings.TrimPrefix(h.Name, "./")) != name {
			continue
		}
		if h.Size > limit {
			return nil, fmt.Errorf("%s: %d bytes, more than graft reads (%d)", name, h.Size, limit)
		}
		return io.ReadAll(io.LimitReader(tr, limit))
	}
}

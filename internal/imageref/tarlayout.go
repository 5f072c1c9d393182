package imageref

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// maxManifest bounds index.json, a manifest or a config read from a tar.
const maxManifest = 16 << 20

// tarFile is an OCI layout packed in a tar, read where it is: its entries are indexed once
// (names and offsets; the data is skipped) and each blob is read from its offset when asked
// for, checked against its digest. Nothing is extracted.
type tarFile struct {
	path    string
	entries map[string]span
}

type span struct{ off, size int64 }

func openTar(file string) (*tarFile, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t := &tarFile{path: file, entries: map[string]span{}}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return t, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		// archive/tar reads whole 512-byte blocks and nothing ahead: after Next the file is
		// at the entry's data.
		off, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, err
		}
		t.entries[path.Clean(strings.TrimPrefix(h.Name, "./"))] = span{off, h.Size}
	}
}

// open streams the blob h, checking its digest when the reader reaches its end.
func (t *tarFile) open(h v1.Hash) (io.ReadCloser, int64, error) {
	if h.Algorithm != "sha256" {
		return nil, 0, fmt.Errorf("blob %s: only sha256 blobs are read", h)
	}
	s, ok := t.entries["blobs/sha256/"+h.Hex]
	if !ok {
		return nil, 0, missing("blob %s is not in %s", h, t.path)
	}
	f, err := os.Open(t.path)
	if err != nil {
		return nil, 0, err
	}
	return &verifying{r: io.NewSectionReader(f, s.off, s.size), c: f, want: h, h: sha256.New()}, s.size, nil
}

// read reads a small blob whole (at most limit bytes), checked against its digest.
func (t *tarFile) read(h v1.Hash, limit int64) ([]byte, error) {
	rc, size, err := t.open(h)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if size > limit {
		return nil, fmt.Errorf("blob %s: %d bytes, more than graft reads (%d)", h, size, limit)
	}
	return io.ReadAll(rc)
}

// ErrTampered is wrapped by the error reading a blob of an OCI tar whose bytes are not its
// digest's: the image is read, and is not what its names say (verify's difference, not bad
// input).
var ErrTampered = errors.New("content has another digest: damaged or tampered")

// verifying checks what it read against want at the end of the stream.
type verifying struct {
	r    io.Reader
	c    io.Closer
	want v1.Hash
	h    hash.Hash
}

func (v *verifying) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	if errors.Is(err, io.EOF) && hex.EncodeToString(v.h.Sum(nil)) != v.want.Hex {
		return n, fmt.Errorf("blob %s: %w", v.want, ErrTampered)
	}
	return n, err
}

func (v *verifying) Close() error { return v.c.Close() }

// tarLayout is the tar's index.json as an index.
func tarLayout(file string) (v1.ImageIndex, error) {
	t, err := openTar(file)
	if err != nil {
		return nil, err
	}
	s, ok := t.entries["index.json"]
	if !ok {
		return nil, missing("%s holds no index.json", file)
	}
	if s.size > maxManifest {
		return nil, fmt.Errorf("%s: index.json of %d bytes", file, s.size)
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	raw := make([]byte, s.size)
	if _, err := f.ReadAt(raw, s.off); err != nil {
		return nil, fmt.Errorf("%s: index.json: %w", file, err)
	}
	return &tarIndex{t: t, raw: raw}, nil
}

type tarIndex struct {
	t   *tarFile
	raw []byte
}

func (x *tarIndex) MediaType() (types.MediaType, error) {
	m, err := x.IndexManifest()
	if err != nil || m.MediaType == "" {
		return types.OCIImageIndex, err
	}
	return m.MediaType, nil
}
func (x *tarIndex) Digest() (v1.Hash, error) {
	h, _, err := v1.SHA256(bytes.NewReader(x.raw))
	return h, err
}
func (x *tarIndex) Size() (int64, error)         { return int64(len(x.raw)), nil }
func (x *tarIndex) RawManifest() ([]byte, error) { return x.raw, nil }
func (x *tarIndex) IndexManifest() (*v1.IndexManifest, error) {
	return v1.ParseIndexManifest(bytes.NewReader(x.raw))
}

func (x *tarIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	raw, err := x.t.read(h, maxManifest)
	if err != nil {
		return nil, err
	}
	return &tarIndex{t: x.t, raw: raw}, nil
}

func (x *tarIndex) Image(h v1.Hash) (v1.Image, error) {
	raw, err := x.t.read(h, maxManifest)
	if err != nil {
		return nil, err
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", h, err)
	}
	return partial.CompressedToImage(&tarImage{t: x.t, raw: raw, m: m})
}

// tarImage is one image of the tar, for partial.CompressedToImage.
type tarImage struct {
	t   *tarFile
	raw []byte
	m   *v1.Manifest
}

func (i *tarImage) RawManifest() ([]byte, error) { return i.raw, nil }
func (i *tarImage) MediaType() (types.MediaType, error) {
	if i.m.MediaType == "" {
		return types.OCIManifestSchema1, nil
	}
	return i.m.MediaType, nil
}
func (i *tarImage) RawConfigFile() ([]byte, error) { return i.t.read(i.m.Config.Digest, maxManifest) }

func (i *tarImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if h == i.m.Config.Digest {
		return &tarBlob{t: i.t, d: i.m.Config}, nil
	}
	for _, l := range i.m.Layers {
		if l.Digest == h {
			return &tarBlob{t: i.t, d: l}, nil
		}
	}
	return nil, fmt.Errorf("blob %s is not in manifest", h)
}

type tarBlob struct {
	t *tarFile
	d v1.Descriptor
}

func (b *tarBlob) Digest() (v1.Hash, error)            { return b.d.Digest, nil }
func (b *tarBlob) Size() (int64, error)                { return b.d.Size, nil }
func (b *tarBlob) MediaType() (types.MediaType, error) { return b.d.MediaType, nil }
func (b *tarBlob) Compressed() (io.ReadCloser, error) {
	rc, _, err := b.t.open(b.d.Digest)
	return rc, err
}

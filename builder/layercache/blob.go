package layercache

import (
	"crypto/sha256"
	"fmt"
	"hash"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
)

// blobLayer is a cached layer known by its descriptor; its bytes are read only when an output
// lacks the blob, and checked against the digest (and, uncompressed, the diff ID) as they are.
type blobLayer struct {
	d    layerDesc
	open func() (io.ReadCloser, error) // the compressed blob
}

func (b *blobLayer) Digest() (v1.Hash, error)            { return b.d.digest, nil }
func (b *blobLayer) DiffID() (v1.Hash, error)            { return b.d.diffID, nil }
func (b *blobLayer) Size() (int64, error)                { return b.d.size, nil }
func (b *blobLayer) MediaType() (types.MediaType, error) { return b.d.mediaType, nil }

func (b *blobLayer) Compressed() (io.ReadCloser, error) {
	rc, err := b.open()
	if err != nil {
		return nil, err
	}
	return &verifier{rc: rc, r: io.LimitReader(rc, b.d.size+1), h: sha256.New(), want: b.d.digest, size: b.d.size, what: "cached blob"}, nil
}

// Uncompressed checks the tar against the diff ID the cache recorded: an entry whose diff ID
// lies (the image config would name a tar the blob does not hold) fails here.
func (b *blobLayer) Uncompressed() (io.ReadCloser, error) {
	rc, err := b.Compressed()
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(rc)
	if err != nil {
		rc.Close()
		return nil, fmt.Errorf("cached blob %s: %w", b.d.digest, err)
	}
	return &verifier{rc: rc, r: zr, h: sha256.New(), want: b.d.diffID, size: -1, what: "cached layer's tar"}, nil
}

// verifier hashes what it reads and fails at the end when the content is not what was named.
type verifier struct {
	rc   io.Closer
	r    io.Reader
	h    hash.Hash
	n    int64
	want v1.Hash
	size int64 // -1: unknown
	what string
}

func (v *verifier) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if v.size >= 0 && v.n > v.size {
		return n, fmt.Errorf("%s %s: longer than its recorded %d bytes", v.what, v.want, v.size)
	}
	if err == io.EOF {
		got := v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", v.h.Sum(nil))}
		if got != v.want || (v.size >= 0 && v.n != v.size) {
			return n, fmt.Errorf("%s: content has %s, the cache says %s: the cache entry was changed; delete it or build without --cache-from", v.what, got, v.want)
		}
	}
	return n, err
}

func (v *verifier) Close() error { return v.rc.Close() }

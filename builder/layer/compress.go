package layer

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"runtime"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/graft-build/graft/internal/iocount"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/pgzip"
)

// DefaultLevel is the gzip level of every layer graft makes. Measured on 200 MB of source text
// (a loaded 2-core machine): klauspost/compress level 6 ran at ~100 MB/s with ratio 0.307, the
// standard library at level 6 at 17-31 MB/s with ratio 0.300; klauspost level 5 was no faster
// and a little larger. The level is part of every digest, so it is fixed here rather than
// configurable per build.
const DefaultLevel = 6

// blockSize is the unit of parallel compression (klauspost/pgzip): the tar is cut every
// blockSize bytes and the blocks are deflated on all cores, each with the 32 KiB before it as
// its dictionary, and written in order. The output is a pure function of the tar, the level
// and blockSize, whatever the number of cores or the scheduling; one big layer uses every
// core (a plugin's jars or media), where one deflate stream used one. Changing it changes
// digests.
const blockSize = 1 << 20

// Layer is a finished layer: compressed once, hashed in the same pass, served as often as a
// publisher asks. Its blob never sits in memory whole unless it is small: it is written as it
// is compressed to the layer cache (or, without one, to an unlinked temporary file) and read
// back from there. A Stored layer is a cache file, checked on first use.
type Layer struct {
	compressed []byte   // a small blob, in memory
	f          *os.File // a spooled blob without a cache: an unlinked temporary file
	file       string   // the blob in the layer cache
	size       int64
	digest     v1.Hash
	diffID     v1.Hash
	mediaType  types.MediaType

	trusted  bool       // file holds exactly the blob (this process wrote it, or it is unchanged since)
	check    *sync.Once // checks file against digest once, for a Stored layer
	checkErr error
}

var _ v1.Layer = (*Layer)(nil)

// memLimit is the largest blob a layer keeps in memory (without a cache; with one, every blob
// is a cache file); bigger ones go to a file as they are compressed, so memory stays flat
// whatever the plugins weigh and however many there are.
const memLimit = 64 << 10

// New makes a layer of entries: tar, gzip and both digests in one streaming pass. With
// WithCacheDir the blob is kept there under its diff ID (see Stored).
func New(entries []Entry, opts ...Option) (*Layer, error) {
	o := newOptions(opts)
	sorted, err := normalize(entries, o)
	if err != nil {
		return nil, err
	}
	sp := newSpool(o.cacheDir)
	blobHash := sha256.New()
	tarHash := sha256.New()
	cw := &iocount.Writer{W: io.MultiWriter(sp, blobHash)}
	if err := compress(cw, tarHash, sorted, o); err != nil {
		sp.discard()
		return nil, err
	}
	l := &Layer{size: cw.N, mediaType: o.mediaType,
		diffID: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(tarHash.Sum(nil))},
		digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(blobHash.Sum(nil))}}
	if err := sp.finish(l, o); err != nil {
		return nil, err
	}
	return l, nil
}

// compress writes the gzip-compressed tar of sorted entries to w, and the tar to tarHash too
// when it is not nil (one pass makes both).
func compress(w io.Writer, tarHash hash.Hash, sorted []Entry, o *options) error {
	zw, done, err := newGzip(w, o.level)
	if err != nil {
		return fmt.Errorf("gzip level %d: %w", o.level, err)
	}
	var tw io.Writer = zw
	if tarHash != nil {
		tw = io.MultiWriter(tarHash, zw)
	}
	if err := writeTar(tw, sorted, o); err != nil {
		zw.Close() // stops its goroutines; the writer is not reused
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	done()
	return nil
}

// gzipWriters keeps pgzip writers at DefaultLevel for the next layer: each holds its blocks'
// buffers and deflate state (several MB), and a build makes a layer per plugin; allocating
// them afresh for every layer made the garbage collector, not the data, set a build's peak
// memory.
var gzipWriters = sync.Pool{New: func() any {
	zw, _ := pgzip.NewWriterLevel(io.Discard, DefaultLevel)
	return zw
}}

// newGzip is a parallel gzip writer to w (see blockSize); done returns it for reuse.
func newGzip(w io.Writer, level int) (*pgzip.Writer, func(), error) {
	var zw *pgzip.Writer
	done := func() {}
	if level == DefaultLevel {
		zw = gzipWriters.Get().(*pgzip.Writer)
		zw.Reset(w)
		done = func() { gzipWriters.Put(zw) }
	} else {
		var err error
		if zw, err = pgzip.NewWriterLevel(w, level); err != nil {
			return nil, nil, err
		}
	}
	zw.ModTime = time.Unix(0, 0) // the header's mtime field 0, as gzip writes it for "none"
	// As many blocks in flight as cores (what Reset sets, so a reused writer keeps its buffers).
	if err := zw.SetConcurrency(blockSize, runtime.GOMAXPROCS(0)); err != nil {
		return nil, nil, err
	}
	return zw, done, nil
}

// writeTar writes sorted entries as a tar stream.
func writeTar(w io.Writer, sorted []Entry, o *options) error {
	tw := tar.NewWriter(w)
	for _, e := range sorted {
		if err := tw.WriteHeader(header(e, o)); err != nil {
			return fmt.Errorf("layer entry %s: %w", e.Name, err)
		}
		if e.Type == tar.TypeReg {
			if err := writeContent(tw, e); err != nil {
				return fmt.Errorf("layer entry %s: %w", e.Name, err)
			}
		}
	}
	return tw.Close()
}

// writeContent writes a regular file's content: Data, or what Open streams.
func writeContent(w io.Writer, e Entry) error {
	if e.Open == nil {
		_, err := w.Write(e.Data)
		return err
	}
	rc, err := e.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	n, err := io.Copy(w, rc)
	if err == nil && n != e.Size {
		err = fmt.Errorf("content is %d bytes, want %d", n, e.Size)
	}
	return err
}

// Digest is the sha256 of the compressed blob.
func (l *Layer) Digest() (v1.Hash, error) { return l.digest, nil }

// DiffID is the sha256 of the uncompressed tar.
func (l *Layer) DiffID() (v1.Hash, error) { return l.diffID, nil }

// Compressed returns the gzip blob. A cached layer's blob is checked against its digest
// before the first byte is given: a damaged cache entry fails the read, never passes as this
// layer.
func (l *Layer) Compressed() (io.ReadCloser, error) { return l.open() }

// Uncompressed returns the tar.
func (l *Layer) Uncompressed() (io.ReadCloser, error) {
	rc, err := l.open()
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(rc)
	if err != nil {
		rc.Close()
		return nil, fmt.Errorf("open layer: %w", err)
	}
	return &gzipReadCloser{Reader: zr, under: rc}, nil
}

type gzipReadCloser struct {
	*gzip.Reader
	under io.Closer
}

func (g *gzipReadCloser) Close() error {
	g.Reader.Close()
	return g.under.Close()
}

// Size is the size of the compressed blob.
func (l *Layer) Size() (int64, error) { return l.size, nil }

// MediaType is the layer's media type.
func (l *Layer) MediaType() (types.MediaType, error) { return l.mediaType, nil }

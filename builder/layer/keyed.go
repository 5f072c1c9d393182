package layer

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// formatVersion names how this package lays out a tar (sorting, parents, headers). Bump it
// whenever a change to layer.go would change the bytes made from the same entries, so that
// cache entries of an older graft (see KeyID) are not taken for this one's.
const formatVersion = "2" // 2: blobs compressed in 1 MiB blocks (pgzip)

// KeyID names a layer by its inputs under these options: key names what determines the
// entries (e.g. a plugin's commit, tree, path and folder) and must determine them fully; the
// owner, epoch, root, gzip level, compressor and layer-format versions are added here. Caches
// (package builder/buildcache) record layers under it, so an entry another graft release
// wrote (other format or compressor) never matches.
func KeyID(key string, opts ...Option) string {
	o := newOptions(opts)
	h := sha256.New()
	fmt.Fprintf(h, "graft layer %s\x00%s\x00gzip%d\x00%s\x00%d:%d\x00%d\x00%s",
		formatVersion, key, o.level, compressorVersion(), o.uid, o.gid, o.epoch.Unix(), o.root)
	return hex.EncodeToString(h.Sum(nil))
}

// Descriptor names a layer's blob: enough to put it in an image without reading it.
type Descriptor struct {
	Digest, DiffID v1.Hash
	Size           int64
}

// Stored is the layer whose blob New or Import kept in the cache folder (WithCacheDir) for
// d's diff ID, or nil when the folder holds no regular file of d's size there. Unless trusted
// (the caller vouches that the file holds exactly the blob: it checked it, or its record says
// the file is unchanged since it was written), the file is checked against d.Digest when it
// is first read (see Compressed and BlobFile), so a damaged entry fails before anything that
// references it is written.
func Stored(d Descriptor, trusted bool, opts ...Option) *Layer {
	o := newOptions(opts)
	if o.cacheDir == "" {
		return nil
	}
	file := o.cachePath(d.DiffID)
	st, err := os.Lstat(file)
	if err != nil || !st.Mode().IsRegular() || st.Size() != d.Size {
		return nil
	}
	return &Layer{file: file, size: d.Size, digest: d.Digest, diffID: d.DiffID, mediaType: o.mediaType,
		check: &sync.Once{}, trusted: trusted}
}

// CacheFile is the file in the cache folder holding the blob, "" when there is none (no cache,
// or a layer made in memory that could not be cached).
func (l *Layer) CacheFile() string { return l.file }

// open reads the blob; a Stored layer's file is checked against its digest first (once).
func (l *Layer) open() (io.ReadCloser, error) {
	switch {
	case l.compressed != nil:
		return io.NopCloser(bytes.NewReader(l.compressed)), nil
	case l.f != nil:
		return io.NopCloser(io.NewSectionReader(l.f, 0, l.size)), nil
	}
	return &lazyReader{l: l}, nil
}

// lazyReader opens (and checks) a cached layer's file on the first Read only: ggcr asks every
// layer for its blob before it looks whether the output already holds it, and an output that
// never reads the blob should cost nothing.
type lazyReader struct {
	l *Layer
	f *os.File
}

func (z *lazyReader) Read(p []byte) (int, error) {
	if z.f == nil {
		if err := z.l.verify(); err != nil {
			return 0, err
		}
		f, err := os.Open(z.l.file)
		if err != nil {
			return 0, fmt.Errorf("read cached layer: %w", err)
		}
		z.f = f
	}
	return z.f.Read(p)
}

func (z *lazyReader) Close() error {
	if z.f == nil {
		return nil
	}
	return z.f.Close()
}

// verify checks a Stored layer's file against its digest, streaming (once per layer).
func (l *Layer) verify() error {
	if l.check == nil {
		return nil
	}
	l.check.Do(func() {
		f, err := os.Open(l.file)
		if err != nil {
			l.checkErr = fmt.Errorf("read cached layer: %w", err)
			return
		}
		defer f.Close()
		got, n, err := v1.SHA256(f)
		if err != nil {
			l.checkErr = fmt.Errorf("read cached layer: %w", err)
			return
		}
		if got != l.digest || n != l.size {
			l.checkErr = fmt.Errorf("cached layer %s is damaged or was changed (sha256 %s, want %s): delete the folder %s and build again",
				l.file, got.Hex, l.digest.Hex, filepath.Dir(l.file))
			return
		}
		l.trusted = true
	})
	return l.checkErr
}

// BlobFile is the file holding exactly the compressed blob, for an output to link instead of
// copying: a cache entry this process wrote, one unchanged since it was recorded, or else one
// checked against its digest now (streaming). "" when the blob is not in the cache.
func (l *Layer) BlobFile() (string, error) {
	if l.file == "" {
		return "", nil
	}
	if !l.trusted {
		if err := l.verify(); err != nil {
			return "", err
		}
	}
	return l.file, nil
}

package layer

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/graft-build/graft/internal/atomicfile"
)

// formatVersion names how this package lays out a tar (sorting, parents, headers). Bump it
// whenever a change to layer.go would change the bytes made from the same entries, so that
// keyed cache entries of an older graft are not taken for this one's.
const formatVersion = "2" // 2: blobs compressed in 1 MiB blocks (pgzip)

// WithKey names the layer's inputs when the caller knows them without the entries (e.g. a
// plugin's commit, tree, path and folder): New records the made layer under the key, and
// Lookup finds it again without the entries. The key must determine the entries fully; the
// options (owner, epoch, root, level, compressor and format version) are added to it here.
func WithKey(key string) Option { return func(o *options) { o.key = key } }

// record is what a keyed cache entry holds: enough to describe the layer without reading it.
type record struct {
	DiffID string `json:"diff_id"`
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
	// MTime is the blob file's modification time (Unix nanoseconds) when it was recorded:
	// while it is unchanged the file may be linked into an output without reading it.
	MTime int64 `json:"mtime,omitempty"`
}

// keyPath is the record of key under these options.
func (o *options) keyPath(key string) string {
	return filepath.Join(o.cacheDir, "keys", o.keyID(key))
}

// keyID names key under these options: everything the layer's bytes depend on.
func (o *options) keyID(key string) string {
	h := sha256.New()
	fmt.Fprintf(h, "graft layer %s\x00%s\x00gzip%d\x00%s\x00%d:%d\x00%d\x00%s",
		formatVersion, key, o.level, compressorVersion(), o.uid, o.gid, o.epoch.Unix(), o.root)
	return hex.EncodeToString(h.Sum(nil))
}

// KeyID is the name the local cache records key under with these options (see WithKey): the
// commit, tree, path and folder the key names plus owner, epoch, root, gzip level, compressor
// and layer-format versions. A shared cache (package builder/layercache) uses the same name,
// so an entry another graft release wrote (other format or compressor) never matches.
func KeyID(key string, opts ...Option) string { return newOptions(opts).keyID(key) }

// Lookup returns the layer New made before under key (see WithKey) with the same options,
// without reading the entries or hashing the blob: the blob is checked against the recorded
// size now and against its digest when it is first read (see Compressed), so a damaged or
// tampered entry fails before anything that references it is written. Nil when there is none.
func Lookup(key string, opts ...Option) *Layer {
	o := newOptions(opts)
	if o.cacheDir == "" || key == "" {
		return nil
	}
	data, err := os.ReadFile(o.keyPath(key))
	if err != nil {
		return nil
	}
	var r record
	if json.Unmarshal(data, &r) != nil {
		return nil
	}
	diffID, err1 := v1.NewHash(r.DiffID)
	digest, err2 := v1.NewHash(r.Digest)
	if err1 != nil || err2 != nil {
		return nil
	}
	file := o.cachePath(diffID)
	st, err := os.Lstat(file)
	if err != nil || !st.Mode().IsRegular() || st.Size() != r.Size {
		return nil
	}
	return &Layer{file: file, size: r.Size, digest: digest, diffID: diffID, mediaType: o.mediaType,
		check: &sync.Once{}, trusted: r.MTime != 0 && st.ModTime().UnixNano() == r.MTime}
}

// remember records l under o.key; failing to cache is not an error.
func (o *options) remember(l *Layer) {
	if o.cacheDir == "" || o.key == "" || l.file == "" {
		return
	}
	st, err := os.Lstat(l.file)
	if err != nil {
		return
	}
	data, _ := json.Marshal(record{DiffID: l.diffID.String(), Digest: l.digest.String(), Size: l.size,
		MTime: st.ModTime().UnixNano()})
	p := o.keyPath(o.key)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return
	}
	_ = atomicfile.Write(p, data, 0o644) // failing to cache is not an error
}

// open reads the blob; a Lookup layer's file is checked against its digest first (once).
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

// verify checks a Lookup layer's file against its digest, streaming (once per layer).
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

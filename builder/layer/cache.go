package layer

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/gzip"
)

// WithCacheDir keeps compressed layers in dir, named by diff ID, gzip level and compressor version, so that a
// rebuild of unchanged plugins (and of the launcher) hashes their tars but compresses nothing.
// Entries are checked against their name before use; a damaged one is made again. Anything in
// dir may be deleted at any time.
func WithCacheDir(dir string) Option { return func(o *options) { o.cacheDir = dir } }

// cachePath names the entry by everything the compressed bytes depend on: the tar, the level
// and the compressor's version (another version may compress differently, and a cache must
// never make two machines disagree on a digest).
func (o *options) cachePath(diffID v1.Hash) string {
	return filepath.Join(o.cacheDir, fmt.Sprintf("%s-gzip%d-%s", diffID.Hex, o.level, compressorVersion()))
}

// compressorVersion is the klauspost/compress module version linked into this binary.
func compressorVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/klauspost/compress" {
				if d.Replace != nil {
					d = d.Replace
				}
				return d.Version
			}
		}
	}
	return "unknown"
}

// cached returns the stored layer for diffID when it decompresses to exactly that tar.
func (o *options) cached(diffID v1.Hash) *Layer {
	if o.cacheDir == "" {
		return nil
	}
	data, err := os.ReadFile(o.cachePath(diffID))
	if err != nil {
		return nil
	}
	l := &Layer{compressed: data, size: int64(len(data)), mediaType: o.mediaType, diffID: diffID, digest: sha256Hash(data)}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil
	}
	got, _, err := v1.SHA256(zr)
	if err != nil || got != diffID {
		return nil
	}
	return l
}

// store writes l into the cache through a temporary file; failing to cache is not an error.
func (o *options) store(l *Layer) {
	if o.cacheDir == "" {
		return
	}
	if err := os.MkdirAll(o.cacheDir, 0o755); err != nil {
		return
	}
	f, err := os.CreateTemp(o.cacheDir, ".layer-*")
	if err != nil {
		return
	}
	_, werr := f.Write(l.compressed)
	cerr := f.Close()
	if werr != nil || cerr != nil || os.Rename(f.Name(), o.cachePath(l.diffID)) != nil {
		os.Remove(f.Name())
	}
}

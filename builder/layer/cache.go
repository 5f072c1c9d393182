package layer

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// WithCacheDir keeps compressed layers in dir, named by diff ID, gzip level and compressor
// version; Stored finds one again by its descriptor, so a rebuild of unchanged plugins (and of
// the launcher) reads and compresses nothing (package builder/buildcache records which layer
// a key gave). Entries are checked against their digest before use. Anything in dir may be
// deleted at any time.
func WithCacheDir(dir string) Option { return func(o *options) { o.cacheDir = dir } }

// cachePath names the entry by everything the compressed bytes depend on: the tar, the level
// and the compressor's version (another version may compress differently, and a cache must
// never make two machines disagree on a digest).
func (o *options) cachePath(diffID v1.Hash) string {
	return filepath.Join(o.cacheDir, fmt.Sprintf("%s-gzip%d-%s", diffID.Hex, o.level, compressorVersion()))
}

// compressorVersion names the compressor linked into this binary: klauspost/pgzip (which cuts
// the blocks) and klauspost/compress (which deflates them).
func compressorVersion() string {
	v := map[string]string{}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			v[d.Path] = d.Version
			if d.Replace != nil {
				v[d.Path] = d.Replace.Path + "@" + d.Replace.Version
			}
		}
	}
	return fmt.Sprintf("pgzip%s-%s", or(v["github.com/klauspost/pgzip"], "unknown"), or(v["github.com/klauspost/compress"], "unknown"))
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// spool receives a blob as it is compressed: in memory up to memLimit, then in a file in
// the cache folder (renamed to its cache name by finish) or, without a cache, in an unlinked
// temporary file that lives as long as the layer.
type spool struct {
	dir string // the cache folder, "" without one
	buf []byte
	f   *os.File
	err error
}

func newSpool(cacheDir string) *spool {
	if cacheDir != "" && os.MkdirAll(cacheDir, 0o755) != nil {
		cacheDir = "" // failing to cache is not an error
	}
	return &spool{dir: cacheDir}
}

func (s *spool) Write(p []byte) (int, error) {
	if s.f == nil && len(s.buf)+len(p) > memLimit {
		if err := s.spill(); err != nil {
			return 0, err
		}
	}
	if s.f == nil {
		s.buf = append(s.buf, p...)
		return len(p), nil
	}
	return s.f.Write(p)
}

// spill moves the blob so far to a file.
func (s *spool) spill() error {
	f, err := s.create()
	if err != nil {
		return fmt.Errorf("layer: %w", err)
	}
	s.f = f
	if _, err := f.Write(s.buf); err != nil {
		return fmt.Errorf("layer: %w", err)
	}
	s.buf = nil
	return nil
}

// create makes the spool file: in the cache folder, else a temporary file unlinked at once.
func (s *spool) create() (*os.File, error) {
	if s.dir != "" {
		if f, err := os.CreateTemp(s.dir, ".layer-*"); err == nil {
			return f, nil
		}
		s.dir = "" // failing to cache is not an error
	}
	f, err := os.CreateTemp("", "graft-layer-*")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name()) // the open file lives on; nothing is left behind after a crash
	return f, nil
}

// discard drops a failed layer's blob.
func (s *spool) discard() {
	if s.f != nil {
		s.f.Close()
		if s.dir != "" {
			os.Remove(s.f.Name())
		}
	}
}

// finish hands the blob to l: in memory when small, else the file. With a cache, the blob is
// renamed (small ones written) to its cache name; failing to cache is not an error.
func (s *spool) finish(l *Layer, o *options) error {
	if s.f == nil {
		l.compressed = s.buf
		if s.dir != "" {
			s.storeSmall(l, o)
		}
		return nil
	}
	if s.dir == "" {
		l.f = s.f
		return nil
	}
	name := s.f.Name()
	err := s.f.Chmod(0o644)
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	dest := o.cachePath(l.diffID)
	if err == nil {
		err = os.Rename(name, dest)
	}
	if err != nil {
		os.Remove(name)
		return fmt.Errorf("layer cache: %w", err)
	}
	l.file, l.trusted = dest, true
	return nil
}

// storeSmall writes a small blob into the cache through a temporary file.
func (s *spool) storeSmall(l *Layer, o *options) {
	f, err := os.CreateTemp(s.dir, ".layer-*")
	if err != nil {
		return
	}
	_, werr := f.Write(l.compressed)
	merr := f.Chmod(0o644)
	cerr := f.Close()
	dest := o.cachePath(l.diffID)
	if werr != nil || merr != nil || cerr != nil || os.Rename(f.Name(), dest) != nil {
		os.Remove(f.Name())
		return
	}
	// Served from the file from now on: a build of hundreds of plugins holds no blobs.
	l.file, l.trusted, l.compressed = dest, true, nil
}

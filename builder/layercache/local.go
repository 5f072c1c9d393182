package layercache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/graft-build/graft/internal/atomicfile"
)

// IndexFile is the index's name in a local cache folder; blobs go to blobs/sha256/, where
// BuildKit's local cache (sharing the folder) keeps its own.
const IndexFile = "graft-layers.json"

type localStore struct{ dir string }

// Local is a cache folder (type=local,src=DIR or dest=DIR).
func Local(dir string) Store { return &localStore{dir: dir} }

func (s *localStore) String() string { return s.dir }

func (s *localStore) blobPath(h v1.Hash) string {
	return filepath.Join(s.dir, "blobs", h.Algorithm, h.Hex)
}

func (s *localStore) Connect(context.Context, bool, []name.Repository) error { return nil }

// ReadIndex reads the index file; a folder is asked for each blob when it is wanted (Blob),
// which costs a stat.
func (s *localStore) ReadIndex(context.Context) (Read, error) {
	f, err := os.Open(filepath.Join(s.dir, IndexFile))
	if errors.Is(err, fs.ErrNotExist) {
		return Read{}, nil
	}
	if err != nil {
		return Read{}, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return Read{}, fmt.Errorf("%s is not a regular file", IndexFile)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxIndex+1))
	if err != nil {
		return Read{}, err
	}
	if len(data) > MaxIndex {
		return Read{}, fmt.Errorf("%s is over %d bytes", IndexFile, MaxIndex)
	}
	return Read{Index: data}, nil
}

// Blob finds the blob's file; one of another size (or not a regular file) is not the blob the
// index names, and is reported as gone.
func (s *localStore) Blob(_ context.Context, d v1.Hash, size int64, _ bool) (*Blob, error) {
	p := s.blobPath(d)
	st, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, nil
	}
	if st.Size() != size {
		return nil, fmt.Errorf("the folder holds %d bytes, the index says %d", st.Size(), size)
	}
	return &Blob{Open: func(context.Context) (io.ReadCloser, error) { return os.Open(p) }}, nil
}

// Write copies in the blobs the folder lacks, then replaces the index.
func (s *localStore) Write(_ context.Context, up Upload) error {
	if err := mkdirNoLinks(filepath.Join(s.dir, "blobs", "sha256")); err != nil {
		return err
	}
	for _, l := range up.Blobs {
		if err := s.writeBlob(l); err != nil {
			return err
		}
	}
	return atomicfile.Write(filepath.Join(s.dir, IndexFile), up.Index, 0o644)
}

// writeBlob copies l's blob in through a temporary file, unless a blob of its size is there.
func (s *localStore) writeBlob(l v1.Layer) error {
	d, err := l.Digest()
	if err != nil {
		return err
	}
	size, err := l.Size()
	if err != nil {
		return err
	}
	p := s.blobPath(d)
	if st, err := os.Lstat(p); err == nil && st.Mode().IsRegular() && st.Size() == size {
		return nil
	}
	rc, err := l.Compressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	f, err := os.CreateTemp(filepath.Dir(p), ".blob-*")
	if err != nil {
		return err
	}
	_, err = io.Copy(f, rc)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("blob %s: %w", d, err)
	}
	return nil
}

// mkdirNoLinks makes dir and refuses to write through a symlink in blobs/sha256
// of the cache folder, which would put blobs somewhere the user never named.
func mkdirNoLinks(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for d, i := dir, 0; i < 2; d, i = filepath.Dir(d), i+1 {
		st, err := os.Lstat(d)
		if err != nil {
			return err
		}
		if !st.IsDir() {
			return fmt.Errorf("%s is not a folder (a symlink?): give a real folder", d)
		}
	}
	return nil
}

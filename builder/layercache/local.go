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

func (s *localStore) read(context.Context) ([]byte, error) {
	f, err := os.Open(filepath.Join(s.dir, IndexFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", IndexFile)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxIndex+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxIndex {
		return nil, fmt.Errorf("%s is over %d bytes", IndexFile, maxIndex)
	}
	return data, nil
}

func (s *localStore) open(_ context.Context, d layerDesc) (v1.Layer, error) {
	p := s.blobPath(d.digest)
	st, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() || st.Size() != d.size {
		return nil, nil // not the blob the index names: make the layer again
	}
	return &blobLayer{d: d, open: func() (io.ReadCloser, error) { return os.Open(p) }}, nil
}

func (s *localStore) write(_ context.Context, index []byte, layers []v1.Layer, _ []name.Repository) error {
	if err := mkdirNoLinks(filepath.Join(s.dir, "blobs", "sha256")); err != nil {
		return err
	}
	for _, l := range layers {
		if err := s.writeBlob(l); err != nil {
			return err
		}
	}
	return atomicfile.Write(filepath.Join(s.dir, IndexFile), index, 0o644)
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

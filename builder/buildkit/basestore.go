package buildkit

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/containerd/containerd/v2/core/content"
	cerrdefs "github.com/containerd/errdefs"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// imageStore is a read-only content store holding one image as graft read it: its manifest,
// config and layers. BuildKit reads the base through the session from it (llb.OCILayout), so
// the daemon never contacts the base's registry: a registry on graft's loopback, a private
// one, a docker archive or an OCI layout all reach a daemon in a container or on another
// machine the same way, with graft's credentials staying with graft.
//
// A layer is streamed from where graft reads it (the registry, the layout) only when BuildKit
// asks for it, which it does only for layers its own content store lacks; memory stays flat.
type imageStore struct {
	blobs map[digest.Digest]*blob
}

// blob is one blob of the image; reads share one sequential stream (BuildKit's session reads
// a blob in order, one chunk per request, each request opening it again).
type blob struct {
	size int64
	open func() (io.ReadCloser, error)

	mu  sync.Mutex
	rc  io.ReadCloser
	pos int64
}

func newImageStore(img v1.Image) (*imageStore, error) {
	s := &imageStore{blobs: map[digest.Digest]*blob{}}
	raw, err := img.RawManifest()
	if err != nil {
		return nil, fmt.Errorf("base manifest: %w", err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("base manifest: %w", err)
	}
	s.addBytes(raw)
	cfg, err := img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("base config: %w", err)
	}
	if got := s.addBytes(cfg); got.String() != m.Config.Digest.String() {
		return nil, fmt.Errorf("base config: %s read, the manifest names %s", got, m.Config.Digest)
	}
	for _, d := range m.Layers {
		l, err := img.LayerByDigest(d.Digest)
		if err != nil {
			return nil, fmt.Errorf("base layer %s: %w", d.Digest, err)
		}
		s.blobs[digest.Digest(d.Digest.String())] = &blob{size: d.Size, open: l.Compressed}
	}
	return s, nil
}

func (s *imageStore) addBytes(b []byte) digest.Digest {
	d := digest.FromBytes(b)
	s.blobs[d] = &blob{size: int64(len(b)), open: func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}}
	return d
}

func (s *imageStore) get(d digest.Digest) (*blob, error) {
	b, ok := s.blobs[d]
	if !ok {
		return nil, fmt.Errorf("base blob %s: %w", d, cerrdefs.ErrNotFound)
	}
	return b, nil
}

// Info implements content.Manager.
func (s *imageStore) Info(_ context.Context, d digest.Digest) (content.Info, error) {
	b, err := s.get(d)
	if err != nil {
		return content.Info{}, err
	}
	return content.Info{Digest: d, Size: b.size}, nil
}

// ReaderAt implements content.Provider.
func (s *imageStore) ReaderAt(_ context.Context, desc ocispecs.Descriptor) (content.ReaderAt, error) {
	b, err := s.get(desc.Digest)
	if err != nil {
		return nil, err
	}
	return readerAt{b}, nil
}

// Walk implements content.Manager.
func (s *imageStore) Walk(_ context.Context, fn content.WalkFunc, _ ...string) error {
	for d, b := range s.blobs {
		if err := fn(content.Info{Digest: d, Size: b.size}); err != nil {
			return err
		}
	}
	return nil
}

// Close ends the streams still open.
func (s *imageStore) Close() error {
	for _, b := range s.blobs {
		b.mu.Lock()
		if b.rc != nil {
			b.rc.Close()
			b.rc = nil
		}
		b.mu.Unlock()
	}
	return nil
}

// The store is read-only: BuildKit only reads a base through it.
func (s *imageStore) Update(context.Context, content.Info, ...string) (content.Info, error) {
	return content.Info{}, cerrdefs.ErrNotImplemented
}
func (s *imageStore) Delete(context.Context, digest.Digest) error { return cerrdefs.ErrNotImplemented }
func (s *imageStore) Status(context.Context, string) (content.Status, error) {
	return content.Status{}, cerrdefs.ErrNotFound
}
func (s *imageStore) ListStatuses(context.Context, ...string) ([]content.Status, error) {
	return nil, nil
}
func (s *imageStore) Abort(context.Context, string) error { return cerrdefs.ErrNotFound }
func (s *imageStore) Writer(context.Context, ...content.WriterOpt) (content.Writer, error) {
	return nil, cerrdefs.ErrNotImplemented
}

type readerAt struct{ b *blob }

func (r readerAt) Size() int64  { return r.b.size }
func (r readerAt) Close() error { return nil } // the stream stays open for the next chunk

// ReadAt continues the blob's stream when off is where it stopped, skips forward when off is
// further, and opens the blob again when off is behind.
func (r readerAt) ReadAt(p []byte, off int64) (int, error) {
	b := r.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if off >= b.size {
		return 0, io.EOF
	}
	if b.rc == nil || off < b.pos {
		if b.rc != nil {
			b.rc.Close()
		}
		rc, err := b.open()
		if err != nil {
			b.rc = nil
			return 0, err
		}
		b.rc, b.pos = rc, 0
	}
	if off > b.pos {
		n, err := io.CopyN(io.Discard, b.rc, off-b.pos)
		b.pos += n
		if err != nil {
			return 0, err
		}
	}
	want := len(p)
	if rest := b.size - off; int64(want) > rest {
		p = p[:rest]
	}
	n, err := io.ReadFull(b.rc, p)
	b.pos += int64(n)
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		err = fmt.Errorf("base blob ends after %d of %d bytes", b.pos, b.size)
	}
	if err == nil && b.pos == b.size {
		err = b.finish()
		if err == nil && n < want {
			err = io.EOF
		}
	}
	return n, err
}

// finish reads the stream's end (where a reader that checks a digest, as a registry layer's
// does, reports a mismatch) and closes it; a blob is opened again only if asked again.
func (b *blob) finish() error {
	var one [1]byte
	k, err := b.rc.Read(one[:])
	cerr := b.rc.Close()
	b.rc = nil
	switch {
	case k > 0:
		return fmt.Errorf("base blob is longer than its %d bytes", b.size)
	case err != nil && err != io.EOF:
		return err
	}
	return cerr
}

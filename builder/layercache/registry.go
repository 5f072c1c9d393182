package layercache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
	"golang.org/x/sync/errgroup"
)

// Media types of the cache artifact in a registry: an OCI image manifest whose config is the
// index, gzip-compressed (listings of thousands of files shrink about tenfold, and the index
// is the one blob every export uploads again), and whose layers are the blobs it names (so
// the registry keeps them while the artifact is tagged).
const (
	ArtifactType    = "application/vnd.graft.layer-cache.v1"
	ConfigMediaType = "application/vnd.graft.layer-cache.index.v1+json+gzip"
)

// uploadJobs bounds the blobs written at once: each is a few round trips, independent of the
// others.
const uploadJobs = 8

type registryStore struct {
	ref  name.Reference
	opts []remote.Option

	pull, push connection
}

// connection is one authenticated transport to the repository: the registry's ping and token
// exchange happen once, not once per operation.
type connection struct {
	once sync.Once
	rt   http.RoundTripper
	err  error
}

// Registry is a cache at ref (type=registry,ref=REF): the artifact is tagged REF itself,
// beside BuildKit's step caches at REF-<plugin>-<os>-<arch>. Credentials come from the Docker
// config and its helpers.
func Registry(ref name.Reference, opts ...remote.Option) Store {
	return &registryStore{ref: ref, opts: opts}
}

func (s *registryStore) String() string { return s.ref.String() }

func (s *registryStore) Connect(ctx context.Context, write bool) error {
	_, err := s.transport(ctx, write)
	return err
}

// transport is the repository's authenticated transport, for reading or for writing too.
func (s *registryStore) transport(ctx context.Context, write bool) (http.RoundTripper, error) {
	c, scope := &s.pull, transport.PullScope
	if write {
		c, scope = &s.push, transport.PushScope
	}
	c.once.Do(func() {
		repo := s.ref.Context()
		auth, err := authn.DefaultKeychain.Resolve(repo)
		if err != nil {
			c.err = err
			return
		}
		c.rt, c.err = transport.NewWithContext(ctx, repo.Registry, auth, remote.DefaultTransport, []string{repo.Scope(scope)})
	})
	return c.rt, c.err
}

func (s *registryStore) ropts(ctx context.Context, rt http.RoundTripper) []remote.Option {
	return append(append([]remote.Option{remote.WithContext(ctx)}, s.opts...), remote.WithTransport(rt))
}

// ReadIndex fetches the cache's manifest and its config (the index): two requests after the
// handshake. The manifest's layers are what the registry holds for it.
func (s *registryStore) ReadIndex(ctx context.Context) (Read, error) {
	out := Read{Repository: s.ref.Context().String()}
	rt, err := s.transport(ctx, false)
	if err != nil {
		return out, err
	}
	desc, err := remote.Get(s.ref, s.ropts(ctx, rt)...)
	if isNotFound(err) {
		return out, nil
	}
	if err != nil {
		return out, err
	}
	img, err := desc.Image()
	if err != nil {
		return out, err
	}
	m, err := img.Manifest()
	if err != nil {
		return out, err
	}
	if m.Config.MediaType != ConfigMediaType {
		return out, fmt.Errorf("not a graft layer cache (config media type %q)", m.Config.MediaType)
	}
	if m.Config.Size > MaxIndex {
		return out, fmt.Errorf("index of %d bytes is over %d", m.Config.Size, MaxIndex)
	}
	raw, err := img.RawConfigFile() // ggcr checks it against the manifest's digest
	if err != nil {
		return out, err
	}
	if out.Index, err = gunzip(raw); err != nil {
		return out, err
	}
	out.Held = map[v1.Hash]int64{}
	for _, l := range m.Layers {
		out.Held[l.Digest] = l.Size
	}
	return out, nil
}

// gunzip decompresses an index, bounded by MaxIndex.
func gunzip(raw []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(zr, MaxIndex+1))
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	if len(data) > MaxIndex {
		return nil, fmt.Errorf("index is over %d bytes uncompressed", MaxIndex)
	}
	return data, nil
}

// gzipIndex compresses an index (deterministically: no name, no time).
func gzipIndex(index []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(index); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Blob asks the registry for a blob the manifest does not name (HEAD); one the manifest names
// is there while it is tagged. The blob is read only when Open is called, and is mountable from
// this repository into another of the same registry.
func (s *registryStore) Blob(ctx context.Context, d v1.Hash, size int64, held bool) (*Blob, error) {
	rt, err := s.transport(ctx, false)
	if err != nil {
		return nil, err
	}
	if !held {
		ok, err := s.exists(ctx, rt, d, size)
		if err != nil || !ok {
			return nil, err
		}
	}
	ref := s.ref.Context().Digest(d.String())
	open := func(ctx context.Context) (io.ReadCloser, error) {
		l, err := remote.Layer(ref, s.ropts(ctx, rt)...)
		if err != nil {
			return nil, err
		}
		return l.Compressed()
	}
	return &Blob{Open: open, Mount: &ref}, nil
}

// exists asks for the blob (HEAD); one whose size is not the index's is refused, as the
// image's manifest would carry the wrong size.
func (s *registryStore) exists(ctx context.Context, rt http.RoundTripper, h v1.Hash, size int64) (bool, error) {
	repo := s.ref.Context()
	url := fmt.Sprintf("%s://%s/v2/%s/blobs/%s", repo.Scheme(), repo.RegistryStr(), repo.RepositoryStr(), h)
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, url, nil)
	if err != nil {
		return false, err
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		if resp.ContentLength >= 0 && resp.ContentLength != size {
			return false, fmt.Errorf("the registry holds %d bytes, the index says %d", resp.ContentLength, size)
		}
		return true, nil
	case http.StatusNotFound:
		return false, nil
	}
	return false, fmt.Errorf("HEAD %s: %s", url, resp.Status)
}

func isNotFound(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && te.StatusCode == http.StatusNotFound
}

// Write pushes the artifact: the blobs and the index at once (blobs the repository is known to
// hold skipped without asking, those the build pushed to another repository of this registry
// or took from another cache mounted), then the manifest. With the handshake made ahead
// (Connect), that is three or four round trips one after another, whatever the blob count.
func (s *registryStore) Write(ctx context.Context, up Upload) error {
	tag, ok := s.ref.(name.Tag)
	if !ok {
		return fmt.Errorf("give a tag, not a digest, to write to")
	}
	rt, err := s.transport(ctx, true)
	if err != nil {
		return err
	}
	p, err := remote.NewPusher(s.ropts(ctx, rt)...)
	if err != nil {
		return err
	}
	z, err := gzipIndex(up.Index)
	if err != nil {
		return err
	}
	img, err := newArtifact(z, up.Blobs)
	if err != nil {
		return err
	}
	repo := tag.Context()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(uploadJobs)
	g.Go(func() error { return p.Upload(gctx, repo, static.NewLayer(z, ConfigMediaType)) })
	held, src := up.Held[repo.String()], mountSource(repo, up.MountFrom)
	for _, l := range up.Blobs {
		d, err := l.Digest()
		if err != nil {
			return err
		}
		if held[d] {
			continue
		}
		if _, mountable := l.(*remote.MountableLayer); !mountable && src != nil {
			l = &remote.MountableLayer{Layer: l, Reference: src.Digest(d.String())}
		}
		g.Go(func() error { return p.Upload(gctx, repo, l) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return p.Put(ctx, tag, img)
}

// mountSource is the first repository of repo's registry, other than repo, that the build
// pushed to.
func mountSource(repo name.Repository, pushed []name.Repository) *name.Repository {
	for _, r := range pushed {
		if r.RegistryStr() == repo.RegistryStr() && r.String() != repo.String() {
			return &r
		}
	}
	return nil
}

// artifact is the cache as an OCI image manifest with the index as its config.
type artifact struct {
	manifest *v1.Manifest
	raw      []byte
}

func newArtifact(index []byte, layers []v1.Layer) (*artifact, error) {
	m := &v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  ArtifactType,
		Config:        v1.Descriptor{MediaType: ConfigMediaType, Size: int64(len(index)), Digest: digestOf(index)},
		Annotations:   map[string]string{"org.opencontainers.image.title": "graft layer cache"},
	}
	for _, l := range layers {
		d, err := partial.Descriptor(l)
		if err != nil {
			return nil, err
		}
		m.Layers = append(m.Layers, *d)
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return &artifact{manifest: m, raw: raw}, nil
}

func (a *artifact) RawManifest() ([]byte, error)        { return a.raw, nil }
func (a *artifact) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

func digestOf(b []byte) v1.Hash {
	sum := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
}

// RegistryOf is the registry a registry store is on; false for a folder.
func RegistryOf(s Store) (name.Registry, bool) {
	r, ok := s.(*registryStore)
	if !ok {
		return name.Registry{}, false
	}
	return r.ref.Context().Registry, true
}

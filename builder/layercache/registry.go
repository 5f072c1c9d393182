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
	"net/url"
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

	mu    sync.Mutex
	early chan indexRead // a read Prefetch started, for the next ReadIndex
}

type indexRead struct {
	read Read
	err  error
}

// Prefetch starts reading a registry store's index now, so that it comes while the build does
// something else (resolving its base); the next ReadIndex takes that answer. A folder's index
// is read when asked.
func Prefetch(ctx context.Context, s Store) {
	r, ok := s.(*registryStore)
	if !ok {
		return
	}
	ch := make(chan indexRead, 1)
	r.mu.Lock()
	r.early = ch
	r.mu.Unlock()
	go func() {
		read, err := r.readIndex(ctx)
		ch <- indexRead{read, err}
	}()
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

func (s *registryStore) Connect(ctx context.Context, write bool, mountFrom []name.Repository) error {
	_, err := s.transport(ctx, write, mountFrom)
	return err
}

// transport is the repository's authenticated transport, for reading or for writing too (and
// pulling from the repositories of this registry in mountFrom, to mount their blobs). The
// first call makes it.
func (s *registryStore) transport(ctx context.Context, write bool, mountFrom []name.Repository) (http.RoundTripper, error) {
	repo := s.ref.Context()
	c, scopes := &s.pull, []string{repo.Scope(transport.PullScope)}
	if write {
		c, scopes = &s.push, []string{repo.Scope(transport.PushScope)} // first: some registries read only the first
		for _, r := range mountFrom {
			if r.RegistryStr() == repo.RegistryStr() && r.String() != repo.String() {
				scopes = append(scopes, r.Scope(transport.PullScope))
			}
		}
	}
	c.once.Do(func() {
		auth, err := authn.DefaultKeychain.Resolve(repo)
		if err != nil {
			c.err = err
			return
		}
		c.rt, c.err = transport.NewWithContext(ctx, repo.Registry, auth, remote.DefaultTransport, scopes)
	})
	return c.rt, c.err
}

func (s *registryStore) ropts(ctx context.Context, rt http.RoundTripper) []remote.Option {
	return append(append([]remote.Option{remote.WithContext(ctx)}, s.opts...), remote.WithTransport(rt))
}

// ReadIndex fetches the cache's manifest and its config (the index): two requests after the
// handshake. The manifest's layers are what the registry holds for it. A read Prefetch
// started is taken instead of asking again.
func (s *registryStore) ReadIndex(ctx context.Context) (Read, error) {
	s.mu.Lock()
	early := s.early
	s.early = nil
	s.mu.Unlock()
	if early == nil {
		return s.readIndex(ctx)
	}
	select {
	case r := <-early:
		return r.read, r.err
	case <-ctx.Done():
		return Read{Repository: s.ref.Context().String()}, ctx.Err()
	}
}

func (s *registryStore) readIndex(ctx context.Context) (Read, error) {
	out := Read{Repository: s.ref.Context().String()}
	rt, err := s.transport(ctx, false, nil)
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
	rt, err := s.transport(ctx, false, nil)
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

// Write pushes the artifact: the blobs and the index at once, then the manifest. Blobs the
// repository is known to hold are skipped without asking; those the build pushed to another
// repository of this registry, or took from another cache there, are mounted with one request
// each, without asking first (a registry that refuses the mount gets the bytes in the upload
// it opened instead); the index is sent in one upload without asking (it changes with every
// build); other blobs are asked for first and sent only when missing. With the handshake made
// ahead (Connect), that is three round trips one after another, whatever the blob count.
func (s *registryStore) Write(ctx context.Context, up Upload) error {
	tag, ok := s.ref.(name.Tag)
	if !ok {
		return fmt.Errorf("give a tag, not a digest, to write to")
	}
	rt, err := s.transport(ctx, true, up.MountFrom)
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
	g.Go(func() error { return s.send(gctx, rt, static.NewLayer(z, ConfigMediaType), nil) })
	held, src := up.Held[repo.String()], mountSource(repo, up.MountFrom)
	for _, l := range up.Blobs {
		d, err := l.Digest()
		if err != nil {
			return err
		}
		if held[d] {
			continue
		}
		var from *name.Repository
		if ml, ok := l.(*remote.MountableLayer); ok {
			if r := ml.Reference.Context(); r.RegistryStr() == repo.RegistryStr() && r.String() != repo.String() {
				from = &r
			}
		} else if src != nil {
			from = src
		}
		if from == nil {
			g.Go(func() error { return p.Upload(gctx, repo, l) })
			continue
		}
		g.Go(func() error { return s.send(gctx, rt, l, from) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return p.Put(ctx, tag, img)
}

// send puts blob l in the repository without asking for it first: a mount from the repository
// from (one request) when given, else, or when the registry refuses the mount, the bytes in
// one PUT to the upload the POST opened.
func (s *registryStore) send(ctx context.Context, rt http.RoundTripper, l v1.Layer, from *name.Repository) error {
	repo := s.ref.Context()
	d, err := l.Digest()
	if err != nil {
		return err
	}
	size, err := l.Size()
	if err != nil {
		return err
	}
	u := &url.URL{Scheme: repo.Scheme(), Host: repo.RegistryStr(), Path: "/v2/" + repo.RepositoryStr() + "/blobs/uploads/"}
	if from != nil {
		u.RawQuery = url.Values{"mount": {d.String()}, "from": {from.RepositoryStr()}}.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), nil)
	if err != nil {
		return err
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if err := transport.CheckError(resp, http.StatusCreated, http.StatusAccepted); err != nil {
		return err
	}
	if resp.StatusCode == http.StatusCreated {
		return nil // mounted
	}
	loc, err := resp.Location()
	if err != nil {
		return fmt.Errorf("blob upload of %s: %w", d, err)
	}
	q := loc.Query()
	q.Set("digest", d.String())
	loc.RawQuery = q.Encode()
	body, err := l.Compressed()
	if err != nil {
		return err
	}
	defer body.Close()
	req, err = http.NewRequestWithContext(ctx, http.MethodPut, loc.String(), body)
	if err != nil {
		return err
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err = rt.RoundTrip(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return transport.CheckError(resp, http.StatusCreated)
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

// RepositoryOf is the repository a registry store is; false for a folder.
func RepositoryOf(s Store) (name.Repository, bool) {
	r, ok := s.(*registryStore)
	if !ok {
		return name.Repository{}, false
	}
	return r.ref.Context(), true
}

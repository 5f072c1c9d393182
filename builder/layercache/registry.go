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
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
)

// Media types of the cache artifact in a registry: an OCI image manifest whose config is the
// index, gzip-compressed (listings of thousands of files shrink about tenfold, and the index
// is the one blob every export uploads again), and whose layers are the blobs it names (so
// the registry keeps them while the artifact is tagged).
const (
	ArtifactType    = "application/vnd.graft.layer-cache.v1"
	ConfigMediaType = "application/vnd.graft.layer-cache.index.v1+json+gzip"
)

type registryStore struct {
	ref  name.Reference
	opts []remote.Option

	once sync.Once
	rt   http.RoundTripper
	err  error
}

// Registry is a cache at ref (type=registry,ref=REF): the artifact is tagged REF itself,
// beside BuildKit's step caches at REF-<plugin>-<os>-<arch>. Credentials come from the Docker
// config and its helpers.
func Registry(ref name.Reference, opts ...remote.Option) Store {
	return &registryStore{ref: ref, opts: append([]remote.Option{remote.WithAuthFromKeychain(authn.DefaultKeychain)}, opts...)}
}

func (s *registryStore) String() string { return s.ref.String() }

func (s *registryStore) ropts(ctx context.Context) []remote.Option {
	return append([]remote.Option{remote.WithContext(ctx)}, s.opts...)
}

func (s *registryStore) read(ctx context.Context) ([]byte, error) {
	desc, err := remote.Get(s.ref, s.ropts(ctx)...)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	img, err := desc.Image()
	if err != nil {
		return nil, err
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	if m.Config.MediaType != ConfigMediaType {
		return nil, fmt.Errorf("not a graft layer cache (config media type %q)", m.Config.MediaType)
	}
	if m.Config.Size > maxIndex {
		return nil, fmt.Errorf("index of %d bytes is over %d", m.Config.Size, maxIndex)
	}
	raw, err := img.RawConfigFile() // ggcr checks it against the manifest's digest
	if err != nil {
		return nil, err
	}
	return gunzip(raw)
}

// gunzip decompresses an index, bounded by maxIndex.
func gunzip(raw []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(zr, maxIndex+1))
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	if len(data) > maxIndex {
		return nil, fmt.Errorf("index is over %d bytes uncompressed", maxIndex)
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

// open asks the registry whether it still holds the blob (HEAD); the layer is mountable from
// this repository into another of the same registry.
func (s *registryStore) open(ctx context.Context, d layerDesc) (v1.Layer, error) {
	ok, err := s.exists(ctx, d.digest, d.size)
	if err != nil || !ok {
		return nil, err
	}
	ref := s.ref.Context().Digest(d.digest.String())
	opts := s.opts
	bl := &blobLayer{d: d, open: func() (io.ReadCloser, error) {
		l, err := remote.Layer(ref, opts...)
		if err != nil {
			return nil, err
		}
		return l.Compressed()
	}}
	return &remote.MountableLayer{Layer: bl, Reference: ref}, nil
}

// exists asks for the blob (HEAD); one whose size is not the index's is refused, as the
// image's manifest would carry the wrong size.
func (s *registryStore) exists(ctx context.Context, h v1.Hash, size int64) (bool, error) {
	s.once.Do(func() {
		repo := s.ref.Context()
		auth, err := authn.DefaultKeychain.Resolve(repo)
		if err != nil {
			s.err = err
			return
		}
		s.rt, s.err = transport.NewWithContext(ctx, repo.Registry, auth, remote.DefaultTransport, []string{repo.Scope(transport.PullScope)})
	})
	if s.err != nil {
		return false, s.err
	}
	repo := s.ref.Context()
	url := fmt.Sprintf("%s://%s/v2/%s/blobs/%s", repo.Scheme(), repo.RegistryStr(), repo.RepositoryStr(), h)
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, url, nil)
	if err != nil {
		return false, err
	}
	resp, err := s.rt.RoundTrip(req)
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

// write pushes the artifact: blobs the repository holds are skipped, those the build pushed
// to another repository of this registry (mountFrom) or took from another cache are mounted.
func (s *registryStore) write(ctx context.Context, index []byte, layers []v1.Layer, mountFrom []name.Repository) error {
	tag, ok := s.ref.(name.Tag)
	if !ok {
		return fmt.Errorf("give a tag, not a digest, to write to")
	}
	var src *name.Repository
	for _, r := range mountFrom {
		if r.RegistryStr() == tag.RegistryStr() && r.String() != tag.Context().String() {
			src = &r
			break
		}
	}
	out := make([]v1.Layer, len(layers))
	for i, l := range layers {
		out[i] = l
		if _, mountable := l.(*remote.MountableLayer); !mountable && src != nil {
			d, err := l.Digest()
			if err != nil {
				return err
			}
			out[i] = &remote.MountableLayer{Layer: l, Reference: src.Digest(d.String())}
		}
	}
	z, err := gzipIndex(index)
	if err != nil {
		return err
	}
	img, err := newArtifact(z, out)
	if err != nil {
		return err
	}
	return remote.Write(tag, img, s.ropts(ctx)...)
}

// artifact is the cache as an OCI image manifest with the index as its config. It is a whole
// v1.Image of its own (not partial.CompressedToImage, which wraps layers) so that remote.Write
// sees the remote.MountableLayer values and mounts them.
type artifact struct {
	config   []byte
	manifest *v1.Manifest
	raw      []byte
	layers   []v1.Layer
}

func newArtifact(index []byte, layers []v1.Layer) (v1.Image, error) {
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
	return &artifact{config: index, manifest: m, raw: raw, layers: layers}, nil
}

func (a *artifact) Layers() ([]v1.Layer, error)         { return a.layers, nil }
func (a *artifact) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (a *artifact) Size() (int64, error)                { return int64(len(a.raw)), nil }
func (a *artifact) ConfigName() (v1.Hash, error)        { return a.manifest.Config.Digest, nil }
func (a *artifact) RawConfigFile() ([]byte, error)      { return a.config, nil }
func (a *artifact) Digest() (v1.Hash, error)            { return digestOf(a.raw), nil }
func (a *artifact) Manifest() (*v1.Manifest, error)     { return a.manifest, nil }
func (a *artifact) RawManifest() ([]byte, error)        { return a.raw, nil }
func (a *artifact) LayerByDiffID(h v1.Hash) (v1.Layer, error) {
	return nil, fmt.Errorf("no layer %s", h)
}

// ConfigFile: the config is graft's index, not an image configuration.
func (a *artifact) ConfigFile() (*v1.ConfigFile, error) { return &v1.ConfigFile{}, nil }

func (a *artifact) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	if h == a.manifest.Config.Digest {
		return partial.ConfigLayer(a)
	}
	for _, l := range a.layers {
		if d, err := l.Digest(); err == nil && d == h {
			return l, nil
		}
	}
	return nil, fmt.Errorf("no blob %s in the cache artifact", h)
}

func digestOf(b []byte) v1.Hash {
	sum := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
}

package imageref

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/daemon"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/graft-build/graft/internal/usererr"
)

// Resolved is what a reference points at: an index or a single image, and its digest.
type Resolved struct {
	Digest    v1.Hash
	MediaType types.MediaType
	Index     v1.ImageIndex // nil unless the reference is an index
	Image     v1.Image      // nil unless the reference is a single image
	// Layout is the index.json of the layout (folder or OCI tar) the image was found in, where
	// its attachments are; nil elsewhere.
	Layout v1.ImageIndex
}

// Option configures Resolve.
type Option func(*options)

type options struct {
	remote []remote.Option
	daemon []daemon.Option
}

// WithRemoteOptions replaces the registry options (default: the Docker keychain).
func WithRemoteOptions(opts ...remote.Option) Option {
	return func(o *options) { o.remote = opts }
}

// WithDaemonOptions adds Docker Engine options (tests pass a client).
func WithDaemonOptions(opts ...daemon.Option) Option {
	return func(o *options) { o.daemon = append(o.daemon, opts...) }
}

// Resolve finds the image or index r names. An error wrapping ErrNotFound means it is not
// there; other errors are failures to read it.
func (r Ref) Resolve(ctx context.Context, opts ...Option) (*Resolved, error) {
	o := &options{remote: []remote.Option{remote.WithAuthFromKeychain(authn.DefaultKeychain)}}
	for _, opt := range opts {
		opt(o)
	}
	var res *Resolved
	var err error
	switch r.Kind {
	case Layout, OCIArchive:
		res, err = r.resolveLayout()
	case DockerArchive:
		res, err = r.resolveDockerTar()
	case Daemon:
		res, err = r.resolveDaemon(ctx, o.daemon)
	default:
		res, err = r.resolveRemote(ctx, o.remote)
	}
	if err != nil {
		switch {
		case errors.Is(err, ErrNotFound):
			return nil, notFound(r.String(), err.Error())
		case usererr.Is(err):
			return nil, bad(r.String(), "%v", err)
		}
		return nil, fmt.Errorf("image %s: %w", r.String(), err)
	}
	return res, nil
}

func (r Ref) resolveRemote(ctx context.Context, ropts []remote.Option) (*Resolved, error) {
	ropts = append([]remote.Option{remote.WithContext(ctx)}, ropts...)
	desc, err := remote.Get(r.Name, ropts...)
	if err != nil {
		if remoteNotFound(err) {
			return nil, missing("%v", err)
		}
		return nil, err
	}
	if !desc.MediaType.IsIndex() {
		img, err := desc.Image()
		return &Resolved{Digest: desc.Digest, MediaType: desc.MediaType, Image: img}, err
	}
	idx, err := desc.ImageIndex()
	if err != nil {
		return nil, err
	}
	// `crane push DIR REF` of graft's layout pushes the wrapper index: REF stands for the image.
	e, err := unwrap(entry{parent: singleIndex{idx: idx, desc: desc.Descriptor}, desc: desc.Descriptor})
	if err != nil {
		return nil, err
	}
	return fromEntry(e, nil)
}

// singleIndex lists one index so that unwrap can read it through its parent.
type singleIndex struct {
	idx  v1.ImageIndex
	desc v1.Descriptor
}

func (s singleIndex) MediaType() (types.MediaType, error) { return types.OCIImageIndex, nil }
func (s singleIndex) Digest() (v1.Hash, error)            { return s.desc.Digest, nil }
func (s singleIndex) Size() (int64, error)                { return s.desc.Size, nil }
func (s singleIndex) RawManifest() ([]byte, error)        { return nil, errors.New("no manifest") }
func (s singleIndex) IndexManifest() (*v1.IndexManifest, error) {
	return &v1.IndexManifest{SchemaVersion: 2, Manifests: []v1.Descriptor{s.desc}}, nil
}
func (s singleIndex) Image(h v1.Hash) (v1.Image, error) { return nil, fmt.Errorf("%s is an index", h) }
func (s singleIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	if h == s.desc.Digest {
		return s.idx, nil
	}
	return nil, fmt.Errorf("index %s not listed", h)
}

// remoteNotFound reports whether a registry answered that it has no such repository, tag or
// digest (as opposed to being unreachable or refusing access).
func remoteNotFound(err error) bool {
	var te *transport.Error
	if !errors.As(err, &te) {
		return false
	}
	for _, d := range te.Errors {
		if d.Code == transport.ManifestUnknownErrorCode || d.Code == transport.NameUnknownErrorCode {
			return true
		}
	}
	return te.StatusCode == http.StatusNotFound
}

// openLayout opens the OCI layout r is in (a folder, or an OCI tar read where it is) and its
// top-level index (index.json); the layout.Path is "" for a tar.
func (r Ref) openLayout() (layout.Path, v1.ImageIndex, error) {
	if r.Kind == OCIArchive {
		top, err := tarLayout(r.Path)
		return "", top, err
	}
	if _, err := os.Stat(filepath.Join(r.Dir, "index.json")); err != nil {
		if _, derr := os.Stat(r.Dir); derr != nil {
			return "", nil, missing("no such folder")
		}
		return "", nil, missing("%s is not an OCI layout (index.json missing)", r.Dir)
	}
	p, err := layout.FromPath(r.Dir)
	if err != nil {
		return "", nil, err
	}
	top, err := p.ImageIndex()
	return p, top, err
}

func (r Ref) resolveLayout() (*Resolved, error) {
	_, top, err := r.openLayout()
	if err != nil {
		return nil, err
	}
	return resolveIn(top, r.Tag, r.Digest)
}

func resolveIn(top v1.ImageIndex, tag, digest string) (*Resolved, error) {
	e, err := pickInLayout(top, tag, digest)
	if err != nil {
		return nil, err
	}
	return fromEntry(e, top)
}

func fromEntry(e entry, top v1.ImageIndex) (*Resolved, error) {
	res := &Resolved{Digest: e.desc.Digest, MediaType: e.desc.MediaType, Layout: top}
	var err error
	switch {
	case e.desc.MediaType.IsIndex():
		res.Index, err = e.parent.ImageIndex(e.desc.Digest)
	case e.desc.MediaType.IsImage():
		res.Image, err = e.parent.Image(e.desc.Digest)
	default:
		err = fmt.Errorf("%s is a %s, not an image or index", e.desc.Digest, e.desc.MediaType)
	}
	return res, err
}

func (r Ref) resolveDockerTar() (*Resolved, error) {
	var tag *name.Tag
	if r.Tag != "" {
		t, err := name.NewTag(r.Tag)
		if err != nil {
			return nil, err
		}
		tag = &t
	}
	img, err := tarball.ImageFromPath(r.Path, tag)
	if err != nil {
		return nil, err
	}
	d, err := img.Digest()
	if err != nil {
		return nil, err
	}
	mt, err := img.MediaType()
	if err != nil {
		return nil, err
	}
	return &Resolved{Digest: d, MediaType: mt, Image: img}, nil
}

// resolveDaemon reads an image the Docker Engine holds. Its digest is the image ID (the
// config's digest), as `docker images` shows: an engine without the containerd image store
// keeps no manifest, and one made by `docker save` would not be the pushed image's.
func (r Ref) resolveDaemon(ctx context.Context, dopts []daemon.Option) (*Resolved, error) {
	dopts = append([]daemon.Option{daemon.WithContext(ctx), daemon.WithFileBufferedOpener()}, dopts...)
	img, err := daemon.Image(r.Name, dopts...)
	if err != nil {
		switch {
		case cerrdefs.IsNotFound(err) && r.short:
			return nil, missing("not a file or folder here, and the Docker Engine does not hold it "+
				"(for a registry image, write its registry: %s)", hubName(r.Name))
		case cerrdefs.IsNotFound(err):
			return nil, missing("the Docker Engine does not hold it")
		case r.short:
			return nil, missing("not a file or folder here, and the Docker Engine cannot be asked (%v); "+
				"graft reads a registry only for a name with its registry host", err)
		}
		return nil, fmt.Errorf("Docker Engine: %w", err)
	}
	id, err := img.ConfigName()
	if err != nil {
		return nil, err
	}
	return &Resolved{Digest: id, MediaType: types.DockerManifestSchema2, Image: img}, nil
}

// tarKind reads which kind of tar file is: one holding an OCI layout (oci-layout and
// index.json: graft's and buildx's OCI tars, `docker save` of Docker 25 and later) is read as
// a layout, which keeps manifest digests and attachments; one with only manifest.json is a
// docker tar.
func tarKind(file string) (Kind, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	seen := map[string]bool{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("not a tar (%v)", err)
		}
		seen[path.Clean(strings.TrimPrefix(h.Name, "./"))] = true
	}
	switch {
	case seen["oci-layout"] && seen["index.json"]:
		return OCIArchive, nil
	case seen["manifest.json"]:
		return DockerArchive, nil
	}
	return 0, fmt.Errorf("a tar with neither an OCI layout (oci-layout, index.json) nor manifest.json (docker save)")
}

// hubName is how a short name is written with Docker Hub's host.
func hubName(n name.Reference) string {
	sep := ":"
	if _, ok := n.(name.Digest); ok {
		sep = "@"
	}
	return "docker.io/" + n.Context().RepositoryStr() + sep + n.Identifier()
}

// Package imageref parses and resolves the image references graft accepts: a registry
// reference, an OCI layout folder ("oci-layout://DIR[:tag|@digest]") and a `docker save` tar.
package imageref

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Kind says where an image lives.
type Kind int

const (
	Registry Kind = iota
	Layout
	DockerArchive
)

// LayoutScheme prefixes an OCI layout folder.
const LayoutScheme = "oci-layout://"

// RefNameAnnotation names an image inside an OCI layout's index.json (BuildKit and buildx
// look a tag up by it).
const RefNameAnnotation = "org.opencontainers.image.ref.name"

// Ref is a parsed image reference.
type Ref struct {
	Kind   Kind
	Raw    string         // as the user wrote it
	Name   name.Reference // Registry only
	Dir    string         // Layout only, absolute
	Path   string         // DockerArchive only, absolute
	Tag    string         // Layout and DockerArchive: optional tag
	Digest string         // Layout: optional "sha256:..."
}

// Parse reads s. Relative layout folders and tar paths are made absolute against baseDir.
func Parse(s, baseDir string) (Ref, error) {
	switch {
	case s == "":
		return Ref{}, errors.New("empty image reference")
	case strings.HasPrefix(s, LayoutScheme):
		return parseLayout(s, baseDir)
	case strings.HasSuffix(s, ".tar") || strings.HasPrefix(s, "/") || strings.HasPrefix(s, "./") || strings.HasPrefix(s, "../"):
		return parseArchive(s, baseDir)
	}
	ref, err := name.ParseReference(s, name.StrictValidation)
	if err != nil {
		// Strict validation refuses implicit docker.io; accept it like docker does.
		ref, err = name.ParseReference(s)
		if err != nil {
			return Ref{}, fmt.Errorf("image reference %q: %v (write host/repository:tag, host/repository@sha256:..., or oci-layout://DIR)", s, err)
		}
	}
	return Ref{Kind: Registry, Raw: s, Name: ref}, nil
}

func parseLayout(s, baseDir string) (Ref, error) {
	rest := strings.TrimPrefix(s, LayoutScheme)
	r := Ref{Kind: Layout, Raw: s}
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		r.Digest = rest[i+1:]
		rest = rest[:i]
		if _, err := v1.NewHash(r.Digest); err != nil {
			return Ref{}, fmt.Errorf("image reference %q: bad digest %q: write @sha256:<64 hex digits>", s, r.Digest)
		}
	} else if i := strings.LastIndex(rest, ":"); i > strings.LastIndex(rest, "/") {
		r.Tag = rest[i+1:]
		rest = rest[:i]
	}
	if rest == "" {
		return Ref{}, fmt.Errorf("image reference %q: no folder after %s", s, LayoutScheme)
	}
	r.Dir = absUnder(baseDir, rest)
	return r, nil
}

func parseArchive(s, baseDir string) (Ref, error) {
	return Ref{Kind: DockerArchive, Raw: s, Path: absUnder(baseDir, s)}, nil
}

func absUnder(baseDir, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(baseDir, p)
}

// String gives a reference that Parse reads back to the same image.
func (r Ref) String() string {
	switch r.Kind {
	case Layout:
		s := LayoutScheme + r.Dir
		if r.Digest != "" {
			return s + "@" + r.Digest
		}
		if r.Tag != "" {
			return s + ":" + r.Tag
		}
		return s
	case DockerArchive:
		return r.Path
	default:
		return r.Name.String()
	}
}

// Pinned is the same image place, addressed by digest.
func (r Ref) Pinned(digest string) Ref {
	p := r
	switch r.Kind {
	case Registry:
		d, err := name.NewDigest(r.Name.Context().Name() + "@" + digest)
		if err == nil {
			p.Name = d
		}
	case Layout:
		p.Digest, p.Tag = digest, ""
	}
	p.Raw = p.String()
	return p
}

// Resolved is what a reference points at: an index or a single image, and its digest.
type Resolved struct {
	Digest    v1.Hash
	MediaType types.MediaType
	Index     v1.ImageIndex // nil unless the reference is an index
	Image     v1.Image      // nil unless the reference is a single image
}

// Option configures Resolve.
type Option func(*options)

type options struct{ remote []remote.Option }

// WithRemoteOptions replaces the registry options (default: the Docker keychain).
func WithRemoteOptions(opts ...remote.Option) Option {
	return func(o *options) { o.remote = opts }
}

// Resolve finds the image or index r names.
func (r Ref) Resolve(ctx context.Context, opts ...Option) (*Resolved, error) {
	o := &options{remote: []remote.Option{remote.WithAuthFromKeychain(authn.DefaultKeychain)}}
	for _, opt := range opts {
		opt(o)
	}
	var res *Resolved
	var err error
	switch r.Kind {
	case Layout:
		res, err = r.resolveLayout()
	case DockerArchive:
		res, err = r.resolveArchive()
	default:
		res, err = r.resolveRemote(ctx, o.remote)
	}
	if err != nil {
		err = fmt.Errorf("image %s: %w", r.String(), err)
		if r.notFound(err) {
			return nil, &NotFoundError{err}
		}
		return nil, err
	}
	return res, nil
}

func (r Ref) resolveRemote(ctx context.Context, ropts []remote.Option) (*Resolved, error) {
	desc, err := remote.Get(r.Name, append([]remote.Option{remote.WithContext(ctx)}, ropts...)...)
	if err != nil {
		return nil, err
	}
	res := &Resolved{Digest: desc.Digest, MediaType: desc.MediaType}
	if desc.MediaType.IsIndex() {
		res.Index, err = desc.ImageIndex()
	} else {
		res.Image, err = desc.Image()
	}
	return res, err
}

// openLayout opens the OCI layout r is in, and its top-level index.
func (r Ref) openLayout() (layout.Path, v1.ImageIndex, error) {
	if _, err := os.Stat(filepath.Join(r.Dir, "index.json")); err != nil {
		return "", nil, fmt.Errorf("no OCI layout at %s (index.json missing)", r.Dir)
	}
	p, err := layout.FromPath(r.Dir)
	if err != nil {
		return "", nil, err
	}
	top, err := p.ImageIndex()
	return p, top, err
}

func (r Ref) resolveLayout() (*Resolved, error) {
	p, top, err := r.openLayout()
	if err != nil {
		return nil, err
	}
	desc, err := r.findInLayout(top)
	if err != nil {
		return nil, err
	}
	res := &Resolved{Digest: desc.Digest, MediaType: desc.MediaType}
	if desc.MediaType.IsIndex() {
		res.Index, err = top.ImageIndex(desc.Digest)
		if err != nil {
			// Nested descriptors are not reachable from the top index's accessors.
			res.Index, err = p.ImageIndex()
			if err == nil {
				res.Index, err = findIndex(res.Index, desc.Digest)
			}
		}
	} else {
		res.Image, err = p.Image(desc.Digest)
	}
	return res, err
}

// findInLayout picks the descriptor r names: by digest anywhere in the layout, by tag among
// the top-level entries, or the only top-level entry.
func (r Ref) findInLayout(top v1.ImageIndex) (v1.Descriptor, error) {
	m, err := top.IndexManifest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	switch {
	case r.Digest != "":
		h, _ := v1.NewHash(r.Digest)
		if d, ok := findDescriptor(top, h); ok {
			return d, nil
		}
		return v1.Descriptor{}, fmt.Errorf("digest %s is %w", r.Digest, errNotInLayout)
	case r.Tag != "":
		for _, d := range m.Manifests {
			if ref := d.Annotations[RefNameAnnotation]; ref == r.Tag || strings.HasSuffix(ref, ":"+r.Tag) {
				return d, nil
			}
		}
		return v1.Descriptor{}, fmt.Errorf("tag %q is %w (tags: %s)", r.Tag, errNotInLayout, tags(m))
	}
	// Referrers (an SBOM, provenance: manifests with an artifactType of their own) sit beside
	// the image in index.json; they are not images one could mean. (ggcr writes an image's
	// config media type as its artifactType.)
	var images []v1.Descriptor
	for _, d := range m.Manifests {
		switch types.MediaType(d.ArtifactType) {
		case "", types.OCIConfigJSON, types.DockerConfigJSON:
			images = append(images, d)
		}
	}
	if len(images) == 1 {
		return images[0], nil
	}
	return v1.Descriptor{}, fmt.Errorf("the layout holds %d images; name one with :tag or @digest (tags: %s)", len(images), tags(m))
}

func tags(m *v1.IndexManifest) string {
	var ts []string
	for _, d := range m.Manifests {
		if t := d.Annotations[RefNameAnnotation]; t != "" {
			ts = append(ts, t)
		}
	}
	if len(ts) == 0 {
		return "none"
	}
	return strings.Join(ts, ", ")
}

// findDescriptor searches idx and its nested indexes for a descriptor with digest h.
func findDescriptor(idx v1.ImageIndex, h v1.Hash) (v1.Descriptor, bool) {
	m, err := idx.IndexManifest()
	if err != nil {
		return v1.Descriptor{}, false
	}
	for _, d := range m.Manifests {
		if d.Digest == h {
			return d, true
		}
		if d.MediaType.IsIndex() {
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				continue
			}
			if found, ok := findDescriptor(child, h); ok {
				return found, true
			}
		}
	}
	return v1.Descriptor{}, false
}

func findIndex(idx v1.ImageIndex, h v1.Hash) (v1.ImageIndex, error) {
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	for _, d := range m.Manifests {
		if !d.MediaType.IsIndex() {
			continue
		}
		child, err := idx.ImageIndex(d.Digest)
		if err != nil {
			return nil, err
		}
		if d.Digest == h {
			return child, nil
		}
		if found, err := findIndex(child, h); err == nil {
			return found, nil
		}
	}
	return nil, fmt.Errorf("index %s not found", h)
}

func (r Ref) resolveArchive() (*Resolved, error) {
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

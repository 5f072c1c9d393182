package attest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/graft-build/graft/builder/sign"
	"github.com/graft-build/graft/internal/imageref"
)

// emptyConfigType is the config media type of OCI 1.1 artifacts.
const emptyConfigType = "application/vnd.oci.empty.v1+json"

// ErrNotAttached says the image has no document of the type asked for.
var ErrNotAttached = errors.New("not attached")

// MaxDocument bounds an attached document read back: SBOMs of big images are megabytes.
const MaxDocument = 64 << 20

// maxManifest bounds a referrer's manifest.
const maxManifest = 4 << 20

// maxLayers bounds the documents read from one attached manifest (cosign's .att tag gains a
// layer per attestation; graft writes two).
const maxLayers = 256

// Attached is one manifest attached to an image: an OCI 1.1 referrer of it, or the manifest of
// one of cosign's tags (sha256-<hex>.sig, .att, .sbom).
type Attached struct {
	Where        string // "referrer sha256:..." or "tag sha256-<hex>.att", for messages
	ArtifactType string
	Documents    []Document
}

// Document is one layer of an attached manifest, read whole and checked against its digest.
type Document struct {
	MediaType   string
	Annotations map[string]string
	Data        []byte
}

// source is where an image's attachments are: a registry, an OCI layout folder or a tar of one.
type source interface {
	// candidates are the descriptors of manifests that may refer to the image, filtered by
	// artifactType where the listing says it.
	candidates(want func(artifactType string) bool) ([]v1.Descriptor, error)
	manifest(d v1.Descriptor) ([]byte, error)
	blob(h v1.Hash) (io.ReadCloser, error)
	String() string
}

// Referrers reads the manifests attached to the image ref names (resolved to digest) whose
// artifactType want accepts: OCI 1.1 referrers in a registry (the referrers API, else the
// fallback tag), in an OCI layout's index.json, or in a tar holding one (the tar's image is
// the one its index.json names by ref.Tag, else its only image; digest is not used there).
func Referrers(ctx context.Context, ref imageref.Ref, digest v1.Hash, want func(artifactType string) bool, ropts ...remote.Option) ([]Attached, error) {
	src, subject, err := openSource(ctx, ref, digest, ropts)
	if err != nil {
		return nil, err
	}
	ds, err := src.candidates(want)
	if err != nil {
		return nil, err
	}
	var out []Attached
	for _, d := range ds {
		raw, err := src.manifest(d)
		if err != nil {
			return nil, fmt.Errorf("%s: referrer %s: %w", src, d.Digest, err)
		}
		a, err := readAttached(raw, &subject, want, src.blob)
		if err != nil {
			return nil, fmt.Errorf("%s: referrer %s: %w", src, d.Digest, err)
		}
		if a != nil {
			a.Where = "referrer " + d.Digest.String()
			out = append(out, *a)
		}
	}
	return out, nil
}

func openSource(ctx context.Context, ref imageref.Ref, digest v1.Hash, ropts []remote.Option) (source, v1.Hash, error) {
	switch ref.Kind {
	case imageref.Registry:
		ropts = append([]remote.Option{remote.WithContext(ctx)}, ropts...)
		return &registrySource{repo: ref.Name.Context(), subject: digest, ropts: ropts}, digest, nil
	case imageref.Layout:
		return &layoutSource{dir: ref.Dir}, digest, nil
	}
	return openTar(ref.Path, ref.Tag)
}

// CosignTag reads the manifest of cosign's tag sha256-<hex>.<suffix> beside the image in a
// registry; nil when there is no such tag.
func CosignTag(ctx context.Context, repo name.Repository, digest v1.Hash, suffix string, ropts ...remote.Option) (*Attached, error) {
	ropts = append([]remote.Option{remote.WithContext(ctx)}, ropts...)
	tag := repo.Tag(digest.Algorithm + "-" + digest.Hex + "." + suffix)
	desc, err := remote.Get(tag, ropts...)
	var terr *transport.Error
	if errors.As(err, &terr) && terr.StatusCode == 404 {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("tag %s: %w", tag, err)
	}
	src := &registrySource{repo: repo, ropts: ropts}
	a, err := readAttached(desc.Manifest, nil, func(string) bool { return true }, src.blob)
	if err != nil {
		return nil, fmt.Errorf("tag %s: %w", tag, err)
	}
	a.Where = "tag " + tag.TagStr()
	return a, nil
}

// readAttached reads the manifest raw and its documents, when it refers to subject (nil: a
// cosign tag's manifest, which names no subject) with an artifactType want accepts; nil for
// another image's referrer. Each document is checked against its digest.
func readAttached(raw []byte, subject *v1.Hash, want func(string) bool, blob func(v1.Hash) (io.ReadCloser, error)) (*Attached, error) {
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	if subject != nil && (m.Subject == nil || m.Subject.Digest != *subject || !want(m.ArtifactType)) {
		return nil, nil
	}
	if len(m.Layers) > maxLayers {
		return nil, fmt.Errorf("%d layers, more than graft reads (%d)", len(m.Layers), maxLayers)
	}
	a := &Attached{ArtifactType: m.ArtifactType}
	for _, l := range m.Layers {
		if l.Size > MaxDocument {
			return nil, fmt.Errorf("document of %d bytes is larger than graft reads (%d)", l.Size, MaxDocument)
		}
		data, err := readBounded(blob, l.Digest, MaxDocument)
		if err != nil {
			return nil, err
		}
		a.Documents = append(a.Documents, Document{MediaType: string(l.MediaType), Annotations: l.Annotations, Data: data})
	}
	return a, nil
}

// Find reads the documents of artifactType attached to the image (see Referrers): the SBOM
// (SBOMMediaType) or the provenance statement (ProvenanceMediaType). A document is found as
// graft attaches it (a referrer of that artifactType), or inside a DSSE attestation referrer
// of its predicate type: the provenance statement is the envelope's payload, the SBOM its
// predicate. Bare statements are what graft attached before DSSE envelopes.
func Find(ctx context.Context, ref imageref.Ref, digest v1.Hash, artifactType string, ropts ...remote.Option) ([][]byte, error) {
	predicate := predicateOf(artifactType)
	atts, err := Referrers(ctx, ref, digest, func(t string) bool {
		return t == artifactType || (predicate != "" && t == sign.DSSEMediaType)
	}, ropts...)
	if err != nil {
		return nil, err
	}
	var plain, wrapped [][]byte
	for _, a := range atts {
		for _, d := range a.Documents {
			switch {
			case a.ArtifactType == artifactType && d.MediaType == artifactType:
				plain = append(plain, d.Data)
			case d.MediaType == sign.DSSEMediaType && d.Annotations[sign.PredicateTypeAnnotation] == predicate:
				doc, err := unwrap(d.Data, artifactType)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", a.Where, err)
				}
				wrapped = append(wrapped, doc)
			}
		}
	}
	out := append(plain, wrapped...)
	if artifactType == ProvenanceMediaType {
		out = append(wrapped, plain...) // the current form first
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no %s is attached to %s: %w", artifactType, describe(ref, digest), ErrNotAttached)
	}
	return out, nil
}

// FindInTar is Find for a tar holding an OCI layout (index.json and blobs/: a layout folder
// packed with tar, or `docker save` of Docker 25 and later). The image is the one named by
// tag, else the layout's only image. A tar without index.json (`docker save` of older engines,
// graft's type=docker) holds none.
func FindInTar(file, tag, artifactType string) ([][]byte, error) {
	return Find(context.Background(), imageref.Ref{Kind: imageref.DockerArchive, Path: file, Tag: tag}, v1.Hash{}, artifactType)
}

// predicateOf is the predicate type a document of artifactType has in an attestation.
func predicateOf(artifactType string) string {
	switch artifactType {
	case SBOMMediaType:
		return SPDXPredicate
	case ProvenanceMediaType:
		return SLSAProvenance
	}
	return ""
}

// unwrap is the document inside an attestation envelope: the statement for provenance, its
// predicate for the SBOM.
func unwrap(envelope []byte, artifactType string) ([]byte, error) {
	st, err := sign.Statement(envelope)
	if err != nil {
		return nil, err
	}
	if artifactType != SBOMMediaType {
		return st, nil
	}
	var s struct {
		Predicate json.RawMessage `json:"predicate"`
	}
	if err := json.Unmarshal(st, &s); err != nil || len(s.Predicate) == 0 {
		return nil, fmt.Errorf("SBOM attestation without a predicate (%v)", err)
	}
	return s.Predicate, nil
}

func describe(ref imageref.Ref, digest v1.Hash) string {
	switch ref.Kind {
	case imageref.Registry:
		return ref.Name.Context().String() + "@" + digest.String()
	case imageref.Layout:
		return digest.String() + " in " + ref.Dir
	}
	return "the image in " + ref.Path
}

// registrySource reads referrers through the registry's referrers API, or ggcr's fallback to
// the sha256-<hex> tag.
type registrySource struct {
	repo    name.Repository
	subject v1.Hash
	ropts   []remote.Option
}

func (r *registrySource) String() string { return r.repo.String() }

func (r *registrySource) candidates(want func(string) bool) ([]v1.Descriptor, error) {
	// No server-side filter: some registries (ggcr's) list a referrer's config media type as
	// its artifactType; readAttached checks the manifest's own.
	idx, err := remote.Referrers(r.repo.Digest(r.subject.String()), r.ropts...)
	if err != nil {
		return nil, fmt.Errorf("referrers of %s: %w", r.subject, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var out []v1.Descriptor
	for _, d := range m.Manifests {
		if want(d.ArtifactType) || d.ArtifactType == emptyConfigType {
			out = append(out, d)
		}
	}
	return out, nil
}

func (r *registrySource) manifest(d v1.Descriptor) ([]byte, error) {
	desc, err := remote.Get(r.repo.Digest(d.Digest.String()), r.ropts...)
	if err != nil {
		return nil, err
	}
	return desc.Manifest, nil
}

func (r *registrySource) blob(h v1.Hash) (io.ReadCloser, error) {
	l, err := remote.Layer(r.repo.Digest(h.String()), r.ropts...)
	if err != nil {
		return nil, err
	}
	return l.Compressed()
}

// layoutSource reads referrers listed in an OCI layout's index.json.
type layoutSource struct{ dir string }

func (l *layoutSource) String() string { return l.dir }

func (l *layoutSource) candidates(want func(string) bool) ([]v1.Descriptor, error) {
	p, err := layout.FromPath(l.dir)
	if err != nil {
		return nil, err
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	return wanted(m.Manifests, want), nil
}

// wanted are the index entries with an artifactType want accepts.
func wanted(ds []v1.Descriptor, want func(string) bool) []v1.Descriptor {
	var out []v1.Descriptor
	for _, d := range ds {
		if d.ArtifactType != "" && want(d.ArtifactType) {
			out = append(out, d)
		}
	}
	return out
}

func (l *layoutSource) manifest(d v1.Descriptor) ([]byte, error) {
	return readBounded(l.blob, d.Digest, maxManifest)
}

func (l *layoutSource) blob(h v1.Hash) (io.ReadCloser, error) {
	// A hostile index.json could name "../x" only through a malformed hash, which v1.Hash
	// parsing has refused already.
	return os.Open(filepath.Join(l.dir, "blobs", h.Algorithm, h.Hex))
}

// readBounded reads the blob h (at most limit bytes) and checks it against h.
func readBounded(blob func(v1.Hash) (io.ReadCloser, error), h v1.Hash, limit int64) ([]byte, error) {
	rc, err := blob(h)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("blob %s is larger than %d bytes", h, limit)
	}
	got, _, err := v1.SHA256(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	if got != h {
		return nil, fmt.Errorf("blob %s has digest %s: damaged or tampered", h, got)
	}
	return b, nil
}

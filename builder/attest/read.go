package attest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
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

// Referrers reads the manifests attached to the image res is (ref resolved) whose
// artifactType want accepts: OCI 1.1 referrers in a registry (the referrers API, else the
// fallback tag), or in the OCI layout it was found in (a folder or an OCI tar, anywhere under
// index.json). A docker tar and the Docker Engine hold none (ErrNotAttached).
func Referrers(ctx context.Context, ref imageref.Ref, res *imageref.Resolved, want func(artifactType string) bool, ropts ...remote.Option) ([]Attached, error) {
	switch {
	case ref.Kind == imageref.Registry:
		ropts = append([]remote.Option{remote.WithContext(ctx)}, ropts...)
		return registryReferrers(ref.Name.Context(), res.Digest, want, ropts)
	case res.Layout != nil:
		return layoutReferrers(res.Layout, res.Digest, want)
	}
	return nil, fmt.Errorf("%s is a %s, which holds no attached documents: %w "+
		"(graft attaches them to type=registry and type=oci outputs)", ref, ref.Kind, ErrNotAttached)
}

// registryReferrers reads referrers through the registry's referrers API, or ggcr's fallback
// to the sha256-<hex> tag.
func registryReferrers(repo name.Repository, subject v1.Hash, want func(string) bool, ropts []remote.Option) ([]Attached, error) {
	// No server-side filter: some registries (ggcr's) list a referrer's config media type as
	// its artifactType; readAttached checks the manifest's own.
	idx, err := remote.Referrers(repo.Digest(subject.String()), ropts...)
	if err != nil {
		return nil, fmt.Errorf("referrers of %s: %w", subject, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	blob := registryBlob(repo, ropts)
	var out []Attached
	for _, d := range m.Manifests {
		if !want(d.ArtifactType) && d.ArtifactType != emptyConfigType {
			continue
		}
		desc, err := remote.Get(repo.Digest(d.Digest.String()), ropts...)
		if err != nil {
			return nil, fmt.Errorf("%s: referrer %s: %w", repo, d.Digest, err)
		}
		a, err := readAttached(desc.Manifest, &subject, want, blob)
		if err != nil {
			return nil, fmt.Errorf("%s: referrer %s: %w", repo, d.Digest, err)
		}
		if a != nil {
			a.Where = "referrer " + d.Digest.String()
			out = append(out, *a)
		}
	}
	return out, nil
}

// registryBlob reads blobs of repo.
func registryBlob(repo name.Repository, ropts []remote.Option) func(v1.Hash) (io.ReadCloser, error) {
	return func(h v1.Hash) (io.ReadCloser, error) {
		l, err := remote.Layer(repo.Digest(h.String()), ropts...)
		if err != nil {
			return nil, err
		}
		return l.Compressed()
	}
}

// layoutReferrers reads the referrers of subject anywhere in a layout: listed in index.json
// (OCI 1.1, as oras attaches them) or in the index graft wraps an image and its attachments in.
func layoutReferrers(top v1.ImageIndex, subject v1.Hash, want func(string) bool) ([]Attached, error) {
	var out []Attached
	var failed error
	err := imageref.Walk(top, func(parent v1.ImageIndex, d v1.Descriptor) bool {
		if d.ArtifactType == "" || !want(d.ArtifactType) {
			return true
		}
		a, err := layoutReferrer(parent, d, subject, want)
		if err != nil {
			failed = fmt.Errorf("referrer %s: %w", d.Digest, err)
			return false
		}
		if a != nil {
			a.Where = "referrer " + d.Digest.String()
			out = append(out, *a)
		}
		return true
	})
	if err == nil {
		err = failed
	}
	return out, err
}

// layoutReferrer reads one referrer of a layout, checking the manifest and each document
// against their digests.
func layoutReferrer(parent v1.ImageIndex, d v1.Descriptor, subject v1.Hash, want func(string) bool) (*Attached, error) {
	if d.Size > maxManifest {
		return nil, fmt.Errorf("manifest of %d bytes is larger than graft reads (%d)", d.Size, maxManifest)
	}
	m, err := parent.Image(d.Digest)
	if err != nil {
		return nil, err
	}
	raw, err := m.RawManifest()
	if err != nil {
		return nil, err
	}
	if got, _, err := v1.SHA256(bytes.NewReader(raw)); err != nil || got != d.Digest {
		return nil, fmt.Errorf("manifest has digest %s: damaged or tampered", got)
	}
	return readAttached(raw, &subject, want, func(h v1.Hash) (io.ReadCloser, error) {
		l, err := m.LayerByDigest(h)
		if err != nil {
			return nil, err
		}
		return l.Compressed()
	})
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
	a, err := readAttached(desc.Manifest, nil, func(string) bool { return true }, registryBlob(repo, ropts))
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

// Find reads the documents of artifactType attached to the image res is (see Referrers): the SBOM
// (SBOMMediaType) or the provenance statement (ProvenanceMediaType). A document is found as
// graft attaches it (a referrer of that artifactType), or inside a DSSE attestation referrer
// of its predicate type: the provenance statement is the envelope's payload, the SBOM its
// predicate. Bare statements are what graft attached before DSSE envelopes.
func Find(ctx context.Context, ref imageref.Ref, res *imageref.Resolved, artifactType string, ropts ...remote.Option) ([][]byte, error) {
	predicate := predicateOf(artifactType)
	atts, err := Referrers(ctx, ref, res, func(t string) bool {
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
		return nil, fmt.Errorf("no %s is attached to %s: %w", artifactType, describe(ref, res.Digest), ErrNotAttached)
	}
	return out, nil
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
	if ref.Kind == imageref.Registry {
		return ref.Name.Context().String() + "@" + digest.String()
	}
	return digest.String() + " in " + ref.String()
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

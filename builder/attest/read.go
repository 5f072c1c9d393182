package attest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

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

// Find reads the documents of artifactType attached to the image res is (ref resolved): its
// OCI 1.1 referrers in a registry (the referrers API, else the fallback tag) or in the OCI
// layout it was found in (a folder or an OCI tar, anywhere under index.json). A docker tar and
// the Docker Engine hold none.
func Find(ctx context.Context, ref imageref.Ref, res *imageref.Resolved, artifactType string, ropts ...remote.Option) ([][]byte, error) {
	switch {
	case ref.Kind == imageref.Registry:
		return findRemote(ctx, ref.Name.Context(), res.Digest, artifactType, ropts)
	case res.Layout != nil:
		return findLayout(res.Layout, ref.String(), res.Digest, artifactType)
	}
	return nil, fmt.Errorf("%s is a %s, which holds no attached documents: %w "+
		"(graft attaches them to type=registry and type=oci outputs)", ref, ref.Kind, ErrNotAttached)
}

func findRemote(ctx context.Context, repo name.Repository, digest v1.Hash, artifactType string, ropts []remote.Option) ([][]byte, error) {
	ropts = append([]remote.Option{remote.WithContext(ctx)}, ropts...)
	// No server-side filter: some registries (ggcr's) list a referrer's config media type as
	// its artifactType; readReferrer checks the manifest's own.
	idx, err := remote.Referrers(repo.Digest(digest.String()), ropts...)
	if err != nil {
		return nil, fmt.Errorf("referrers of %s: %w", digest, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, d := range m.Manifests {
		if d.ArtifactType != artifactType && d.ArtifactType != emptyConfigType {
			continue
		}
		desc, err := remote.Get(repo.Digest(d.Digest.String()), ropts...)
		if err != nil {
			return nil, fmt.Errorf("referrer %s: %w", d.Digest, err)
		}
		doc, err := readReferrer(desc.Manifest, digest, artifactType, func(h v1.Hash) (io.ReadCloser, error) {
			l, err := remote.Layer(repo.Digest(h.String()), ropts...)
			if err != nil {
				return nil, err
			}
			return l.Compressed()
		})
		if err != nil {
			return nil, fmt.Errorf("referrer %s: %w", d.Digest, err)
		}
		if doc != nil {
			out = append(out, doc)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no %s is attached to %s@%s: %w", artifactType, repo, digest, ErrNotAttached)
	}
	return out, nil
}

// findLayout reads the referrers of digest anywhere in a layout: listed in index.json (OCI
// 1.1, as oras attaches them) or in the index graft wraps an image and its attachments in.
func findLayout(top v1.ImageIndex, where string, digest v1.Hash, artifactType string) ([][]byte, error) {
	var out [][]byte
	var failed error
	err := imageref.Walk(top, func(parent v1.ImageIndex, d v1.Descriptor) bool {
		if d.ArtifactType != artifactType {
			return true
		}
		doc, err := layoutReferrer(parent, d, digest, artifactType)
		if err != nil {
			failed = fmt.Errorf("referrer %s: %w", d.Digest, err)
			return false
		}
		if doc != nil {
			out = append(out, doc)
		}
		return true
	})
	if err == nil {
		err = failed
	}
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no %s is attached to %s in %s: %w", artifactType, digest, where, ErrNotAttached)
	}
	return out, nil
}

// layoutReferrer reads one referrer of a layout, checking the manifest and the document
// against their digests.
func layoutReferrer(parent v1.ImageIndex, d v1.Descriptor, subject v1.Hash, artifactType string) ([]byte, error) {
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
	return readReferrer(raw, subject, artifactType, func(h v1.Hash) (io.ReadCloser, error) {
		l, err := m.LayerByDigest(h)
		if err != nil {
			return nil, err
		}
		return l.Compressed()
	})
}

// readReferrer is the document a referrer manifest carries when it refers to subject with
// artifactType; nil for a referrer of another image. The document is checked against its digest.
func readReferrer(raw []byte, subject v1.Hash, artifactType string, blob func(v1.Hash) (io.ReadCloser, error)) ([]byte, error) {
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	if m.Subject == nil || m.Subject.Digest != subject || m.ArtifactType != artifactType {
		return nil, nil
	}
	for _, l := range m.Layers {
		if string(l.MediaType) != artifactType {
			continue
		}
		if l.Size > MaxDocument {
			return nil, fmt.Errorf("document of %d bytes is larger than graft reads (%d)", l.Size, MaxDocument)
		}
		return readBounded(blob, l.Digest, MaxDocument)
	}
	return nil, fmt.Errorf("no layer of type %s", artifactType)
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

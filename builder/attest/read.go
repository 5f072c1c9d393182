package attest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
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

// Find reads the documents of artifactType attached to the image ref names (resolved to
// digest): its OCI 1.1 referrers in a registry (the referrers API, else the fallback tag) or in
// an OCI layout's index.json, or a tar holding one (FindInTar; digest is not used there: a
// tar's image is read from its index.json).
func Find(ctx context.Context, ref imageref.Ref, digest v1.Hash, artifactType string, ropts ...remote.Option) ([][]byte, error) {
	switch ref.Kind {
	case imageref.Registry:
		return findRemote(ctx, ref.Name.Context(), digest, artifactType, ropts)
	case imageref.Layout:
		return findLayout(ref.Dir, digest, artifactType)
	}
	return FindInTar(ref.Path, ref.Tag, artifactType)
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

func findLayout(dir string, digest v1.Hash, artifactType string) ([][]byte, error) {
	p, err := layout.FromPath(dir)
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
	blob := func(h v1.Hash) (io.ReadCloser, error) {
		// layout.Path.Blob joins the digest into the path; a hostile index.json could name
		// "../x" only through a malformed hash, which v1.Hash parsing has refused already.
		return os.Open(filepath.Join(dir, "blobs", h.Algorithm, h.Hex))
	}
	var out [][]byte
	for _, d := range m.Manifests {
		if d.ArtifactType != artifactType {
			continue
		}
		raw, err := readBounded(blob, d.Digest, maxManifest)
		if err != nil {
			return nil, fmt.Errorf("referrer %s: %w", d.Digest, err)
		}
		doc, err := readReferrer(raw, digest, artifactType, blob)
		if err != nil {
			return nil, fmt.Errorf("referrer %s: %w", d.Digest, err)
		}
		if doc != nil {
			out = append(out, doc)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no %s is attached to %s in %s: %w", artifactType, digest, dir, ErrNotAttached)
	}
	return out, nil
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

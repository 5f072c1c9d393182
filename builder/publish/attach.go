package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Attachment is a document published beside the image as an OCI 1.1 referrer of it (an SBOM,
// a provenance statement). The image itself is never changed: its digest stays the same.
type Attachment struct {
	ArtifactType string // the referrer's artifactType and its one layer's media type
	Title        string // file name of the document (org.opencontainers.image.title)
	Data         []byte
	// TagSuffix names the tag sha256-<hex>.<suffix> a registry without the referrers API
	// also gets (cosign's scheme: "sbom", "att").
	TagSuffix string
}

// emptyConfig is the OCI 1.1 empty descriptor's content, the config of artifact manifests.
var emptyConfig = []byte("{}")

const emptyConfigType = types.MediaType("application/vnd.oci.empty.v1+json")

// referrer is an attachment's manifest pointing at subject, and its blobs.
type referrer struct {
	raw    []byte
	desc   v1.Descriptor
	blobs  []v1.Layer
	suffix string
}

func (r *referrer) RawManifest() ([]byte, error)        { return r.raw, nil }
func (r *referrer) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

func newReferrer(a Attachment, subject v1.Descriptor) (*referrer, error) {
	cfg := static.NewLayer(emptyConfig, emptyConfigType)
	doc := static.NewLayer(a.Data, types.MediaType(a.ArtifactType))
	cd, _ := cfg.Digest()
	dd, _ := doc.Digest()
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, ArtifactType: a.ArtifactType,
		Config: v1.Descriptor{MediaType: emptyConfigType, Digest: cd, Size: int64(len(emptyConfig)), Data: emptyConfig},
		Layers: []v1.Descriptor{{MediaType: types.MediaType(a.ArtifactType), Digest: dd, Size: int64(len(a.Data)),
			Annotations: map[string]string{"org.opencontainers.image.title": a.Title}}},
		Subject: &v1.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	h, size, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	return &referrer{raw: raw, blobs: []v1.Layer{cfg, doc}, suffix: a.TagSuffix,
		desc: v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: h, Size: size, ArtifactType: a.ArtifactType}}, nil
}

// subjectOf is the descriptor of the published manifest or index.
func subjectOf(a Artifact) (v1.Descriptor, error) {
	var raw []byte
	var mt types.MediaType
	var err error
	if a.Index != nil {
		raw, err = a.Index.RawManifest()
		if err == nil {
			mt, err = a.Index.MediaType()
		}
	} else {
		raw, err = a.Image.RawManifest()
		if err == nil {
			mt, err = a.Image.MediaType()
		}
	}
	if err != nil {
		return v1.Descriptor{}, err
	}
	h, size, err := v1.SHA256(bytes.NewReader(raw))
	return v1.Descriptor{MediaType: mt, Digest: h, Size: size}, err
}

func referrers(a Artifact) ([]*referrer, error) {
	if len(a.Attachments) == 0 {
		return nil, nil
	}
	subject, err := subjectOf(a)
	if err != nil {
		return nil, err
	}
	var out []*referrer
	for _, att := range a.Attachments {
		r, err := newReferrer(att, subject)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", att.Title, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// attachRegistry pushes the attachments as referrers of the image. ggcr's remote.Put asks the
// registry for its referrers API and, where there is none, adds them to the fallback tag
// sha256-<hex> (OCI 1.1's referrers tag schema); there graft also tags each one
// sha256-<hex>.<suffix>, where cosign looks for SBOMs and attestations.
func attachRegistry(ctx context.Context, repo name.Repository, a Artifact, opts []remote.Option, progress io.Writer) error {
	refs, err := referrers(a)
	if err != nil || len(refs) == 0 {
		return err
	}
	opts = append(opts, remote.WithReferrersTagFallback(true))
	for _, r := range refs {
		for _, b := range r.blobs {
			if err := remote.WriteLayer(repo, b, opts...); err != nil {
				return err
			}
		}
		if err := remote.Put(repo.Digest(r.desc.Digest.String()), r, opts...); err != nil {
			return err
		}
	}
	subject, err := subjectOf(a)
	if err != nil {
		return err
	}
	tag := subject.Digest.Algorithm + "-" + subject.Digest.Hex
	if _, err := remote.Head(repo.Tag(tag), opts...); err != nil {
		// The registry keeps the referrers itself (no fallback tag was made).
		fmt.Fprintf(progress, "attach %d referrer(s) of %s (referrers API)\n", len(refs), subject.Digest)
		return nil
	}
	for _, r := range refs {
		if r.suffix == "" {
			continue
		}
		if err := remote.Put(repo.Tag(tag+"."+r.suffix), r, opts...); err != nil {
			return err
		}
	}
	fmt.Fprintf(progress, "attach %d referrer(s) of %s (no referrers API: tags %s, %s.*)\n", len(refs), subject.Digest, tag, tag)
	return nil
}

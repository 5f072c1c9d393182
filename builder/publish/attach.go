package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Attachment is a document published beside the image as an OCI 1.1 referrer of it (an SBOM,
// an attestation, a signature). The image itself is never changed: its digest stays the same.
type Attachment struct {
	ArtifactType string // the referrer's artifactType
	MediaType    string // its one layer's media type; "" is ArtifactType
	Title        string // file name of the document (org.opencontainers.image.title); "" for none
	Data         []byte
	// Annotations go on the layer and on the referrer manifest (a DSSE attestation's
	// predicateType, a simple-signing layer's signature).
	Annotations map[string]string
	// TagSuffix names cosign's tag sha256-<hex>.<suffix> ("sbom", "att", "sig") in a registry:
	// the attachments sharing a suffix are layers of the one manifest there, as cosign writes
	// and reads them (see cosignTags).
	TagSuffix string
}

// layerType is the media type of the attachment's layer.
func (a Attachment) layerType() types.MediaType {
	if a.MediaType != "" {
		return types.MediaType(a.MediaType)
	}
	return types.MediaType(a.ArtifactType)
}

// layerAnnotations are the attachment's annotations with its title.
func (a Attachment) layerAnnotations() map[string]string {
	ann := map[string]string{}
	if a.Title != "" {
		ann[titleAnnotation] = a.Title
	}
	for k, v := range a.Annotations {
		ann[k] = v
	}
	return ann
}

const titleAnnotation = "org.opencontainers.image.title"

// emptyConfig is the OCI 1.1 empty descriptor's content, the config of artifact manifests.
var emptyConfig = []byte("{}")

const emptyConfigType = types.MediaType("application/vnd.oci.empty.v1+json")

// referrer is an attachment's manifest pointing at subject, and its blobs.
type referrer struct {
	raw   []byte
	desc  v1.Descriptor
	blobs []v1.Layer
}

func (r *referrer) RawManifest() ([]byte, error)        { return r.raw, nil }
func (r *referrer) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

func newReferrer(a Attachment, subject v1.Descriptor) (*referrer, error) {
	cfg := static.NewLayer(emptyConfig, emptyConfigType)
	doc := static.NewLayer(a.Data, a.layerType())
	cd, _ := cfg.Digest()
	dd, _ := doc.Digest()
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, ArtifactType: a.ArtifactType,
		Config: v1.Descriptor{MediaType: emptyConfigType, Digest: cd, Size: int64(len(emptyConfig)), Data: emptyConfig},
		Layers: []v1.Descriptor{{MediaType: a.layerType(), Digest: dd, Size: int64(len(a.Data)),
			Annotations: a.layerAnnotations()}},
		Annotations: a.Annotations,
		Subject:     &v1.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	h, size, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	return &referrer{raw: raw, blobs: []v1.Layer{cfg, doc},
		desc: v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: h, Size: size, ArtifactType: a.ArtifactType,
			Annotations: a.Annotations}}, nil
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
// sha256-<hex> (OCI 1.1's referrers tag schema). Every registry also gets cosign's tags
// sha256-<hex>.<suffix> (cosignTags): cosign reads signatures, attestations and SBOMs there
// whether or not the registry serves referrers.
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
	how := "referrers API"
	fallback := subject.Digest.Algorithm + "-" + subject.Digest.Hex
	if _, err := remote.Head(repo.Tag(fallback), opts...); err == nil {
		how = "no referrers API: tag " + fallback
	}
	tags, err := cosignTags(ctx, repo, subject.Digest, a.Attachments, opts, progress)
	if err != nil {
		return err
	}
	fmt.Fprintf(progress, "attach %d referrer(s) of %s (%s); cosign tags %s\n", len(refs), subject.Digest, how, strings.Join(tags, ", "))
	return nil
}

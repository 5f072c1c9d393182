package attest

import (
	"github.com/graft-build/graft/builder/contract"
	"github.com/graft-build/graft/builder/publish"
	"github.com/graft-build/graft/builder/sign"
	"github.com/graft-build/graft/lockfile"
)

// Titles of the attached documents.
const (
	SBOMTitle            = "sbom.spdx.json"
	SBOMAttestationTitle = "sbom.spdx.intoto.json"
	ProvenanceTitle      = "provenance.intoto.json"
)

// AttachOptions say which documents Attach makes (graft build's --sbom, --provenance and
// --sign-key) and how it names the image.
type AttachOptions struct {
	SBOM, Provenance bool
	// Signer signs the image and the attestations (nil: nothing signed, no signature).
	Signer *sign.Signer
	// Name is the first -t name, which the documents name the image by ("" for graft.toml's).
	Name string
	// Licenses keeps licence verdicts between builds (nil: none kept).
	Licenses LicenseCache
}

// Attach makes the documents published as referrers of the built image (and in cosign's
// tags): the SBOM as SPDX JSON and as a DSSE attestation, the provenance attestation, and the
// image's signature when o.Signer is set (which also signs the attestations). ls is the
// launcher source the build used: the SBOM lists each launcher's Go modules.
func Attach(p *lockfile.Project, res *contract.Result, ls contract.LauncherSource, o AttachOptions) ([]publish.Attachment, error) {
	var out []publish.Attachment
	if o.SBOM || o.Provenance {
		opts := []Option{WithName(o.Name)}
		if o.Licenses != nil {
			opts = append(opts, WithLicenseCache(o.Licenses))
		}
		in, err := NewInput(p, res, ls, opts...)
		if err != nil {
			return nil, err
		}
		docs, err := o.documents(in)
		if err != nil {
			return nil, err
		}
		out = append(out, docs...)
	}
	if o.Signer == nil {
		return out, nil
	}
	repo := Repository(o.Name)
	if repo == "" {
		repo = Repository(p.Site.Name)
	}
	sig, err := signature(o.Signer, repo, res)
	if err != nil {
		return nil, err
	}
	return append(out, sig), nil
}

// signature is the image's cosign signature: a simple-signing payload naming repo and the
// image's digest, its signature in an annotation.
func signature(s *sign.Signer, repo string, res *contract.Result) (publish.Attachment, error) {
	payload, err := sign.ImagePayload(repo, res.Digest.String())
	if err != nil {
		return publish.Attachment{}, err
	}
	sig, err := s.SignImage(payload)
	if err != nil {
		return publish.Attachment{}, err
	}
	return publish.Attachment{ArtifactType: sign.SignatureArtifactType, MediaType: sign.SimpleSigningMediaType,
		Data: payload, Annotations: map[string]string{sign.SignatureAnnotation: sig}, TagSuffix: "sig"}, nil
}

// documents are the SBOM and the attestations of in.
func (o AttachOptions) documents(in *Input) ([]publish.Attachment, error) {
	var out []publish.Attachment
	if o.SBOM {
		doc, err := SBOM(in)
		if err != nil {
			return nil, err
		}
		out = append(out, publish.Attachment{ArtifactType: SBOMMediaType, Title: SBOMTitle, Data: doc, TagSuffix: "sbom"})
		st, err := SBOMStatement(in, doc)
		if err != nil {
			return nil, err
		}
		att, err := attestation(st, SPDXPredicate, SBOMAttestationTitle, o.Signer)
		if err != nil {
			return nil, err
		}
		out = append(out, att)
	}
	if o.Provenance {
		st, err := ProvenanceStatement(in)
		if err != nil {
			return nil, err
		}
		att, err := attestation(st, SLSAProvenance, ProvenanceTitle, o.Signer)
		if err != nil {
			return nil, err
		}
		out = append(out, att)
	}
	return out, nil
}

// attestation is a statement in a DSSE envelope (signed by s when not nil), in the form cosign
// attest stores: media type, predicateType annotation, an empty signature annotation.
func attestation(statement []byte, predicateType, title string, s *sign.Signer) (publish.Attachment, error) {
	env, err := sign.Envelope(statement, s)
	if err != nil {
		return publish.Attachment{}, err
	}
	return publish.Attachment{ArtifactType: sign.DSSEMediaType, Title: title, Data: env, TagSuffix: "att",
		Annotations: map[string]string{sign.PredicateTypeAnnotation: predicateType, sign.SignatureAnnotation: ""}}, nil
}

package main

import (
	"github.com/spf13/pflag"

	"github.com/graft-build/graft/builder/attest"
	"github.com/graft-build/graft/builder/contract"
	"github.com/graft-build/graft/builder/publish"
	"github.com/graft-build/graft/builder/sign"
	"github.com/graft-build/graft/lockfile"
)

// attestOpts are graft build's --sbom, --provenance and --sign-key.
type attestOpts struct {
	sbom, provenance bool
	signKey          string
	signer           *sign.Signer // loaded by loadKey
}

func (a *attestOpts) flags(f *pflag.FlagSet) {
	f.BoolVar(&a.sbom, "sbom", true, "attach an SPDX 2.3 SBOM to the image, plain and as an attestation (registry and oci outputs)")
	f.BoolVar(&a.provenance, "provenance", true, "attach SLSA v1 provenance (an in-toto attestation) to the image (registry and oci outputs)")
	f.StringVar(&a.signKey, "sign-key", "", "sign the image and its attestations with this cosign key file (password in $"+sign.PasswordEnv+")")
}

// loadKey opens --sign-key before anything is built: a wrong password fails in a second, not
// after the build.
func (a *attestOpts) loadKey(getenv func(string) string) error {
	if a.signKey == "" {
		return nil
	}
	s, err := sign.LoadSigner(a.signKey, []byte(getenv(sign.PasswordEnv)))
	if err != nil {
		return err
	}
	a.signer = s
	return nil
}

// Titles of the attached documents.
const (
	SBOMTitle            = "sbom.spdx.json"
	SBOMAttestationTitle = "sbom.spdx.intoto.json"
	ProvenanceTitle      = "provenance.intoto.json"
)

// attachments are the documents published as referrers of the built image (and in cosign's
// tags): the SBOM as SPDX JSON and as a DSSE attestation, the provenance attestation, and the
// image's signature when --sign-key is given (which also signs the attestations).
// ls is the launcher source the build used: the SBOM lists each launcher's Go modules.
// lc keeps licence verdicts between builds (nil: none kept). name is the first -t name, which
// the documents name the image by ("" for graft.toml's name).
func (a *attestOpts) attachments(p *lockfile.Project, res *contract.Result, ls contract.LauncherSource, lc attest.LicenseCache, name string) ([]publish.Attachment, error) {
	var out []publish.Attachment
	if a.sbom || a.provenance {
		opts := []attest.Option{attest.WithName(name)}
		if lc != nil {
			opts = append(opts, attest.WithLicenseCache(lc))
		}
		in, err := attest.NewInput(p, res, ls, opts...)
		if err != nil {
			return nil, err
		}
		docs, err := a.documents(in)
		if err != nil {
			return nil, err
		}
		out = append(out, docs...)
	}
	if a.signer != nil {
		repo := attest.Repository(name)
		if repo == "" {
			repo = attest.Repository(p.Site.Name)
		}
		payload, err := sign.ImagePayload(repo, res.Digest.String())
		if err != nil {
			return nil, err
		}
		sig, err := a.signer.SignImage(payload)
		if err != nil {
			return nil, err
		}
		out = append(out, publish.Attachment{ArtifactType: sign.SignatureArtifactType, MediaType: sign.SimpleSigningMediaType,
			Data: payload, Annotations: map[string]string{sign.SignatureAnnotation: sig}, TagSuffix: "sig"})
	}
	return out, nil
}

// documents are the SBOM and the attestations of in.
func (a *attestOpts) documents(in *attest.Input) ([]publish.Attachment, error) {
	var out []publish.Attachment
	if a.sbom {
		doc, err := attest.SBOM(in)
		if err != nil {
			return nil, err
		}
		out = append(out, publish.Attachment{ArtifactType: attest.SBOMMediaType, Title: SBOMTitle, Data: doc, TagSuffix: "sbom"})
		st, err := attest.SBOMStatement(in, doc)
		if err != nil {
			return nil, err
		}
		att, err := a.attestation(st, attest.SPDXPredicate, SBOMAttestationTitle)
		if err != nil {
			return nil, err
		}
		out = append(out, att)
	}
	if a.provenance {
		st, err := attest.ProvenanceStatement(in)
		if err != nil {
			return nil, err
		}
		att, err := a.attestation(st, attest.SLSAProvenance, ProvenanceTitle)
		if err != nil {
			return nil, err
		}
		out = append(out, att)
	}
	return out, nil
}

// attestation is a statement in a DSSE envelope (signed with --sign-key), in the form cosign
// attest stores: media type, predicateType annotation, an empty signature annotation.
func (a *attestOpts) attestation(statement []byte, predicateType, title string) (publish.Attachment, error) {
	env, err := sign.Envelope(statement, a.signer)
	if err != nil {
		return publish.Attachment{}, err
	}
	return publish.Attachment{ArtifactType: sign.DSSEMediaType, Title: title, Data: env, TagSuffix: "att",
		Annotations: map[string]string{sign.PredicateTypeAnnotation: predicateType, sign.SignatureAnnotation: ""}}, nil
}

// firstTag is the first -t name, which the documents name the image by; "" without one.
func firstTag(tags []string) string {
	if len(tags) > 0 {
		return tags[0]
	}
	return ""
}

package main

import (
	"github.com/spf13/pflag"

	"github.com/graft-build/graft/builder/attest"
	"github.com/graft-build/graft/builder/contract"
	"github.com/graft-build/graft/builder/publish"
	"github.com/graft-build/graft/lockfile"
)

// attestOpts are graft build's --sbom and --provenance.
type attestOpts struct {
	sbom, provenance bool
}

func (a *attestOpts) flags(f *pflag.FlagSet) {
	f.BoolVar(&a.sbom, "sbom", true, "attach an SPDX 2.3 SBOM to the image (registry and oci outputs)")
	f.BoolVar(&a.provenance, "provenance", true, "attach SLSA v1 provenance (in-toto) to the image (registry and oci outputs)")
}

// Titles of the attached documents.
const (
	SBOMTitle       = "sbom.spdx.json"
	ProvenanceTitle = "provenance.intoto.json"
)

// attachments are the documents published as referrers of the built image.
// ls is the launcher source the build used: the SBOM lists each launcher's Go modules.
// lc keeps licence verdicts between builds (nil: none kept).
func (a *attestOpts) attachments(p *lockfile.Project, res *contract.Result, ls contract.LauncherSource, lc attest.LicenseCache) ([]publish.Attachment, error) {
	if !a.sbom && !a.provenance {
		return nil, nil
	}
	var opts []attest.Option
	if lc != nil {
		opts = append(opts, attest.WithLicenseCache(lc))
	}
	in, err := attest.NewInput(p, res, ls, opts...)
	if err != nil {
		return nil, err
	}
	var out []publish.Attachment
	if a.sbom {
		doc, err := attest.SBOM(in)
		if err != nil {
			return nil, err
		}
		out = append(out, publish.Attachment{ArtifactType: attest.SBOMMediaType, Title: SBOMTitle, Data: doc, TagSuffix: "sbom"})
	}
	if a.provenance {
		doc, err := attest.ProvenanceStatement(in)
		if err != nil {
			return nil, err
		}
		out = append(out, publish.Attachment{ArtifactType: attest.ProvenanceMediaType, Title: ProvenanceTitle, Data: doc, TagSuffix: "att"})
	}
	return out, nil
}

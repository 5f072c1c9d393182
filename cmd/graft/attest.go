package main

import (
	"os"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/graft-build/graft/builder/attest"
	"github.com/graft-build/graft/builder/contract"
	"github.com/graft-build/graft/builder/layercache"
	"github.com/graft-build/graft/builder/publish"
	"github.com/graft-build/graft/internal/atomicfile"
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

// licenseCache keeps licence verdicts in graft's cache folder, one small file per ID, and in
// the shared layer cache when there is one (a fresh runner finds them there instead of
// downloading every plugin layer to read its licence files).
type licenseCache struct {
	dir    string
	shared *layercache.Cache // may be nil
}

func (c licenseCache) License(id string) (string, bool) {
	if data, err := os.ReadFile(filepath.Join(c.dir, id)); err == nil {
		return string(data), true
	}
	if c.shared != nil {
		return c.shared.License(id)
	}
	return "", false
}

func (c licenseCache) RememberLicense(id, license string) {
	if os.MkdirAll(c.dir, 0o755) == nil {
		_ = atomicfile.Write(filepath.Join(c.dir, id), []byte(license), 0o644) // failing to cache is not an error
	}
	if c.shared != nil {
		c.shared.RememberLicense(id, license)
	}
}

package main

import (
	"github.com/spf13/pflag"

	"github.com/graft-build/graft/builder/attest"
	"github.com/graft-build/graft/builder/sign"
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

// attach are attest.Attach's options for these flags: name is the first -t name, lc keeps
// licence verdicts between builds.
func (a *attestOpts) attach(name string, lc attest.LicenseCache) attest.AttachOptions {
	return attest.AttachOptions{SBOM: a.sbom, Provenance: a.provenance, Signer: a.signer, Name: name, Licenses: lc}
}

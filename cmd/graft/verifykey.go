package main

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/graft-build/graft/builder/attest"
	"github.com/graft-build/graft/builder/sign"
	"github.com/graft-build/graft/internal/imageref"
)

// verifySignatures is graft verify --key: the image's signature and its attestations checked
// with the public key at keyPath, one line each on stdout. ok is false when the image is not
// signed by the key, or an attestation it has (SBOM, provenance) has no copy signed by it.
func verifySignatures(ctx context.Context, g *globalOpts, ref imageref.Ref, res *imageref.Resolved, keyPath string) (bool, error) {
	v, err := sign.LoadVerifier(keyPath)
	if err != nil {
		return false, err
	}
	s, err := attest.CheckSignatures(ctx, ref, res, v, remote.WithAuthFromKeychain(authn.DefaultKeychain))
	if err != nil {
		return false, fmt.Errorf("signatures of %s: %w", res.Digest, err)
	}
	s.Print(g.stdout, res.Digest, keyPath)
	return s.OK(), nil
}

package main

import (
	"context"
	"fmt"
	"sort"
	"strings"

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
	digest := res.Digest
	s, err := attest.CheckSignatures(ctx, ref, res, v, remote.WithAuthFromKeychain(authn.DefaultKeychain))
	if err != nil {
		return false, fmt.Errorf("signatures of %s: %w", digest, err)
	}
	if len(s.Image) > 0 {
		fmt.Fprintf(g.stdout, "signature: %s is signed by %s (%s)\n", digest, keyPath, strings.Join(s.Image, ", "))
	}
	pts := make([]string, 0, len(s.Attestations))
	for pt := range s.Attestations {
		pts = append(pts, pt)
	}
	sort.Strings(pts)
	for _, pt := range pts {
		if where := s.Attestations[pt]; len(where) > 0 {
			fmt.Fprintf(g.stdout, "attestation %s: signed by %s (%s)\n", pt, keyPath, strings.Join(where, ", "))
		}
	}
	for _, p := range s.Problems {
		fmt.Fprintf(g.stdout, "not verified: %s\n", p)
	}
	return s.OK(), nil
}

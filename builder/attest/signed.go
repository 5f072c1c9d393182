package attest

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/graft-build/graft/builder/sign"
	"github.com/graft-build/graft/internal/imageref"
)

// Signatures is what a public key verifies of an image's signature and attestations, as
// `cosign verify --key` and `cosign verify-attestation --key` would.
type Signatures struct {
	// Image lists where a signature of the image by the key was found.
	Image []string
	// Attestations maps a predicate type to where an attestation of it, signed by the key and
	// about this image, was found; an attestation that is not becomes a Problem.
	Attestations map[string][]string
	// Problems are what does not verify, one line each.
	Problems []string
}

// OK reports whether the image is signed by the key and every attestation graft attaches that
// the image has (SBOM, provenance) has a copy signed by the key.
func (s *Signatures) OK() bool {
	if len(s.Image) == 0 {
		return false
	}
	for _, pt := range []string{SPDXPredicate, SLSAProvenance} {
		if _, seen := s.Attestations[pt]; seen && len(s.Attestations[pt]) == 0 {
			return false
		}
	}
	return true
}

// CheckSignatures reads the image's signatures and attestations, wherever graft or cosign put
// them (OCI 1.1 referrers; in a registry also cosign's sha256-<hex>.sig and .att tags), and
// checks each with v: a signature must be the key's and name the image's digest; an
// attestation's envelope must carry a signature by the key and its statement name the digest.
func CheckSignatures(ctx context.Context, ref imageref.Ref, res *imageref.Resolved, v *sign.Verifier, ropts ...remote.Option) (*Signatures, error) {
	digest := res.Digest
	atts, err := Referrers(ctx, ref, res, func(t string) bool {
		return t == sign.DSSEMediaType || t == sign.SignatureArtifactType
	}, ropts...)
	if err != nil {
		return nil, err
	}
	if ref.Kind == imageref.Registry {
		for _, suffix := range []string{"sig", "att"} {
			a, err := CosignTag(ctx, ref.Name.Context(), digest, suffix, ropts...)
			if err != nil {
				return nil, err
			}
			if a != nil {
				atts = append(atts, *a)
			}
		}
	}
	s := &Signatures{Attestations: map[string][]string{}}
	unsigned := map[string][]string{}
	var imageErrs []string
	for _, a := range atts {
		for _, d := range a.Documents {
			switch d.MediaType {
			case sign.SimpleSigningMediaType:
				if err := v.VerifyImage(d.Data, d.Annotations[sign.SignatureAnnotation], digest.String()); err != nil {
					imageErrs = append(imageErrs, a.Where+": "+err.Error())
					continue
				}
				s.Image = append(s.Image, a.Where)
			case sign.DSSEMediaType:
				pt := d.Annotations[sign.PredicateTypeAnnotation]
				if _, ok := s.Attestations[pt]; !ok {
					s.Attestations[pt] = nil
				}
				if err := checkAttestation(v, d.Data, digest); err != nil {
					unsigned[pt] = append(unsigned[pt], a.Where+": "+err.Error())
					continue
				}
				s.Attestations[pt] = append(s.Attestations[pt], a.Where)
			}
		}
	}
	switch {
	case len(s.Image) > 0:
	case len(imageErrs) == 0:
		s.Problems = append(s.Problems, "image: no signature is attached")
	default:
		s.Problems = append(s.Problems, fmt.Sprintf("image: no signature verifies (%s)", strings.Join(imageErrs, "; ")))
	}
	pts := make([]string, 0, len(unsigned))
	for pt := range unsigned {
		pts = append(pts, pt)
	}
	sort.Strings(pts)
	for _, pt := range pts {
		if len(s.Attestations[pt]) == 0 {
			s.Problems = append(s.Problems, fmt.Sprintf("attestation %s: no copy verifies (%s)", pt, strings.Join(unsigned[pt], "; ")))
		}
	}
	return s, nil
}

// checkAttestation verifies the envelope with v and that its statement is about digest.
func checkAttestation(v *sign.Verifier, envelope []byte, digest v1.Hash) error {
	raw, err := v.VerifyEnvelope(envelope)
	if err != nil {
		return err
	}
	var st struct {
		Subject []Subject `json:"subject"`
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return fmt.Errorf("signed statement: %w", err)
	}
	for _, sub := range st.Subject {
		if sub.Digest[digest.Algorithm] == digest.Hex {
			return nil
		}
	}
	return fmt.Errorf("signed statement is about another image, not %s", digest)
}

package attest

import (
	"fmt"
	"io"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Print writes what `graft verify --key` says of the image's signatures: where the image is
// signed by the key (named keyPath), each attestation's signed copies by predicate type, then
// what does not verify; one line each.
func (s *Signatures) Print(w io.Writer, digest v1.Hash, keyPath string) {
	if len(s.Image) > 0 {
		fmt.Fprintf(w, "signature: %s is signed by %s (%s)\n", digest, keyPath, strings.Join(s.Image, ", "))
	}
	pts := make([]string, 0, len(s.Attestations))
	for pt := range s.Attestations {
		pts = append(pts, pt)
	}
	sort.Strings(pts)
	for _, pt := range pts {
		if where := s.Attestations[pt]; len(where) > 0 {
			fmt.Fprintf(w, "attestation %s: signed by %s (%s)\n", pt, keyPath, strings.Join(where, ", "))
		}
	}
	for _, p := range s.Problems {
		fmt.Fprintf(w, "not verified: %s\n", p)
	}
}

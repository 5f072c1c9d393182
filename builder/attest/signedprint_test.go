package attest

import (
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestSignaturesPrint(t *testing.T) {
	s := &Signatures{
		Image:        []string{"referrer sha256:1"},
		Attestations: map[string][]string{"https://spdx.dev/Document": {"a", "b"}, "https://slsa.dev/provenance/v1": {"c"}, "none": nil},
		Problems:     []string{"attestation x: not signed by the key"},
	}
	var b strings.Builder
	s.Print(&b, v1.Hash{Algorithm: "sha256", Hex: "ab"}, "cosign.pub")
	want := `signature: sha256:ab is signed by cosign.pub (referrer sha256:1)
attestation https://slsa.dev/provenance/v1: signed by cosign.pub (c)
attestation https://spdx.dev/Document: signed by cosign.pub (a, b)
not verified: attestation x: not signed by the key
`
	if b.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	(&Signatures{}).Print(&b, v1.Hash{}, "k")
	if b.Len() != 0 {
		t.Fatalf("nothing found printed %q", b.String())
	}
}

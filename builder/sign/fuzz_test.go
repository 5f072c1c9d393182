package sign_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"

	"github.com/graft-build/graft/builder/sign"
)

// FuzzEnvelope: envelopes come from registries and layouts graft does not trust; reading,
// merging and checking them never panics, and one that verifies carries the key's signature
// over exactly the statement returned.
func FuzzEnvelope(f *testing.F) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	v, err := sign.NewVerifier(key.Public(), "test.pub")
	if err != nil {
		f.Fatal(err)
	}
	unsigned, _ := sign.Envelope([]byte(statement), nil)
	f.Add(unsigned, []byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"sig":"AAAA"}]}`))
	f.Add([]byte(`{"payloadType":"x"}`), []byte(`null`))
	f.Add([]byte(`{"payloadType":"application/vnd.in-toto+json","payload":"!!","signatures":null}`), []byte(`[]`))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		_, _ = sign.Statement(a)
		if merged, ok, err := sign.MergeEnvelopes(a, b); err == nil && ok {
			if _, err := sign.Statement(merged); err != nil {
				t.Fatalf("a merged envelope does not read back: %v", err)
			}
		}
		if _, err := v.VerifyEnvelope(a); err == nil {
			t.Fatalf("an envelope nobody signed with the key verified: %s", a)
		}
		_ = v.VerifyImage(a, string(b), "sha256:00")
	})
}

package sign_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-build/graft/builder/buildtest"
	"github.com/graft-build/graft/builder/sign"
	"github.com/graft-build/graft/internal/usererr"
)

const statement = `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"x","digest":{"sha256":"ab"}}],"predicateType":"p","predicate":{}}`

func TestEnvelopeSignedAndChecked(t *testing.T) {
	priv, pub := buildtest.CosignKeyPair(t, "s3cret")
	s, err := sign.LoadSigner(priv, []byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	env, err := sign.Envelope([]byte(statement), s)
	if err != nil {
		t.Fatal(err)
	}
	var e struct {
		PayloadType string `json:"payloadType"`
		Signatures  []struct {
			Sig string `json:"sig"`
		} `json:"signatures"`
	}
	if err := json.Unmarshal(env, &e); err != nil || e.PayloadType != sign.InTotoPayloadType || len(e.Signatures) != 1 {
		t.Fatalf("envelope %s (%v)", env, err)
	}
	// Deterministic: the same key and statement give the same bytes.
	again, _ := sign.Envelope([]byte(statement), s)
	if !bytes.Equal(env, again) {
		t.Errorf("two signatures of one statement differ:\n%s\n%s", env, again)
	}
	v, err := sign.LoadVerifier(pub)
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.VerifyEnvelope(env)
	if err != nil || string(got) != statement {
		t.Fatalf("VerifyEnvelope = %q, %v", got, err)
	}
	// Another key does not verify it; an unsigned envelope is not verified either.
	_, otherPub := buildtest.CosignKeyPair(t, "x")
	other, _ := sign.LoadVerifier(otherPub)
	if _, err := other.VerifyEnvelope(env); !errors.Is(err, sign.ErrNotSigned) {
		t.Errorf("another key: err = %v, want ErrNotSigned", err)
	}
	unsigned, _ := sign.Envelope([]byte(statement), nil)
	if _, err := v.VerifyEnvelope(unsigned); !errors.Is(err, sign.ErrNotSigned) {
		t.Errorf("unsigned: err = %v, want ErrNotSigned", err)
	}
	// A tampered statement fails.
	tampered := bytes.Replace(env, []byte(`"payload":"`), []byte(`"payload":"e30K`), 1)
	if _, err := v.VerifyEnvelope(tampered); err == nil {
		t.Errorf("a tampered envelope verified")
	}
	// Merging keeps both signers' signatures; an unsigned copy adds none.
	priv2, pub2 := buildtest.CosignKeyPair(t, "")
	s2, err := sign.LoadSigner(priv2, nil)
	if err != nil {
		t.Fatalf("empty password: %v", err)
	}
	env2, _ := sign.Envelope([]byte(statement), s2)
	merged, ok, err := sign.MergeEnvelopes(unsigned, env)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	merged, ok, err = sign.MergeEnvelopes(merged, env2)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	v2, _ := sign.LoadVerifier(pub2)
	for _, ver := range []*sign.Verifier{v, v2} {
		if _, err := ver.VerifyEnvelope(merged); err != nil {
			t.Errorf("merged envelope, key %s: %v", ver.Path, err)
		}
	}
	otherStatement, _ := sign.Envelope([]byte(strings.Replace(statement, `"p"`, `"q"`, 1)), s)
	if _, ok, _ := sign.MergeEnvelopes(env, otherStatement); ok {
		t.Errorf("envelopes of different statements merged")
	}
}

func TestImageSignature(t *testing.T) {
	priv, pub := buildtest.CosignKeyPair(t, "pw")
	s, err := sign.LoadSigner(priv, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	digest := "sha256:" + strings.Repeat("ab", 32)
	payload, err := sign.ImagePayload("127.0.0.1:5000/site", digest)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"critical":{"identity":{"docker-reference":"127.0.0.1:5000/site"},"image":{"docker-manifest-digest":"` + digest +
		`"},"type":"cosign container image signature"},"optional":null}`
	if string(payload) != want {
		t.Errorf("payload\n%s\nwant\n%s", payload, want)
	}
	sig, err := s.SignImage(payload)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := sign.LoadVerifier(pub)
	if err := v.VerifyImage(payload, sig, digest); err != nil {
		t.Errorf("VerifyImage: %v", err)
	}
	if err := v.VerifyImage(payload, sig, "sha256:"+strings.Repeat("cd", 32)); err == nil {
		t.Errorf("a signature of another image verified")
	}
	if err := v.VerifyImage(payload, "", digest); !errors.Is(err, sign.ErrNotSigned) {
		t.Errorf("no signature: %v", err)
	}
}

// A wrong password, a missing file or a file that is no key is bad input (exit 2), and the
// password is never in the message.
func TestBadKeys(t *testing.T) {
	priv, pub := buildtest.CosignKeyPair(t, "right-password")
	_, err := sign.LoadSigner(priv, []byte("wrong-password"))
	if err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), sign.PasswordEnv) || strings.Contains(err.Error(), "password-") {
		t.Errorf("wrong password: %v", err)
	}
	if _, err := sign.LoadSigner(pub, nil); err == nil || !usererr.Is(err) {
		t.Errorf("a public key as --sign-key: %v", err)
	}
	if _, err := sign.LoadSigner(filepath.Join(t.TempDir(), "none"), nil); err == nil || !usererr.Is(err) {
		t.Errorf("missing key: %v", err)
	}
	if _, err := sign.LoadVerifier(priv); err == nil || !usererr.Is(err) {
		t.Errorf("a private key as --key: %v", err)
	}
}

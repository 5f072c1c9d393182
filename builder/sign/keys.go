package sign

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/graft-build/graft/internal/usererr"
)

// PasswordEnv holds the password of a cosign key file, as for cosign itself.
const PasswordEnv = "COSIGN_PASSWORD"

// maxKeyFile bounds a key file read: PEM keys are a few kilobytes.
const maxKeyFile = 64 << 10

// Signer signs with a private key loaded from a cosign key file.
type Signer struct {
	key  crypto.Signer
	path string
}

// LoadSigner reads the private key at path: a cosign key file (`cosign generate-key-pair`,
// encrypted with password), or an unencrypted PKCS #8, PKCS #1 or EC PEM key. A file that is
// not a key, or a password that does not open it, is bad input; the password never appears in
// an error.
func LoadSigner(path string, password []byte) (*Signer, error) {
	raw, err := readKeyFile("--sign-key", path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, usererr.New("--sign-key %s: not a PEM key file; give the .key file of `cosign generate-key-pair`", path)
	}
	if password == nil {
		password = []byte{} // an empty password still decrypts a key made with one
	}
	priv, err := cryptoutils.UnmarshalPEMToPrivateKey(raw, func(bool) ([]byte, error) { return password, nil })
	if err != nil {
		if encrypted(block.Type) {
			return nil, usererr.New("--sign-key %s: the key does not open with the password in $%s (wrong or unset)", path, PasswordEnv)
		}
		return nil, usererr.New("--sign-key %s: %s is not a private key graft can read (%v)", path, block.Type, err)
	}
	s, ok := priv.(crypto.Signer)
	if !ok {
		return nil, usererr.New("--sign-key %s: unsupported key type %T", path, priv)
	}
	switch s.(type) {
	case *ecdsa.PrivateKey, ed25519.PrivateKey, *rsa.PrivateKey:
	default:
		return nil, usererr.New("--sign-key %s: unsupported key type %T; use ECDSA, Ed25519 or RSA", path, priv)
	}
	return &Signer{key: s, path: path}, nil
}

func encrypted(pemType string) bool {
	switch pemType {
	case string(cryptoutils.EncryptedSigstorePrivateKeyPEMType), "ENCRYPTED COSIGN PRIVATE KEY", "ENCRYPTED PRIVATE KEY":
		return true
	}
	return false
}

// readKeyFile reads the key file given to flag, bounded.
func readKeyFile(flag, path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usererr.New("%s: %v; give a key file of `cosign generate-key-pair`", flag, err)
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", flag, path, err)
	}
	if len(raw) > maxKeyFile {
		return nil, usererr.New("%s %s: larger than %d bytes, not a PEM key", flag, path, maxKeyFile)
	}
	return raw, nil
}

// Public is the signer's public key.
func (s *Signer) Public() crypto.PublicKey { return s.key.Public() }

// sign signs message as cosign does with the same key: SHA-256 for ECDSA and RSA (PKCS #1
// v1.5), the message itself for Ed25519. ECDSA signatures are deterministic (RFC 6979: a nil
// random source), unlike cosign's, and verify the same.
func (s *Signer) sign(message []byte) ([]byte, error) {
	switch k := s.key.(type) {
	case ed25519.PrivateKey:
		return ed25519.Sign(k, message), nil
	case *ecdsa.PrivateKey:
		d := sha256.Sum256(message)
		return k.Sign(nil, d[:], crypto.SHA256)
	case *rsa.PrivateKey:
		d := sha256.Sum256(message)
		return rsa.SignPKCS1v15(nil, k, crypto.SHA256, d[:])
	}
	return nil, fmt.Errorf("unsupported key type %T", s.key)
}

// Verifier checks signatures with a public key.
type Verifier struct {
	v    signature.Verifier
	Path string
}

// LoadVerifier reads the PEM public key at path (cosign's .pub file).
func LoadVerifier(path string) (*Verifier, error) {
	raw, err := readKeyFile("--key", path)
	if err != nil {
		return nil, err
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(raw)
	if err != nil {
		return nil, usererr.New("--key %s: not a PEM public key (%v); give the .pub file of `cosign generate-key-pair`", path, err)
	}
	return NewVerifier(pub, path)
}

// NewVerifier checks signatures with pub; name says where it came from, in messages.
func NewVerifier(pub crypto.PublicKey, name string) (*Verifier, error) {
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return nil, usererr.New("--key %s: %v", name, err)
	}
	return &Verifier{v: v, Path: name}, nil
}

// ErrNotSigned says a document carries no signature the key verifies.
var ErrNotSigned = errors.New("no signature by the key")

// VerifyEnvelope checks that one of the envelope's signatures is the key's, and returns the
// statement it signs.
func (v *Verifier) VerifyEnvelope(raw []byte) ([]byte, error) {
	env, err := parseEnvelope(raw)
	if err != nil {
		return nil, err
	}
	statement, err := env.DecodeB64Payload()
	if err != nil {
		return nil, fmt.Errorf("DSSE envelope: %w", err)
	}
	pae := dsse.PAE(env.PayloadType, statement)
	for _, s := range env.Signatures {
		sig, err := base64.StdEncoding.DecodeString(s.Sig)
		if err != nil {
			continue
		}
		if v.v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(pae)) == nil {
			return statement, nil
		}
	}
	if len(env.Signatures) == 0 {
		return nil, fmt.Errorf("unsigned: %w", ErrNotSigned)
	}
	return nil, fmt.Errorf("%d signature(s), none by %s: %w", len(env.Signatures), v.Path, ErrNotSigned)
}

// VerifyImage checks a simple-signing layer: its base64 signature is the key's over payload,
// and payload names the image digest ("sha256:...").
func (v *Verifier) VerifyImage(payload []byte, b64sig, digest string) error {
	sig, err := base64.StdEncoding.DecodeString(b64sig)
	if err != nil || len(sig) == 0 {
		return fmt.Errorf("no readable signature: %w", ErrNotSigned)
	}
	if err := v.v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(payload)); err != nil {
		return fmt.Errorf("signature is not by %s: %w", v.Path, ErrNotSigned)
	}
	named, err := payloadDigest(payload)
	if err != nil {
		return err
	}
	if named != digest {
		return fmt.Errorf("signed payload names image %s, not %s", named, digest)
	}
	return nil
}

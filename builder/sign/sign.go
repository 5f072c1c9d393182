// Package sign holds what makes graft's attachments readable and checkable by cosign: DSSE
// envelopes of in-toto statements (what `cosign attest` stores), cosign's simple-signing payload
// (what `cosign sign` signs for an image), cosign key files for signing and public keys for
// checking. Signatures are deterministic (ECDSA per RFC 6979, Ed25519, RSA PKCS #1 v1.5): the
// same key and document give the same bytes, so a rebuild re-attaches identical signatures
// instead of piling up new ones beside the image.
package sign

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/sigstore/sigstore/pkg/signature/payload"
)

// Media types, payload types and annotations cosign reads.
const (
	// DSSEMediaType is the layer media type of an attestation (cosign's .att tag).
	DSSEMediaType = "application/vnd.dsse.envelope.v1+json"
	// InTotoPayloadType is the payloadType of an envelope holding an in-toto statement.
	InTotoPayloadType = "application/vnd.in-toto+json"
	// SimpleSigningMediaType is the layer media type of an image signature (cosign's .sig tag).
	SimpleSigningMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	// SignatureArtifactType is the artifactType of an image signature stored as an OCI 1.1
	// referrer (cosign's --experimental-oci11 form).
	SignatureArtifactType = "application/vnd.dev.cosign.artifact.sig.v1+json"
	// SignatureAnnotation holds a simple-signing layer's base64 signature; cosign writes it
	// empty on attestation layers, whose signatures are inside the envelope.
	SignatureAnnotation = "dev.cosignproject.cosign/signature"
	// PredicateTypeAnnotation names an attestation layer's predicate type.
	PredicateTypeAnnotation = "predicateType"
)

// maxEnvelope bounds an envelope parsed from an attachment (documents are bounded by their
// reader; this is a second guard for callers that pass bytes from elsewhere).
const maxEnvelope = 96 << 20

// Envelope wraps an in-toto statement in a DSSE envelope, signed by s (unsigned when s is nil:
// its signatures list is empty, which cosign prints but does not accept as verified).
func Envelope(statement []byte, s *Signer) ([]byte, error) {
	env := dsse.Envelope{PayloadType: InTotoPayloadType, Payload: base64.StdEncoding.EncodeToString(statement),
		Signatures: []dsse.Signature{}}
	if s != nil {
		sig, err := s.sign(dsse.PAE(InTotoPayloadType, statement))
		if err != nil {
			return nil, fmt.Errorf("sign attestation: %w", err)
		}
		env.Signatures = append(env.Signatures, dsse.Signature{Sig: base64.StdEncoding.EncodeToString(sig)})
	}
	return json.Marshal(env)
}

// Statement is the in-toto statement inside envelope raw, unchecked.
func Statement(raw []byte) ([]byte, error) {
	env, err := parseEnvelope(raw)
	if err != nil {
		return nil, err
	}
	return env.DecodeB64Payload()
}

func parseEnvelope(raw []byte) (*dsse.Envelope, error) {
	if len(raw) > maxEnvelope {
		return nil, fmt.Errorf("DSSE envelope of %d bytes is larger than graft reads", len(raw))
	}
	var env dsse.Envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, fmt.Errorf("DSSE envelope: %w", err)
	}
	if env.PayloadType != InTotoPayloadType {
		return nil, fmt.Errorf("DSSE envelope of payloadType %q, not %s", env.PayloadType, InTotoPayloadType)
	}
	return &env, nil
}

// MergeEnvelopes is envelope a with the signatures of b added, when both hold the same
// statement: an attestation signed by one key, then rebuilt and signed by another (or not
// signed), keeps every signature. ok is false when the statements differ.
func MergeEnvelopes(a, b []byte) (merged []byte, ok bool, err error) {
	ea, err := parseEnvelope(a)
	if err != nil {
		return nil, false, err
	}
	eb, err := parseEnvelope(b)
	if err != nil {
		return nil, false, err
	}
	pa, err := ea.DecodeB64Payload()
	if err != nil {
		return nil, false, err
	}
	pb, err := eb.DecodeB64Payload()
	if err != nil {
		return nil, false, err
	}
	if !bytes.Equal(pa, pb) {
		return nil, false, nil
	}
	for _, s := range eb.Signatures {
		if !slices.Contains(ea.Signatures, s) {
			ea.Signatures = append(ea.Signatures, s)
		}
	}
	if ea.Signatures == nil {
		ea.Signatures = []dsse.Signature{}
	}
	out, err := json.Marshal(ea)
	return out, err == nil, err
}

// ImagePayload is cosign's simple-signing payload for the image digest ("sha256:...") known
// as repository: what `cosign sign` signs and `cosign verify` checks against the image.
func ImagePayload(repository, digest string) ([]byte, error) {
	return json.Marshal(payload.SimpleContainerImage{Critical: payload.Critical{
		Identity: payload.Identity{DockerReference: repository},
		Image:    payload.Image{DockerManifestDigest: digest},
		Type:     payload.CosignSignatureType,
	}})
}

// SignImage signs the image payload; the result is the base64 signature cosign keeps in the
// layer's SignatureAnnotation.
func (s *Signer) SignImage(imagePayload []byte) (string, error) {
	sig, err := s.sign(imagePayload)
	if err != nil {
		return "", fmt.Errorf("sign image: %w", err)
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// payloadDigest is the image digest a simple-signing payload names.
func payloadDigest(raw []byte) (string, error) {
	var p payload.SimpleContainerImage
	if err := json.Unmarshal(raw, &p); err != nil {
		return "", fmt.Errorf("simple-signing payload: %w", err)
	}
	if p.Critical.Type != payload.CosignSignatureType {
		return "", errors.New("simple-signing payload of another type: " + p.Critical.Type)
	}
	return p.Critical.Image.DockerManifestDigest, nil
}

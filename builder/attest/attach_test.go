package attest_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/graft-build/graft/builder/attest"
	"github.com/graft-build/graft/builder/buildtest"
	"github.com/graft-build/graft/builder/sign"
)

// Attach makes the SBOM, its attestation and the provenance attestation, each signed with the
// key, and the image's signature naming the -t repository without its tag.
func TestAttachSignsEveryDocument(t *testing.T) {
	p := site(t).Load()
	res, src := built(t, p)
	priv, _ := buildtest.CosignKeyPair(t, "pw")
	signer, err := sign.LoadSigner(priv, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := sign.NewVerifier(signer.Public(), "test key")
	if err != nil {
		t.Fatal(err)
	}
	atts, err := attest.Attach(p, res, src, attest.AttachOptions{SBOM: true, Provenance: true, Signer: signer, Name: "other.test/lib/site:v3"})
	if err != nil {
		t.Fatal(err)
	}
	var titles []string
	for _, a := range atts {
		titles = append(titles, a.Title+"/"+a.TagSuffix)
	}
	if got := strings.Join(titles, " "); got != "sbom.spdx.json/sbom sbom.spdx.intoto.json/att provenance.intoto.json/att /sig" {
		t.Fatalf("attachments %s", got)
	}
	in, err := attest.NewInput(p, res, src, attest.WithName("other.test/lib/site:v3"))
	if err != nil {
		t.Fatal(err)
	}
	sbom, err := attest.SBOM(in)
	if err != nil || !bytes.Equal(atts[0].Data, sbom) || atts[0].ArtifactType != attest.SBOMMediaType {
		t.Errorf("SBOM attachment is not attest.SBOM's document (%v)", err)
	}
	for i, pred := range map[int]string{1: attest.SPDXPredicate, 2: attest.SLSAProvenance} {
		if atts[i].ArtifactType != sign.DSSEMediaType || atts[i].Annotations[sign.PredicateTypeAnnotation] != pred {
			t.Errorf("%s: %s %v", atts[i].Title, atts[i].ArtifactType, atts[i].Annotations)
		}
		if _, err := v.VerifyEnvelope(atts[i].Data); err != nil {
			t.Errorf("%s: %v", atts[i].Title, err)
		}
	}
	sig := atts[3]
	if err := v.VerifyImage(sig.Data, sig.Annotations[sign.SignatureAnnotation], res.Digest.String()); err != nil {
		t.Error(err)
	}
	if !strings.Contains(string(sig.Data), `"other.test/lib/site"`) {
		t.Errorf("signed payload does not name the -t repository: %s", sig.Data)
	}
}

// Without documents asked for there are none; a signature without -t names graft.toml's
// repository; attestations without a key are unsigned envelopes.
func TestAttachChoices(t *testing.T) {
	p := site(t).Load()
	res, src := built(t, p)
	if atts, err := attest.Attach(p, res, src, attest.AttachOptions{}); err != nil || len(atts) != 0 {
		t.Errorf("nothing asked: %v %v", atts, err)
	}
	priv, _ := buildtest.CosignKeyPair(t, "pw")
	signer, err := sign.LoadSigner(priv, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	atts, err := attest.Attach(p, res, src, attest.AttachOptions{Signer: signer})
	if err != nil || len(atts) != 1 || !strings.Contains(string(atts[0].Data), `"`+p.Site.Name+`"`) {
		t.Fatalf("signature only: %v %v", atts, err)
	}
	atts, err = attest.Attach(p, res, src, attest.AttachOptions{Provenance: true})
	if err != nil || len(atts) != 1 || atts[0].Title != attest.ProvenanceTitle {
		t.Fatalf("provenance only: %v %v", atts, err)
	}
	v, _ := sign.NewVerifier(signer.Public(), "test key")
	if _, err := v.VerifyEnvelope(atts[0].Data); err == nil {
		t.Error("an envelope made without a key verifies")
	}
}

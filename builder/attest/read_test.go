package attest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/graft-build/graft/builder/attest"
	"github.com/graft-build/graft/builder/sign"
	"github.com/graft-build/graft/internal/imageref"
)

// attach writes a referrer of subject into the layout: one layer of mediaType with annotations.
func attach(t *testing.T, p layout.Path, subject v1.Descriptor, artifactType, mediaType string, ann map[string]string, data []byte) {
	t.Helper()
	cfg := []byte("{}")
	ch, _, _ := v1.SHA256(bytes.NewReader(cfg))
	dh, _, _ := v1.SHA256(bytes.NewReader(data))
	for h, b := range map[v1.Hash][]byte{ch: cfg, dh: data} {
		if err := p.WriteBlob(h, io.NopCloser(bytes.NewReader(b))); err != nil {
			t.Fatal(err)
		}
	}
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, ArtifactType: artifactType,
		Config:  v1.Descriptor{MediaType: "application/vnd.oci.empty.v1+json", Digest: ch, Size: int64(len(cfg))},
		Layers:  []v1.Descriptor{{MediaType: types.MediaType(mediaType), Digest: dh, Size: int64(len(data)), Annotations: ann}},
		Subject: &subject}
	raw, _ := json.Marshal(m)
	mh, size, _ := v1.SHA256(bytes.NewReader(raw))
	if err := p.WriteBlob(mh, io.NopCloser(bytes.NewReader(raw))); err != nil {
		t.Fatal(err)
	}
	if err := p.AppendDescriptor(v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: mh, Size: size, ArtifactType: artifactType}); err != nil {
		t.Fatal(err)
	}
}

// graft sbom reads what older graft releases attached (a bare in-toto statement) and what
// graft attaches now (DSSE envelopes), preferring the envelope for provenance; an SBOM found
// only as an attestation is its predicate.
func TestFindReadsOldAndNewForms(t *testing.T) {
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	img, _ := random.Image(64, 1)
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	digest, _ := img.Digest()
	raw, _ := img.RawManifest()
	subject := v1.Descriptor{MediaType: types.DockerManifestSchema2, Digest: digest, Size: int64(len(raw))}
	find := func(typ string) string {
		t.Helper()
		ref, err := imageref.Parse("oci-layout://"+dir, "")
		if err != nil {
			t.Fatal(err)
		}
		res, err := ref.Resolve(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		docs, err := attest.Find(context.Background(), ref, res, typ)
		if err != nil {
			t.Fatalf("Find %s: %v", typ, err)
		}
		return string(docs[0])
	}

	old := `{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://slsa.dev/provenance/v1","predicate":{"old":true}}`
	attach(t, p, subject, attest.ProvenanceMediaType, attest.ProvenanceMediaType, nil, []byte(old))
	if got := find(attest.ProvenanceMediaType); got != old {
		t.Errorf("old form: %s", got)
	}
	statement := `{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://slsa.dev/provenance/v1","predicate":{"new":true}}`
	env, _ := sign.Envelope([]byte(statement), nil)
	attach(t, p, subject, sign.DSSEMediaType, sign.DSSEMediaType, map[string]string{sign.PredicateTypeAnnotation: attest.SLSAProvenance}, env)
	if got := find(attest.ProvenanceMediaType); got != statement {
		t.Errorf("with an envelope beside the old form: %s", got)
	}
	sbom := `{"spdxVersion":"SPDX-2.3"}`
	sbomSt := `{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://spdx.dev/Document","predicate":` + sbom + `}`
	env, _ = sign.Envelope([]byte(sbomSt), nil)
	attach(t, p, subject, sign.DSSEMediaType, sign.DSSEMediaType, map[string]string{sign.PredicateTypeAnnotation: attest.SPDXPredicate}, env)
	if got := find(attest.SBOMMediaType); got != sbom {
		t.Errorf("SBOM from its attestation: %s", got)
	}
}

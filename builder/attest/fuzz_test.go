package attest

import (
	"bytes"
	"errors"
	"io"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// FuzzReadReferrer: a referrer manifest comes from a registry or a layout graft does not
// trust; reading it must never panic, and a document it returns must match its digest.
func FuzzReadReferrer(f *testing.F) {
	want := func(t string) bool { return t == SBOMMediaType }
	doc := []byte(`{"spdxVersion":"SPDX-2.3"}`)
	dh, _, _ := v1.SHA256(bytes.NewReader(doc))
	subject, _ := v1.NewHash("sha256:" + string(bytes.Repeat([]byte("a"), 64)))
	f.Add([]byte(`{"schemaVersion":2,"artifactType":"application/spdx+json","subject":{"digest":"`+subject.String()+
		`"},"layers":[{"mediaType":"application/spdx+json","digest":"`+dh.String()+`","size":26}]}`), doc)
	f.Add([]byte(`{"subject":{"digest":"sha256:zz"}}`), []byte("x"))
	f.Add([]byte(`{"layers":[{"size":-1}]}`), []byte{})
	f.Fuzz(func(t *testing.T, raw, blob []byte) {
		got, err := readAttached(raw, &subject, want, func(h v1.Hash) (io.ReadCloser, error) {
			if h != dh {
				return nil, errors.New("no such blob")
			}
			return io.NopCloser(bytes.NewReader(blob)), nil
		})
		if err != nil || got == nil {
			return
		}
		for _, d := range got.Documents {
			if h, _, _ := v1.SHA256(bytes.NewReader(d.Data)); h != dh {
				t.Fatalf("returned a document with digest %s, want %s", h, dh)
			}
		}
	})
}

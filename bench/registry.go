package main

import (
	"bytes"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
)

// registry is an in-memory OCI registry on 127.0.0.1 (go-containerregistry's pkg/registry)
// that counts the bytes clients upload, so a push's cost is measured on the wire.
type registry struct {
	Host     string // 127.0.0.1:PORT
	uploaded atomic.Int64
	attested atomic.Int64 // of uploaded: SBOM and provenance documents and their manifests
	srv      *httptest.Server
}

func startRegistry() *registry {
	r := &registry{}
	inner := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch req.Method {
		case http.MethodPut, http.MethodPatch, http.MethodPost:
			req.Body = &countingReader{r: req.Body, n: &r.uploaded, attested: &r.attested}
		}
		inner.ServeHTTP(w, req)
	}))
	r.Host = strings.TrimPrefix(r.srv.URL, "http://")
	return r
}

func (r *registry) close() { r.srv.Close() }

// uploadedBytes is the total request-body bytes clients have sent so far.
func (r *registry) uploadedBytes() int64 { return r.uploaded.Load() }

// attestedBytes is the part of uploadedBytes that carried attestations (graft's SBOM and
// provenance, and the referrer manifests holding them), so rows can tell the image's own
// upload from them.
func (r *registry) attestedBytes() int64 { return r.attested.Load() }

// countingReader counts a request body; a body whose start shows an SBOM, an in-toto
// statement or a manifest with a subject (a referrer) counts as attested too.
type countingReader struct {
	r        io.ReadCloser
	n        *atomic.Int64
	attested *atomic.Int64
	head     []byte // the body's first bytes, until its kind is known
	seen     int64  // bytes read so far
	kind     int    // 0 unknown, 1 attestation, -1 not
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	c.seen += int64(n)
	switch c.kind {
	case 1:
		c.attested.Add(int64(n))
	case 0:
		c.head = append(c.head, p[:min(n, 4096-len(c.head))]...)
		if bytes.Contains(c.head, []byte(`"spdxVersion"`)) || bytes.Contains(c.head, []byte(`in-toto.io/Statement`)) ||
			bytes.Contains(c.head, []byte(`"subject"`)) {
			c.kind = 1
			c.attested.Add(c.seen)
		} else if len(c.head) >= 4096 || err != nil {
			c.kind = -1
		}
	}
	return n, err
}

func (c *countingReader) Close() error { return c.r.Close() }

// registryFor starts the bench's registry on first use.
func (b *bench) registryFor() *registry {
	if b.reg == nil {
		b.reg = startRegistry()
		b.onClose(b.reg.close)
	}
	return b.reg
}

package main

import (
	"bytes"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"

	"github.com/graft-build/graft/internal/netdelay"
	"github.com/graft-build/graft/internal/registrytest"
)

// registry is an in-memory registry on 127.0.0.1 behind a netdelay.Link (the round trip per
// request, the handshakes per new connection, and the request log), counting the bytes clients
// upload and the blobs mounted from another repository, so a push's cost is measured on the
// wire. The bench's main registry is CNCF distribution (internal/registrytest: what most registries
// run, with blobs linked per repository, so a push to a new repository checks, mounts or
// uploads each blob); the second one, the target of copies, is go-containerregistry's.
type registry struct {
	Host     string // 127.0.0.1:PORT
	Kind     string // "distribution" or "go-containerregistry"
	link     *netdelay.Link
	uploaded atomic.Int64
	attested atomic.Int64 // of uploaded: SBOM and provenance documents and their manifests
	mounts   atomic.Int64 // blobs mounted from another repository (201 to POST ?mount=&from=)
	sent     atomic.Int64 // response body bytes (blobs and manifests clients read)
	srv      *httptest.Server
}

func startRegistry(link *netdelay.Link, distribution bool) *registry {
	r := &registry{link: link, Kind: "go-containerregistry"}
	var inner http.Handler
	if distribution {
		r.Kind, inner = "distribution", registrytest.Handler()
	} else {
		inner = ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	}
	r.srv = httptest.NewUnstartedServer(link.Handler(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch req.Method {
		case http.MethodPut, http.MethodPatch, http.MethodPost:
			req.Body = newCountingReader(req, &r.uploaded, &r.attested)
		}
		cw := &countingWriter{ResponseWriter: w, n: &r.sent}
		if req.Method == http.MethodPost && req.URL.Query().Get("mount") != "" {
			sw := &statusWriter{ResponseWriter: cw}
			inner.ServeHTTP(sw, req)
			if sw.status == http.StatusCreated {
				r.mounts.Add(1)
			}
			return
		}
		inner.ServeHTTP(cw, req)
	})))
	r.srv.Listener = link.Listener(r.srv.Listener)
	r.srv.Start()
	r.Host = strings.TrimPrefix(r.srv.URL, "http://")
	return r
}

// statusWriter keeps the status of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// sentBytes is the response-body bytes clients have read so far.
func (r *registry) sentBytes() int64 { return r.sent.Load() }

// mounted is the number of blobs mounted from another repository so far.
func (r *registry) mounted() int64 { return r.mounts.Load() }

func (r *registry) close() { r.srv.Close() }

// uploadedBytes is the total request-body bytes clients have sent so far.
func (r *registry) uploadedBytes() int64 { return r.uploaded.Load() }

// attestedBytes is the part of uploadedBytes that carried attestations (graft's SBOM and
// provenance, and the referrer manifests holding them), so rows can tell the image's own
// upload from them.
func (r *registry) attestedBytes() int64 { return r.attested.Load() }

// countingReader counts a request body; a body that belongs to the attachments counts as
// attested too: a tag of the referrers fallback or of cosign (PUT manifests/sha256-<hex>[.sbom,
// .att, .sig]), or a body whose start shows an SBOM, an in-toto statement, a DSSE envelope, a
// cosign signature or a referrer (a manifest with a subject or an artifactType).
type countingReader struct {
	r        io.ReadCloser
	n        *atomic.Int64
	attested *atomic.Int64
	head     []byte // the body's first bytes, until its kind is known
	seen     int64  // bytes read so far
	kind     int    // 0 unknown, 1 attestation, -1 not
}

func newCountingReader(req *http.Request, n, attested *atomic.Int64) *countingReader {
	c := &countingReader{r: req.Body, n: n, attested: attested}
	if _, tag, ok := strings.Cut(req.URL.Path, "/manifests/"); ok && req.Method == http.MethodPut && strings.HasPrefix(tag, "sha256-") {
		c.kind = 1
	}
	return c
}

// attestedMarks are what an attachment's body shows in its first bytes.
var attestedMarks = [][]byte{[]byte(`"spdxVersion"`), []byte(`in-toto.io/Statement`), []byte(`"payloadType"`),
	[]byte(`"subject"`), []byte(`"artifactType"`), []byte(`dev.cosignproject.cosign`), []byte(`dev.sigstore.cosign`)}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	c.seen += int64(n)
	switch c.kind {
	case 1:
		c.attested.Add(int64(n))
	case 0:
		c.head = append(c.head, p[:min(n, 4096-len(c.head))]...)
		if slices.ContainsFunc(attestedMarks, func(m []byte) bool { return bytes.Contains(c.head, m) }) {
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
		b.reg = b.startRegistry(true)
	}
	return b.reg
}

// otherRegistryFor starts a second registry on first use: pushing there copies every blob.
func (b *bench) otherRegistryFor() *registry {
	if b.reg2 == nil {
		b.reg2 = b.startRegistry(false)
	}
	return b.reg2
}

func (b *bench) startRegistry(distribution bool) *registry {
	r := startRegistry(b.newLink(), distribution)
	b.onClose(r.close)
	return r
}

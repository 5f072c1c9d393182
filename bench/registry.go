package main

import (
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
	srv      *httptest.Server
}

func startRegistry() *registry {
	r := &registry{}
	inner := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch req.Method {
		case http.MethodPut, http.MethodPatch, http.MethodPost:
			req.Body = &countingReader{r: req.Body, n: &r.uploaded}
		}
		inner.ServeHTTP(w, req)
	}))
	r.Host = strings.TrimPrefix(r.srv.URL, "http://")
	return r
}

func (r *registry) close() { r.srv.Close() }

// uploadedBytes is the total request-body bytes clients have sent so far.
func (r *registry) uploadedBytes() int64 { return r.uploaded.Load() }

type countingReader struct {
	r io.ReadCloser
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
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

// Package regtest runs CNCF distribution, the registry most registries run, in-process on
// 127.0.0.1 with in-memory storage, and counts what clients upload and which repositories
// blobs were mounted into: tests of caches and pushes measure the wire, not a mock.
package regtest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/graft-build/graft/internal/netdelay"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory" // the storage driver
	"github.com/sirupsen/logrus"
)

// Registry is a running registry.
type Registry struct {
	Host string // 127.0.0.1:PORT

	uploaded atomic.Int64
	delay    time.Duration
	link     *netdelay.Link
	mu       sync.Mutex
	mounts   []string // "from -> to" repositories of mount requests
}

// Request is one request the registry answered: what it asked and when.
type Request = netdelay.Request

// Option configures New.
type Option func(*Registry)

// WithDelay makes the registry wait d before answering each request: a stand-in for the round
// trip to a registry across a network, so that requests made one after the other show in the
// time a client takes, and requests made concurrently do not add up.
func WithDelay(d time.Duration) Option { return func(r *Registry) { r.delay = d } }

var quiet sync.Once

// Handler is a new CNCF distribution registry with in-memory storage of its own (blob deletes
// enabled) and its logs discarded. New serves it for a test; the bench serves it with latency.
func Handler() http.Handler {
	quiet.Do(func() { logrus.SetOutput(io.Discard) })
	cfg := &configuration.Configuration{Storage: configuration.Storage{
		"inmemory":    configuration.Parameters{},
		"delete":      configuration.Parameters{"enabled": true},
		"maintenance": configuration.Parameters{"uploadpurging": map[any]any{"enabled": false}},
	}}
	cfg.HTTP.Headers = http.Header{"X-Content-Type-Options": []string{"nosniff"}}
	return handlers.NewApp(context.Background(), cfg)
}

// New starts a registry (blob deletes enabled) for the test's lifetime.
func New(t testing.TB, opts ...Option) *Registry {
	t.Helper()
	app := Handler()
	r := &Registry{}
	for _, o := range opts {
		o(r)
	}
	r.link = netdelay.New(r.delay, 0)
	srv := httptest.NewServer(r.link.Handler(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch req.Method {
		case http.MethodPut, http.MethodPatch, http.MethodPost:
			req.Body = &counter{r: req.Body, n: &r.uploaded}
		}
		if from := req.URL.Query().Get("from"); req.Method == http.MethodPost && from != "" {
			to := strings.TrimSuffix(strings.TrimPrefix(req.URL.Path, "/v2/"), "/blobs/uploads/")
			r.mu.Lock()
			r.mounts = append(r.mounts, from+" -> "+to)
			r.mu.Unlock()
		}
		app.ServeHTTP(w, req)
	})))
	t.Cleanup(srv.Close)
	r.Host = strings.TrimPrefix(srv.URL, "http://")
	return r
}

// Requests lists the requests answered so far, in the order they ended.
func (r *Registry) Requests() []Request { return r.link.Requests() }

// Sequential is the length of the longest chain of requests in which each one started after
// the one before it had been answered: the round trips a client waited for one after another
// (netdelay.Sequential).
func Sequential(reqs []Request) int { return netdelay.Sequential(reqs) }

// Uploaded is the request-body bytes clients have sent so far.
func (r *Registry) Uploaded() int64 { return r.uploaded.Load() }

// Mounts lists the cross-repository mount requests so far ("from -> to").
func (r *Registry) Mounts() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.mounts...)
}

type counter struct {
	r io.ReadCloser
	n *atomic.Int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (c *counter) Close() error { return c.r.Close() }

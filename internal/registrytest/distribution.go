package registrytest

// CNCF distribution, the registry most registries run, in-process on 127.0.0.1 with in-memory
// storage, counting what clients upload and which repositories blobs were mounted into: tests of
// caches and pushes measure the wire, not a mock.

import (
	"context"
	"io"
	"log"
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
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/sirupsen/logrus"
)

// Registry is a running registry.
type Registry struct {
	Host     string // 127.0.0.1:PORT
	OpenHost string // with WithBasicAuth: the same storage without the credentials, for a test's own set-up

	uploaded atomic.Int64
	refused  atomic.Int64
	delay    time.Duration
	ggcr     *bool // nil: distribution; else go-containerregistry's, referrers API when true
	user, pw string
	link     *netdelay.Link
	servers  []*httptest.Server
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

// WithGGCR serves go-containerregistry's in-memory registry instead of distribution, with the
// OCI 1.1 referrers API when referrers is true.
func WithGGCR(referrers bool) Option { return func(r *Registry) { r.ggcr = &referrers } }

// WithBasicAuth refuses (401 with a Basic challenge) every request to Host without HTTP basic
// credentials user:pw; Refused counts them. OpenHost serves the same storage without them.
func WithBasicAuth(user, pw string) Option { return func(r *Registry) { r.user, r.pw = user, pw } }

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

// New starts a registry (distribution with blob deletes enabled, unless WithGGCR) for the test's
// lifetime.
func New(t testing.TB, opts ...Option) *Registry {
	t.Helper()
	r := &Registry{}
	for _, o := range opts {
		o(r)
	}
	app := Handler()
	if r.ggcr != nil {
		app = registry.New(registry.Logger(log.New(io.Discard, "", 0)), registry.WithReferrersSupport(*r.ggcr))
	}
	r.link = netdelay.New(r.delay, 0)
	counted := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
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
	})
	r.Host = r.serve(t, r.link.Handler(r.authenticated(counted)))
	if r.user != "" {
		r.OpenHost = r.serve(t, app)
	}
	return r
}

func (r *Registry) serve(t testing.TB, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	r.servers = append(r.servers, srv)
	return strings.TrimPrefix(srv.URL, "http://")
}

// Close stops the registry before the test ends: a registry that goes away.
func (r *Registry) Close() {
	for _, s := range r.servers {
		s.Close()
	}
}

func (r *Registry) authenticated(next http.Handler) http.Handler {
	if r.user == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if u, p, ok := req.BasicAuth(); !ok || u != r.user || p != r.pw {
			r.refused.Add(1)
			w.Header().Set("WWW-Authenticate", `Basic realm="registrytest"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, req)
	})
}

// Refused counts the requests WithBasicAuth turned away so far.
func (r *Registry) Refused() int64 { return r.refused.Load() }

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

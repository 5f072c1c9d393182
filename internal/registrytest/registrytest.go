// Package registrytest starts real registries on 127.0.0.1 for tests: CNCF distribution (the
// registry most sites run; v3.1 has no referrers API) and go-containerregistry's, with or
// without the OCI 1.1 referrers API.
package registrytest

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory" // the "inmemory" driver
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/sirupsen/logrus"
)

// Distribution starts CNCF distribution with in-memory storage and returns its host:port.
func Distribution(t testing.TB) string {
	t.Helper()
	logrus.SetOutput(io.Discard) // distribution logs every request through logrus
	cfg := &configuration.Configuration{Storage: configuration.Storage{"inmemory": configuration.Parameters{}}}
	cfg.HTTP.Secret = "registrytest"
	ctx, cancel := context.WithCancel(context.Background())
	srv := httptest.NewServer(handlers.NewApp(ctx, cfg))
	t.Cleanup(func() { srv.Close(); cancel() })
	return strings.TrimPrefix(srv.URL, "http://")
}

// GGCR starts go-containerregistry's in-memory registry, serving the referrers API when
// referrers is true, and returns its host:port.
func GGCR(t testing.TB, referrers bool) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0)), registry.WithReferrersSupport(referrers)))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

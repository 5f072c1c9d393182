// Package registrytest starts real registries on 127.0.0.1 for tests: CNCF distribution (the
// registry most sites run; v3.1 has no referrers API) and go-containerregistry's, with or
// without the OCI 1.1 referrers API.
package registrytest

import "testing"

// Distribution starts CNCF distribution (New with no options) and returns its host:port.
func Distribution(t testing.TB) string {
	t.Helper()
	return New(t).Host
}

// GGCR starts go-containerregistry's in-memory registry, serving the referrers API when
// referrers is true, and returns its host:port.
func GGCR(t testing.TB, referrers bool) string {
	t.Helper()
	return New(t, WithGGCR(referrers)).Host
}

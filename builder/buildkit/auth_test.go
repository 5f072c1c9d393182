package buildkit

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestPrivateRegistryBase: a base in a registry that wants a password is read by graft with
// its credentials and handed to the daemon through the session: the daemon has none, needs
// none, and never asks the registry.
func TestPrivateRegistryBase(t *testing.T) {
	d := shared.Daemon(t)
	base := newBase(t)
	user, pass := "graft", randomHex(t)
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	var refused atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
			refused.Add(1)
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	ref, err := name.ParseReference(u.Host + "/private/base:1")
	if err != nil {
		t.Fatal(err)
	}
	auth := remote.WithAuth(&authn.Basic{Username: user, Password: pass})
	if err := remote.Write(ref, base.img, auth); err != nil {
		t.Fatal(err)
	}
	pinned, err := name.ParseReference(u.Host + "/private/base@" + base.digest.String())
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(pinned, auth) // as graft reads the base, with its own credentials
	if err != nil {
		t.Fatal(err)
	}
	refused.Store(0)
	t.Setenv("DOCKER_CONFIG", t.TempDir()) // nothing to lend the daemon
	l := mustRun(t, newEngine(t, d.Addr), demo.request(t, pinned.String(), &testBase{img: img, digest: base.digest}, nil))
	if _, ok := entriesOf(t, l)[pluginsDir+"/demo/generated/info.txt"]; !ok {
		t.Error("the steps did not run on the private base")
	}
	if n := refused.Load(); n != 0 {
		t.Errorf("the registry refused %d requests without credentials: the daemon asked it", n)
	}
}

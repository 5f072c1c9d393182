package buildkit

import (
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestPrivateRegistryBase: the daemon pulls a base from a registry that wants a password, with
// the credentials of graft's docker config lent through the session; without them it cannot.
func TestPrivateRegistryBase(t *testing.T) {
	d := shared.Daemon(t)
	base := newBase(t)
	user, pass := "graft", randomHex(t)
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
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
	if err := remote.Write(ref, base.img, remote.WithAuth(&authn.Basic{Username: user, Password: pass})); err != nil {
		t.Fatal(err)
	}
	pinned := u.Host + "/private/base@" + base.digest.String()

	t.Setenv("DOCKER_CONFIG", t.TempDir()) // no credentials
	if _, err := run(t, newEngine(t, d.Addr), demo.request(t, pinned, base, nil)); err == nil {
		t.Fatal("pulled a private base without credentials")
	}

	cfg := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	config := fmt.Sprintf(`{"auths": {%q: {"auth": %q}}}`, u.Host, auth)
	if err := os.WriteFile(filepath.Join(cfg, "config.json"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", cfg)
	l := mustRun(t, newEngine(t, d.Addr), demo.request(t, pinned, base, nil))
	if _, ok := entriesOf(t, l)[pluginsDir+"/demo/generated/info.txt"]; !ok {
		t.Error("the steps did not run on the private base")
	}
}

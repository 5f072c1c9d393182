package buildkit

import (
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/graft-build/graft/internal/registrytest"
)

// TestPrivateRegistryBase: a base in a registry that wants a password is read by graft with
// its credentials and handed to the daemon through the session: the daemon has none, needs
// none, and never asks the registry.
func TestPrivateRegistryBase(t *testing.T) {
	d := shared.Daemon(t)
	base := newBase(t)
	user, pass := "graft", randomHex(t)
	reg := registrytest.New(t, registrytest.WithGGCR(false), registrytest.WithBasicAuth(user, pass))
	ref, err := name.ParseReference(reg.Host + "/private/base:1")
	if err != nil {
		t.Fatal(err)
	}
	auth := remote.WithAuth(&authn.Basic{Username: user, Password: pass})
	if err := remote.Write(ref, base.img, auth); err != nil {
		t.Fatal(err)
	}
	pinned, err := name.ParseReference(reg.Host + "/private/base@" + base.digest.String())
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(pinned, auth) // as graft reads the base, with its own credentials
	if err != nil {
		t.Fatal(err)
	}
	refusedBefore := reg.Refused()
	t.Setenv("DOCKER_CONFIG", t.TempDir()) // nothing to lend the daemon
	l := mustRun(t, newEngine(t, d.Addr), demo.request(t, pinned.String(), &testBase{img: img, digest: base.digest}, nil))
	if _, ok := entriesOf(t, l)[pluginsDir+"/demo/generated/info.txt"]; !ok {
		t.Error("the steps did not run on the private base")
	}
	if n := reg.Refused() - refusedBefore; n != 0 {
		t.Errorf("the registry refused %d requests without credentials: the daemon asked it", n)
	}
}

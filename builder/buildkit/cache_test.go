package buildkit

import (
	"bytes"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/moby/buildkit/client"

	"github.com/graft-build/graft/builder/contract"
)

// stamped is a plugin whose step writes a random value: if the step runs again, its layer
// changes, so an unchanged layer proves the step came from the cache.
func stamped(name, content string) testPlugin {
	return testPlugin{name: name, files: map[string]string{"plugin.toml": content},
		build: contract.Steps{Run: []string{"cat /proc/sys/kernel/random/uuid > stamp"}}}
}

// TestOtherPluginChangeRunsNothing: rebuilding after another plugin changed takes this plugin's
// step from BuildKit's cache (same random stamp, progress says CACHED), and the changed plugin
// runs again.
func TestOtherPluginChangeRunsNothing(t *testing.T) {
	d := shared.Daemon(t)
	base := newBase(t)
	e := newEngine(t, d.Addr)
	a, b := stamped("alpha", "a\n"), stamped("beta", "b\n")
	a1 := mustRun(t, e, a.request(t, base.layout, base, nil))
	b1 := mustRun(t, e, b.request(t, base.layout, base, nil))

	b2def := stamped("beta", "b changed\n")
	var progress bytes.Buffer
	a2 := mustRun(t, e, a.request(t, base.layout, base, &progress))
	b2 := mustRun(t, e, b2def.request(t, base.layout, base, nil))

	if digestOf(t, a1) != digestOf(t, a2) {
		t.Errorf("alpha's step ran again after beta changed: stamp %q then %q",
			entriesOf(t, a1)[pluginsDir+"/alpha/stamp"].Data, entriesOf(t, a2)[pluginsDir+"/alpha/stamp"].Data)
	}
	if !stepCached(progress.String(), "[alpha] build step 1/1") {
		t.Errorf("progress does not show alpha's step CACHED:\n%s", progress.String())
	}
	s1, s2 := entriesOf(t, b1)[pluginsDir+"/beta/stamp"].Data, entriesOf(t, b2)[pluginsDir+"/beta/stamp"].Data
	if s1 == "" || s1 == s2 {
		t.Errorf("beta changed but its step did not run again: stamps %q, %q", s1, s2)
	}
}

// stepCached finds the vertex named name in plain progress output and reports whether it was
// CACHED ("#7 [alpha] build step 1/1: ..." then "#7 CACHED").
func stepCached(out, name string) bool {
	for _, line := range strings.Split(out, "\n") {
		num, rest, ok := strings.Cut(line, " ")
		if ok && strings.HasPrefix(num, "#") && strings.HasPrefix(rest, name) {
			return regexp.MustCompile("(?m)^" + regexp.QuoteMeta(num) + " CACHED$").MatchString(out)
		}
	}
	return false
}

// TestMTLSDaemon builds through a second daemon on tcp:// with mutual TLS: a deterministic plugin
// gives the same layer digest as on the first daemon (nothing shared but the inputs), and a
// step result exported to a local cache by the first daemon is imported by the second instead of
// running again.
func TestMTLSDaemon(t *testing.T) {
	first := shared.Daemon(t)
	second := startMTLS(t)
	base := newBase(t)
	cacheDir := filepath.Join(t.TempDir(), "cache")
	cacheRepo := base.registryHost + "/cache"

	one := newEngine(t, first.Addr, WithCacheExports("type=local,dest="+cacheDir, "type=registry,ref="+cacheRepo+":ci,mode=max"))
	two := newEngine(t, second.TCPAddr, WithTLS(second.TLS.CA, second.TLS.ClientCert, second.TLS.ClientKey),
		WithCacheImports("type=local,src="+cacheDir))
	three := newEngine(t, second.TCPAddr, WithTLS(second.TLS.CA, second.TLS.ClientCert, second.TLS.ClientKey),
		WithCacheImports(cacheRepo+":ci"))

	t.Run("same digest on two daemons", func(t *testing.T) {
		d1 := digestOf(t, mustRun(t, one, demo.request(t, base.layout, base, nil)))
		d2 := digestOf(t, mustRun(t, two, demo.request(t, base.layout, base, nil)))
		if d1 != d2 {
			t.Errorf("layer digest %s on the unix daemon, %s on the mTLS daemon", d1, d2)
		}
	})
	t.Run("cache exported by one, imported by the other", func(t *testing.T) {
		p := stamped("shared-cache", "x\n")
		l1 := mustRun(t, one, p.request(t, base.layout, base, nil))
		l2 := mustRun(t, two, p.request(t, base.layout, base, nil))
		if digestOf(t, l1) != digestOf(t, l2) {
			t.Errorf("the second daemon ran the step again instead of using the imported cache")
		}
	})
	t.Run("registry cache, one tag per plugin", func(t *testing.T) {
		p := stamped("registry-cache", "y\n")
		l1 := mustRun(t, one, p.request(t, base.layout, base, nil))
		repo, err := name.NewRepository(cacheRepo)
		if err != nil {
			t.Fatal(err)
		}
		tags, err := remote.List(repo)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(tags, "ci-registry-cache-linux-amd64") {
			t.Errorf("cache tags %v, want ci-registry-cache-linux-amd64", tags)
		}
		l2 := mustRun(t, three, p.request(t, base.layout, base, nil))
		if digestOf(t, l1) != digestOf(t, l2) {
			t.Errorf("the second daemon ran the step again instead of using the registry cache")
		}
	})
	t.Run("no client certificate", func(t *testing.T) {
		_, err := New(t.Context(), second.TCPAddr)
		if err == nil {
			t.Fatal("connected to an mTLS daemon without a certificate")
		}
		if strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), second.TCPAddr) {
			t.Errorf("error is not one line naming the address: %q", err)
		}
	})
}

// TestCacheSpecs: buildx syntax, per-plugin keys, and one-line errors.
func TestCacheSpecs(t *testing.T) {
	e, err := parseCache("type=local,dest=/c,mode=max", "--cache-to", "dest")
	if err != nil || e.Type != "local" || e.Attrs["dest"] != "/c" || e.Attrs["mode"] != "max" {
		t.Fatalf("local: %+v %v", e, err)
	}
	r, err := parseCache("registry.example.org/lib/cache:ci", "--cache-from", "src")
	if err != nil || r.Type != "registry" || r.Attrs["ref"] != "registry.example.org/lib/cache:ci" {
		t.Fatalf("bare ref: %+v %v", r, err)
	}
	keyed := perPlugin([]client.CacheOptionsEntry{e, r}, "aspace-oauth-linux-amd64")
	if keyed[0].Attrs["tag"] != "graft-aspace-oauth-linux-amd64" {
		t.Errorf("local tag %q", keyed[0].Attrs["tag"])
	}
	if keyed[1].Attrs["ref"] != "registry.example.org/lib/cache:ci-aspace-oauth-linux-amd64" {
		t.Errorf("registry ref %q", keyed[1].Attrs["ref"])
	}
	other := perPlugin([]client.CacheOptionsEntry{{Type: "gha", Attrs: map[string]string{}},
		{Type: "s3", Attrs: map[string]string{"name": "mine"}}}, "p-linux-amd64")
	if other[0].Attrs["scope"] != "graft-p-linux-amd64" || other[1].Attrs["name"] != "mine" {
		t.Errorf("gha/s3 keys: %v %v", other[0].Attrs, other[1].Attrs)
	}
	if _, ok := e.Attrs["tag"]; ok {
		t.Error("perPlugin changed its input")
	}
	for _, bad := range []string{"type=local", "type=nfs,dest=/x", "dest=/x", "type=registry,ref=UPPER/x", "type=local,,dest=/x", "", "type=inline"} {
		_, err := parseCache(bad, "--cache-to", "dest")
		if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "--cache-to") {
			t.Errorf("parseCache(%q) = %v, want one line naming --cache-to", bad, err)
		}
	}
	if long := tagSafe(strings.Repeat("x", 200)); len(long) != 128 {
		t.Errorf("tagSafe gives %d characters", len(long))
	}
}

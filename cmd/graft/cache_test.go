package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/graft-build/graft/builder/buildtest"
	"github.com/graft-build/graft/builder/layercache"
	"github.com/graft-build/graft/internal/registrytest"
)

// graft build --cache-to/--cache-from without BuildKit: a fresh runner (empty GRAFT_CACHE_DIR)
// whose plugin repositories are gone builds the same image from the cache alone.
func TestBuildLayerCacheFlags(t *testing.T) {
	buildEnv(t)
	s := graftSite(t)
	reg := registrytest.New(t)
	dir := filepath.Join(t.TempDir(), "ci-cache")
	ref := reg.Host + "/ci/cache:main"
	code, out, errOut := graft(t, "build", "-C", s.Dir, "--progress", "plain",
		"--output", "type=registry,name="+reg.Host+"/lib/app:1",
		"--cache-to", "type=local,dest="+dir, "--cache-to", "type=registry,ref="+ref+",mode=max")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	digest := lastLine(out)
	if _, err := os.Stat(filepath.Join(dir, layercache.IndexFile)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut, "cache  "+ref+": wrote 3 layer(s), 2 listing(s)") {
		t.Errorf("progress:\n%s", errOut)
	}
	// The blobs the image push sent are mounted into the cache's repository, not sent again.
	if m := reg.Mounts(); len(m) != 3 || m[0] != "lib/app -> ci/cache" {
		t.Errorf("mounts %v, want the three layers from lib/app", m)
	}
	if err := os.RemoveAll(s.Git); err != nil { // no plugin can be fetched any more
		t.Fatal(err)
	}
	for name, from := range map[string]string{"local": "type=local,src=" + dir, "registry": "type=registry,ref=" + ref, "bare": ref} {
		t.Run(name, func(t *testing.T) {
			t.Setenv("GRAFT_CACHE_DIR", t.TempDir())
			code, out, errOut := graft(t, "build", "-C", s.Dir, "--progress", "plain", "--cache-from", from,
				"--output", "type=oci,dest="+filepath.Join(t.TempDir(), "img"))
			if code != 0 || lastLine(out) != digest {
				t.Fatalf("exit %d, digest %q (want %s): %s", code, lastLine(out), digest, errOut)
			}
			if !strings.Contains(errOut, "(cache-from, ") {
				t.Errorf("progress does not say the listing came from the cache:\n%s", errOut)
			}
		})
	}
	// Without the cache the missing repositories show: the test above proved something.
	t.Setenv("GRAFT_CACHE_DIR", t.TempDir())
	if code, _, _ := graft(t, "build", "-C", s.Dir, "--progress", "quiet"); code == 0 {
		t.Fatal("built without the cache and without the plugin repositories")
	}
}

// A fresh CI runner (empty GRAFT_CACHE_DIR) with the registry cache, one plugin of six changed,
// pushing to the cache's registry with its SBOM and provenance: the round trips it waits for
// one after another, with a registry that answers each request after a delay as one across a
// network does, beside those of a warm runner (its own cache folder, no registry cache) after
// the same kind of change. Issue 23: the fresh runner within 1.5× the warm one.
func TestFreshRunnerRoundTrips(t *testing.T) {
	buildEnv(t)
	reg := registrytest.New(t, registrytest.WithDelay(20*time.Millisecond))
	base, err := name.ParseReference(reg.Host + "/lib/base:1") // a base in the registry, as CI has
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(base, buildtest.BaseImage(t, "linux/amd64", "", types.OCIManifestSchema1)); err != nil {
		t.Fatal(err)
	}
	s := buildtest.NewSite(t, base.String(), "")
	names := []string{"p1", "p2", "p3", "p4", "p5", "p6"}
	for _, n := range names {
		s.Plugin(n, map[string]string{n + ".txt": n, "lib/" + n + ".rb": "puts 1"}, "")
	}
	s.Lock()
	warmDir := os.Getenv("GRAFT_CACHE_DIR")
	cache := "type=registry,ref=" + reg.Host + "/ci/cache:main"
	if code, _, errOut := graft(t, "build", "-C", s.Dir, "--progress", "quiet", "--output", "type=registry,name="+reg.Host+"/lib/app:1",
		"--cache-to", cache); code != 0 {
		t.Fatalf("warm runner: exit %d: %s", code, errOut)
	}
	s.Plugin("p3", map[string]string{"p3.txt": "p3 v2"}, "")
	s.Lock()
	t.Setenv("GRAFT_CACHE_DIR", t.TempDir())
	mark := len(reg.Requests())
	start := time.Now()
	code, _, errOut := graft(t, "build", "-C", s.Dir, "--progress", "plain", "--output", "type=registry,name="+reg.Host+"/lib/app:2",
		"--cache-from", cache, "--cache-to", cache)
	freshTook := time.Since(start)
	if code != 0 {
		t.Fatalf("fresh runner: exit %d: %s", code, errOut)
	}
	reqs := reg.Requests()[mark:]
	for _, q := range reqs {
		t.Logf("%6s %-70s %4d ms", q.Method, q.Path, q.End.Sub(q.Start).Milliseconds())
	}
	imp, exp := cacheRequests(reqs)
	fresh := registrytest.Sequential(reqs)
	t.Logf("fresh runner: %s, %d requests, %d sequential; cache import %d requests, %d sequential; cache export %d requests, %d sequential",
		freshTook.Round(time.Millisecond), len(reqs), fresh, len(imp), registrytest.Sequential(imp), len(exp), registrytest.Sequential(exp))
	if !strings.Contains(errOut, "(cache-from, ") {
		t.Errorf("nothing came from the cache:\n%s", errOut)
	}
	// Pushed to the cache's registry, the cached layers are mounted and never downloaded;
	// --cache-check all downloads and checks them.
	if n := cacheLayerGets(imp); n != 0 {
		t.Errorf("mount only downloaded %d cached layers", n)
	}
	t.Setenv("GRAFT_CACHE_DIR", t.TempDir())
	mark = len(reg.Requests())
	if code, _, errOut := graft(t, "build", "-C", s.Dir, "--progress", "quiet", "--output", "type=registry,name="+reg.Host+"/lib/app:3",
		"--cache-from", cache, "--cache-check", "all"); code != 0 {
		t.Fatalf("--cache-check all: exit %d: %s", code, errOut)
	}
	if n := cacheLayerGets(reg.Requests()[mark:]); n != 7 {
		t.Errorf("--cache-check all downloaded %d cached layers, want the six plugins' and the launcher's", n)
	}
	if code, _, errOut := graft(t, "build", "-C", s.Dir, "--cache-check", "some"); code != 2 || !strings.Contains(errOut, `--cache-check "some"`) {
		t.Errorf("--cache-check some: exit %d: %s", code, errOut)
	}
	// The warm runner, after the same kind of change.
	s.Plugin("p3", map[string]string{"p3.txt": "p3 v3"}, "")
	s.Lock()
	t.Setenv("GRAFT_CACHE_DIR", warmDir)
	mark = len(reg.Requests())
	start = time.Now()
	if code, _, errOut := graft(t, "build", "-C", s.Dir, "--progress", "quiet", "--output", "type=registry,name="+reg.Host+"/lib/app:w"); code != 0 {
		t.Fatalf("warm runner: exit %d: %s", code, errOut)
	}
	warmReqs := reg.Requests()[mark:]
	warm := registrytest.Sequential(warmReqs)
	t.Logf("warm runner: %s, %d requests, %d sequential", time.Since(start).Round(time.Millisecond), len(warmReqs), warm)
	// The warm runner waits for the base's handshake, manifest and config, then the push's
	// handshake, the blobs' HEAD and upload (three requests), the image's manifest, the
	// attachments' manifests (SBOM, provenance, cosign's tags) and the fallback tag: 11. The
	// fresh runner reads the cache's index (handshake, manifest, index) while it reads the
	// base, and exports the cache (mounts and the index's upload, its PUT, the manifest) beside
	// the push's manifests: 12 to 15 here. On main before issue 23: 68 and 78 (the attachments one
	// after another, each with its own handshake; the cache read after the base and written
	// after the push, asking for each blob first).
	if warm > 14 || fresh > warm+6 {
		t.Errorf("round trips one after another: fresh runner %d, warm runner %d; want ≤ 14 warm and ≤ 6 more fresh", fresh, warm)
	}
}

// cacheLayerGets counts the blobs downloaded from the cache repository but its index.
func cacheLayerGets(reqs []registrytest.Request) int {
	n := 0
	for _, q := range reqs {
		if q.Method == "GET" && strings.HasPrefix(q.Path, "/v2/ci/cache/blobs/") {
			n++
		}
	}
	return max(n-1, 0)
}

// cacheRequests are a build's requests to the cache's repository (ci/cache) before its first
// to the output's (lib/app), the cache's import, and after it, the export (handshakes, which
// name no repository, in neither).
func cacheRequests(reqs []registrytest.Request) (imp, exp []registrytest.Request) {
	pushing := false
	for _, q := range reqs {
		pushing = pushing || strings.HasPrefix(q.Path, "/v2/lib/app/")
		switch {
		case !strings.HasPrefix(q.Path, "/v2/ci/cache/"):
		case pushing:
			exp = append(exp, q)
		default:
			imp = append(imp, q)
		}
	}
	return imp, exp
}

// With --push -t REF (no --output), the cache export mounts the pushed blobs from REF's
// repository: the repositories come from the publishers, not from re-reading --output flags
// (which found none here, so every blob was uploaded again).
func TestCacheMountsFromPushedTag(t *testing.T) {
	buildEnv(t)
	s := graftSite(t)
	reg := registrytest.New(t)
	code, _, errOut := graft(t, "build", "-C", s.Dir, "--progress", "plain", "--push", "-t", reg.Host+"/lib/x:v1",
		"--cache-to", "type=registry,ref="+reg.Host+"/ci/cache:main")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if m := reg.Mounts(); len(m) != 3 || m[0] != "lib/x -> ci/cache" {
		t.Errorf("mounts %v, want the three layers from lib/x", m)
	}
}

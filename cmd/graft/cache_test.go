package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-build/graft/builder/layercache"
	"github.com/graft-build/graft/internal/regtest"
)

// graft build --cache-to/--cache-from without BuildKit: a fresh runner (empty GRAFT_CACHE_DIR)
// whose plugin repositories are gone builds the same image from the cache alone.
func TestBuildLayerCacheFlags(t *testing.T) {
	buildEnv(t)
	s := graftSite(t)
	reg := regtest.New(t)
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

// With --push -t REF (no --output), the cache export mounts the pushed blobs from REF's
// repository: the repositories come from the publishers, not from re-reading --output flags
// (which found none here, so every blob was uploaded again).
func TestCacheMountsFromPushedTag(t *testing.T) {
	buildEnv(t)
	s := graftSite(t)
	reg := regtest.New(t)
	code, _, errOut := graft(t, "build", "-C", s.Dir, "--progress", "plain", "--push", "-t", reg.Host+"/lib/x:v1",
		"--cache-to", "type=registry,ref="+reg.Host+"/ci/cache:main")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if m := reg.Mounts(); len(m) != 3 || m[0] != "lib/x -> ci/cache" {
		t.Errorf("mounts %v, want the three layers from lib/x", m)
	}
}

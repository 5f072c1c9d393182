package builder_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/graft-build/graft/builder"
	"github.com/graft-build/graft/builder/buildtest"
	"github.com/graft-build/graft/builder/contract"
	"github.com/graft-build/graft/builder/fetch"
	"github.com/graft-build/graft/builder/layercache"
	"github.com/graft-build/graft/internal/gittest"
	"github.com/graft-build/graft/internal/regtest"
	"github.com/graft-build/graft/lockfile"
)

// gitCounter counts git-upload-pack requests (fetches, not ref listings) per repository.
type gitCounter struct {
	mu    sync.Mutex
	packs map[string]int
}

func (c *gitCounter) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/git-upload-pack") {
			c.mu.Lock()
			c.packs[strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/"), "/git-upload-pack")]++
			c.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

// fetched lists the repositories fetched since the last call, and resets the count.
func (c *gitCounter) fetched() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for repo := range c.packs {
		out = append(out, repo)
	}
	slices.Sort(out)
	c.packs = map[string]int{}
	return out
}

// httpSite is a site whose three plugins are served by git http-backend, counting fetches.
func httpSite(t *testing.T) (*buildtest.Site, *gitCounter) {
	s := buildtest.NewSite(t, "oci-layout://base", `owner = "1000:1000"`)
	buildtest.WriteBaseLayout(t, filepath.Join(s.Dir, "base"), "linux/amd64")
	gc := &gitCounter{packs: map[string]int{}}
	srv := gittest.NewServer(t, s.Git, gittest.WithMiddleware(gc.wrap))
	for _, n := range []string{"alpha", "beta", "gamma"} {
		s.Plugin(n, map[string]string{n + ".txt": n, "lib/" + n + ".rb": "puts 1", "bin/run@x": "#!/bin/sh\n"}, "")
		s.WriteFile(filepath.Join(lockfile.PluginsDir, n, lockfile.PluginFile),
			fmt.Sprintf("[source]\ngit = %q\nref = \"main\"\n", srv.URL+"/"+n+".git"))
	}
	s.Lock()
	gc.fetched()
	return s, gc
}

// runner is a fresh CI machine: empty git and layer caches.
type runner struct {
	t             *testing.T
	gitDir, layer string
}

func freshRunner(t *testing.T) runner { return runner{t: t, gitDir: t.TempDir(), layer: t.TempDir()} }

func (r runner) build(p *lockfile.Project, c *layercache.Cache) *contract.Result {
	r.t.Helper()
	opts := []builder.Option{builder.WithCache(fetch.NewCache(r.gitDir)), builder.WithLayerCache(r.layer),
		builder.WithLaunchers(buildtest.Launchers(r.t, "amd64"))}
	if c != nil {
		opts = append(opts, builder.WithSharedCache(c))
	}
	res, err := builder.Build(context.Background(), p, opts...)
	if err != nil {
		r.t.Fatal(err)
	}
	return res
}

func push(t *testing.T, ref string, img v1.Image) {
	t.Helper()
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
}

// A fresh runner with the registry cache fetches only the changed plugin, compresses only its
// layer and uploads little more than that layer; unchanged blobs are mounted or skipped. The
// image is the one a build without any cache makes.
func TestRegistryCacheFreshRunnerFetchesOnlyTheChange(t *testing.T) {
	s, gc := httpSite(t)
	reg := regtest.New(t)
	cacheRef := reg.Host + "/ci/cache:main"
	from, _, _ := layercache.Parse("type=registry,ref="+cacheRef, "--cache-from", "src")
	to, _, _ := layercache.Parse("type=registry,ref="+cacheRef, "--cache-to", "dest")
	ctx := context.Background()

	first := layercache.New(nil, []layercache.Store{to}, nil)
	res1 := freshRunner(t).build(s.Load(), first)
	push(t, reg.Host+"/lib/app:1", res1.Image)
	if err := first.Export(ctx, []name.Repository{mustRepo(t, reg.Host+"/lib/app")}); err != nil {
		t.Fatal(err)
	}
	if got := gc.fetched(); len(got) != 3 {
		t.Fatalf("first build fetched %v", got)
	}
	if m := reg.Mounts(); len(m) < 3 || !strings.Contains(m[0], "lib/app -> ci/cache") {
		t.Errorf("the cache export uploaded blobs the image push had sent (mounts: %v)", m)
	}

	t.Run("no change: nothing fetched", func(t *testing.T) {
		c := layercache.New([]layercache.Store{from}, nil, nil)
		c.Load(ctx)
		res := freshRunner(t).build(s.Load(), c)
		if got := gc.fetched(); len(got) != 0 {
			t.Errorf("fetched %v with every plugin in the cache", got)
		}
		if res.Digest != res1.Digest {
			t.Errorf("digest %s, want %s", res.Digest, res1.Digest)
		}
		// Pushed to another repository of the registry: the cached blobs are mounted from the
		// cache's repository; only the small launcher.toml layer, config and manifest are sent.
		before, mounts := reg.Uploaded(), len(reg.Mounts())
		push(t, reg.Host+"/lib/other:1", res.Image)
		got := reg.Mounts()[mounts:]
		if sent := reg.Uploaded() - before; sent > 8<<10 || len(got) < 4 || got[0] != "ci/cache -> lib/other" {
			t.Errorf("pushed %d bytes, mounts %v; want the cached layers mounted from ci/cache", sent, got)
		}
	})

	s.Plugin("beta", map[string]string{"beta.txt": "beta v2"}, "")
	s.WriteFile(filepath.Join(lockfile.PluginsDir, "beta", lockfile.PluginFile),
		fmt.Sprintf("[source]\ngit = %q\nref = \"main\"\n", strings.TrimSuffix(s.Load().Lock.Plugins[1].Git, "beta.git")+"beta.git"))
	s.Lock()
	gc.fetched()

	c := layercache.New([]layercache.Store{from}, nil, nil)
	c.Load(ctx)
	res := freshRunner(t).build(s.Load(), c)
	if got := gc.fetched(); !slices.Equal(got, []string{"beta.git"}) {
		t.Errorf("fetched %v, want only beta.git", got)
	}
	cold := freshRunner(t).build(s.Load(), nil)
	if res.Digest != cold.Digest {
		t.Fatalf("with the cache %s, without %s", res.Digest, cold.Digest)
	}
	before := reg.Uploaded()
	push(t, reg.Host+"/lib/app:2", res.Image)
	sent := reg.Uploaded() - before
	changed := layerSize(t, res.Image, "beta")
	// The changed layer, the launcher.toml layer, the config and the manifest.
	t.Logf("pushed %d bytes; the changed layer is %d", sent, changed)
	if sent > changed+8<<10 {
		t.Errorf("pushed %d bytes; the changed layer is %d", sent, changed)
	}
}

func mustRepo(t *testing.T, s string) name.Repository {
	r, err := name.NewRepository(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// layerSize is the compressed size of the plugin's layer, found by its history.
func layerSize(t *testing.T, img v1.Image, plugin string) int64 {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	li := 0
	for _, h := range cf.History {
		if h.EmptyLayer {
			continue
		}
		if strings.HasPrefix(h.CreatedBy, "graft: plugin "+plugin+" ") {
			return m.Layers[li].Size
		}
		li++
	}
	t.Fatalf("no layer for %s", plugin)
	return 0
}

// exported is a site whose first build exported its layers to a registry cache.
func exported(t *testing.T) (*buildtest.Site, *gitCounter, *regtest.Registry, string, *contract.Result) {
	s, gc := httpSite(t)
	reg := regtest.New(t)
	ref := reg.Host + "/ci/cache:main"
	to, _, _ := layercache.Parse("type=registry,ref="+ref, "--cache-to", "dest")
	c := layercache.New(nil, []layercache.Store{to}, nil)
	res := freshRunner(t).build(s.Load(), c)
	if err := c.Export(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	gc.fetched()
	return s, gc, reg, ref, res
}

func importing(t *testing.T, spec string) (*layercache.Cache, *strings.Builder) {
	from, ok, err := layercache.Parse(spec, "--cache-from", "src")
	if err != nil || !ok {
		t.Fatalf("parse %q: %v %v", spec, ok, err)
	}
	notes := &strings.Builder{}
	c := layercache.New([]layercache.Store{from}, nil, notes)
	c.Load(context.Background())
	return c, notes
}

// A cache entry whose blob the registry no longer holds is a miss: that plugin is fetched and
// its layer made again, the others still come from the cache, the image is the same.
func TestRegistryCacheMissingBlobFallsBackToBuilding(t *testing.T) {
	s, gc, reg, ref, res1 := exported(t)
	beta := layerDigest(t, res1.Image, "beta")
	req, _ := http.NewRequest(http.MethodDelete, "http://"+reg.Host+"/v2/ci/cache/blobs/"+beta.String(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("delete blob: %v %v", err, resp)
	}
	c, notes := importing(t, "type=registry,ref="+ref)
	res := freshRunner(t).build(s.Load(), c)
	if got := gc.fetched(); !slices.Equal(got, []string{"beta.git"}) {
		t.Errorf("fetched %v, want only beta.git", got)
	}
	if res.Digest != res1.Digest {
		t.Errorf("digest %s, want %s", res.Digest, res1.Digest)
	}
	if !strings.Contains(notes.String(), "is gone; building the layer") {
		t.Errorf("notes: %s", notes)
	}
}

// A cache another key or format version wrote is ignored whole: everything is built.
func TestLocalCacheOfAnotherVersionIsIgnored(t *testing.T) {
	s, gc := httpSite(t)
	dir := t.TempDir()
	to, _, _ := layercache.Parse("type=local,dest="+dir, "--cache-to", "dest")
	c := layercache.New(nil, []layercache.Store{to}, nil)
	res1 := freshRunner(t).build(s.Load(), c)
	if err := c.Export(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	gc.fetched()
	c, _ = importing(t, "type=local,src="+dir)
	freshRunner(t).build(s.Load(), c)
	if got := gc.fetched(); len(got) != 0 {
		t.Fatalf("the local cache did not serve: fetched %v", got)
	}
	editIndex(t, dir, func(idx map[string]any) { idx["version"] = "graft-layer-cache/0" })
	c, notes := importing(t, "type=local,src="+dir)
	res := freshRunner(t).build(s.Load(), c)
	if got := gc.fetched(); len(got) != 3 {
		t.Errorf("fetched %v, want all three plugins", got)
	}
	if res.Digest != res1.Digest || !strings.Contains(notes.String(), `format "graft-layer-cache/0"`) {
		t.Errorf("digest %s (want %s), notes %s", res.Digest, res1.Digest, notes)
	}
}

// A changed entry cannot change the labels (they come from the lock), and it shows: a layer
// swapped for another plugin's gives another digest than a build from git (what graft verify
// compares); a lying diff ID fails whoever reads the tar.
func TestTamperedCacheEntryShows(t *testing.T) {
	s, _ := httpSite(t)
	dir := t.TempDir()
	to, _, _ := layercache.Parse("type=local,dest="+dir, "--cache-to", "dest")
	c := layercache.New(nil, []layercache.Store{to}, nil)
	honest := freshRunner(t).build(s.Load(), c)
	if err := c.Export(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	alpha, gamma := layerDigest(t, honest.Image, "alpha").String(), layerDigest(t, honest.Image, "gamma").String()
	var alphaID string
	var alphaDesc map[string]any
	editIndex(t, dir, func(idx map[string]any) {
		layers := idx["layers"].(map[string]any)
		var gammaDesc any
		for id, d := range layers {
			switch d.(map[string]any)["digest"] {
			case alpha:
				alphaID, alphaDesc = id, d.(map[string]any)
			case gamma:
				gammaDesc = d
			}
		}
		layers[alphaID] = gammaDesc
	})
	c, _ = importing(t, "type=local,src="+dir)
	swapped := freshRunner(t).build(s.Load(), c)
	if swapped.Digest == honest.Digest {
		t.Fatal("a swapped layer gave the honest digest")
	}
	cf, _ := swapped.Image.ConfigFile()
	var listed []contract.PluginInfo
	if err := json.Unmarshal([]byte(cf.Config.Labels[contract.LabelPlugins]), &listed); err != nil || listed[0].Commit != s.Repos["alpha"].Head() {
		t.Errorf("labels %v (%v), want the lock's commits", listed, err)
	}

	editIndex(t, dir, func(idx map[string]any) {
		alphaDesc["diff_id"] = "sha256:" + strings.Repeat("0", 64)
		idx["layers"].(map[string]any)[alphaID] = alphaDesc
	})
	c, _ = importing(t, "type=local,src="+dir)
	lying := freshRunner(t).build(s.Load(), c)
	l, err := lying.Image.LayerByDigest(layerDigest(t, lying.Image, "alpha"))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := l.Uncompressed()
	if err == nil {
		_, err = io.Copy(io.Discard, rc)
	}
	if err == nil || !strings.Contains(err.Error(), "the cache entry was changed") {
		t.Errorf("reading a layer whose diff ID lies: %v", err)
	}
}

func editIndex(t *testing.T, dir string, edit func(map[string]any)) {
	t.Helper()
	p := filepath.Join(dir, layercache.IndexFile)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var idx map[string]any
	if err := json.Unmarshal(data, &idx); err != nil {
		t.Fatal(err)
	}
	edit(idx)
	if data, err = json.Marshal(idx); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// layerDigest is the digest of the plugin's layer, found by its history.
func layerDigest(t *testing.T, img v1.Image, plugin string) v1.Hash {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	li := 0
	for _, h := range cf.History {
		if h.EmptyLayer {
			continue
		}
		if strings.HasPrefix(h.CreatedBy, "graft: plugin "+plugin+" ") {
			return m.Layers[li].Digest
		}
		li++
	}
	t.Fatalf("no layer for %s", plugin)
	return v1.Hash{}
}

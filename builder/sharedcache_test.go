package builder_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
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

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/graft-build/graft/builder"
	"github.com/graft-build/graft/builder/buildcache"
	"github.com/graft-build/graft/builder/buildtest"
	"github.com/graft-build/graft/builder/contract"
	"github.com/graft-build/graft/builder/fetch"
	"github.com/graft-build/graft/builder/layercache"
	"github.com/graft-build/graft/internal/gittest"
	"github.com/graft-build/graft/internal/registrytest"
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

// shared is a cache importing from and exporting to stores, with notes.
type shared struct {
	from, to  []layercache.Store
	notes     io.Writer
	mountOnly bool
}

// build builds p on the runner with the shared cache c (nil: none); the runner's layer
// folder is its local cache.
func (r runner) build(p *lockfile.Project, c *shared) *contract.Result {
	r.t.Helper()
	res, err := r.try(p, c)
	if err != nil {
		r.t.Fatal(err)
	}
	return res
}

func (r runner) try(p *lockfile.Project, c *shared) (*contract.Result, error) {
	_, res, err := r.exporting(p, c)
	return res, err
}

// exporting builds and returns the build's cache too, for Export.
func (r runner) exporting(p *lockfile.Project, c *shared) (*buildcache.Cache, *contract.Result, error) {
	o := buildcache.Options{LayerDir: r.layer}
	if c != nil {
		o.From, o.To, o.Notes, o.MountOnly = c.from, c.to, c.notes, c.mountOnly
	}
	bc := buildcache.New(o)
	bc.Load(context.Background())
	res, err := builder.Build(context.Background(), p, builder.WithCache(fetch.NewCache(r.gitDir)), builder.WithBuildCache(bc),
		builder.WithLaunchers(buildtest.Launchers(r.t, "amd64")))
	return bc, res, err
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
	reg := registrytest.New(t)
	cacheRef := reg.Host + "/ci/cache:main"
	from, _, _ := layercache.Parse("type=registry,ref="+cacheRef, "--cache-from", "src")
	to, _, _ := layercache.Parse("type=registry,ref="+cacheRef, "--cache-to", "dest")
	ctx := context.Background()

	first, res1, err := freshRunner(t).exporting(s.Load(), &shared{to: []layercache.Store{to}})
	if err != nil {
		t.Fatal(err)
	}
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

	for _, mountOnly := range []bool{false, true} {
		t.Run(fmt.Sprintf("no change, mount only %v: nothing fetched", mountOnly), func(t *testing.T) {
			mark := len(reg.Requests())
			res := freshRunner(t).build(s.Load(), &shared{from: []layercache.Store{from}, mountOnly: mountOnly})
			if got := gc.fetched(); len(got) != 0 {
				t.Errorf("fetched %v with every plugin in the cache", got)
			}
			if res.Digest != res1.Digest {
				t.Errorf("digest %s, want %s", res.Digest, res1.Digest)
			}
			// Checked layers are downloaded; with mount only, none is.
			if got := layerGets(reg.Requests()[mark:], "ci/cache"); (got == 0) != mountOnly {
				t.Errorf("%d layers downloaded from the cache", got)
			}
			// Pushed to another repository of the registry: the cached blobs are mounted from
			// the cache's repository; only the small launcher.toml layer, config and manifest are sent.
			before, mounts := reg.Uploaded(), len(reg.Mounts())
			push(t, reg.Host+fmt.Sprintf("/lib/other%v:1", mountOnly), res.Image)
			got := reg.Mounts()[mounts:]
			if sent := reg.Uploaded() - before; sent > 8<<10 || len(got) < 4 || got[0] != "ci/cache -> lib/other"+fmt.Sprint(mountOnly) {
				t.Errorf("pushed %d bytes, mounts %v; want the cached layers mounted from ci/cache", sent, got)
			}
		})
	}

	s.Plugin("beta", map[string]string{"beta.txt": "beta v2"}, "")
	s.WriteFile(filepath.Join(lockfile.PluginsDir, "beta", lockfile.PluginFile),
		fmt.Sprintf("[source]\ngit = %q\nref = \"main\"\n", strings.TrimSuffix(s.Load().Lock.Plugins[1].Git, "beta.git")+"beta.git"))
	s.Lock()
	gc.fetched()

	res := freshRunner(t).build(s.Load(), &shared{from: []layercache.Store{from}})
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

// layerGets counts the blob downloads from the cache repository repo, but for its index.
func layerGets(reqs []registrytest.Request, repo string) int {
	n := -1 // the index is the manifest's config blob
	for _, q := range reqs {
		if q.Method == http.MethodGet && strings.HasPrefix(q.Path, "/v2/"+repo+"/blobs/sha256:") {
			n++
		}
	}
	return n
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
	l, err := img.LayerByDigest(layerDigest(t, img, plugin))
	if err != nil {
		t.Fatal(err)
	}
	size, _ := l.Size()
	return size
}

// exported is a site whose first build exported its layers to a registry cache.
func exported(t *testing.T) (*buildtest.Site, *gitCounter, *registrytest.Registry, string, *contract.Result) {
	s, gc := httpSite(t)
	reg := registrytest.New(t)
	ref := reg.Host + "/ci/cache:main"
	to, _, _ := layercache.Parse("type=registry,ref="+ref, "--cache-to", "dest")
	c, res, err := freshRunner(t).exporting(s.Load(), &shared{to: []layercache.Store{to}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Export(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	gc.fetched()
	return s, gc, reg, ref, res
}

// importing is a shared cache reading spec, and its notes.
func importing(t *testing.T, spec string) (*shared, *strings.Builder) {
	from, ok, err := layercache.Parse(spec, "--cache-from", "src")
	if err != nil || !ok {
		t.Fatalf("parse %q: %v %v", spec, ok, err)
	}
	notes := &strings.Builder{}
	return &shared{from: []layercache.Store{from}, notes: notes}, notes
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
	if !strings.Contains(notes.String(), "plugin beta's layer: blob "+beta.String()) || !strings.Contains(notes.String(), "making it again") {
		t.Errorf("notes: %s", notes)
	}
}

// localExport is a site whose first build exported its cache to a folder, and that build.
func localExport(t *testing.T) (*buildtest.Site, *gitCounter, string, *contract.Result) {
	s, gc := httpSite(t)
	dir := t.TempDir()
	to, _, _ := layercache.Parse("type=local,dest="+dir, "--cache-to", "dest")
	c, res, err := freshRunner(t).exporting(s.Load(), &shared{to: []layercache.Store{to}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Export(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	gc.fetched()
	return s, gc, dir, res
}

// A cache another key or format version wrote is ignored whole: everything is built.
func TestLocalCacheOfAnotherVersionIsIgnored(t *testing.T) {
	s, gc, dir, res1 := localExport(t)
	c, _ := importing(t, "type=local,src="+dir)
	freshRunner(t).build(s.Load(), c)
	if got := gc.fetched(); len(got) != 0 {
		t.Fatalf("the local cache did not serve: fetched %v", got)
	}
	editIndex(t, dir, func(idx map[string]any) { idx["version"] = "graft-layer-cache/1" })
	c, notes := importing(t, "type=local,src="+dir)
	res := freshRunner(t).build(s.Load(), c)
	if got := gc.fetched(); len(got) != 3 {
		t.Errorf("fetched %v, want all three plugins", got)
	}
	if res.Digest != res1.Digest || !strings.Contains(notes.String(), `format "graft-layer-cache/1"`) {
		t.Errorf("digest %s (want %s), notes %s", res.Digest, res1.Digest, notes)
	}
}

// The cache can supply only what a build from git would. Each tampered entry below is refused
// where it is read — one note saying why, the plugin built from git — and the image is the
// one git gives; the labels come from the lock whatever the cache says.
func TestTamperedCacheEntriesAreMisses(t *testing.T) {
	s, gc, dir, honest := localExport(t)
	alpha, gamma := layerDigest(t, honest.Image, "alpha"), layerDigest(t, honest.Image, "gamma")
	alphaTar := layerBlob(t, honest.Image, alpha)
	extra := func(name, body string) func(map[string]any) {
		return func(idx map[string]any) {
			d := writeBlob(t, dir, appendToTar(t, alphaTar, name, body))
			setLayer(idx, alpha, d)
		}
	}
	cases := []struct {
		name    string
		edit    func(map[string]any)
		fetched []string
		note    string
	}{
		{"alpha's key gives gamma's valid layer", func(idx map[string]any) { setLayer(idx, alpha, layerOf(idx, gamma)) },
			[]string{"alpha.git"}, "plugin alpha's layer: it holds /app/plugins/gamma"},
		{"a layer writing /etc/passwd", extra("etc/passwd", "root::0:0:root:/root:/bin/sh\n"),
			[]string{"alpha.git"}, "it holds /etc/passwd"},
		{"a layer writing another plugin's folder", extra("app/plugins/gamma/lib/gamma.rb", "system('id')"),
			[]string{"alpha.git"}, "it holds /app/plugins/gamma/lib/gamma.rb"},
		{"a wrong diff ID", func(idx map[string]any) {
			d := layerOf(idx, alpha)
			d["diff_id"] = "sha256:" + strings.Repeat("0", 64)
			setLayer(idx, alpha, d)
		}, []string{"alpha.git"}, "not the diff ID sha256:000000"},
		{"a wrong size", func(idx map[string]any) {
			d := layerOf(idx, alpha)
			d["size"] = d["size"].(float64) - 1
			setLayer(idx, alpha, d)
		}, []string{"alpha.git"}, "the index says"},
		{"base folders naming /etc", func(idx map[string]any) {
			for id, fs := range idx["folders"].(map[string]any) {
				idx["folders"].(map[string]any)[id] = append(fs.([]any), map[string]any{"path": "/etc", "uid": 1000, "gid": 1000, "mode": 0o777})
			}
		}, nil, `the base's folders: it names "/etc"`},
		{"a listing with another commit time", func(idx map[string]any) {
			l := listingOf(t, idx, "alpha")
			l["commit_time"] = "2001-02-03T04:05:06Z"
		}, []string{"alpha.git"}, "plugin alpha's listing: it says commit"},
		{"a listing and a layer that agree on a file git does not have", func(idx map[string]any) {
			l := listingOf(t, idx, "alpha")
			l["files"] = append(l["files"].([]any), map[string]any{"path": "zz.sh", "mode": 0o100755, "id": blobID("id\n")})
			d := writeBlob(t, dir, appendToTar(t, alphaTar, "app/plugins/alpha/zz.sh", "id\n"))
			setLayer(idx, alpha, d)
		}, []string{"alpha.git"}, "plugin alpha's listing: its files make tree"},
	}
	original, err := os.ReadFile(filepath.Join(dir, layercache.IndexFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(dir, layercache.IndexFile), original, 0o644); err != nil {
				t.Fatal(err)
			}
			editIndex(t, dir, c.edit)
			from, notes := importing(t, "type=local,src="+dir)
			res, err := freshRunner(t).try(s.Load(), from)
			if err != nil {
				t.Fatalf("a bad entry failed the build: %v", err)
			}
			if res.Digest != honest.Digest {
				t.Errorf("digest %s, want the one git gives, %s", res.Digest, honest.Digest)
			}
			if got := gc.fetched(); !slices.Equal(got, c.fetched) {
				t.Errorf("fetched %v, want %v", got, c.fetched)
			}
			if !strings.Contains(notes.String(), c.note) || !strings.Contains(notes.String(), "making it again") {
				t.Errorf("notes lack %q:\n%s", c.note, notes)
			}
			cf, _ := res.Image.ConfigFile()
			var listed []contract.PluginInfo
			if err := json.Unmarshal([]byte(cf.Config.Labels[contract.LabelPlugins]), &listed); err != nil || listed[0].Commit != s.Repos["alpha"].Head() {
				t.Errorf("labels %v (%v), want the lock's commits", listed, err)
			}
		})
	}
}

// The local cache's records are claims too: a record naming another plugin's blob, restored
// from an archive or edited, is checked like an imported entry and refused.
func TestTamperedLocalRecordIsAMiss(t *testing.T) {
	s, gc := httpSite(t)
	r := freshRunner(t)
	honest := r.build(s.Load(), nil)
	gc.fetched()
	keys, _ := filepath.Glob(filepath.Join(r.layer, "keys", "*"))
	alpha, gamma := layerDigest(t, honest.Image, "alpha").String(), layerDigest(t, honest.Image, "gamma").String()
	var alphaKey string
	var gammaRecord []byte
	for _, k := range keys {
		data, _ := os.ReadFile(k)
		switch {
		case strings.Contains(string(data), alpha):
			alphaKey = k
		case strings.Contains(string(data), gamma):
			gammaRecord = data
		}
	}
	if alphaKey == "" || gammaRecord == nil {
		t.Fatalf("records %v hold neither alpha's nor gamma's layer", keys)
	}
	if err := os.WriteFile(alphaKey, gammaRecord, 0o644); err != nil {
		t.Fatal(err)
	}
	notes := &strings.Builder{}
	res := r.build(s.Load(), &shared{notes: notes})
	if res.Digest != honest.Digest {
		t.Errorf("digest %s, want %s", res.Digest, honest.Digest)
	}
	if !strings.Contains(notes.String(), "local cache: plugin alpha's layer") || !strings.Contains(notes.String(), "it holds /app/plugins/gamma") {
		t.Errorf("notes:\n%s", notes)
	}
	if got := gc.fetched(); len(got) != 0 {
		t.Errorf("fetched %v: the listing and the git cache were there", got)
	}
}

// What is taken on trust, precisely: with mount only, a registry cache's layer is reused by its
// index entry without being downloaded — a swapped entry then gives another image, which
// CheckAll (and graft verify) refuses, downloading and checking every hit.
func TestMountOnlyTrustsTheIndexAndCheckAllDoesNot(t *testing.T) {
	s, _, reg, ref, honest := exported(t)
	alpha, gamma := layerDigest(t, honest.Image, "alpha"), layerDigest(t, honest.Image, "gamma")
	from, _, _ := layercache.Parse("type=registry,ref="+ref, "--cache-from", "src")
	// Alpha's key gives gamma's layer now (anyone who can push to the cache could do that).
	rewriteRegistryIndex(t, ref, func(idx map[string]any) { setLayer(idx, alpha, layerOf(idx, gamma)) })
	before := len(reg.Requests())
	trusted := freshRunner(t).build(s.Load(), &shared{from: []layercache.Store{from}, mountOnly: true})
	if n := layerGets(reg.Requests()[before:], "ci/cache"); n != 0 {
		t.Errorf("mount only downloaded %d layers", n)
	}
	if trusted.Digest == honest.Digest {
		t.Fatal("mount only: the swapped entry was checked after all (then say so in the docs)")
	}
	notes := &strings.Builder{}
	o := buildcache.Options{From: []layercache.Store{from}, Notes: notes, MountOnly: true, Check: buildcache.CheckAll}
	bc := buildcache.New(o)
	bc.Load(context.Background())
	res, err := builder.Build(context.Background(), s.Load(), builder.WithCache(fetch.NewCache(t.TempDir())), builder.WithBuildCache(bc),
		builder.WithLaunchers(buildtest.Launchers(t, "amd64")))
	if err != nil {
		t.Fatal(err)
	}
	if res.Digest != honest.Digest || !strings.Contains(notes.String(), "plugin alpha's layer: it holds /app/plugins/gamma") {
		t.Errorf("check all: digest %s (want %s), notes:\n%s", res.Digest, honest.Digest, notes)
	}
}

// rewriteRegistryIndex edits the index of the registry cache at ref, keeping its blobs.
func rewriteRegistryIndex(t *testing.T, ref string, edit func(map[string]any)) {
	ctx := context.Background()
	s, _, _ := layercache.Parse("type=registry,ref="+ref, "--cache-to", "dest")
	r, err := s.ReadIndex(ctx)
	if err != nil {
		t.Fatal(err)
	}
	data, err := editJSON(r.Index, edit)
	if err != nil {
		t.Fatal(err)
	}
	repo := mustRepo(t, r.Repository)
	var blobs []v1.Layer
	held := map[v1.Hash]bool{}
	for d := range r.Held {
		l, err := remote.Layer(repo.Digest(d.String()))
		if err != nil {
			t.Fatal(err)
		}
		blobs, held[d] = append(blobs, l), true
	}
	if err := s.Write(ctx, layercache.Upload{Index: data, Blobs: blobs, Held: map[string]map[v1.Hash]bool{r.Repository: held}}); err != nil {
		t.Fatal(err)
	}
}

func editIndex(t *testing.T, dir string, edit func(map[string]any)) {
	t.Helper()
	p := filepath.Join(dir, layercache.IndexFile)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if data, err = editJSON(data, edit); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func editJSON(data []byte, edit func(map[string]any)) ([]byte, error) {
	var idx map[string]any
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, err
	}
	edit(idx)
	return json.Marshal(idx)
}

// layerOf is the index entry naming the layer of digest d.
func layerOf(idx map[string]any, d v1.Hash) map[string]any {
	for _, e := range idx["layers"].(map[string]any) {
		if e.(map[string]any)["digest"] == d.String() {
			return e.(map[string]any)
		}
	}
	return nil
}

// setLayer makes the entry that named the layer of digest d name entry instead.
func setLayer(idx map[string]any, d v1.Hash, entry map[string]any) {
	layers := idx["layers"].(map[string]any)
	for id, e := range layers {
		if e.(map[string]any)["digest"] == d.String() {
			copied := map[string]any{}
			for k, v := range entry {
				copied[k] = v
			}
			layers[id] = copied
		}
	}
}

// listingOf is the listing of the plugin whose files include NAME.txt.
func listingOf(t *testing.T, idx map[string]any, plugin string) map[string]any {
	for _, l := range idx["listings"].(map[string]any) {
		for _, f := range l.(map[string]any)["files"].([]any) {
			if f.(map[string]any)["path"] == plugin+".txt" {
				return l.(map[string]any)
			}
		}
	}
	t.Fatalf("no listing of %s", plugin)
	return nil
}

func blobID(content string) string {
	return plumbing.ComputeHash(plumbing.BlobObject, []byte(content)).String()
}

// layerBlob is the uncompressed tar of img's layer d.
func layerBlob(t *testing.T, img v1.Image, d v1.Hash) []byte {
	l, err := img.LayerByDigest(d)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// appendToTar adds a file to a tar (before its end), as a crafted cache entry would.
func appendToTar(t *testing.T, data []byte, name, body string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body)), Uid: 1000, Gid: 1000}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte(body))
	tw.Close()
	return buf.Bytes()
}

// writeBlob gzips a tar into the cache folder's blobs and returns its index entry.
func writeBlob(t *testing.T, dir string, tarball []byte) map[string]any {
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(tarball)
	zw.Close()
	digest, _, _ := v1.SHA256(bytes.NewReader(z.Bytes()))
	diffID, _, _ := v1.SHA256(bytes.NewReader(tarball))
	if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", digest.Hex), z.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return map[string]any{"digest": digest.String(), "diff_id": diffID.String(), "size": z.Len(), "media_type": "application/vnd.oci.image.layer.v1.tar+gzip"}
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

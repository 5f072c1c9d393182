package buildopts

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/graft-build/graft/builder/buildcache"
	"github.com/graft-build/graft/builder/layercache"
	"github.com/graft-build/graft/builder/publish"
	"github.com/graft-build/graft/internal/launcherbuild"
)

func TestLocalCacheFolders(t *testing.T) {
	env := Env{CacheDir: "/c", CacheKeyFile: "/state/cache.key"}
	o := LocalCache(env, buildcache.CheckAll, io.Discard)
	if o.LayerDir != filepath.Join("/c", "layers") || o.LicenseDir != filepath.Join("/c", "licenses") ||
		o.LauncherDir != filepath.Join("/c", "launchers") || o.KeyFile != env.CacheKeyFile || o.Check != buildcache.CheckAll {
		t.Errorf("%+v", o)
	}
}

// Cache specs only BuildKit reads are left to BuildKit when it runs and refused otherwise;
// graft's own (registry, local) are parsed alike for the early read and the cache.
func TestCacheSpecs(t *testing.T) {
	gha := &Build{CacheFrom: []string{"type=gha"}}
	if _, err := gha.Cache(Env{}, CacheInputs{Notes: io.Discard}); err == nil || !strings.Contains(err.Error(), "only BuildKit reads") {
		t.Errorf("gha without BuildKit: %v", err)
	}
	if _, err := gha.Cache(Env{}, CacheInputs{BuildKit: true, Notes: io.Discard}); err != nil {
		t.Errorf("gha with BuildKit: %v", err)
	}
	if _, err := (&Build{CacheCheck: "some"}).Cache(Env{}, CacheInputs{}); err == nil || !strings.Contains(err.Error(), `--cache-check "some"`) {
		t.Errorf("--cache-check some: %v", err)
	}
	if got := gha.ReadCacheEarly(context.Background()); got != nil {
		t.Errorf("early read of BuildKit's cache: %v", got)
	}
	if got := (&Build{CacheFrom: []string{"type=nope"}}).ReadCacheEarly(context.Background()); got != nil {
		t.Errorf("early read of a bad spec: %v", got)
	}
	dir := t.TempDir()
	early := (&Build{CacheFrom: []string{"type=gha", "type=local,src=" + dir}}).ReadCacheEarly(context.Background())
	if len(early) != 1 {
		t.Fatalf("early stores %v", early)
	}
	if _, err := (&Build{CacheFrom: []string{"type=local,src=" + dir}}).Cache(Env{CacheDir: t.TempDir()}, CacheInputs{Early: early, Notes: io.Discard}); err != nil {
		t.Error(err)
	}
}

func publishers(t *testing.T, specs ...string) []publish.Publisher {
	t.Helper()
	pubs, err := (&Build{Outputs: specs}).Publishers(t.TempDir(), "site")
	if err != nil {
		t.Fatal(err)
	}
	return pubs
}

func store(t *testing.T, spec string) layercache.Store {
	t.Helper()
	s, ok, err := layercache.Parse(spec, "--cache-from", "src")
	if err != nil || !ok {
		t.Fatalf("%s: %v %v", spec, ok, err)
	}
	return s
}

// A registry cache's layers are only mounted when every output is a repository of its
// registry; a folder cache does not count.
func TestMountOnly(t *testing.T) {
	a := publishers(t, "type=registry,name=a.test/lib/x:1", "type=registry,name=a.test/lib/y:1")
	mixed := publishers(t, "type=registry,name=a.test/lib/x:1", "type=oci,dest=out")
	regA, regB, folder := store(t, "type=registry,ref=a.test/cache"), store(t, "type=registry,ref=b.test/cache"), store(t, "type=local,src="+t.TempDir())
	for _, c := range []struct {
		name string
		pubs []publish.Publisher
		from []layercache.Store
		want bool
	}{
		{"same registry", a, []layercache.Store{regA}, true},
		{"folder cache", a, []layercache.Store{folder, regA}, true},
		{"other registry", a, []layercache.Store{regA, regB}, false},
		{"a local output too", mixed, []layercache.Store{regA}, false},
		{"no registry output", publishers(t, "type=oci,dest=out"), []layercache.Store{regA}, false},
	} {
		if got := MountOnly(c.pubs, c.from); got != c.want {
			t.Errorf("%s: %v", c.name, got)
		}
	}
}

// exporter records its export, which runs until released or cancelled.
type exporter struct {
	mu      sync.Mutex
	started chan []name.Repository
	release chan struct{}
}

func newExporter() *exporter {
	return &exporter{started: make(chan []name.Repository, 2), release: make(chan struct{})}
}

func (e *exporter) Export(ctx context.Context, mountFrom []name.Repository) error {
	e.started <- mountFrom
	select {
	case <-e.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (e *exporter) notStarted(t *testing.T, when string) {
	t.Helper()
	select {
	case <-e.started:
		t.Fatalf("the export started %s", when)
	case <-time.After(50 * time.Millisecond):
	}
}

// The export starts once, when the last registry output has its blobs, mounting from the
// pushed repositories, and runs beside the rest of the pushes.
func TestExportStartsAtTheLastBlobsPushed(t *testing.T) {
	e := newExporter()
	pubs := publishers(t, "type=registry,name=a.test/lib/x:1", "type=oci,dest=out", "type=registry,name=a.test/lib/y:1")
	exp := StartExport(context.Background(), e, pubs)
	exp.BlobsPushed(name.MustParseReference("a.test/lib/x:1").Context())
	e.notStarted(t, "before the second registry output had its blobs")
	exp.BlobsPushed(name.MustParseReference("a.test/lib/y:1").Context())
	repos := <-e.started
	if len(repos) != 2 || repos[0].String() != "a.test/lib/x" || repos[1].String() != "a.test/lib/y" {
		t.Errorf("mounts from %v", repos)
	}
	close(e.release)
	if err := exp.Wait(); err != nil {
		t.Fatal(err)
	}
	e.notStarted(t, "twice")
}

// Without registry outputs the export starts at Wait; a failed output cancels it and waits.
func TestExportWaitAndCancel(t *testing.T) {
	e := newExporter()
	close(e.release)
	if err := StartExport(context.Background(), e, publishers(t, "type=oci,dest=out")).Wait(); err != nil {
		t.Fatal(err)
	}
	if repos := <-e.started; len(repos) != 0 {
		t.Errorf("mounts from %v", repos)
	}

	e = newExporter()
	exp := StartExport(context.Background(), e, publishers(t, "type=registry,name=a.test/lib/x:1"))
	exp.Cancel() // not started: returns at once
	e.notStarted(t, "at Cancel")

	e = newExporter()
	exp = StartExport(context.Background(), e, publishers(t, "type=registry,name=a.test/lib/x:1"))
	exp.BlobsPushed(name.MustParseReference("a.test/lib/x:1").Context())
	<-e.started
	done := make(chan struct{})
	go func() { exp.Cancel(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Cancel did not stop the running export")
	}
}

func TestLaunchers(t *testing.T) {
	l := Launchers(context.Background(), Env{LauncherDir: "/l"}, LauncherInputs{})
	if len(l.Override) != 1 || l.Override[0] != "/l" {
		t.Errorf("override %v", l.Override)
	}
	b, ok := l.Fallback.(*launcherbuild.Builder)
	if !ok || b.Cache != nil {
		t.Errorf("fallback %T, cache %v: a nil cache must stay a nil interface", l.Fallback, b.Cache)
	}
	if l := Launchers(context.Background(), Env{}, LauncherInputs{}); l.Override != nil {
		t.Errorf("override without GRAFT_LAUNCHER_DIR: %v", l.Override)
	}
}

// The cache mounts from the repositories -t/--push push to (the publishers', not re-parsed
// flags), takes the early stores as its imports, and reads --cache-check.
func TestCacheOptions(t *testing.T) {
	o := &Build{Tags: []string{"reg.test/lib/x:v1"}, Push: true, CacheFrom: []string{"type=registry,ref=reg.test/cache"},
		CacheTo: []string{"type=registry,ref=reg.test/cache,mode=max"}, CacheCheck: "all"}
	pubs, err := o.Publishers(t.TempDir(), "site")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // the early read of reg.test is never awaited
	early := o.ReadCacheEarly(ctx)
	opts, err := o.CacheOptions(Env{CacheDir: "/c"}, CacheInputs{Publishers: pubs, Notes: io.Discard, Early: early})
	if err != nil {
		t.Fatal(err)
	}
	if len(opts.MountFrom) != 1 || opts.MountFrom[0].String() != "reg.test/lib/x" || !opts.MountOnly {
		t.Errorf("mount from %v, mount only %v", opts.MountFrom, opts.MountOnly)
	}
	if len(opts.From) != 1 || opts.From[0] != early[0] || len(opts.To) != 1 || opts.Check != buildcache.CheckAll || opts.LayerDir != filepath.Join("/c", "layers") {
		t.Errorf("%+v", opts)
	}
	if opts, _ := (&Build{}).CacheOptions(Env{}, CacheInputs{}); opts.Check != buildcache.CheckRead || opts.From != nil || opts.MountFrom != nil {
		t.Errorf("defaults %+v", opts)
	}
}

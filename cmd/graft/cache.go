package main

import (
	"context"
	"io"
	"path/filepath"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/graft-build/graft/builder/buildcache"
	"github.com/graft-build/graft/builder/layercache"
	"github.com/graft-build/graft/builder/publish"
	"github.com/graft-build/graft/internal/buildopts"
	"github.com/graft-build/graft/internal/usererr"
)

// localCache is graft's cache folder as a build cache (package builder/buildcache): layers,
// listings and base folders under layers/, licence verdicts under licenses/, launchers under
// launchers/, and the key that marks this machine's records outside it (Env.CacheKeyFile).
func localCache(env buildopts.Env, check buildcache.Check, notes io.Writer) buildcache.Options {
	return buildcache.Options{LayerDir: filepath.Join(env.CacheDir, "layers"), LicenseDir: filepath.Join(env.CacheDir, "licenses"),
		LauncherDir: filepath.Join(env.CacheDir, "launchers"), KeyFile: env.CacheKeyFile, Check: check, Notes: notes}
}

// buildCache is the build's cache: graft's cache folder, and --cache-from/--cache-to where
// they name graft's layer cache (registry and local specs, which are BuildKit's step cache too
// when BuildKit runs; other types are BuildKit's only, so they need --buildkit). Load reads
// the imported indexes.
func buildCache(o *buildOpts, env buildopts.Env, buildkit bool, pubs []publish.Publisher, notes io.Writer, early []layercache.Store) (*buildcache.Cache, error) {
	from, err := stores(o.CacheFrom, "--cache-from", "src", buildkit)
	if err != nil {
		return nil, err
	}
	if early != nil {
		from = early // the same specs, parsed alike, their indexes already coming
	}
	to, err := stores(o.CacheTo, "--cache-to", "dest", buildkit)
	if err != nil {
		return nil, err
	}
	check := buildcache.CheckRead
	switch o.CacheCheck {
	case "all":
		check = buildcache.CheckAll
	case "", "read":
	default:
		return nil, usererr.New("--cache-check %q: use read (check what the build reads) or all (download and check every cache hit)", o.CacheCheck)
	}
	opts := localCache(env, check, notes)
	opts.From, opts.To, opts.MountFrom, opts.MountOnly = from, to, pushedRepos(pubs), mountOnly(pubs, from)
	return buildcache.New(opts), nil
}

// readCacheEarly starts reading the indexes of the --cache-from registries graft reads, so that
// they come while the build resolves its base (a registry base's manifest and config) rather
// than after; buildCache takes these stores, whose next ReadIndex takes that answer. Specs in
// error are left to buildCache to report.
func readCacheEarly(ctx context.Context, o *buildOpts) []layercache.Store {
	from, err := stores(o.CacheFrom, "--cache-from", "src", true)
	if err != nil || len(from) == 0 {
		return nil
	}
	for _, s := range from {
		layercache.Prefetch(ctx, s)
	}
	return from
}

func stores(specs []string, flag, dirKey string, buildkit bool) ([]layercache.Store, error) {
	var out []layercache.Store
	for _, spec := range specs {
		s, ok, err := layercache.Parse(spec, flag, dirKey)
		if err != nil {
			return nil, err
		}
		if !ok {
			if !buildkit {
				return nil, usererr.New("%s %q: only BuildKit reads this cache type (graft's layer cache takes type=registry and type=local); give --buildkit ADDR or set %s",
					flag, spec, buildopts.EnvBuildkitHost)
			}
			continue
		}
		out = append(out, s)
	}
	return out, nil
}

// pushedRepos are the repositories the registry outputs push to (as the publishers say, -t
// and --push included), where a registry cache can mount the blobs the build just pushed from.
func pushedRepos(pubs []publish.Publisher) []name.Repository {
	var repos []name.Repository
	for _, p := range pubs {
		if r := p.Target().Repository; r != nil {
			repos = append(repos, *r)
		}
	}
	return repos
}

// mountOnly says every output is a repository of the registry of every registry cache
// imported: a layer from one is then reused or mounted by digest, never downloaded (see
// buildcache.Options.MountOnly).
func mountOnly(pubs []publish.Publisher, from []layercache.Store) bool {
	repos := pushedRepos(pubs)
	if len(repos) == 0 || len(repos) != len(pubs) {
		return false
	}
	for _, s := range from {
		reg, ok := layercache.RegistryOf(s)
		if !ok {
			continue // a folder's blobs are read and checked whatever the outputs
		}
		for _, r := range repos {
			if r.RegistryStr() != reg.RegistryStr() {
				return false
			}
		}
	}
	return true
}

// export is the build cache's export (--cache-to), started as soon as every registry output
// holds the image's blobs (which a registry cache mounts from there), beside the rest of
// their pushes (manifests, attachments); without registry outputs, once the outputs are
// written.
type export struct {
	ctx     context.Context
	stop    context.CancelFunc
	cache   *buildcache.Cache
	repos   []name.Repository
	mu      sync.Mutex
	waiting int // registry outputs whose blobs are not in yet
	done    chan error
}

func startExport(ctx context.Context, cache *buildcache.Cache, pubs []publish.Publisher) *export {
	ctx, stop := context.WithCancel(ctx)
	repos := pushedRepos(pubs)
	return &export{ctx: ctx, stop: stop, cache: cache, repos: repos, waiting: len(repos)}
}

// blobsPushed is publish.Artifact.BlobsPushed: the last registry output's call starts the
// export.
func (e *export) blobsPushed(name.Repository) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.waiting--; e.waiting == 0 {
		e.startLocked()
	}
}

func (e *export) startLocked() {
	if e.done != nil {
		return
	}
	e.done = make(chan error, 1)
	go func() { e.done <- e.cache.Export(e.ctx, e.repos) }()
}

// wait starts the export if no output did (every output written) and waits for it.
func (e *export) wait() error {
	e.mu.Lock()
	e.startLocked()
	e.mu.Unlock()
	defer e.stop()
	return <-e.done
}

// cancel stops an export started, after a failed output, and waits for it to end.
func (e *export) cancel() {
	e.stop()
	e.mu.Lock()
	done := e.done
	e.mu.Unlock()
	if done != nil {
		<-done
	}
}

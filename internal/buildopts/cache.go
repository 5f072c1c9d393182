package buildopts

import (
	"context"
	"io"
	"path/filepath"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/graft-build/graft/builder/buildcache"
	"github.com/graft-build/graft/builder/layercache"
	"github.com/graft-build/graft/builder/publish"
	"github.com/graft-build/graft/internal/usererr"
)

// LocalCache is graft's cache folder as a build cache (package builder/buildcache): layers,
// listings and base folders under layers/, licence verdicts under licenses/, launchers under
// launchers/, and the key that marks this machine's records outside it (Env.CacheKeyFile).
func LocalCache(env Env, check buildcache.Check, notes io.Writer) buildcache.Options {
	return buildcache.Options{LayerDir: filepath.Join(env.CacheDir, "layers"), LicenseDir: filepath.Join(env.CacheDir, "licenses"),
		LauncherDir: filepath.Join(env.CacheDir, "launchers"), KeyFile: env.CacheKeyFile, Check: check, Notes: notes}
}

// CacheInputs are what the build cache takes besides the options and the environment.
type CacheInputs struct {
	// BuildKit says BuildKit runs the build's steps: cache specs of types only BuildKit reads
	// are then left to it instead of refused.
	BuildKit bool
	// Publishers are the build's outputs (their registries are where a registry cache mounts
	// from).
	Publishers []publish.Publisher
	// Notes receives the cache's notes.
	Notes io.Writer
	// Early are the stores ReadCacheEarly returned (nil: none), taken instead of parsing
	// --cache-from again.
	Early []layercache.Store
}

// Cache is the build's cache: graft's cache folder, and --cache-from/--cache-to where they
// name graft's layer cache (registry and local specs, which are BuildKit's step cache too when
// BuildKit runs; other types are BuildKit's only, so they need --buildkit). Its Load reads the
// imported indexes.
func (o *Build) Cache(env Env, in CacheInputs) (*buildcache.Cache, error) {
	opts, err := o.CacheOptions(env, in)
	if err != nil {
		return nil, err
	}
	return buildcache.New(opts), nil
}

// CacheOptions are Cache's options: LocalCache with the imported and exported stores, the
// pushed repositories to mount from (MountFrom) and MountOnly.
func (o *Build) CacheOptions(env Env, in CacheInputs) (buildcache.Options, error) {
	from, err := stores(o.CacheFrom, "--cache-from", "src", in.BuildKit)
	if err != nil {
		return buildcache.Options{}, err
	}
	if in.Early != nil {
		from = in.Early // the same specs, parsed alike, their indexes already coming
	}
	to, err := stores(o.CacheTo, "--cache-to", "dest", in.BuildKit)
	if err != nil {
		return buildcache.Options{}, err
	}
	check, err := o.cacheCheck()
	if err != nil {
		return buildcache.Options{}, err
	}
	opts := LocalCache(env, check, in.Notes)
	opts.From, opts.To, opts.MountFrom, opts.MountOnly = from, to, PushedRepos(in.Publishers), MountOnly(in.Publishers, from)
	return opts, nil
}

// cacheCheck is --cache-check.
func (o *Build) cacheCheck() (buildcache.Check, error) {
	switch o.CacheCheck {
	case "all":
		return buildcache.CheckAll, nil
	case "", "read":
		return buildcache.CheckRead, nil
	default:
		return 0, usererr.New("--cache-check %q: use read (check what the build reads) or all (download and check every cache hit)", o.CacheCheck)
	}
}

// ReadCacheEarly starts reading the indexes of the --cache-from registries graft reads, so that
// they come while the build resolves its base (a registry base's manifest and config) rather
// than after; Cache takes these stores (CacheInputs.Early), whose next ReadIndex takes that
// answer. Specs in error are left to Cache to report (nil here).
func (o *Build) ReadCacheEarly(ctx context.Context) []layercache.Store {
	from, err := stores(o.CacheFrom, "--cache-from", "src", true)
	if err != nil || len(from) == 0 {
		return nil
	}
	for _, s := range from {
		layercache.Prefetch(ctx, s)
	}
	return from
}

// stores are the specs of flag graft's layer cache reads; a spec of a type only BuildKit
// reads is skipped when BuildKit runs and refused otherwise.
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
					flag, spec, EnvBuildkitHost)
			}
			continue
		}
		out = append(out, s)
	}
	return out, nil
}

// PushedRepos are the repositories the registry outputs push to (as the publishers say, -t
// and --push included), where a registry cache can mount the blobs the build just pushed from.
func PushedRepos(pubs []publish.Publisher) []name.Repository {
	var repos []name.Repository
	for _, p := range pubs {
		if r := p.Target().Repository; r != nil {
			repos = append(repos, *r)
		}
	}
	return repos
}

// MountOnly says every output is a repository of the registry of every registry cache
// imported: a layer from one is then reused or mounted by digest, never downloaded (see
// buildcache.Options.MountOnly).
func MountOnly(pubs []publish.Publisher, from []layercache.Store) bool {
	repos := PushedRepos(pubs)
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

// Exporter is what Export runs: the build cache's export to --cache-to, mounting blobs from
// the repositories named (buildcache.Cache is one).
type Exporter interface {
	Export(ctx context.Context, mountFrom []name.Repository) error
}

// Export is the build cache's export (--cache-to), started as soon as every registry output
// holds the image's blobs (which a registry cache mounts from there), beside the rest of
// their pushes (manifests, attachments); without registry outputs, once the outputs are
// written.
type Export struct {
	ctx     context.Context
	stop    context.CancelFunc
	cache   Exporter
	repos   []name.Repository
	mu      sync.Mutex
	waiting int // registry outputs whose blobs are not in yet
	done    chan error
}

// StartExport prepares the export of cache for the outputs pubs: it starts at the last
// BlobsPushed of a registry output, else at Wait.
func StartExport(ctx context.Context, cache Exporter, pubs []publish.Publisher) *Export {
	ctx, stop := context.WithCancel(ctx)
	repos := PushedRepos(pubs)
	return &Export{ctx: ctx, stop: stop, cache: cache, repos: repos, waiting: len(repos)}
}

// BlobsPushed is publish.Artifact.BlobsPushed: the last registry output's call starts the
// export.
func (e *Export) BlobsPushed(name.Repository) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.waiting--; e.waiting == 0 {
		e.startLocked()
	}
}

func (e *Export) startLocked() {
	if e.done != nil {
		return
	}
	e.done = make(chan error, 1)
	go func() { e.done <- e.cache.Export(e.ctx, e.repos) }()
}

// Wait starts the export if no output did (every output written) and waits for it.
func (e *Export) Wait() error {
	e.mu.Lock()
	e.startLocked()
	e.mu.Unlock()
	defer e.stop()
	return <-e.done
}

// Cancel stops an export started, after a failed output, and waits for it to end.
func (e *Export) Cancel() {
	e.stop()
	e.mu.Lock()
	done := e.done
	e.mu.Unlock()
	if done != nil {
		<-done
	}
}

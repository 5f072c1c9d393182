package main

import (
	"io"
	"path/filepath"

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
func buildCache(o *buildOpts, env buildopts.Env, buildkit bool, pubs []publish.Publisher, notes io.Writer) (*buildcache.Cache, error) {
	from, err := stores(o.CacheFrom, "--cache-from", "src", buildkit)
	if err != nil {
		return nil, err
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

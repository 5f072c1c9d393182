package main

import (
	"io"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/graft-build/graft/builder/buildcache"
	"github.com/graft-build/graft/builder/layercache"
	"github.com/graft-build/graft/builder/publish"
	"github.com/graft-build/graft/internal/usererr"
)

// localCache is graft's cache folder as a build cache (package builder/buildcache): layers,
// listings and base folders under layers/, licence verdicts under licenses/, launchers under
// launchers/, and the key that marks this machine's records outside it (cacheKeyFile).
func localCache(cacheDir string, check buildcache.Check, notes io.Writer) buildcache.Options {
	return buildcache.Options{LayerDir: filepath.Join(cacheDir, "layers"), LicenseDir: filepath.Join(cacheDir, "licenses"),
		LauncherDir: filepath.Join(cacheDir, "launchers"), KeyFile: cacheKeyFile(), Check: check, Notes: notes}
}

// cacheKeyFile is where the local cache's key is kept: graft's state folder
// ($XDG_STATE_HOME/graft, else ~/.local/state/graft), never in the cache folder, which CI
// restores from archives. "" when neither is known.
func cacheKeyFile() string {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "graft", "cache.key")
}

// buildCache is the build's cache: graft's cache folder, and --cache-from/--cache-to where
// they name graft's layer cache (registry and local specs, which are BuildKit's step cache too
// when BuildKit runs; other types are BuildKit's only, so they need --buildkit). Load reads
// the imported indexes.
func buildCache(o *buildOpts, cacheDir string, pubs []publish.Publisher, notes io.Writer) (*buildcache.Cache, error) {
	from, err := stores(o.cacheFrom, "--cache-from", "src", buildkitAddr(o) != "")
	if err != nil {
		return nil, err
	}
	to, err := stores(o.cacheTo, "--cache-to", "dest", buildkitAddr(o) != "")
	if err != nil {
		return nil, err
	}
	check := buildcache.CheckRead
	switch o.cacheCheck {
	case "all":
		check = buildcache.CheckAll
	case "", "read":
	default:
		return nil, usererr.New("--cache-check %q: use read (check what the build reads) or all (download and check every cache hit)", o.cacheCheck)
	}
	opts := localCache(cacheDir, check, notes)
	opts.From, opts.To, opts.MountOnly = from, to, mountOnly(pubs, from)
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
					flag, spec, EnvBuildkitHost)
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

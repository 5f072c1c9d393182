package main

import (
	"context"
	"io"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/graft-build/graft/builder/layercache"
	"github.com/graft-build/graft/builder/publish"
	"github.com/graft-build/graft/internal/usererr"
)

// layerCache reads --cache-from and --cache-to: registry and local specs are graft's shared
// layer cache (and BuildKit's step cache when BuildKit runs); other types are BuildKit's only,
// so they need --buildkit. Nil when no spec names a layer cache.
func layerCache(ctx context.Context, o *buildOpts, notes io.Writer) (*layercache.Cache, error) {
	from, err := stores(o.cacheFrom, "--cache-from", "src", buildkitAddr(o) != "")
	if err != nil {
		return nil, err
	}
	to, err := stores(o.cacheTo, "--cache-to", "dest", buildkitAddr(o) != "")
	if err != nil {
		return nil, err
	}
	if len(from) == 0 && len(to) == 0 {
		return nil, nil
	}
	c := layercache.New(from, to, notes)
	c.Load(ctx)
	return c, nil
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

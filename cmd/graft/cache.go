package main

import (
	"context"
	"io"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/graft-build/graft/builder/layercache"
	"github.com/graft-build/graft/internal/buildopts"
	"github.com/graft-build/graft/internal/usererr"
	"github.com/graft-build/graft/lockfile"
)

// layerCache reads --cache-from and --cache-to: registry and local specs are graft's shared
// layer cache (and BuildKit's step cache when BuildKit runs); other types are BuildKit's only,
// so they need a BuildKit address (buildkit). Nil when no spec names a layer cache.
func layerCache(ctx context.Context, o *buildOpts, buildkit bool, notes io.Writer) (*layercache.Cache, error) {
	from, err := stores(o.CacheFrom, "--cache-from", "src", buildkit)
	if err != nil {
		return nil, err
	}
	to, err := stores(o.CacheTo, "--cache-to", "dest", buildkit)
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
					flag, spec, buildopts.EnvBuildkitHost)
			}
			continue
		}
		out = append(out, s)
	}
	return out, nil
}

// pushedRepos are the repositories of the registry outputs, where a registry cache can mount
// the blobs the build just pushed from.
func pushedRepos(p *lockfile.Project, outputs []string) []name.Repository {
	var repos []name.Repository
	for _, spec := range outputs {
		kv := map[string]string{}
		for _, f := range strings.Split(spec, ",") {
			k, v, _ := strings.Cut(f, "=")
			kv[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
		if kv["type"] != "registry" {
			continue
		}
		ref := kv["name"]
		if ref == "" {
			ref = p.Site.Name
		}
		if r, err := name.ParseReference(ref); err == nil {
			repos = append(repos, r.Context())
		}
	}
	return repos
}

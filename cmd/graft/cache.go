package main

import (
	"io"

	"github.com/graft-build/graft/builder/buildcache"
	"github.com/graft-build/graft/internal/buildopts"
)

// localCache is buildopts.LocalCache, which verify calls by this name.
func localCache(env buildopts.Env, check buildcache.Check, notes io.Writer) buildcache.Options {
	return buildopts.LocalCache(env, check, notes)
}

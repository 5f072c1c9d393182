package main

import (
	"context"
	"embed"
	"io"
	"io/fs"

	"github.com/graft-build/graft/builder"
	"github.com/graft-build/graft/builder/buildcache"
	"github.com/graft-build/graft/internal/buildopts"
)

// Cross-compile the launchers graft embeds with launcherbuild's recipe (static, -trimpath, no
// symbols, the toolchain of go.mod): the same recipe a graft without them uses, so both give
// byte-identical launchers. Release builds set GRAFT_VERSION to their tag.
//go:generate go run ../../internal/launcherbuild/cmd/genlaunchers -o launchers linux/amd64 linux/arm64

// embeddedLaunchers holds launchers/README.md always and the binaries when `go generate` ran.
//
//go:embed launchers
var embeddedLaunchers embed.FS

// embeddedSet is the embedded launchers folder.
func embeddedSet() fs.FS {
	sub, _ := fs.Sub(embeddedLaunchers, "launchers")
	return sub
}

// launchers are buildopts.Launchers with graft's embedded set (doctor and verify call it too).
func launchers(ctx context.Context, g *globalOpts, env buildopts.Env, cache *buildcache.Cache, log io.Writer) builder.Launchers {
	return buildopts.Launchers(ctx, env, buildopts.LauncherInputs{Embedded: g.embedded, Cache: cache, Log: log})
}

package main

import (
	"context"
	"embed"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/graft-build/graft/builder"
	"github.com/graft-build/graft/builder/buildcache"
	"github.com/graft-build/graft/internal/buildopts"
	"github.com/graft-build/graft/internal/launcherbuild"
	"github.com/graft-build/graft/internal/version"
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

// launchers is where graft finds launcher binaries: $GRAFT_LAUNCHER_DIR (an explicit choice
// wins), the embedded set, beside the graft executable, else one built with the local Go
// toolchain from graft's own version (kept in the build cache, when there is one). A build
// makes one and gives it to the builder and the attestations alike.
func launchers(ctx context.Context, g *globalOpts, env buildopts.Env, cache *buildcache.Cache, log io.Writer) builder.Launchers {
	l := builder.Launchers{FS: g.embedded}
	if env.LauncherDir != "" {
		l.Override = []string{env.LauncherDir}
	}
	if exe, err := os.Executable(); err == nil {
		l.Dirs = append(l.Dirs, filepath.Dir(exe))
	}
	loc := launcherbuild.NewLocator(version.Version)
	b := &launcherbuild.Builder{Ctx: ctx, Log: log, Locate: loc.Locate}
	if cache != nil {
		b.Cache = cache
	}
	l.Fallback = b
	return l
}

package buildopts

import (
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/graft-build/graft/builder"
	"github.com/graft-build/graft/builder/buildcache"
	"github.com/graft-build/graft/internal/launcherbuild"
	"github.com/graft-build/graft/internal/version"
)

// LauncherInputs are where launchers come from besides the environment.
type LauncherInputs struct {
	// Embedded is the launcher set built into graft (`go generate`); it may hold none.
	Embedded fs.FS
	// Cache keeps launchers graft builds itself (nil: none kept).
	Cache *buildcache.Cache
	// Log receives a line per launcher built (nil: none).
	Log io.Writer
}

// Launchers is where graft finds launcher binaries: $GRAFT_LAUNCHER_DIR (an explicit choice
// wins), the embedded set, beside the graft executable, else one built with the local Go
// toolchain from graft's own version (kept in the build cache, when there is one). A build
// makes one and gives it to the builder and the attestations alike.
func Launchers(ctx context.Context, env Env, in LauncherInputs) builder.Launchers {
	l := builder.Launchers{FS: in.Embedded}
	if env.LauncherDir != "" {
		l.Override = []string{env.LauncherDir}
	}
	if exe, err := os.Executable(); err == nil {
		l.Dirs = append(l.Dirs, filepath.Dir(exe))
	}
	loc := launcherbuild.NewLocator(version.Version)
	b := &launcherbuild.Builder{Ctx: ctx, Log: in.Log, Locate: loc.Locate}
	if in.Cache != nil { // a nil *Cache in the interface would not read as "no cache"
		b.Cache = in.Cache
	}
	l.Fallback = b
	return l
}

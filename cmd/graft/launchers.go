package main

import (
	"embed"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/graft-build/graft/builder"
)

// Cross-compile the launchers graft embeds (static, reproducible, no symbols).
//go:generate env CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath "-ldflags=-s -w" -o launchers/graft-launcher-linux-amd64 ../graft-launcher
//go:generate env CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -trimpath "-ldflags=-s -w" -o launchers/graft-launcher-linux-arm64 ../graft-launcher

// embeddedLaunchers holds launchers/README.md always and the binaries when `go generate` ran.
//
//go:embed launchers
var embeddedLaunchers embed.FS

// EnvLauncherDir names a folder of graft-launcher-<os>-<arch> binaries graft uses when it has
// none embedded for a platform.
const EnvLauncherDir = "GRAFT_LAUNCHER_DIR"

// launchers is where graft finds launcher binaries: $GRAFT_LAUNCHER_DIR (an explicit choice
// wins), the embedded set, then beside the graft executable.
func launchers(getenv func(string) string) builder.Launchers {
	sub, _ := fs.Sub(embeddedLaunchers, "launchers")
	l := builder.Launchers{FS: sub}
	if d := getenv(EnvLauncherDir); d != "" {
		l.Override = []string{d}
	}
	if exe, err := os.Executable(); err == nil {
		l.Dirs = append(l.Dirs, filepath.Dir(exe))
	}
	return l
}

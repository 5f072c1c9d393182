// Package version is graft's version, shared by graft and graft-launcher.
package version

import "runtime/debug"

// Version is set at release time with -ldflags "-X github.com/graft-build/graft/internal/version.Version=v1.2.3".
var Version = ""

// String returns the release version, else the module version from build info, else "devel".
func String() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

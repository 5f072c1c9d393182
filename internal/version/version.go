// Package version is graft's version, shared by graft and graft-launcher.
package version

import "runtime/debug"

// Version is set at release time with -ldflags "-X github.com/graft-build/graft/internal/version.Version=v1.2.3".
var Version = ""

// Devel is the version of a build that carries nothing better.
const Devel = "devel"

// String returns the release version, else what the build info says (see FromBuildInfo).
func String() string {
	bi, _ := debug.ReadBuildInfo()
	return FromBuildInfo(Version, bi)
}

// FromBuildInfo is the version of a build: release when set (a release's -X, which wins so
// that a release's labels, hence its images' digests, never depend on how it was checked out),
// else the main module's version (`go install ...@v1.2.3`, or the pseudo-version Go stamps
// from a checkout's VCS), else the commit of the VCS information (FromVCS), else "devel".
func FromBuildInfo(release string, bi *debug.BuildInfo) string {
	if release != "" {
		return release
	}
	if bi == nil {
		return Devel
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev string
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	return FromVCS(rev, modified)
}

// FromVCS is the version of a build from a checkout at revision: "devel+abc123def456", with
// "-dirty" when the working tree had changes; "devel" when the revision is unknown.
func FromVCS(revision string, modified bool) string {
	if revision == "" {
		return Devel
	}
	v := Devel + "+" + revision[:min(12, len(revision))]
	if modified {
		v += "-dirty"
	}
	return v
}

package lockfile

import (
	"path"
	"strings"

	"github.com/graft-build/graft/lockfile/gitremote"
)

// mismatches compares locked entry pk with plugin pl's source src (templates rendered with the
// lock's base version): every value graft.lock records about where the content comes from and
// where it goes must be what plugin.toml says.
func (p *Project) mismatches(pl Plugin, src Source, pk PluginLock) []Mismatch {
	var out []Mismatch
	add := func(key, locked, want string) {
		out = append(out, Mismatch{Plugin: pk.Name, Key: key, Locked: locked, Want: want, Ref: src.Ref})
	}
	if pk.Local != src.Local {
		add("local", pk.Local, src.Local)
	}
	typ := src.Type()
	if want := kindOfType(typ); want != "" && pk.Kind != want {
		add("kind", pk.Kind, want)
		return out
	}
	switch typ {
	case TypeLocal:
		if pk.Git != "" {
			add("git", gitremote.Redact(pk.Git), "")
		}
	case TypeGit:
		if pk.Git != src.Git {
			add("git", gitremote.Redact(pk.Git), gitremote.Redact(src.Git))
		}
		if pk.Ref != src.Ref {
			add("ref", pk.Ref, src.Ref)
		}
		if kinds := refKinds(src.Ref); !kinds[pk.Kind] {
			add("kind", pk.Kind, kindList(kinds))
		} else if pk.Kind == KindCommit && pk.Commit != src.Ref {
			add("commit", pk.Commit, src.Ref) // a full SHA locks itself
		}
	case TypeURL:
		if want := fillVersion(src.URL, src.Version); pk.URL != want {
			add("url", gitremote.Redact(pk.URL), gitremote.Redact(want))
		}
		if pk.Version != src.Version {
			add("version", pk.Version, src.Version)
		}
		if src.SHA256 != "" && pk.Digest != "sha256:"+src.SHA256 {
			add("digest", pk.Digest, "sha256:"+src.SHA256)
		}
	case TypeMaven:
		if pk.Maven != src.Maven {
			add("maven", pk.Maven, src.Maven)
		}
		if m, err := ParseMaven(src.Maven); err == nil && pk.URL != m.URL(p.mavenRepository(src)) {
			add("url", gitremote.Redact(pk.URL), gitremote.Redact(m.URL(p.mavenRepository(src))))
		}
	case TypeOCI:
		if pk.OCI != src.OCI {
			add("oci", pk.OCI, src.OCI)
		}
	}
	if pk.Path != src.Path {
		add("path", pk.Path, src.Path)
	}
	if !p.destFits(pl, pk.Dest) {
		add("dest", pk.Dest, p.wantDest(pl))
	}
	return out
}

// kindOfType is the lock kind a source type must have ("" for git, whose kind is its ref's).
func kindOfType(typ string) string {
	switch typ {
	case TypeLocal:
		return KindLocal
	case TypeURL:
		return KindURL
	case TypeMaven:
		return KindMaven
	case TypeOCI:
		return KindOCI
	}
	return ""
}

// destFits reports whether a locked dest is one pl's [install] can give.
func (p *Project) destFits(pl Plugin, dest string) bool {
	switch {
	case pl.Install.Dest != "":
		return dest == pl.Install.Dest
	case pl.InstallsFile():
		return path.Dir(dest) == p.Site.PluginsDir && strings.HasPrefix(path.Base(dest), pl.Name) &&
			(len(path.Base(dest)) == len(pl.Name) || path.Base(dest)[len(pl.Name)] == '.')
	}
	return dest == ""
}

// wantDest describes where pl's [install] puts it, for messages.
func (p *Project) wantDest(pl Plugin) string {
	switch {
	case pl.Install.Dest != "":
		return pl.Install.Dest
	case pl.InstallsFile():
		return path.Join(p.Site.PluginsDir, pl.Name) + ".EXT"
	}
	return ""
}

// Package lockfile holds graft's site-repository formats: graft.toml (the image), plugin.toml
// (one plugin) and graft.lock (every plugin pinned to a commit), with their strict parsing.
package lockfile

import (
	"github.com/graft-build/graft/imagecontract"
	"github.com/graft-build/graft/launcher/config"
)

// File names inside a site repository.
const (
	SiteFile   = "graft.toml"
	PluginFile = "plugin.toml"
	LockFile   = "graft.lock"
	PluginsDir = "plugins" // plugins/<name>/plugin.toml
)

// Site is graft.toml.
type Site struct {
	Base       string        `toml:"base"`                // registry ref or oci-layout://DIR[:tag|@digest]
	Name       string        `toml:"name,omitempty"`      // default image name for outputs
	PluginsDir string        `toml:"plugins_dir"`         // plugin <name> goes to PluginsDir/<name>/
	Owner      string        `toml:"owner,omitempty"`     // uid:gid of added files; default: base's User
	Platforms  []string      `toml:"platforms,omitempty"` // default: every platform of the base
	Mirrors    []Mirror      `toml:"mirror,omitempty"`    // URL rewrites, like git's insteadOf
	Launcher   config.Config `toml:"launcher,omitempty"`  // merged with plugin contributions
	// PluginOrder puts these plugins first, in this order, in every per-plugin list of the
	// launcher configuration (snippets of each target, hooks); the rest follow in lock order.
	PluginOrder []string `toml:"plugin_order,omitempty"`
	// Healthcheck times the image's HEALTHCHECK (graft-launcher healthcheck); unset fields keep
	// the engine's defaults (Docker: every 30s, 30s timeout, 3 retries, no start period).
	Healthcheck Healthcheck `toml:"healthcheck,omitempty"`
	// BaseVersion says where the base application's version is read (see basever.go).
	BaseVersion BaseVersion `toml:"base_version,omitempty"`
}

// Healthcheck is graft.toml's [healthcheck]: Go durations ("10s", "1m30s") and a retry count.
type Healthcheck struct {
	Interval    string `toml:"interval,omitempty"`
	Timeout     string `toml:"timeout,omitempty"`
	StartPeriod string `toml:"start_period,omitempty"`
	Retries     int    `toml:"retries,omitempty"`
}

// Mirror rewrites git URLs starting with Prefix to start with URL instead.
type Mirror struct {
	Prefix string `toml:"prefix"`
	URL    string `toml:"url"`
}

// Plugin is plugins/<name>/plugin.toml. Name comes from the folder.
type Plugin struct {
	Name     string         `toml:"-"`
	Source   Source         `toml:"source"`
	Install  Install        `toml:"install,omitempty"`
	Compat   Compat         `toml:"compat,omitempty"`
	Build    Build          `toml:"build,omitempty"`
	Config   PluginConfig   `toml:"config,omitempty"`
	Launcher PluginLauncher `toml:"launcher,omitempty"`
}

// Source says where the plugin's files come from: a git repository (Git, Ref, Path), a folder
// of the site repository (Local), a file or archive over HTTP (URL), a Maven artifact (Maven)
// or an OCI artifact or image (OCI). Exactly one of Git, Local, URL, Maven and OCI is set.
type Source struct {
	Git  string `toml:"git"`            // https, ssh, file:// or a local path
	Ref  string `toml:"ref"`            // branch, tag or full commit; may follow the base ({{ .Base.Major }})
	Path string `toml:"path,omitempty"` // subfolder of the repo (or archive, artifact) to install; "" is all
	// Local is a folder relative to the plugin's folder (plugins/<name>/), kept in the site
	// repository: graft.lock pins its git tree hash, computed from the working tree.
	Local string `toml:"local,omitempty"`

	// URL is an https (or http) file or archive; "{version}" in it is replaced by Version.
	URL      string   `toml:"url,omitempty"`
	Version  string   `toml:"version,omitempty"`  // fills {version} in URL
	Versions Versions `toml:"versions,omitempty"` // where URL's versions are listed (outdated, --bump)
	SHA256   string   `toml:"sha256,omitempty"`   // the file's sha256 (hex); the lock must agree
	// Maven is group:artifact:version[:classifier][@ext] in Repository (Maven Central's layout).
	Maven      string `toml:"maven,omitempty"`
	Repository string `toml:"repository,omitempty"`
	// OCI is an artifact or image in a registry (host/repo:tag or @sha256:...), or
	// oci-layout://DIR[:tag|@digest].
	OCI string `toml:"oci,omitempty"`
	// Strip drops this many leading path components of an archive's entries (as tar's
	// --strip-components); Extract forces (true) or prevents (false) unpacking the file.
	Strip   int   `toml:"strip,omitempty"`
	Extract *bool `toml:"extract,omitempty"`
}

// Versions names where a url source's versions are listed: the version tags of a git
// repository, or a Maven maven-metadata.xml.
type Versions struct {
	Git   string `toml:"git,omitempty"`
	Maven string `toml:"maven,omitempty"` // URL of a maven-metadata.xml
}

// Install says where a plugin goes in the image: by default the folder plugins_dir/NAME/; As
// "file" installs its one file as plugins_dir/NAME.EXT; Dest puts the folder (or file) at an
// absolute path of its own. Replace allows replacing what the base image has there.
type Install struct {
	As      string `toml:"as,omitempty"` // "folder" (default) or "file"
	Dest    string `toml:"dest,omitempty"`
	Replace bool   `toml:"replace,omitempty"`
}

// Install shapes.
const (
	AsFolder = "folder"
	AsFile   = "file"
)

// Compat is the range of base application versions a plugin supports (">=3.5, <5").
type Compat struct {
	Base string `toml:"base,omitempty"`
}

// Build holds commands run inside the base image at build time (needs BuildKit).
type Build struct {
	Run     []string          `toml:"run,omitempty"`
	Env     map[string]string `toml:"env,omitempty"`
	Secrets []BuildSecret     `toml:"secret,omitempty"`
}

// BuildSecret is mounted for build steps only; its value never reaches a layer.
type BuildSecret struct {
	ID   string `toml:"id"`             // mounted at /run/secrets/<id>
	Env  string `toml:"env,omitempty"`  // value from this environment variable of graft's
	File string `toml:"file,omitempty"` // or from this file on graft's machine
}

// PluginConfig is what a plugin adds to the app's configuration files, rendered by the
// launcher's templates: Snippet for the default target (.Snippets), Targets for named ones
// (.Target "launcher_rc.rb"), such as code the app runs early at start.
type PluginConfig struct {
	Snippet string            `toml:"snippet,omitempty"`
	Targets map[string]string `toml:"targets,omitempty"` // target name -> text
}

// PluginLauncher is what a plugin adds to the launcher.
type PluginLauncher struct {
	Hooks     []string         `toml:"hooks,omitempty"` // paths relative to the plugin folder
	Settings  []config.Setting `toml:"settings,omitempty"`
	Templates []PluginTemplate `toml:"template,omitempty"` // [[launcher.template]]
}

// PluginTemplate is a Go text/template the plugin ships, rendered by the launcher at start
// (data as for launcher.toml's [[template]]).
type PluginTemplate struct {
	Src  string `toml:"src"`  // path relative to the plugin folder
	Dest string `toml:"dest"` // absolute path in the image
}

// Lock is graft.lock.
type Lock struct {
	Version int `toml:"version"`
	// Definitions is a digest over graft.toml and every plugin.toml: a mismatch means stale.
	Definitions string       `toml:"definitions"`
	Base        BaseLock     `toml:"base"`
	Plugins     []PluginLock `toml:"plugin"`
	// Contract is the image's runtime contract as the definitions gave it at this lock
	// (components and settings), kept so the next lock can say what changed for deployments;
	// nil in a lock written before graft recorded it. Builds never read it.
	Contract *imagecontract.Contract `toml:"contract,omitempty"`
}

// BaseLock is the base image reference resolved to a digest.
type BaseLock struct {
	Ref    string `toml:"ref"`
	Digest string `toml:"digest"` // sha256:..., of the manifest or index
	// Version is the base application's version, read as graft.toml's base_version says,
	// when a plugin needs it ([compat], a ref following the base).
	Version string `toml:"version,omitempty"`
}

// Kinds of ref recorded in PluginLock.Kind.
const (
	KindBranch = "branch"
	KindTag    = "tag"
	KindCommit = "commit"
	KindLocal  = "local" // a folder of the site repository (source.local)
	KindURL    = "url"   // a file or archive over HTTP (source.url)
	KindMaven  = "maven" // a Maven artifact (source.maven)
	KindOCI    = "oci"   // an OCI artifact or image (source.oci)
)

// PluginLock pins one plugin.
type PluginLock struct {
	Name       string   `toml:"name"`
	Git        string   `toml:"git,omitempty"`    // empty for a local plugin
	Ref        string   `toml:"ref,omitempty"`    // empty for a local plugin
	Kind       string   `toml:"kind"`             // what ref named: "branch", "tag" or "commit"; or "local"
	Commit     string   `toml:"commit,omitempty"` // full SHA of the commit, never of a tag object; empty for local
	Title      string   `toml:"title,omitempty"`  // first line of the commit message
	Tags       []string `toml:"tags,omitempty"`
	Path       string   `toml:"path,omitempty"`
	Local      string   `toml:"local,omitempty"` // source.local of a local plugin
	Tree       string   `toml:"tree"`            // tree hash of Path in Commit, or of the local folder
	Definition string   `toml:"definition"`      // sha256 of plugin.toml

	// url, maven, oci: what was fetched, pinned by its content.
	URL     string `toml:"url,omitempty"`     // url, maven: the file's URL (version filled in; no mirror, no credentials)
	Maven   string `toml:"maven,omitempty"`   // maven: group:artifact:version[:classifier][@ext]
	OCI     string `toml:"oci,omitempty"`     // oci: the reference as plugin.toml gives it
	Version string `toml:"version,omitempty"` // url: source.version; maven: the artifact's version
	Digest  string `toml:"digest,omitempty"`  // sha256:… of the file (url, maven) or of the manifest (oci)
	Size    int64  `toml:"size,omitempty"`    // url, maven: the file's length in bytes
	// Dest is where the plugin is installed when that is not plugins_dir/NAME/ (an [install]
	// file or dest): an absolute path in the image.
	Dest string `toml:"dest,omitempty"`
}

// Pin is what pins the plugin's content: its commit (git), a local folder's tree, or the
// digest of the file or manifest (url, maven, oci).
func (pk PluginLock) Pin() string {
	switch pk.Kind {
	case KindLocal:
		return pk.Tree
	case KindURL, KindMaven, KindOCI:
		return pk.Digest
	}
	return pk.Commit
}

// IsGit reports whether the plugin comes from a git repository (kind branch, tag or commit).
func (pk PluginLock) IsGit() bool {
	switch pk.Kind {
	case KindBranch, KindTag, KindCommit:
		return true
	}
	return false
}

// IsArtifact reports whether the plugin is a fetched file, archive or artifact (url, maven, oci).
func (pk PluginLock) IsArtifact() bool {
	switch pk.Kind {
	case KindURL, KindMaven, KindOCI:
		return true
	}
	return false
}

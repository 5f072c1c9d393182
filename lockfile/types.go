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
	Build    Build          `toml:"build,omitempty"`
	Config   PluginConfig   `toml:"config,omitempty"`
	Launcher PluginLauncher `toml:"launcher,omitempty"`
}

// Source says where the plugin's files come from: a git repository (Git, Ref, Path) or a
// folder of the site repository (Local).
type Source struct {
	Git  string `toml:"git"`            // https, ssh, file:// or a local path
	Ref  string `toml:"ref"`            // branch, tag or full commit
	Path string `toml:"path,omitempty"` // subfolder of the repo to install; "" is all
	// Local is a folder relative to the plugin's folder (plugins/<name>/), kept in the site
	// repository: graft.lock pins its git tree hash, computed from the working tree.
	Local string `toml:"local,omitempty"`
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
}

// Kinds of ref recorded in PluginLock.Kind.
const (
	KindBranch = "branch"
	KindTag    = "tag"
	KindCommit = "commit"
	KindLocal  = "local" // a folder of the site repository (source.local)
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
}

// Package contract holds the types the builder shares with what runs inside it and what reads
// its output: the labels graft sets on an image and the plugin list they carry, the Result of a
// build with every layer described by kind (LayerInfo), the request a StepRunner receives and
// the source of launcher binaries. Packages builder, builder/attest, builder/buildkit and
// verify import this one, never each other, for these types.
package contract

import (
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Labels and annotations graft sets on the image (and `graft inspect` and `graft verify` read).
const (
	LabelBaseName        = "org.opencontainers.image.base.name"
	LabelBaseDigest      = "org.opencontainers.image.base.digest"
	LabelCreated         = "org.opencontainers.image.created"
	LabelPlugins         = "org.graft.plugins" // JSON list of PluginInfo
	LabelLauncherVersion = "org.graft.launcher.version"
	LabelGraftVersion    = "org.graft.version"
	// LabelUnlocked lists, comma-separated, the plugins an image was built with from a working
	// folder (`graft build --override`) instead of graft.lock: such an image is not what the
	// lock builds, and `graft verify` fails it.
	LabelUnlocked = "org.graft.unlocked"
)

// Labels are every label graft sets, in a fixed order.
var Labels = []string{LabelBaseName, LabelBaseDigest, LabelCreated, LabelPlugins, LabelLauncherVersion, LabelGraftVersion, LabelUnlocked}

// PluginInfo is one plugin as the image's org.graft.plugins label lists it.
type PluginInfo struct {
	Name   string `json:"name"`
	Commit string `json:"commit"`
	Ref    string `json:"ref,omitempty"`
	Path   string `json:"path,omitempty"`
	// Local and Tree are set for a plugin kept in the site repository (Commit is empty).
	Local string `json:"local,omitempty"`
	Tree  string `json:"tree,omitempty"`
	// Kind, Source and Digest are set for a url, maven or oci plugin (Commit is empty): what it
	// was fetched as (its URL without credentials, coordinates or reference) and the file's (or
	// manifest's) sha256; Tree is then what was unpacked.
	Kind   string `json:"kind,omitempty"`
	Source string `json:"source,omitempty"`
	Digest string `json:"digest,omitempty"`
	// Dest is where the plugin is installed, when not plugins_dir/NAME.
	Dest string `json:"dest,omitempty"`
	// Unlocked: built from a working folder (`graft build --override`), not from graft.lock;
	// Tree is then that folder's tree.
	Unlocked bool `json:"unlocked,omitempty"`
}

// Platform names p as graft writes it everywhere: os/arch[/variant].
func Platform(p v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// ConfigPlatform is the platform an image's config declares.
func ConfigPlatform(cf *v1.ConfigFile) v1.Platform {
	return v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}
}

// LayerKind says what a layer of graft's image holds.
type LayerKind int

const (
	// KindBase is a layer of the base image, untouched.
	KindBase LayerKind = iota
	// KindPlugin is one plugin's files (and what its [build] steps added).
	KindPlugin
	// KindLauncher is the graft-launcher binary.
	KindLauncher
	// KindLauncherConfig is launcher.toml and the folders the launcher writes.
	KindLauncherConfig
)

func (k LayerKind) String() string {
	switch k {
	case KindBase:
		return "base"
	case KindPlugin:
		return "plugin"
	case KindLauncher:
		return "launcher"
	case KindLauncherConfig:
		return "launcher configuration"
	}
	return fmt.Sprintf("LayerKind(%d)", int(k))
}

// LayerInfo describes one layer of one platform's image, in the image's order.
type LayerInfo struct {
	Digest   v1.Hash // of the compressed blob
	DiffID   v1.Hash // of the uncompressed tar
	Kind     LayerKind
	Plugin   string // KindPlugin: the plugin's name
	Version  string // KindPlugin: its commit (or "local DIR tree T"); KindLauncher: the launcher's version
	Platform string // os/arch[/variant]
}

// Name is what progress lines call the layer: "plugin alpha COMMIT", "launcher VERSION",
// "launcher configuration", "base".
func (l LayerInfo) Name() string {
	switch l.Kind {
	case KindPlugin:
		return "plugin " + l.Plugin + " " + l.Version
	case KindLauncher:
		return "launcher " + l.Version
	}
	return l.Kind.String()
}

package contract

import (
	"context"
	"io"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/graft-build/graft/internal/imageref"
)

// StepRunner runs a plugin's [build] steps inside the base image and returns the layer holding
// exactly what the plugin's files plus its steps add to the base. The daemonless engine has
// none; the BuildKit engine (package builder/buildkit) is one. The builder assembles the final
// image itself either way, so both engines give the same image config, labels and layer order.
//
// RunSteps's errors start with "plugin NAME: " (the builder passes them on as they are) and
// never contain a secret's value.
type StepRunner interface {
	RunSteps(ctx context.Context, req StepRequest) (v1.Layer, error)
}

// Steps are a plugin's [build] table: commands, their environment and secrets.
type Steps struct {
	Run     []string          // each runs as `/bin/sh -c CMD`
	Env     map[string]string // added to the base image's environment
	Secrets []Secret
}

// Secret is mounted at /run/secrets/<ID> for the steps only; its value is read on graft's
// machine from the environment variable Env or the file File, and never reaches a layer.
type Secret struct {
	ID, Env, File string
}

// StepRequest is one plugin's steps on one platform.
type StepRequest struct {
	Plugin   string // the plugin's name, for messages and cache keys
	Steps    Steps
	Platform v1.Platform
	// BaseRef is the base image of this platform by its manifest digest: a registry reference or
	// an OCI layout folder; Base is the same image, already resolved (config: Env, User).
	BaseRef imageref.Ref
	Base    v1.Image
	// PluginTar opens the uncompressed tar of the plugin's own files exactly as the daemonless
	// layer holds them (paths relative to /, under PluginDir), so the steps see the same tree.
	PluginTar func() (io.ReadCloser, error)
	PluginDir string // absolute, e.g. /archivesspace/plugins/aspace-oauth
	UID, GID  int    // owner of the plugin's files; steps run as this user
	Epoch     time.Time
	// MediaType of the layer to return, matching the base (OCI or Docker).
	MediaType types.MediaType
	// Progress receives human-readable lines; may be nil.
	Progress io.Writer
}

// LauncherSource gives the graft-launcher binary for a target platform. graft embeds one per
// supported platform (see cmd/graft/launchers); tests pass a freshly built binary.
type LauncherSource interface {
	Launcher(platform v1.Platform) (content []byte, version string, err error)
}

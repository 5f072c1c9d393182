package builder

import (
	"context"
	"io"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/graft-build/graft/lockfile"
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

// StepRequest is one plugin on one platform.
type StepRequest struct {
	Plugin   lockfile.Plugin     // definition: Build.Run, Build.Env, Build.Secrets
	Lock     lockfile.PluginLock // the pinned commit
	Platform v1.Platform
	// BaseRef names the base image by digest for this platform: a registry reference
	// "host/repo@sha256:..." or "oci-layout://DIR@sha256:..." (the platform's manifest digest).
	BaseRef string
	Base    v1.Image // the same base, already resolved (config: Env, User, WorkingDir)
	// PluginTar opens the uncompressed tar of the plugin's own files exactly as the daemonless
	// layer holds them (paths relative to /, under PluginDir), so the steps see the same tree.
	PluginTar func() (io.ReadCloser, error)
	PluginDir string // absolute, e.g. /archivesspace/plugins/aspace-oauth
	UID, GID  int    // owner of the plugin's files; steps run as this user
	Epoch     time.Time
	// MediaType of the layer to return, matching the base (OCI or Docker).
	MediaType string
	// Progress receives human-readable lines; may be nil.
	Progress io.Writer
}

package buildkit

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/tonistiigi/fsutil"

	"github.com/graft-build/graft/builder/contract"
	"github.com/graft-build/graft/internal/imageref"
)

// Names inside one solve's session; they are fixed so the LLB of a plugin is the same on every
// run and machine (BuildKit's cache matches on it).
const (
	filesName = "graft-plugin-files" // llb.Local of the plugin's files
	baseStore = "graft-base"         // OCIStores key of the base (see imageStore)
	shell     = "/bin/sh"
)

var _ contract.StepRunner = (*Engine)(nil)

// RunSteps runs the plugin's [build] commands (req.Steps) in the base image with the plugin's files in
// place, and returns exactly what the files and the commands added or changed, as one layer.
//
// Each command runs as `/bin/sh -c CMD` (so the base needs /bin/sh; pipes, && and $VARS work as
// in a Dockerfile RUN), as UID:GID, in the plugin's folder, with the base image's environment
// plus the plugin's [build] env, and with each [build] secret mounted at /run/secrets/<id>.
// Every plugin is its own solve starting from the base, so changing one plugin never re-runs
// another's steps: BuildKit finds them in its cache because their LLB is unchanged.
func (e *Engine) RunSteps(ctx context.Context, req contract.StepRequest) (v1.Layer, error) {
	if len(req.Steps.Run) == 0 {
		return nil, fmt.Errorf("plugin %s: no build steps to run", req.Plugin)
	}
	if err := e.checkPlatform(ctx, req.Platform); err != nil {
		return nil, fmt.Errorf("plugin %s: %w", req.Plugin, err)
	}
	secrets, err := readSecrets(req.Plugin, req.Steps.Secrets)
	if err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp(e.tmp, "plugin-")
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", req.Plugin, err)
	}
	defer os.RemoveAll(work)
	lay, err := e.runSteps(ctx, req, secrets, work)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", req.Plugin, err)
	}
	return lay, nil
}

func (e *Engine) runSteps(ctx context.Context, req contract.StepRequest, secrets map[string][]byte, work string) (v1.Layer, error) {
	filesDir := filepath.Join(work, "files")
	if err := extractPlugin(req.PluginTar, req.PluginDir, filesDir); err != nil {
		return nil, err
	}
	files, err := fsutil.NewFS(filesDir)
	if err != nil {
		return nil, fmt.Errorf("plugin files: %w", err)
	}
	base, store, err := baseState(req)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	after, names, err := stepsState(base, req)
	if err != nil {
		return nil, err
	}
	def, err := llb.Diff(base, after).Marshal(ctx, llb.Platform(ociPlatform(req.Platform)))
	if err != nil {
		return nil, fmt.Errorf("build steps: %w", err)
	}
	auth, err := registryAuth()
	if err != nil {
		return nil, err
	}
	tarPath := filepath.Join(work, "diff-oci.tar")
	opt := client.SolveOpt{
		Exports:      []client.ExportEntry{{Type: client.ExporterOCI, Attrs: ociExportAttrs, Output: createFile(tarPath)}},
		LocalMounts:  map[string]fsutil.FS{filesName: files},
		OCIStores:    map[string]content.Store{baseStore: store},
		CacheImports: perPlugin(e.o.cacheImports, cacheKey(req)),
		CacheExports: perPlugin(e.o.cacheExports, cacheKey(req)),
		Session:      []session.Attachable{secretsprovider.FromMap(secrets), auth},
	}
	if err := e.solve(ctx, def, opt, req, names, secrets); err != nil {
		return nil, err
	}
	return diffLayer(tarPath, work, req)
}

// baseState is the base image by its locked digest, handed to BuildKit through the session
// from what graft read (see imageStore): the daemon needs no access to the base's registry,
// layout or archive, and no credentials for it.
func baseState(req contract.StepRequest) (llb.State, *imageStore, error) {
	dgst := pinnedDigest(req.BaseRef)
	if dgst == "" {
		return llb.State{}, nil, fmt.Errorf("base %s: not pinned by digest", req.BaseRef)
	}
	if got, err := req.Base.Digest(); err != nil || got.String() != dgst {
		return llb.State{}, nil, fmt.Errorf("base %s: the image read has digest %v (%v)", req.BaseRef, got, err)
	}
	store, err := newImageStore(req.Base)
	if err != nil {
		return llb.State{}, nil, err
	}
	return llb.OCILayout("graft/base@"+dgst, llb.OCIStore("", baseStore)), store, nil
}

// pinnedDigest is the digest r names its image by ("" when it names none).
func pinnedDigest(r imageref.Ref) string {
	switch r.Kind {
	case imageref.Registry:
		if d, ok := r.Name.(name.Digest); ok {
			return d.DigestStr()
		}
	case imageref.Layout, imageref.OCIArchive:
		return r.Digest
	}
	return ""
}

// stepsState puts the plugin's files on the base (owned by UID:GID) and runs each command on
// the result. names maps each step's vertex name to its index, to find a failing step.
func stepsState(base llb.State, req contract.StepRequest) (llb.State, map[string]int, error) {
	cfg, err := req.Base.ConfigFile()
	if err != nil {
		return llb.State{}, nil, fmt.Errorf("base config: %w", err)
	}
	st := base
	for _, kv := range cfg.Config.Env {
		k, v, _ := strings.Cut(kv, "=")
		st = st.AddEnv(k, v)
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range req.Steps.Env {
			if !yield(k) {
				return
			}
		}
	})
	for _, k := range keys {
		st = st.AddEnv(k, req.Steps.Env[k])
	}
	owner := &llb.ChownOpt{User: &llb.UserOpt{UID: req.UID}, Group: &llb.UserOpt{UID: req.GID}}
	files := llb.Local(filesName, llb.SharedKeyHint("graft-plugin-"+req.Plugin),
		llb.WithCustomNamef("[%s] plugin files", req.Plugin))
	st = st.File(llb.Copy(files, "/", req.PluginDir, &llb.CopyInfo{
		CopyDirContentsOnly: true, CreateDestPath: true, ChownOpt: owner,
	}), llb.WithCustomNamef("[%s] copy plugin files to %s", req.Plugin, req.PluginDir))
	st = st.Dir(req.PluginDir).User(fmt.Sprintf("%d:%d", req.UID, req.GID))
	names := map[string]int{}
	run := req.Steps.Run
	for i, cmd := range run {
		name := fmt.Sprintf("[%s] build step %d/%d: %s", req.Plugin, i+1, len(run), cmd)
		names[name] = i
		opts := []llb.RunOption{llb.Args([]string{shell, "-c", cmd}), llb.WithCustomName(name)}
		opts = append(opts, secretMounts(req)...)
		st = st.Run(opts...).Root()
	}
	return st, names, nil
}

func ociPlatform(p v1.Platform) ocispecs.Platform {
	return ocispecs.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant, OSVersion: p.OSVersion}
}

// cacheKey names the plugin and platform in a shared cache location.
func cacheKey(req contract.StepRequest) string {
	return req.Plugin + "-" + strings.ReplaceAll(contract.Platform(req.Platform), "/", "-")
}

// createFile is an exporter output writing to path.
func createFile(path string) func(map[string]string) (io.WriteCloser, error) {
	return func(map[string]string) (io.WriteCloser, error) { return os.Create(path) }
}

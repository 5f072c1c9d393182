package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// buildEnv is what the build scenarios share: N plugin repositories, a site locked to them,
// a Docker build context of the same plugins, and pre-made tars for crane.
type buildEnv struct {
	b       *bench
	n       int
	repos   []*pluginRepo
	git     *gitServer
	base    *baseImage
	reg     *registry
	site    string
	graftOK string // "" when graft build can run, else why not ("waiting: …")

	dockerDir  string // build context: Dockerfile + plugins/<name> clones
	dockerErr  error
	dockerTags []string
}

// buildRows: cold build, no-op rebuild, and one changed plugin rebuilt and pushed.
func buildRows(ctx context.Context, b *bench) []*row {
	n := b.cfg.plugins
	cold := &row{Scenario: fmt.Sprintf("cold build, %d plugins", n), Target: "≤ 0.3× docker build"}
	noop := &row{Scenario: fmt.Sprintf("no-op rebuild, %d plugins", n), Target: "≤ 1 s"}
	change := &row{Scenario: "one plugin changed: rebuild + push", Target: "upload ≤ 1.05× that plugin's layer"}
	fresh := &row{Scenario: "fresh CI runner, one plugin changed: rebuild + push"}
	override := &row{Scenario: fmt.Sprintf("development loop: one %d MB plugin changed, --override rebuild", overrideMB), Target: "≤ 1 s"}
	rows := []*row{cold, noop, change, fresh, override}
	e, err := newBuildEnv(ctx, b)
	if err != nil {
		for _, r := range rows {
			r.Graft = failedSide("graft build", fmt.Errorf("setup: %w", err))
		}
		return rows
	}
	defer e.cleanup()
	e.coldBuild(ctx, cold)
	e.noopBuild(ctx, noop)
	e.changedBuild(ctx, change)
	e.freshRunnerBuild(ctx, fresh)
	e.overrideBuild(ctx, override)
	return rows
}

func newBuildEnv(ctx context.Context, b *bench) (*buildEnv, error) {
	e := &buildEnv{b: b, n: b.cfg.plugins}
	var err error
	if e.repos, err = b.ensureRepos(ctx, e.n, e.n); err != nil {
		return nil, err
	}
	if e.git, err = b.gitServerFor(); err != nil {
		return nil, err
	}
	if e.base, err = b.baseFor(ctx, true); err != nil {
		return nil, err
	}
	e.reg = b.registryFor()
	e.site = filepath.Join(b.tmp, "sites", "build")
	// The base comes from the registry, as in CI: graft and crane fetch it, docker has it loaded.
	if err := writeSite(siteSpec{dir: e.site, base: e.base.ref, name: e.reg.Host + "/bench/graft",
		gitURL: e.git.URL, plugins: e.n}); err != nil {
		return nil, err
	}
	e.graftOK = e.graftStatus(ctx)
	e.dockerErr = e.base.dockerErr
	if e.dockerErr == nil {
		e.dockerErr = e.writeDockerfile()
	}
	return e, nil
}

// graftStatus locks the site (untimed) and says why graft build cannot run, if it cannot.
func (e *buildEnv) graftStatus(ctx context.Context) string {
	b := e.b
	switch {
	case b.graft == "":
		return "waiting: " + b.graftErr.Error()
	case b.placeholder("lock.go"):
		return "waiting: graft lock (cmd/graft/lock.go is a placeholder)"
	case b.placeholder("build.go"):
		return "waiting: graft build (cmd/graft/build.go is a placeholder)"
	}
	if _, err := runCmd(ctx, b.graftSpec(e.site, "build-lock"), b.graft, "lock", "-C", e.site); err != nil {
		return "failed: " + oneLine(err.Error(), 160)
	}
	return ""
}

// changedIndex is the plugin the change scenario edits: one in the middle that follows main,
// so Docker's layer cache keeps the layers before it and rebuilds the ones after it.
func (e *buildEnv) changedIndex() int {
	k := e.n / 2
	for pluginRef(k) != "main" {
		k++
	}
	return k
}

func (e *buildEnv) cleanup() {
	if len(e.dockerTags) > 0 {
		args := append([]string{"rmi", "-f"}, e.dockerTags...)
		runCmd(context.Background(), cmdSpec{}, "docker", args...)
	}
}

// graftBuild runs `graft build` with the given cache name and outputs.
func (e *buildEnv) graftBuild(ctx context.Context, cache string, outputs ...string) error {
	args := []string{"build", "-C", e.site, "--progress", "quiet"}
	for _, o := range outputs {
		args = append(args, "--output", o)
	}
	_, err := runCmd(ctx, e.b.graftSpec(e.site, cache), e.b.graft, args...)
	return err
}

// checkLayout says how many layers the image graft wrote holds, to catch a build that
// "succeeds" without the plugins.
func (e *buildEnv) checkLayout(dir string) error {
	p, err := layout.FromPath(dir)
	if err != nil {
		return fmt.Errorf("read graft's output %s: %w", dir, err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	if len(m.Manifests) == 0 {
		return fmt.Errorf("graft's output %s holds no image", dir)
	}
	img, err := p.Image(m.Manifests[0].Digest)
	if err != nil {
		// An index (multi-platform): leave the layer count unchecked.
		return nil
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	if want := e.base.layers + e.n; len(layers) < want {
		return fmt.Errorf("graft's image has %d layers, want at least %d (base + one per plugin)", len(layers), want)
	}
	return nil
}

// remoteImage reads the image at ref from its registry.
func remoteImage(ctx context.Context, ref string) (v1.Image, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, err
	}
	img, err := remote.Image(r, remote.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", ref, err)
	}
	return img, nil
}

// manifestAt reads the manifest of the image at ref, and its own size in bytes.
func manifestAt(ctx context.Context, ref string) (*v1.Manifest, int64, error) {
	img, err := remoteImage(ctx, ref)
	if err != nil {
		return nil, 0, err
	}
	raw, err := img.RawManifest()
	if err != nil {
		return nil, 0, err
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, 0, fmt.Errorf("read %s: %w", ref, err)
	}
	return m, int64(len(raw)), nil
}

// pushedLayerSize is the compressed size of plugin k's layer in the image at ref.
func (e *buildEnv) pushedLayerSize(ctx context.Context, ref string, k int) (int64, error) {
	img, err := remoteImage(ctx, ref)
	if err != nil {
		return 0, err
	}
	layers, err := img.Layers()
	if err != nil {
		return 0, err
	}
	i := e.base.layers + k // plugin layers follow the base in lock (name) order
	if i >= len(layers) {
		return 0, fmt.Errorf("pushed image has %d layers; plugin %d's layer missing", len(layers), k)
	}
	return layers[i].Size()
}

func removeAll(paths ...string) error {
	for _, p := range paths {
		if err := os.RemoveAll(p); err != nil {
			return err
		}
	}
	return nil
}

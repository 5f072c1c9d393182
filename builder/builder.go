// Package builder assembles graft's image from a locked site repository: the base image by its
// locked digest with its layers untouched, one deterministic layer per plugin in lock order, and
// the launcher layer, for every selected platform of the base. Publishing is package
// builder/publish; running [build] steps is a StepRunner's job (package builder/buildkit).
package builder

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/graft-build/graft/builder/buildcache"
	"github.com/graft-build/graft/builder/fetch"
	"github.com/graft-build/graft/builder/layer"
	"github.com/graft-build/graft/builder/progress"
	"github.com/graft-build/graft/internal/imageref"
	"github.com/graft-build/graft/internal/usererr"
	"github.com/graft-build/graft/lockfile"
	"github.com/graft-build/graft/lockfile/artifact"
)

// Labels and annotations graft sets on the image (and `graft inspect` reads).
const (
	LabelBaseName        = "org.opencontainers.image.base.name"
	LabelBaseDigest      = "org.opencontainers.image.base.digest"
	LabelCreated         = "org.opencontainers.image.created"
	LabelPlugins         = "org.graft.plugins" // JSON list of PluginInfo
	LabelLauncherVersion = "org.graft.launcher.version"
	LabelGraftVersion    = "org.graft.version"
)

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

type options struct {
	cache      *fetch.Cache
	steps      StepRunner
	launchers  LauncherSource
	platforms  []string
	epoch      *time.Time
	progress   io.Writer
	reporter   progress.Reporter
	jobs       int
	resolve    []imageref.Option
	buildCache *buildcache.Cache

	artifacts     *artifact.Store // url, maven and oci plugins (see artifactStore)
	artifactsOnce sync.Once
	overrides     map[string]string // plugin -> working folder or file (--override)
}

// LauncherSubject names the launcher's line in progress events.
const LauncherSubject = "graft-launcher"

// Option configures Build.
type Option func(*options)

// WithCache sets where plugins are fetched to (default: fetch.DefaultDir()).
func WithCache(c *fetch.Cache) Option { return func(o *options) { o.cache = c } }

// WithStepRunner runs plugins' [build] steps; without one such a plugin is an error.
func WithStepRunner(r StepRunner) Option { return func(o *options) { o.steps = r } }

// WithLaunchers gives the graft-launcher binaries (required).
func WithLaunchers(s LauncherSource) Option { return func(o *options) { o.launchers = s } }

// WithPlatforms selects platforms of a multi-platform base ("linux/amd64"); default: graft.toml
// platforms, else all of the base's.
func WithPlatforms(p ...string) Option { return func(o *options) { o.platforms = p } }

// WithSourceDateEpoch fixes every timestamp (SOURCE_DATE_EPOCH); default: derived from commits.
func WithSourceDateEpoch(t time.Time) Option {
	return func(o *options) { t = t.UTC().Truncate(time.Second); o.epoch = &t }
}

// WithBuildCache takes layers, listings, base folders and launchers from c and records them
// there (package builder/buildcache: the local cache, then --cache-from, then computing, each
// entry checked as c's Check says); default: none kept.
func WithBuildCache(c *buildcache.Cache) Option { return func(o *options) { o.buildCache = c } }

// WithLayerCache keeps layers and what the build learnt in dir, with nothing imported or
// exported and no record taken as this machine's (each is checked when read): WithBuildCache
// with buildcache.Options{LayerDir: dir}.
func WithLayerCache(dir string) Option {
	return WithBuildCache(buildcache.New(buildcache.Options{LayerDir: dir}))
}

// DefaultCacheDir is graft's cache root: $GRAFT_CACHE_DIR, else the user cache dir's graft.
// Fetched commits go to its git/ folder, compressed layers to layers/.
func DefaultCacheDir() (string, error) {
	if d := os.Getenv(fetch.EnvCacheDir); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find a cache folder (set %s): %w", fetch.EnvCacheDir, err)
	}
	return filepath.Join(d, "graft"), nil
}

// layerOpts are the options every layer of this build shares.
func (o *options) layerOpts(opts ...layer.Option) []layer.Option {
	if dir := o.buildCache.LayerDir(); dir != "" {
		opts = append(opts, layer.WithCacheDir(dir))
	}
	return opts
}

// WithProgress receives one line per step (fetch, layer) unless WithReporter is given, and
// a StepRunner's output; default: discarded.
func WithProgress(w io.Writer) Option { return func(o *options) { o.progress = w } }

// WithReporter receives the build's progress events (waiting, fetching, layering, ...) instead
// of WithProgress's plain lines: a terminal display draws them.
func WithReporter(r progress.Reporter) Option { return func(o *options) { o.reporter = r } }

// WithJobs bounds how many plugins are fetched and compressed at once (default: CPUs, min 2).
func WithJobs(n int) Option { return func(o *options) { o.jobs = n } }

// WithResolveOptions passes options to the base image's resolution (registry transport, auth).
func WithResolveOptions(opts ...imageref.Option) Option {
	return func(o *options) { o.resolve = opts }
}

// ParseSourceDateEpoch reads a SOURCE_DATE_EPOCH value ("" means unset).
func ParseSourceDateEpoch(s string) (time.Time, bool, error) {
	if s == "" {
		return time.Time{}, false, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, false, usererr.New("SOURCE_DATE_EPOCH=%q: give whole seconds since 1970 (e.g. `git log -1 --format=%%ct`)", s)
	}
	return time.Unix(n, 0).UTC(), true, nil
}

// Result is the built image: Index for a multi-platform base, else Image.
type Result struct {
	Image   v1.Image
	Index   v1.ImageIndex
	Digest  v1.Hash
	Base    string // graft.toml base as written
	BaseRef string // the base pinned by digest
	Plugins []PluginInfo
	// Platforms built, e.g. "linux/amd64".
	Platforms []string
	Created   time.Time
	// Layers names every layer graft added by its digest ("plugin alpha", "launcher",
	// "launcher.toml"), for progress lines.
	Layers map[v1.Hash]string
}

func newOptions(opts []Option) (*options, error) {
	o := &options{progress: io.Discard, jobs: max(2, runtime.NumCPU())}
	for _, opt := range opts {
		opt(o)
	}
	if o.reporter == nil {
		o.reporter = progress.NewPlain(o.progress)
	}
	if o.launchers == nil {
		return nil, fmt.Errorf("builder: no launcher source")
	}
	if o.buildCache == nil {
		o.buildCache = buildcache.New(buildcache.Options{})
	}
	if o.cache == nil {
		dir, err := fetch.DefaultDir()
		if err != nil {
			return nil, err
		}
		o.cache = fetch.NewCache(dir)
	}
	return o, nil
}

// Build makes the image of project p from its lock.
func Build(ctx context.Context, p *lockfile.Project, opts ...Option) (*Result, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	if err := p.CheckFresh(); err != nil {
		return nil, err
	}
	if err := p.CheckCompat(); err != nil {
		return nil, err
	}
	if err := o.checkOverrides(p); err != nil {
		return nil, err
	}
	if err := o.checkSteps(p); err != nil {
		return nil, err
	}
	conf, err := MergeLauncherConfig(p)
	if err != nil {
		return nil, err
	}
	base, err := resolveBase(ctx, p, o)
	if err != nil {
		return nil, err
	}
	for _, pk := range p.Lock.Plugins {
		o.event(progress.Event{Subject: pk.Name, Phase: progress.Waiting})
	}
	o.event(progress.Event{Subject: LauncherSubject, Phase: progress.Waiting})
	plugins, err := fetchAll(ctx, p, o)
	if err != nil {
		return nil, err
	}
	b := &assembly{p: p, o: o, base: base, plugins: plugins, conf: conf}
	return b.run(ctx)
}

// checkSteps fails before any work when a plugin needs BuildKit and none was given.
func (o *options) checkSteps(p *lockfile.Project) error {
	if o.steps != nil {
		return nil
	}
	for _, pk := range p.Lock.Plugins {
		if pl := p.Plugin(pk.Name); pl != nil && len(pl.Build.Run) > 0 {
			return usererr.New("plugin %s has [build] run steps, which need BuildKit: pass --buildkit ADDR or set BUILDKIT_HOST "+
				"(unix:///run/buildkit/buildkitd.sock, tcp://HOST:PORT, docker-container://NAME, docker:// for the Docker Engine's own), or --buildkit auto to start buildkitd in Docker",
				pl.Name)
		}
	}
	return nil
}

func (o *options) event(e progress.Event) { o.reporter.Event(e) }

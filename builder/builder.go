// Package builder assembles graft's image from a locked site repository: the base image by its
// locked digest with its layers untouched, one deterministic layer per plugin in lock order, and
// the launcher layer, for every selected platform of the base. Resolve makes the build's Plan
// (what is built), Plan.Build builds it (how). Publishing is package builder/publish; running
// [build] steps is a StepRunner's job (package builder/buildkit); the types they share are in
// package builder/contract.
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

	"github.com/graft-build/graft/builder/buildcache"
	"github.com/graft-build/graft/builder/contract"
	"github.com/graft-build/graft/builder/fetch"
	"github.com/graft-build/graft/builder/layer"
	"github.com/graft-build/graft/builder/progress"
	"github.com/graft-build/graft/internal/imageref"
	"github.com/graft-build/graft/internal/usererr"
	"github.com/graft-build/graft/lockfile"
	"github.com/graft-build/graft/lockfile/artifact"
)

type options struct {
	cache      *fetch.Cache
	steps      contract.StepRunner
	launchers  contract.LauncherSource
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

// Option configures Resolve (WithPlatforms, WithSourceDateEpoch, WithOverrides,
// WithResolveOptions: what is built) or Build (every other option: how).
type Option func(*options)

// WithCache sets where plugins are fetched to (default: fetch.DefaultDir()).
func WithCache(c *fetch.Cache) Option { return func(o *options) { o.cache = c } }

// WithStepRunner runs plugins' [build] steps; without one such a plugin is an error.
func WithStepRunner(r contract.StepRunner) Option { return func(o *options) { o.steps = r } }

// WithLaunchers gives the graft-launcher binaries (required).
func WithLaunchers(s contract.LauncherSource) Option { return func(o *options) { o.launchers = s } }

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

// DefaultCacheDir is graft's cache root: $GRAFT_CACHE_DIR (read through getenv), else the user
// cache dir's graft. Fetched commits go to its git/ folder, compressed layers to layers/.
func DefaultCacheDir(getenv func(string) string) (string, error) {
	if d := getenv(fetch.EnvCacheDir); d != "" {
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

func newOptions(opts []Option) *options {
	o := &options{progress: io.Discard, jobs: max(2, runtime.NumCPU())}
	for _, opt := range opts {
		opt(o)
	}
	if o.reporter == nil {
		o.reporter = progress.NewPlain(o.progress)
	}
	return o
}

// Build makes the image of project p from its lock: Resolve, then the plan's Build.
func Build(ctx context.Context, p *lockfile.Project, opts ...Option) (*contract.Result, error) {
	o := newOptions(opts)
	plan, err := resolve(ctx, p, o)
	if err != nil {
		return nil, err
	}
	return plan.build(ctx, o)
}

// Build makes the image the plan describes. Its options say how (engines, caches, progress);
// what is built (platforms, epoch) is the plan's: give those to Resolve, or use WithPlatforms
// and WithEpoch on the plan.
func (pl *Plan) Build(ctx context.Context, opts ...Option) (*contract.Result, error) {
	o := newOptions(opts)
	if o.platforms != nil || o.epoch != nil || o.resolve != nil || o.overrides != nil {
		return nil, fmt.Errorf("builder: platforms, SOURCE_DATE_EPOCH, overrides and resolve options belong to Resolve, not Plan.Build")
	}
	return pl.build(ctx, o)
}

func (pl *Plan) build(ctx context.Context, o *options) (*contract.Result, error) {
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
	if err := pl.checkSteps(o); err != nil {
		return nil, err
	}
	for _, src := range pl.sources {
		o.event(progress.Event{Subject: src.lock.Name, Phase: progress.Waiting})
	}
	o.event(progress.Event{Subject: LauncherSubject, Phase: progress.Waiting})
	plugins, err := fetchAll(ctx, pl, o)
	if err != nil {
		return nil, err
	}
	b := &assembly{plan: pl, o: o, plugins: plugins}
	return b.run(ctx)
}

// checkSteps fails before any work when a plugin needs BuildKit and none was given.
func (pl *Plan) checkSteps(o *options) error {
	if o.steps != nil {
		return nil
	}
	for _, src := range pl.sources {
		if len(src.def.Build.Run) > 0 {
			return usererr.New("plugin %s has [build] run steps, which need BuildKit: pass --buildkit ADDR or set BUILDKIT_HOST "+
				"(unix:///run/buildkit/buildkitd.sock, tcp://HOST:PORT, docker-container://NAME, docker:// for the Docker Engine's own), or --buildkit auto to start buildkitd in Docker",
				src.def.Name)
		}
	}
	return nil
}

func (o *options) event(e progress.Event) { o.reporter.Event(e) }

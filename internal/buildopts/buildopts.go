// Package buildopts holds the options of `graft build` and `graft verify` the way ko holds its
// commands' options: each group of options with the flags that set it (AddFlags, declared once
// for every command that takes them), the environment read once (Env), and the constructors
// that turn them into what the builder takes: plan options, builder options, the BuildKit
// engine with its closer, the outputs (--output, -t, --push) as publishers, --override, the
// build cache (--cache-from/--cache-to/--cache-check) with its export beside the pushes, and
// the launcher source.
package buildopts

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/graft-build/graft/builder"
	"github.com/graft-build/graft/builder/buildkit"
	"github.com/graft-build/graft/builder/buildkitd"
	"github.com/graft-build/graft/builder/contract"
	"github.com/graft-build/graft/builder/fetch"
	"github.com/graft-build/graft/builder/publish"
	"github.com/graft-build/graft/internal/usererr"
	"github.com/graft-build/graft/lockfile/artifact"
)

// Environment variables build and verify read.
const (
	// EnvBuildkitHost is BuildKit's address when --buildkit is not given (as buildctl reads it).
	EnvBuildkitHost = "BUILDKIT_HOST"
	// EnvBuildkitImage and EnvBuildkitContainer are the image --buildkit auto runs and the
	// container's name.
	EnvBuildkitImage     = "GRAFT_BUILDKIT_IMAGE"
	EnvBuildkitContainer = "GRAFT_BUILDKIT_CONTAINER"
	// EnvBuildkitRootlessImage is the rootless image tried first beside GRAFT_BUILDKIT_IMAGE
	// or --buildkit-image (a mirror of moby/buildkit:VERSION-rootless).
	EnvBuildkitRootlessImage = "GRAFT_BUILDKIT_ROOTLESS_IMAGE"
	// EnvLauncherDir names a folder of graft-launcher-<os>-<arch> binaries graft uses when it has
	// none embedded for a platform.
	EnvLauncherDir     = "GRAFT_LAUNCHER_DIR"
	EnvSourceDateEpoch = "SOURCE_DATE_EPOCH"
)

// Env is the environment of one build or verify, read once.
type Env struct {
	BuildkitHost          string
	BuildkitImage         string
	BuildkitRootlessImage string
	BuildkitContainer     string
	LauncherDir           string
	SourceDateEpoch       string
	// CacheDir is graft's cache root: $GRAFT_CACHE_DIR, else the user cache dir's graft.
	CacheDir string
	// CacheKeyFile keeps the key that marks the local cache's records as this machine's: in
	// graft's state folder ($XDG_STATE_HOME/graft, else ~/.local/state/graft), never in the cache
	// folder, which CI restores from archives. "" when neither is known.
	CacheKeyFile string
}

// ReadEnv reads the environment through getenv (os.Getenv).
func ReadEnv(getenv func(string) string) (Env, error) {
	e := Env{BuildkitHost: getenv(EnvBuildkitHost), BuildkitImage: getenv(EnvBuildkitImage),
		BuildkitRootlessImage: getenv(EnvBuildkitRootlessImage), BuildkitContainer: getenv(EnvBuildkitContainer),
		LauncherDir:     getenv(EnvLauncherDir),
		SourceDateEpoch: getenv(EnvSourceDateEpoch)}
	dir, err := builder.DefaultCacheDir(getenv)
	if err != nil {
		return Env{}, err
	}
	e.CacheDir = dir
	e.CacheKeyFile = cacheKeyFile(getenv)
	return e, nil
}

func cacheKeyFile(getenv func(string) string) string {
	dir := getenv("XDG_STATE_HOME")
	if dir == "" {
		home := getenv("HOME")
		if home == "" {
			return ""
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "graft", "cache.key")
}

// BuildKit are the options of the BuildKit daemon that runs plugins' [build] steps.
type BuildKit struct {
	Addr                   string // --buildkit; "" means $BUILDKIT_HOST
	Image                  string // --buildkit-image (build only)
	TLSCA, TLSCert, TLSKey string
}

// AddFlags declares --buildkit and the TLS flags of a tcp:// daemon.
func (b *BuildKit) AddFlags(f *pflag.FlagSet, usage string) {
	f.StringVar(&b.Addr, "buildkit", "", usage+" (default $"+EnvBuildkitHost+")")
	f.StringVar(&b.TLSCA, "tlscacert", "", "CA certificate of a tcp:// BuildKit daemon (PEM)")
	f.StringVar(&b.TLSCert, "tlscert", "", "client certificate for a tcp:// BuildKit daemon (PEM)")
	f.StringVar(&b.TLSKey, "tlskey", "", "client key for a tcp:// BuildKit daemon (PEM)")
}

// AddAutoFlags declares the flags of --buildkit auto.
func (b *BuildKit) AddAutoFlags(f *pflag.FlagSet) {
	f.StringVar(&b.Image, "buildkit-image", "", "image --buildkit auto runs (default $"+EnvBuildkitImage+", else "+buildkitd.DefaultImage()+")")
}

// Address is --buildkit, else $BUILDKIT_HOST ("" when neither is set).
func (b *BuildKit) Address(env Env) string {
	if b.Addr != "" {
		return b.Addr
	}
	return env.BuildkitHost
}

// Ensure settles BuildKit's address for a plan whose plugins have steps: the address given;
// with none, auto when a Docker Engine answers; auto starts or reuses the buildkitd container
// and becomes its docker-container:// address. What it starts, and with which privileges, is
// said on log whatever --progress says: starting a container with privileges on the user's
// Docker Engine is an action they must be able to see.
func (b *BuildKit) Ensure(ctx context.Context, env Env, log io.Writer) (string, error) {
	addr := b.Address(env)
	if addr == "" && buildkitd.Reachable(ctx) {
		addr = "auto"
	}
	if addr != "auto" {
		return addr, nil
	}
	opts := []buildkitd.Option{buildkitd.WithLog(log)}
	if img := firstNonEmpty(b.Image, env.BuildkitImage); img != "" {
		opts = append(opts, buildkitd.WithImage(img))
	}
	if env.BuildkitRootlessImage != "" {
		opts = append(opts, buildkitd.WithRootlessImage(env.BuildkitRootlessImage))
	}
	if env.BuildkitContainer != "" {
		opts = append(opts, buildkitd.WithName(env.BuildkitContainer))
	}
	res, err := buildkitd.Ensure(ctx, opts...)
	if err != nil {
		return "", err
	}
	return res.Addr, nil
}

// Engine connects to the daemon at addr: the step runner and what closes it.
func (b *BuildKit) Engine(ctx context.Context, addr string, opts ...buildkit.Option) (contract.StepRunner, func(), error) {
	if b.TLSCA != "" || b.TLSCert != "" || b.TLSKey != "" {
		opts = append(opts, buildkit.WithTLS(b.TLSCA, b.TLSCert, b.TLSKey))
	}
	e, err := buildkit.New(ctx, addr, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("BuildKit at %s: %w", addr, err)
	}
	return e, func() { e.Close() }, nil
}

// Build are `graft build`'s options.
type Build struct {
	Outputs   []string
	Platforms []string
	Progress  string
	CacheTo   []string
	CacheFrom []string
	// CacheCheck is --cache-check: read (default) or all (buildcache.CheckAll).
	CacheCheck string
	JSON       bool
	Jobs       int
	Tags       []string // -t/--tag, as buildx
	Push       bool     // --push, as buildx
	// Overrides are --override NAME=PATH; AllowOverridePush is --allow-override-push.
	Overrides         []string
	AllowOverridePush bool
	BuildKit          BuildKit
}

// AddFlags declares build's flags.
func (o *Build) AddFlags(f *pflag.FlagSet) {
	f.StringArrayVarP(&o.Outputs, "output", "o", nil, "where the image goes (repeatable; default "+publish.DefaultSpec+")")
	f.StringSliceVar(&o.Platforms, "platform", nil, "platforms of a multi-platform base to build (default: graft.toml platforms, else all)")
	o.BuildKit.AddFlags(f, "BuildKit address for plugins with build steps")
	o.BuildKit.AddAutoFlags(f)
	f.StringVar(&o.Progress, "progress", "auto", "progress output: auto, plain, tty or quiet")
	f.StringArrayVar(&o.CacheTo, "cache-to", nil, "export graft's plugin layers and BuildKit's step cache: type=local,dest=DIR | type=registry,ref=REF[,mode=max]")
	f.StringArrayVar(&o.CacheFrom, "cache-from", nil, "import graft's plugin layers and BuildKit's step cache: type=local,src=DIR | type=registry,ref=REF")
	f.StringVar(&o.CacheCheck, "cache-check", "read", "what is checked of the caches: read (every entry the build reads; a registry layer only mounted is taken on its index entry) or all (download and check every hit)")
	f.BoolVar(&o.JSON, "json", false, "print one JSON document on stdout")
	f.IntVar(&o.Jobs, "jobs", 0, "plugins fetched and compressed, and blobs uploaded, in parallel (default: CPUs)")
	f.StringArrayVarP(&o.Tags, "tag", "t", nil, "image name, as buildx (repeatable; the first is the outputs' default name)")
	f.BoolVar(&o.Push, "push", false, "push to every -t NAME (graft.toml name without -t): shorthand for --output type=registry,name=NAME")
	f.StringArrayVar(&o.Overrides, "override", nil, "NAME=PATH: build plugin NAME from this folder or file instead of graft.lock (repeatable; the image is unlocked)")
	f.BoolVar(&o.AllowOverridePush, "allow-override-push", false, "push an image built with --override all the same")
}

// Check refuses a --progress graft does not know and a --platform that is not os/arch[/variant]:
// a bare "linux" would match whichever Linux image of a multi-platform base comes first,
// silently building one architecture.
func (o *Build) Check() error {
	switch o.Progress {
	case "auto", "plain", "tty", "quiet":
	default:
		return usererr.New("--progress %q: use auto, plain, tty or quiet", o.Progress)
	}
	for _, pl := range o.Platforms {
		parts := strings.Split(pl, "/")
		if len(parts) < 2 || len(parts) > 3 || slices.Contains(parts, "") {
			return usererr.New("--platform %q: write os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8", pl)
		}
	}
	return nil
}

// PlanOptions are what the plan needs from the options and the environment: the platforms and
// SOURCE_DATE_EPOCH.
func (o *Build) PlanOptions(env Env) ([]builder.Option, error) {
	opts, err := PlanOptions(env)
	if err != nil {
		return nil, err
	}
	if len(o.Platforms) > 0 {
		opts = append(opts, builder.WithPlatforms(o.Platforms...))
	}
	return opts, nil
}

// BuilderOptions are how build makes the image, besides its build cache: SourceOptions and
// --jobs.
func (o *Build) BuilderOptions(env Env, launchers contract.LauncherSource, progress io.Writer) []builder.Option {
	opts := SourceOptions(env, launchers, progress)
	if o.Jobs > 0 {
		opts = append(opts, builder.WithJobs(o.Jobs))
	}
	return opts
}

// EngineOptions are the BuildKit engine's options for a build: its step cache and progress.
func (o *Build) EngineOptions(progress io.Writer) []buildkit.Option {
	var eopts []buildkit.Option
	if len(o.CacheFrom) > 0 {
		eopts = append(eopts, buildkit.WithCacheImports(o.CacheFrom...))
	}
	if len(o.CacheTo) > 0 {
		eopts = append(eopts, buildkit.WithCacheExports(o.CacheTo...))
	}
	return append(eopts, buildkit.WithProgress(o.Progress, progress))
}

// PlanOptions are the plan options every command takes from the environment: SOURCE_DATE_EPOCH.
func PlanOptions(env Env) ([]builder.Option, error) {
	epoch, ok, err := builder.ParseSourceDateEpoch(env.SourceDateEpoch)
	if err != nil || !ok {
		return nil, err
	}
	return []builder.Option{builder.WithSourceDateEpoch(epoch)}, nil
}

// SourceOptions are what every rebuild from a lock takes, build and verify alike: the git
// cache, the store of url, maven and oci plugins, the launchers, where progress goes. The build
// cache is each command's own choice.
func SourceOptions(env Env, launchers contract.LauncherSource, progress io.Writer) []builder.Option {
	return []builder.Option{builder.WithLaunchers(launchers), builder.WithProgress(progress),
		builder.WithCache(fetch.NewCache(filepath.Join(env.CacheDir, "git"))),
		builder.WithArtifactStore(artifact.New(env.CacheDir))}
}

// Verify are `graft verify`'s options.
type Verify struct {
	BuildKit BuildKit
}

// AddFlags declares verify's flags.
func (o *Verify) AddFlags(f *pflag.FlagSet) {
	o.BuildKit.AddFlags(f, "BuildKit address to recompute plugins with build steps")
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/graft-build/graft/builder"
	"github.com/graft-build/graft/builder/buildcache"
	"github.com/graft-build/graft/builder/buildkit"
	"github.com/graft-build/graft/builder/buildkitd"
	"github.com/graft-build/graft/builder/fetch"
	graftprogress "github.com/graft-build/graft/builder/progress"
	"github.com/graft-build/graft/builder/publish"
	"github.com/graft-build/graft/internal/usererr"
	"github.com/graft-build/graft/lockfile"
)

// EnvBuildkitHost is BuildKit's address when --buildkit is not given (as buildctl reads it).
const EnvBuildkitHost = "BUILDKIT_HOST"

type buildOpts struct {
	outputs   []string
	platforms []string
	buildkit  string
	progress  string
	cacheTo   []string
	cacheFrom []string
	// cacheCheck is --cache-check: read (default) or all (buildcache.CheckAll).
	cacheCheck string
	tlsCA      string
	tlsCert    string
	tlsKey     string
	bkImage    string
	json       bool
	jobs       int
	attest     attestOpts
	tags       []string // -t/--tag, as buildx
	push       bool     // --push, as buildx
	overrides  []string // --override NAME=PATH
	allowPush  bool     // --allow-override-push
}

func newBuildCmd(g *globalOpts) *cobra.Command {
	o := &buildOpts{}
	cmd := &cobra.Command{
		Use:   "build [--output SPEC]... [--platform os/arch[,...]] [--buildkit ADDR]",
		Short: "Build the image from graft.lock: base + one layer per plugin + the launcher",
		Long: `build makes the image graft.lock describes, without a Docker daemon: the base image by its
locked digest, one deterministic layer per plugin at its locked commit, then graft-launcher and
its launcher.toml. The same lock gives the same digest anywhere. Progress goes to stderr; the
last line of stdout is the image digest.

  --output type=oci,dest=DIR         OCI layout folder (default: out/image in the site repository)
           type=oci,dest=FILE.tar    the same as a tar (as buildx; tar=true|false forces either)
           type=docker,dest=FILE     a docker load tar
           type=registry,name=REF    push (only blobs the registry lacks; Docker credentials)
           type=daemon[,name=REF]    load into the local Docker Engine
  -t NAME (repeatable), --push       as buildx: name the image; push it to every -t NAME
  --buildkit ADDR (or BUILDKIT_HOST) runs plugins' [build] steps: unix://, tcp://,
           docker-container://NAME, kube-pod://NAME, docker:// (the Docker Engine's BuildKit),
           or auto: start or reuse buildkitd in a Docker container (graft-buildkitd), rootless
           where the engine allows it, and say with which privileges; the default when
           plugins have steps, no address is given and Docker answers
  --cache-from/--cache-to type=registry,ref=REF | type=local,src=DIR / dest=DIR
           share plugin layers between CI runners (and BuildKit's step cache)
  --cache-check all                  download and check every cache hit, even one only mounted
  --override NAME=PATH               build plugin NAME from a working folder (or file) instead of
           graft.lock, for a development loop; the image is labelled unlocked, graft verify
           fails it, and it is not pushed unless --allow-override-push
  SOURCE_DATE_EPOCH                  fixes every timestamp; else they come from the commits`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runBuild(cmd.Context(), g, o) },
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.outputs, "output", "o", nil, "where the image goes (repeatable; default "+publish.DefaultSpec+")")
	f.StringSliceVar(&o.platforms, "platform", nil, "platforms of a multi-platform base to build (default: graft.toml platforms, else all)")
	f.StringVar(&o.buildkit, "buildkit", "", "BuildKit address for plugins with build steps (default $"+EnvBuildkitHost+")")
	f.StringVar(&o.bkImage, "buildkit-image", "", "image --buildkit auto runs (default $"+EnvBuildkitImage+", else "+buildkitd.DefaultImage()+")")
	f.StringVar(&o.progress, "progress", "auto", "progress output: auto, plain, tty or quiet")
	f.StringArrayVar(&o.cacheTo, "cache-to", nil, "export graft's plugin layers and BuildKit's step cache: type=local,dest=DIR | type=registry,ref=REF[,mode=max]")
	f.StringArrayVar(&o.cacheFrom, "cache-from", nil, "import graft's plugin layers and BuildKit's step cache: type=local,src=DIR | type=registry,ref=REF")
	f.StringVar(&o.cacheCheck, "cache-check", "read", "what is checked of the caches: read (every entry the build reads; a registry layer only mounted is taken on its index entry) or all (download and check every hit)")
	f.StringVar(&o.tlsCA, "tlscacert", "", "CA certificate of a tcp:// BuildKit daemon (PEM)")
	f.StringVar(&o.tlsCert, "tlscert", "", "client certificate for a tcp:// BuildKit daemon (PEM)")
	f.StringVar(&o.tlsKey, "tlskey", "", "client key for a tcp:// BuildKit daemon (PEM)")
	f.BoolVar(&o.json, "json", false, "print one JSON document on stdout")
	o.attest.flags(f)
	f.IntVar(&o.jobs, "jobs", 0, "plugins fetched and compressed, and blobs uploaded, in parallel (default: CPUs)")
	f.StringArrayVarP(&o.tags, "tag", "t", nil, "image name, as buildx (repeatable; the first is the outputs' default name)")
	f.BoolVar(&o.push, "push", false, "push to every -t NAME (graft.toml name without -t): shorthand for --output type=registry,name=NAME")
	f.StringArrayVar(&o.overrides, "override", nil, "NAME=PATH: build plugin NAME from this folder or file instead of graft.lock (repeatable; the image is unlocked)")
	f.BoolVar(&o.allowPush, "allow-override-push", false, "push an image built with --override all the same")
	return cmd
}

// buildReport is `graft build --json`.
type buildReport struct {
	Digest    string               `json:"digest"`
	MediaType string               `json:"media_type"`
	Base      string               `json:"base"`
	BaseRef   string               `json:"base_ref"`
	Created   string               `json:"created"`
	Platforms []string             `json:"platforms"`
	Plugins   []builder.PluginInfo `json:"plugins"`
	Outputs   []string             `json:"outputs"`
}

func runBuild(ctx context.Context, g *globalOpts, o *buildOpts) error {
	switch o.progress {
	case "auto", "plain", "tty", "quiet":
	default:
		return usererr.New("--progress %q: use auto, plain, tty or quiet", o.progress)
	}
	if err := checkPlatforms(o.platforms); err != nil {
		return err
	}
	p, err := lockfile.Load(g.dir)
	if err != nil {
		return err
	}
	if err := p.CheckFresh(); err != nil {
		return err
	}
	pubs, err := parseOutputs(p, o)
	if err != nil {
		return err
	}
	if err := o.attest.loadKey(os.Getenv); err != nil {
		return err
	}
	overrides, err := parseOverrides(o, pubs)
	if err != nil {
		return err
	}
	if err := resolveBuildkit(ctx, g, o, p); err != nil {
		return err
	}
	progress, rep, closeReporter := reporter(g, o, p)
	defer closeReporter() // before main prints an error, so the error follows the display
	cacheDir, err := builder.DefaultCacheDir()
	if err != nil {
		return err
	}
	notes := graftprogress.Lines(rep, "cache", graftprogress.Fetched)
	defer notes.Close()
	cache, err := buildCache(o, cacheDir, pubs, notes)
	if err != nil {
		return err
	}
	opts, closeEngine, err := builderOptions(ctx, g, p, o, cache, progress)
	if err != nil {
		return err
	}
	defer closeEngine()
	start := time.Now()
	cache.Load(ctx)
	if len(overrides) > 0 {
		opts = append(opts, builder.WithOverrides(overrides))
	}
	res, err := builder.Build(ctx, p, append(opts, builder.WithReporter(rep))...)
	if err != nil {
		return err
	}
	took := time.Since(start).Round(time.Millisecond)
	rep.Event(graftprogress.Event{Subject: "image", Phase: graftprogress.Done, Detail: res.Digest.String(),
		Plain: fmt.Sprintf("built  %s (%d platform(s), %d plugin(s)) in %s", res.Digest, len(res.Platforms), len(res.Plugins), took)})
	if err := reportContract(p, rep); err != nil {
		return err
	}
	atts, err := o.attest.attachments(p, res, launchers(ctx, g, os.Getenv, cache, io.Discard), cache, firstTag(o.tags))
	if err != nil {
		return err
	}
	where, err := publishAll(ctx, pubs, res, atts, rep)
	if err == nil {
		err = cache.Export(ctx, pushedRepos(pubs))
	}
	notes.Close()
	closeReporter()
	if err != nil {
		return err
	}
	if o.json {
		return writeJSON(g.stdout, report(res, where))
	}
	fmt.Fprintln(g.stdout, res.Digest)
	return nil
}

// checkPlatforms insists on os/arch[/variant]: a bare "linux" would match whichever Linux
// image of a multi-platform base comes first, silently building one architecture.
func checkPlatforms(ps []string) error {
	for _, pl := range ps {
		parts := strings.Split(pl, "/")
		if len(parts) < 2 || len(parts) > 3 || slices.Contains(parts, "") {
			return usererr.New("--platform %q: write os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8", pl)
		}
	}
	return nil
}

func parseOutputs(p *lockfile.Project, o *buildOpts) ([]publish.Publisher, error) {
	specs, defaultName, err := outputSpecs(o, p.Site.Name)
	if err != nil {
		return nil, err
	}
	popts := publish.Options{BaseDir: p.Dir, DefaultName: defaultName, Jobs: o.jobs}
	var pubs []publish.Publisher
	for _, s := range specs {
		pub, err := publish.Parse(s, popts)
		if err != nil {
			return nil, err
		}
		pubs = append(pubs, pub)
	}
	return pubs, nil
}

// builderOptions gathers the build's options; BuildKit is contacted only when a plugin has
// build steps, so a CI that exports BUILDKIT_HOST everywhere still builds daemonless images
// when nothing needs it.
func builderOptions(ctx context.Context, g *globalOpts, p *lockfile.Project, o *buildOpts, cache *buildcache.Cache, progress io.Writer) ([]builder.Option, func(), error) {
	cacheDir, err := builder.DefaultCacheDir()
	if err != nil {
		return nil, nil, err
	}
	opts := []builder.Option{builder.WithLaunchers(launchers(ctx, g, os.Getenv, cache, progress)), builder.WithProgress(progress),
		builder.WithCache(fetch.NewCache(filepath.Join(cacheDir, "git"))), builder.WithBuildCache(cache)}
	if o.jobs > 0 {
		opts = append(opts, builder.WithJobs(o.jobs))
	}
	if len(o.platforms) > 0 {
		opts = append(opts, builder.WithPlatforms(o.platforms...))
	}
	epoch, ok, err := builder.ParseSourceDateEpoch(os.Getenv("SOURCE_DATE_EPOCH"))
	if err != nil {
		return nil, nil, err
	}
	if ok {
		opts = append(opts, builder.WithSourceDateEpoch(epoch))
	}
	addr := buildkitAddr(o)
	if addr == "" || !hasSteps(p) {
		return opts, func() {}, nil
	}
	engine, err := buildkit.New(ctx, addr, engineOptions(o, progress)...)
	if err != nil {
		return nil, nil, fmt.Errorf("BuildKit at %s: %w", addr, err)
	}
	return append(opts, builder.WithStepRunner(engine)), func() { engine.Close() }, nil
}

func engineOptions(o *buildOpts, progress io.Writer) []buildkit.Option {
	var eopts []buildkit.Option
	if len(o.cacheFrom) > 0 {
		eopts = append(eopts, buildkit.WithCacheImports(o.cacheFrom...))
	}
	if len(o.cacheTo) > 0 {
		eopts = append(eopts, buildkit.WithCacheExports(o.cacheTo...))
	}
	if o.tlsCA != "" || o.tlsCert != "" || o.tlsKey != "" {
		eopts = append(eopts, buildkit.WithTLS(o.tlsCA, o.tlsCert, o.tlsKey))
	}
	return append(eopts, buildkit.WithProgress(o.progress, progress))
}

func hasSteps(p *lockfile.Project) bool {
	for _, pl := range p.Plugins {
		if len(pl.Build.Run) > 0 {
			return true
		}
	}
	return false
}

func publishAll(ctx context.Context, pubs []publish.Publisher, res *builder.Result, atts []publish.Attachment, rep graftprogress.Reporter) ([]string, error) {
	a := publish.Artifact{Image: res.Image, Index: res.Index, Names: res.Layers, Attachments: atts}
	for _, pub := range pubs {
		rep.Event(graftprogress.Event{Subject: "output " + fmt.Sprint(pub), Phase: graftprogress.Waiting})
	}
	var where []string
	for _, pub := range pubs {
		w, err := publishOne(ctx, pub, a, rep)
		if err != nil {
			return nil, err
		}
		where = append(where, w)
	}
	return where, nil
}

// publishOne runs one output; the publisher's own lines ("push   ...") become its line's detail
// on a terminal and stay lines of their own in plain mode.
func publishOne(ctx context.Context, pub publish.Publisher, a publish.Artifact, rep graftprogress.Reporter) (string, error) {
	start := time.Now()
	subject := "output " + fmt.Sprint(pub)
	rep.Event(graftprogress.Event{Subject: subject, Phase: graftprogress.Pushing, Plain: subject + " ..."})
	lines := graftprogress.Lines(rep, subject, graftprogress.Pushing)
	w, err := pub.Publish(ctx, a, lines)
	lines.Close()
	if err != nil {
		return "", err
	}
	took := time.Since(start).Round(time.Millisecond)
	detail := w // a registry's name@digest says more than the spec
	if detail == fmt.Sprint(pub) {
		detail = ""
	}
	rep.Event(graftprogress.Event{Subject: subject, Phase: graftprogress.Done, Detail: detail,
		Plain: fmt.Sprintf("output %s done in %s", w, took)})
	return w, nil
}

// reporter picks graft's progress display for --progress: the writer a StepRunner's output
// goes to, the reporter of graft's own events, and what ends the display (safe to call twice).
// On a terminal, a build that runs BuildKit steps keeps plain lines: BuildKit's own tty
// display then owns the terminal, and two displays redrawing one screen would garble both.
func reporter(g *globalOpts, o *buildOpts, p *lockfile.Project) (io.Writer, graftprogress.Reporter, func()) {
	mode := o.progress
	if mode == "auto" {
		mode = "plain"
		if f, ok := g.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			mode = "tty"
		}
	}
	switch {
	case mode == "quiet":
		return io.Discard, graftprogress.Discard, func() {}
	case mode == "tty" && !(buildkitAddr(o) != "" && hasSteps(p)):
		t := graftprogress.NewTTY(g.stderr)
		return g.stderr, t, func() { t.Close() }
	default:
		return g.stderr, graftprogress.NewPlain(g.stderr), func() {}
	}
}

// Environment of --buildkit auto: the image it runs and the container's name.
const (
	EnvBuildkitImage     = "GRAFT_BUILDKIT_IMAGE"
	EnvBuildkitContainer = "GRAFT_BUILDKIT_CONTAINER"
	// EnvBuildkitRootlessImage is the rootless image tried first beside GRAFT_BUILDKIT_IMAGE
	// or --buildkit-image (a mirror of moby/buildkit:VERSION-rootless).
	EnvBuildkitRootlessImage = "GRAFT_BUILDKIT_ROOTLESS_IMAGE"
)

// resolveBuildkit settles BuildKit's address before anything is shown. When plugins have build
// steps and no address is given, a reachable Docker Engine makes it auto; auto starts or reuses
// the buildkitd container and becomes its docker-container:// address.
func resolveBuildkit(ctx context.Context, g *globalOpts, o *buildOpts, p *lockfile.Project) error {
	if !hasSteps(p) {
		return nil
	}
	addr := buildkitAddr(o)
	if addr == "" && buildkitd.Reachable(ctx) {
		addr = "auto"
	}
	if addr != "auto" {
		return nil
	}
	// Always on stderr, --progress quiet too: starting a container with privileges on the
	// user's Docker Engine is an action they must be able to see.
	opts := []buildkitd.Option{buildkitd.WithLog(g.stderr)}
	if img := firstNonEmpty(o.bkImage, os.Getenv(EnvBuildkitImage)); img != "" {
		opts = append(opts, buildkitd.WithImage(img))
	}
	if img := os.Getenv(EnvBuildkitRootlessImage); img != "" {
		opts = append(opts, buildkitd.WithRootlessImage(img))
	}
	if name := os.Getenv(EnvBuildkitContainer); name != "" {
		opts = append(opts, buildkitd.WithName(name))
	}
	res, err := buildkitd.Ensure(ctx, opts...)
	if err != nil {
		return err
	}
	o.buildkit = res.Addr
	return nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// buildkitAddr is --buildkit, else $BUILDKIT_HOST.
func buildkitAddr(o *buildOpts) string {
	if o.buildkit != "" {
		return o.buildkit
	}
	return os.Getenv(EnvBuildkitHost)
}

func report(res *builder.Result, where []string) buildReport {
	r := buildReport{Digest: res.Digest.String(), Base: res.Base, BaseRef: res.BaseRef,
		Created: res.Created.Format(time.RFC3339), Platforms: res.Platforms, Plugins: res.Plugins, Outputs: where}
	if res.Index != nil {
		mt, _ := res.Index.MediaType()
		r.MediaType = string(mt)
	} else {
		mt, _ := res.Image.MediaType()
		r.MediaType = string(mt)
	}
	if r.Plugins == nil {
		r.Plugins = []builder.PluginInfo{}
	}
	return r
}

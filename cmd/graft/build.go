package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/graft-build/graft/builder"
	"github.com/graft-build/graft/builder/contract"
	graftprogress "github.com/graft-build/graft/builder/progress"
	"github.com/graft-build/graft/builder/publish"
	"github.com/graft-build/graft/internal/buildopts"
	"github.com/graft-build/graft/lockfile"
)

// buildOpts are graft build's options: buildopts.Build and the attestations'.
type buildOpts struct {
	buildopts.Build
	attest attestOpts
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
	o.AddFlags(cmd.Flags())
	o.attest.flags(cmd.Flags())
	return cmd
}

// buildReport is `graft build --json`.
type buildReport struct {
	Digest    string                `json:"digest"`
	MediaType string                `json:"media_type"`
	Base      string                `json:"base"`
	BaseRef   string                `json:"base_ref"`
	Created   string                `json:"created"`
	Platforms []string              `json:"platforms"`
	Plugins   []contract.PluginInfo `json:"plugins"`
	Outputs   []string              `json:"outputs"`
}

func runBuild(ctx context.Context, g *globalOpts, o *buildOpts) error {
	if err := o.Check(); err != nil {
		return err
	}
	env, err := buildopts.ReadEnv(os.Getenv)
	if err != nil {
		return err
	}
	p, err := lockfile.Load(g.dir)
	if err != nil {
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
	popts, err := o.PlanOptions(env)
	if err != nil {
		return err
	}
	if len(overrides) > 0 {
		popts = append(popts, builder.WithOverrides(overrides))
	}
	early := readCacheEarly(ctx, o)
	plan, err := builder.Resolve(ctx, p, popts...)
	if err != nil {
		return err
	}
	// BuildKit is contacted only when a plugin has build steps, so a CI that exports
	// BUILDKIT_HOST everywhere still builds daemonless images when nothing needs it.
	bkAddr := o.BuildKit.Address(env)
	if plan.HasSteps() {
		if bkAddr, err = o.BuildKit.Ensure(ctx, env, g.stderr); err != nil {
			return err
		}
	}
	steps := plan.HasSteps() && bkAddr != ""
	progress, rep, closeReporter := reporter(g, o.Progress, steps)
	defer closeReporter() // before main prints an error, so the error follows the display
	// The build cache is made before the launchers, which it keeps; it reads its indexes once
	// the build starts.
	notes := graftprogress.Lines(rep, "cache", graftprogress.Fetched)
	defer notes.Close()
	cache, err := buildCache(o, env, bkAddr != "", pubs, notes, early)
	if err != nil {
		return err
	}
	ls := launchers(ctx, g, env, cache, progress)
	opts := append(o.BuilderOptions(env, ls, progress), builder.WithBuildCache(cache))
	if steps {
		engine, closeEngine, err := o.BuildKit.Engine(ctx, bkAddr, o.EngineOptions(progress)...)
		if err != nil {
			return err
		}
		defer closeEngine()
		opts = append(opts, builder.WithStepRunner(engine))
	}
	start := time.Now()
	cache.Load(ctx)
	res, err := plan.Build(ctx, append(opts, builder.WithReporter(rep))...)
	if err != nil {
		return err
	}
	took := time.Since(start).Round(time.Millisecond)
	rep.Event(graftprogress.Event{Subject: "image", Phase: graftprogress.Done, Detail: res.Digest.String(),
		Plain: fmt.Sprintf("built  %s (%d platform(s), %d plugin(s)) in %s", res.Digest, len(res.Platforms), len(res.Plugins), took)})
	if err := reportContract(p, rep); err != nil {
		return err
	}
	atts, err := o.attest.attachments(p, res, ls, cache, firstTag(o.Tags))
	if err != nil {
		return err
	}
	exp := startExport(ctx, cache, pubs)
	where, err := publishAll(ctx, pubs, res, atts, rep, exp.blobsPushed)
	if err == nil {
		err = exp.wait()
	} else {
		exp.cancel()
	}
	notes.Close()
	closeReporter()
	if err != nil {
		return err
	}
	if o.JSON {
		return writeJSON(g.stdout, report(res, where))
	}
	fmt.Fprintln(g.stdout, res.Digest)
	return nil
}

func parseOutputs(p *lockfile.Project, o *buildOpts) ([]publish.Publisher, error) {
	specs, defaultName, err := outputSpecs(o, p.Site.Name)
	if err != nil {
		return nil, err
	}
	popts := publish.Options{BaseDir: p.Dir, DefaultName: defaultName, Jobs: o.Jobs}
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

func publishAll(ctx context.Context, pubs []publish.Publisher, res *contract.Result, atts []publish.Attachment, rep graftprogress.Reporter,
	blobsPushed func(name.Repository)) ([]string, error) {
	a := publish.Artifact{Image: res.Image, Index: res.Index, Names: res.Names(), Attachments: atts, BlobsPushed: blobsPushed}
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
func reporter(g *globalOpts, mode string, buildkitSteps bool) (io.Writer, graftprogress.Reporter, func()) {
	if mode == "auto" {
		mode = "plain"
		if f, ok := g.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			mode = "tty"
		}
	}
	switch {
	case mode == "quiet":
		return io.Discard, graftprogress.Discard, func() {}
	case mode == "tty" && !buildkitSteps:
		t := graftprogress.NewTTY(g.stderr)
		return g.stderr, t, func() { t.Close() }
	default:
		return g.stderr, graftprogress.NewPlain(g.stderr), func() {}
	}
}

func report(res *contract.Result, where []string) buildReport {
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
		r.Plugins = []contract.PluginInfo{}
	}
	return r
}

package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/graft-build/graft/builder"
	"github.com/graft-build/graft/builder/attest"
	"github.com/graft-build/graft/builder/layercache"
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

// buildInputs are what a build reads before it runs: the environment, the project, its
// outputs, the cache indexes already being read and the resolved plan.
type buildInputs struct {
	env   buildopts.Env
	p     *lockfile.Project
	pubs  []publish.Publisher
	early []layercache.Store
	plan  *builder.Plan
}

// readBuild checks the options, loads the project and resolves its plan (with --override),
// reading the --cache-from indexes meanwhile.
func readBuild(ctx context.Context, g *globalOpts, o *buildOpts) (*buildInputs, error) {
	if err := o.Check(); err != nil {
		return nil, err
	}
	env, err := buildopts.ReadEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	p, err := lockfile.Load(g.dir)
	if err != nil {
		return nil, err
	}
	pubs, err := o.Publishers(p.Dir, p.Site.Name)
	if err != nil {
		return nil, err
	}
	if err := o.attest.loadKey(os.Getenv); err != nil {
		return nil, err
	}
	overrides, err := o.ParseOverrides(pubs)
	if err != nil {
		return nil, err
	}
	popts, err := o.PlanOptions(env)
	if err != nil {
		return nil, err
	}
	if len(overrides) > 0 {
		popts = append(popts, builder.WithOverrides(overrides))
	}
	early := o.ReadCacheEarly(ctx)
	plan, err := builder.Resolve(ctx, p, popts...)
	if err != nil {
		return nil, err
	}
	return &buildInputs{env: env, p: p, pubs: pubs, early: early, plan: plan}, nil
}

func runBuild(ctx context.Context, g *globalOpts, o *buildOpts) error {
	in, err := readBuild(ctx, g, o)
	if err != nil {
		return err
	}
	env, p, pubs, plan := in.env, in.p, in.pubs, in.plan
	// BuildKit is contacted only when a plugin has build steps, so a CI that exports
	// BUILDKIT_HOST everywhere still builds daemonless images when nothing needs it.
	bkAddr := o.BuildKit.Address(env)
	if plan.HasSteps() {
		if bkAddr, err = o.BuildKit.Ensure(ctx, env, g.stderr); err != nil {
			return err
		}
	}
	steps := plan.HasSteps() && bkAddr != ""
	progress, rep, closeReporter := graftprogress.Display(g.stderr, o.Progress, steps)
	defer closeReporter() // before main prints an error, so the error follows the display
	// The build cache is made before the launchers, which it keeps; it reads its indexes once
	// the build starts.
	notes := graftprogress.Lines(rep, "cache", graftprogress.Fetched)
	defer notes.Close()
	cache, err := o.Cache(env, buildopts.CacheInputs{BuildKit: bkAddr != "", Publishers: pubs, Notes: notes, Early: in.early})
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
	if err := builder.ReportContract(p, rep); err != nil {
		return err
	}
	atts, err := attest.Attach(p, res, ls, o.attest.attach(o.FirstTag(), cache))
	if err != nil {
		return err
	}
	exp := buildopts.StartExport(ctx, cache, pubs)
	a := publish.Artifact{Image: res.Image, Index: res.Index, Names: res.Names(), Attachments: atts, BlobsPushed: exp.BlobsPushed}
	where, err := publish.All(ctx, pubs, a, rep)
	if err == nil {
		err = exp.Wait()
	} else {
		exp.Cancel()
	}
	notes.Close()
	closeReporter()
	if err != nil {
		return err
	}
	if o.JSON {
		return writeJSON(g.stdout, publish.NewReport(res, where))
	}
	fmt.Fprintln(g.stdout, res.Digest)
	return nil
}

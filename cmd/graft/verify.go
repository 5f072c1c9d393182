package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/graft-build/graft/builder"
	"github.com/graft-build/graft/builder/buildcache"
	"github.com/graft-build/graft/builder/buildkit"
	"github.com/graft-build/graft/builder/verify"
	"github.com/graft-build/graft/internal/buildopts"
	"github.com/graft-build/graft/internal/imageref"
	"github.com/graft-build/graft/lockfile"
)

func newVerifyCmd(g *globalOpts) *cobra.Command {
	o := &buildopts.Verify{}
	var key string
	cmd := &cobra.Command{
		Use:   "verify IMAGE [-C SITE] [--buildkit ADDR]",
		Short: "Check that IMAGE is exactly what the site's graft.lock builds",
		Long: `verify rebuilds the image from the site's graft.lock, reading graft's cache only with every
entry checked in full (as build --cache-check all) and publishing nothing, and compares it with
IMAGE down to the bytes: every blob IMAGE relies on is hashed (index, manifests, config, each
layer's compressed and uncompressed bytes), each layer is compared with what the lock builds
there (base, plugin, launcher, launcher.toml), then graft's labels, the config and the manifest
digest itself. Exit 0 when identical; 1 with one line per difference; 2 when IMAGE names
nothing, is a folder or tar that cannot be read as an image, or the lock cannot be used. Plugins with [build] steps need BuildKit (--buildkit or
BUILDKIT_HOST) to be recomputed; without it their layers are named as not verified and the
exit is 1. Set SOURCE_DATE_EPOCH as the build did; an image built with it is also recognised
by its created time. With --key PUB, IMAGE must also be signed by that key (graft build
--sign-key or cosign sign) and its SBOM and provenance attestations signed by it, or the exit
is 1. ` + imageFormsHelp,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runVerify(cmd.Context(), g, o, args[0], key) },
	}
	o.AddFlags(cmd.Flags())
	cmd.Flags().StringVar(&key, "key", "", "also check IMAGE's signature and attestations with this public key (cosign's .pub), as cosign verify --key does")
	return cmd
}

func runVerify(ctx context.Context, g *globalOpts, o *buildopts.Verify, arg, key string) error {
	env, err := buildopts.ReadEnv(os.Getenv)
	if err != nil {
		return err
	}
	p, err := lockfile.Load(g.dir)
	if err != nil {
		return err
	}
	popts, err := buildopts.PlanOptions(env)
	if err != nil {
		return err
	}
	plan, err := builder.Resolve(ctx, p, popts...) // a stale lock proves nothing: exit 2 first
	if err != nil {
		return err
	}
	// IMAGE that names nothing is bad input (exit 2).
	ref, res, err := imageref.ResolveArg(ctx, arg)
	if err != nil {
		return err
	}
	signed := true
	if key != "" {
		if signed, err = verifySignatures(ctx, g, ref, res, key); err != nil {
			return err
		}
	}
	// The local cache is read with every entry checked in full, each layer's blob compressed
	// again from git's files (buildcache.CheckAll), and nothing is imported: verify compares the
	// image with what the lock builds, never with what a cache claims it builds.
	cache := buildcache.New(buildopts.LocalCache(env, buildcache.CheckAll, io.Discard))
	build := append(buildopts.SourceOptions(env, launchers(ctx, g, env, cache, io.Discard), io.Discard), builder.WithBuildCache(cache))
	vopts := []verify.Option{verify.WithBuildOptions(build...)}
	if addr := o.BuildKit.Address(env); addr != "" && plan.HasSteps() {
		engine, closeEngine, err := o.BuildKit.Engine(ctx, addr, buildkit.WithProgress("quiet", io.Discard))
		if err != nil {
			return err
		}
		defer closeEngine()
		vopts = append(vopts, verify.WithStepRunner(engine))
	}
	r, err := verify.Image(ctx, plan, verify.NewSubject(arg, ref, res), vopts...)
	if err != nil {
		return err
	}
	r.Print(g.stdout)
	if !r.Verified() {
		return errCheckFailed
	}
	if !signed {
		fmt.Fprintf(g.stdout, "%s is what %s builds, but its signatures do not verify with %s\n", arg, lockfile.LockFile, key)
		return errCheckFailed
	}
	return nil
}

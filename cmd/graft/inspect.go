package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/graft-build/graft/imagecontract"
	"github.com/graft-build/graft/internal/imageref"
)

func newInspectCmd(g *globalOpts) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "inspect IMAGE",
		Short: "Show what graft put in an image: base, plugins with commits, launcher version",
		Long:  "inspect reads the labels graft build set. " + imageFormsHelp,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInspect(cmd.Context(), g, args[0], asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON document on stdout")
	return cmd
}

// imageFormsHelp says what IMAGE may be, in every command that reads one.
const imageFormsHelp = `IMAGE is a registry reference with its registry host (host/repo:tag or
host/repo@sha256:...); oci-layout://DIR[:tag|@digest]; a path to an OCI layout folder
(out/image), an OCI tar or a docker tar, optionally with :tag or @digest; or
docker-daemon:NAME. A name without a registry host (app:v1) is read from the Docker Engine
when it holds it, and is never looked up in a registry. Relative paths are taken from the
current directory.`

func runInspect(ctx context.Context, g *globalOpts, arg string, asJSON bool) error {
	ref, res, err := imageref.ResolveArg(ctx, arg)
	if err != nil {
		return err
	}
	r, err := imagecontract.Inspect(ref.Shown(arg), res)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(g.stdout, r)
	}
	r.Print(g.stdout)
	return nil
}

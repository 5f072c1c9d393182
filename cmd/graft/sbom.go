package main

import (
	"context"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/spf13/cobra"

	"github.com/graft-build/graft/builder/attest"
	"github.com/graft-build/graft/internal/imageref"
)

func newSBOMCmd(g *globalOpts) *cobra.Command {
	var provenance bool
	cmd := &cobra.Command{
		Use:   "sbom IMAGE",
		Short: "Print the SPDX SBOM (or --provenance) graft build attached to an image",
		Long: `sbom prints the SPDX 2.3 JSON document graft build attached to IMAGE as an OCI 1.1
referrer. ` + imageFormsHelp + ` A registry without the referrers API is read through the
fallback tag sha256-<hex>. A docker tar and the Docker Engine hold no attached documents
(exit 1).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			typ := attest.SBOMMediaType
			if provenance {
				typ = attest.ProvenanceMediaType
			}
			return runAttached(cmd.Context(), g, args[0], typ)
		},
	}
	cmd.Flags().BoolVar(&provenance, "provenance", false, "print the in-toto SLSA provenance statement instead")
	return cmd
}

func runAttached(ctx context.Context, g *globalOpts, arg, artifactType string) error {
	ref, res, err := imageref.ResolveArg(ctx, arg)
	if err != nil {
		return err
	}
	docs, err := attest.Find(ctx, ref, res, artifactType, remote.WithAuthFromKeychain(authn.DefaultKeychain))
	if err != nil {
		return err
	}
	_, err = g.stdout.Write(docs[0])
	return err
}

package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/spf13/cobra"

	"github.com/graft-build/graft/builder/attest"
	"github.com/graft-build/graft/internal/imageref"
	"github.com/graft-build/graft/internal/usererr"
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

// resolveImage reads IMAGE for inspect, verify and sbom through imageref, the one resolver:
// a name that finds nothing is bad input (exit 2), with one wording, and so is a folder or tar
// that is there but cannot be read as an image (a damaged index.json, a manifest it names
// missing). Bytes that are not their digest's are a difference verify names (exit 1), and a
// registry or the Docker Engine that cannot be read stays a failure (exit 1): that may pass.
func resolveImage(ctx context.Context, arg string) (imageref.Ref, *imageref.Resolved, error) {
	cwd, err := os.Getwd()
	if err != nil {
		return imageref.Ref{}, nil, err
	}
	ref, err := imageref.Parse(arg, cwd)
	if err != nil {
		return imageref.Ref{}, nil, err
	}
	res, err := ref.Resolve(ctx)
	local := ref.Kind == imageref.Layout || ref.Kind == imageref.OCIArchive || ref.Kind == imageref.DockerArchive
	if err == nil && local {
		// A folder's manifest is read when first asked for: read it now, so that a layout naming
		// a manifest it lacks is refused here, as a tar's is.
		if res.Index != nil {
			_, err = res.Index.RawManifest()
		} else {
			_, err = res.Image.RawManifest()
		}
		if err != nil {
			err = fmt.Errorf("image %s: manifest %s: %w", ref, res.Digest, err)
		}
	}
	if errors.Is(err, imageref.ErrNotFound) || (err != nil && local && !errors.Is(err, imageref.ErrTampered)) {
		err = usererr.Wrap(err) // IMAGE names nothing, or nothing readable: bad input
	}
	return ref, res, err
}

func runAttached(ctx context.Context, g *globalOpts, arg, artifactType string) error {
	ref, res, err := resolveImage(ctx, arg)
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

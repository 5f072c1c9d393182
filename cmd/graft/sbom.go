package main

import (
	"context"
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
referrer. IMAGE is a registry reference (host/repo:tag or host/repo@sha256:...) or
oci-layout://DIR[:tag|@digest]; relative paths are taken from the current directory. A registry
without the referrers API is read through the fallback tag sha256-<hex>. A tar holding an OCI
layout (index.json) is read too; a docker save tar without one holds no attached documents
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

// resolveImage resolves IMAGE as graft inspect does: a name that finds nothing is bad input.
func resolveImage(ctx context.Context, arg string) (imageref.Ref, *imageref.Resolved, error) {
	cwd, err := os.Getwd()
	if err != nil {
		return imageref.Ref{}, nil, err
	}
	ref, err := imageref.Parse(arg, cwd)
	if err != nil {
		return imageref.Ref{}, nil, usererr.Wrap(err)
	}
	res, err := ref.Resolve(ctx)
	if err != nil {
		if imageref.IsNotFound(err) {
			return ref, nil, usererr.New("%v; check IMAGE (a registry reference, oci-layout://DIR[:tag|@digest] or a docker-archive tar)", err)
		}
		return ref, nil, err
	}
	return ref, res, nil
}

func runAttached(ctx context.Context, g *globalOpts, arg, artifactType string) error {
	docs, err := attached(ctx, arg, artifactType)
	if err != nil {
		return err
	}
	_, err = g.stdout.Write(docs[0])
	return err
}

// attached finds the documents; a tar is read as it is (an OCI layout packed in a tar has no
// manifest.json, which the docker-archive reader needs).
func attached(ctx context.Context, arg, artifactType string) ([][]byte, error) {
	cwd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	if ref, err := imageref.Parse(arg, cwd); err == nil && ref.Kind == imageref.DockerArchive {
		if _, err := os.Stat(ref.Path); err != nil {
			return nil, usererr.New("image %s: %v; check IMAGE (a registry reference, oci-layout://DIR[:tag|@digest] or a tar)", arg, err)
		}
		return attest.FindInTar(ref.Path, ref.Tag, artifactType)
	}
	ref, res, err := resolveImage(ctx, arg)
	if err != nil {
		return nil, err
	}
	return attest.Find(ctx, ref, res.Digest, artifactType, remote.WithAuthFromKeychain(authn.DefaultKeychain))
}

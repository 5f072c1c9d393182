package imageref

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/graft-build/graft/internal/usererr"
)

// ResolveArg reads an IMAGE argument of a command (inspect, verify, sbom, check-deploy),
// relative paths taken from the current directory: a name that finds nothing is bad input
// (usererr), with one wording, and so is a folder or tar that is there but cannot be read as an
// image (a damaged index.json, a manifest it names missing). Bytes that are not their digest's
// (ErrTampered) are a difference for verify to name, and a registry or the Docker Engine that
// cannot be read stays a failure: that may pass.
func ResolveArg(ctx context.Context, arg string, opts ...Option) (Ref, *Resolved, error) {
	cwd, err := os.Getwd()
	if err != nil {
		return Ref{}, nil, err
	}
	ref, err := Parse(arg, cwd)
	if err != nil {
		return Ref{}, nil, err
	}
	res, err := ref.Resolve(ctx, opts...)
	local := ref.Kind == Layout || ref.Kind == OCIArchive || ref.Kind == DockerArchive
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
	if errors.Is(err, ErrNotFound) || (err != nil && local && !errors.Is(err, ErrTampered)) {
		err = usererr.Wrap(err) // IMAGE names nothing, or nothing readable: bad input
	}
	return ref, res, err
}

// Shown is how a command names the image arg resolved to: the reference, except a plain path
// (not oci-layout://), shown as the user wrote it.
func (r Ref) Shown(arg string) string {
	if r.Kind != Registry && r.Kind != Daemon && !strings.Contains(arg, "://") {
		return arg
	}
	return r.String()
}

// EachImage calls fn for each image idx lists, in the index's order: nested indexes are not
// entered, attachments (IsAttachment) are skipped.
func EachImage(idx v1.ImageIndex, fn func(v1.Descriptor, v1.Image) error) error {
	m, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	for _, d := range m.Manifests {
		if !d.MediaType.IsImage() || IsAttachment(d) {
			continue
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			return err
		}
		if err := fn(d, img); err != nil {
			return err
		}
	}
	return nil
}

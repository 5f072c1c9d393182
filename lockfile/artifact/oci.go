package artifact

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/graft-build/graft/internal/unpack"
	"github.com/graft-build/graft/internal/usererr"
)

// Annotations of artifacts `oras push` makes.
const (
	TitleAnnotation  = "org.opencontainers.image.title" // a layer is the file of this name
	UnpackAnnotation = "io.deis.oras.content.unpack"    // "true": the layer is a folder, tarred
)

// getOCI resolves the artifact (by digest when locked), stores its layers in the blob cache and
// unpacks them: a layer titled org.opencontainers.image.title is a file of that name (or, with
// io.deis.oras.content.unpack, a folder tarred by oras); untitled tar layers are an image's
// file system, applied in order with whiteouts.
func (s *Store) getOCI(ctx context.Context, req Request) (*Result, error) {
	ref := req.Ref
	if req.Digest != "" {
		ref = ref.Pinned(req.Digest)
	}
	res, err := ref.Resolve(ctx, s.image...)
	if err != nil {
		return nil, &ResolveError{Plugin: req.Plugin, Err: err}
	}
	if res.Index != nil {
		return nil, usererr.New("plugin %s: %s is an index (several platforms or artifacts); name one manifest by its digest (@sha256:...)", req.Plugin, ref.String())
	}
	digest := res.Digest.String()
	if req.Digest != "" && digest != req.Digest {
		return nil, &MismatchError{What: fmt.Sprintf("plugin %s: %s", req.Plugin, ref.String()), Want: req.Digest, Got: digest}
	}
	m, err := res.Image.Manifest()
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %s: %w", req.Plugin, ref.String(), err)
	}
	fetched := false
	id := unpackID("oci", digest, req.Strip, req.Path)
	tree, err := s.unpacked(id, req, func(dest string) error {
		x, err := unpack.New(dest, unpack.Options{Shown: ref.String(), Strip: req.Strip, Path: req.Path, Limits: s.limits, Overlay: isImage(m)})
		if err != nil {
			return err
		}
		defer x.Close()
		for i, l := range m.Layers {
			got, err := s.layer(ctx, res.Image, l, fmt.Sprintf("%s layer %d", ref.String(), i+1))
			if err != nil {
				return err
			}
			fetched = fetched || got.fetched
			if err := applyLayer(x, got.blob, l, i); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &Result{Digest: digest, Tree: tree, Fetched: fetched}, nil
}

// ResolveError is an OCI source that could not be resolved.
type ResolveError struct {
	Plugin string
	Err    error
}

func (e *ResolveError) Error() string { return fmt.Sprintf("plugin %s: %v", e.Plugin, e.Err) }
func (e *ResolveError) Unwrap() error { return e.Err }

// isImage: untitled layers make it an image whose layers stack (later files replace earlier).
func isImage(m *v1.Manifest) bool {
	for _, l := range m.Layers {
		if l.Annotations[TitleAnnotation] == "" {
			return true
		}
	}
	return false
}

type fetchedBlob struct {
	blob    *blob
	fetched bool
}

// layer is one layer's blob from the cache, else from the registry (or layout), checked
// against its digest.
func (s *Store) layer(ctx context.Context, img v1.Image, d v1.Descriptor, what string) (*fetchedBlob, error) {
	if d.Digest.Algorithm != "sha256" {
		return nil, usererr.New("%s has digest %s; graft takes sha256 digests only", what, d.Digest)
	}
	if d.Size > s.limits.Bytes {
		return nil, usererr.New("%s is %d bytes, over graft's limit of %d for a plugin's file", what, d.Size, s.limits.Bytes)
	}
	if b, ok := s.cached(d.Digest.String(), d.Size); ok {
		if err := b.verify(); err == nil {
			return &fetchedBlob{blob: b}, nil
		}
	}
	l, err := img.LayerByDigest(d.Digest)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rc.Close()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b, _, err := s.store(rc, d.Digest.String(), s.limits.Bytes, what)
	if err != nil {
		return nil, err
	}
	if b.size != d.Size {
		os.Remove(b.path)
		return nil, fmt.Errorf("%s: the manifest says %d bytes, the registry sent %d", what, d.Size, b.size)
	}
	return &fetchedBlob{blob: b, fetched: true}, nil
}

// applyLayer unpacks layer i (its blob b) into x.
func applyLayer(x *unpack.Extractor, b *blob, d v1.Descriptor, i int) error {
	f, err := os.Open(b.path)
	if err != nil {
		return err
	}
	defer f.Close()
	title := d.Annotations[TitleAnnotation]
	if title != "" && d.Annotations[UnpackAnnotation] != "true" {
		return x.File(title, f, b.size)
	}
	if title == "" && !strings.Contains(string(d.MediaType), "tar") {
		return usererr.New("layer %d (%s) has no %s annotation and is not a tar layer; graft cannot tell which file it is", i+1, d.MediaType, TitleAnnotation)
	}
	head := make([]byte, 512)
	n, _ := io.ReadFull(f, head)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	format := unpack.Sniff(head[:n])
	if format == unpack.Unknown || format == unpack.Zip {
		format = unpack.Tar // an empty layer has no magic; anything else fails as a tar
	}
	return x.Archive(f, b.size, format)
}

package imageref

import (
	"errors"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/graft-build/graft/internal/usererr"
)

// entry is a descriptor found in an index, with the index that lists it (ggcr reads a
// manifest only through the index that lists it).
type entry struct {
	parent v1.ImageIndex
	desc   v1.Descriptor
}

// pickInLayout is "the only image, or the one with this tag or digest" of an OCI layout
// (folder or tar), the one place graft decides it: by digest anywhere in the layout, by tag
// among index.json's entries (the tag, or the full name of ref.name or io.containerd.image.name),
// else the only entry that is not an attachment. A wrapper graft wrote around an image and its
// attachments stands for the image.
func pickInLayout(top v1.ImageIndex, tag, digest string) (entry, error) {
	m, err := top.IndexManifest()
	if err != nil {
		return entry{}, err
	}
	switch {
	case digest != "":
		h, err := v1.NewHash(digest)
		if err != nil {
			return entry{}, err
		}
		e, ok := find(top, h, 0)
		if !ok {
			return entry{}, missing("digest %s is not in the layout", digest)
		}
		return e, nil
	case tag != "":
		for _, d := range m.Manifests {
			if namesTag(d, tag) {
				return unwrap(entry{top, d})
			}
		}
		return entry{}, missing("tag %q is not in the layout (tags: %s)", tag, tags(m))
	}
	var images []v1.Descriptor
	for _, d := range m.Manifests {
		if !IsAttachment(d) {
			images = append(images, d)
		}
	}
	switch len(images) {
	case 1:
		return unwrap(entry{top, images[0]})
	case 0:
		return entry{}, missing("the layout holds no image")
	}
	return entry{}, usererr.New("the layout holds %d images; name one with :tag or @digest (tags: %s)", len(images), tags(m))
}

func namesTag(d v1.Descriptor, tag string) bool {
	for _, k := range []string{RefNameAnnotation, ContainerdNameAnnotation} {
		if v := d.Annotations[k]; v != "" && (v == tag || strings.HasSuffix(v, ":"+tag)) {
			return true
		}
	}
	return false
}

// IsAttachment reports whether an index entry is a document about an image rather than an
// image: an OCI 1.1 artifact (an artifactType that is not an image config's) or an entry for
// the platform unknown/unknown (buildx's attestation manifests, graft's referrers in a
// layout's wrapper index).
func IsAttachment(d v1.Descriptor) bool {
	switch types.MediaType(d.ArtifactType) {
	case "", types.OCIConfigJSON, types.DockerConfigJSON:
	default:
		return true
	}
	return d.Platform != nil && d.Platform.OS == "unknown" && d.Platform.Architecture == "unknown"
}

// unwrap descends from graft's wrapper index (ImageAnnotation) to the image it wraps; any
// other entry is returned as it is.
func unwrap(e entry) (entry, error) {
	if !e.desc.MediaType.IsIndex() {
		return e, nil
	}
	idx, err := e.parent.ImageIndex(e.desc.Digest)
	if err != nil {
		return entry{}, err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return entry{}, err
	}
	want := m.Annotations[ImageAnnotation]
	if want == "" {
		return e, nil
	}
	for _, d := range m.Manifests {
		if d.Digest.String() == want {
			return entry{idx, d}, nil
		}
	}
	return entry{}, fmt.Errorf("index %s names image %s in %s but does not hold it", e.desc.Digest, want, ImageAnnotation)
}

func tags(m *v1.IndexManifest) string {
	var ts []string
	for _, d := range m.Manifests {
		if t := d.Annotations[RefNameAnnotation]; t != "" {
			ts = append(ts, t)
		}
	}
	if len(ts) == 0 {
		return "none"
	}
	return strings.Join(ts, ", ")
}

// maxDepth bounds how deep find and Walk follow nested indexes (a hostile layout could nest
// without end; real ones nest two deep).
const maxDepth = 8

// find searches idx and its nested indexes for a descriptor with digest h.
func find(idx v1.ImageIndex, h v1.Hash, depth int) (entry, bool) {
	var found entry
	ok := false
	_ = walk(idx, depth, func(parent v1.ImageIndex, d v1.Descriptor) bool {
		if d.Digest == h {
			found, ok = entry{parent, d}, true
		}
		return !ok
	})
	return found, ok
}

// Walk calls fn for every descriptor of idx and of the indexes it nests, parents first, with
// the index that lists each (to read it through); fn returns false to stop.
func Walk(idx v1.ImageIndex, fn func(parent v1.ImageIndex, d v1.Descriptor) bool) error {
	if err := walk(idx, 0, fn); err != errStop {
		return err
	}
	return nil
}

func walk(idx v1.ImageIndex, depth int, fn func(v1.ImageIndex, v1.Descriptor) bool) error {
	if depth > maxDepth {
		return fmt.Errorf("indexes nested more than %d deep", maxDepth)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	for _, d := range m.Manifests {
		if !fn(idx, d) {
			return errStop
		}
		if !d.MediaType.IsIndex() {
			continue
		}
		child, err := idx.ImageIndex(d.Digest)
		if err != nil {
			continue // a child the layout lacks (a partial copy): nothing below it to find
		}
		if err := walk(child, depth+1, fn); err == errStop {
			return errStop
		}
	}
	return nil
}

var errStop = errors.New("stop")

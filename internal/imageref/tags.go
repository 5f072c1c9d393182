package imageref

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// ErrNoTags is returned by Tags for a place that has no tags to list (a `docker save` tar,
// the Docker Engine).
var ErrNoTags = errors.New("no tags to list")

// CurrentTag is the tag r names, "" when it names a digest or no tag at all (an implicit
// "latest" counts as none: it was not written, so it cannot be moved).
func (r Ref) CurrentTag() string {
	switch r.Kind {
	case Layout, OCIArchive:
		if r.Digest == "" {
			return r.Tag
		}
	case Registry:
		if t, ok := r.Name.(name.Tag); ok && strings.HasSuffix(r.Raw, ":"+t.TagStr()) {
			return t.TagStr()
		}
	}
	return ""
}

// WithTag is r as the user wrote it with its tag replaced by tag; ok is false when r names no
// tag (see CurrentTag).
func (r Ref) WithTag(tag string) (string, bool) {
	cur := r.CurrentTag()
	if cur == "" || !strings.HasSuffix(r.Raw, ":"+cur) {
		return "", false
	}
	return strings.TrimSuffix(r.Raw, ":"+cur) + ":" + tag, true
}

// Tags lists the tags of the repository (or OCI layout) r is in, in the order the registry
// or index.json gives them.
func (r Ref) Tags(ctx context.Context, opts ...Option) ([]string, error) {
	o := &options{remote: []remote.Option{remote.WithAuthFromKeychain(authn.DefaultKeychain)}}
	for _, opt := range opts {
		opt(o)
	}
	switch r.Kind {
	case Layout, OCIArchive:
		return r.layoutTags()
	case DockerArchive, Daemon: // the Docker Engine's names are no registry's to list
		return nil, ErrNoTags
	}
	tags, err := remote.List(r.Name.Context(), append([]remote.Option{remote.WithContext(ctx)}, o.remote...)...)
	if err != nil {
		return nil, fmt.Errorf("list tags of %s: %w", r.Name.Context(), err)
	}
	return tags, nil
}

// layoutTags are the tags of the layout's top-level entries (a ref.name of "name:tag" gives tag).
func (r Ref) layoutTags() ([]string, error) {
	_, idx, err := r.openLayout()
	if err != nil {
		return nil, err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, d := range m.Manifests {
		ref := d.Annotations[RefNameAnnotation]
		if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
			ref = ref[i+1:]
		}
		if ref != "" {
			out = append(out, ref)
		}
	}
	return out, nil
}

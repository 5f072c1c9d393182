package imageref

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Tags lists the tags of r's repository (a registry's tag list, or the names an OCI layout
// gives its images), for finding newer versions. A tar has none.
func (r Ref) Tags(ctx context.Context, opts ...Option) ([]string, error) {
	o := &options{remote: []remote.Option{remote.WithAuthFromKeychain(authn.DefaultKeychain)}}
	for _, opt := range opts {
		opt(o)
	}
	switch r.Kind {
	case Registry:
		tags, err := remote.List(r.Name.Context(), append([]remote.Option{remote.WithContext(ctx)}, o.remote...)...)
		if err != nil {
			return nil, fmt.Errorf("list tags of %s: %w", r.Name.Context(), err)
		}
		return tags, nil
	case Layout:
		p, err := layout.FromPath(r.Dir)
		if err != nil {
			return nil, err
		}
		idx, err := p.ImageIndex()
		if err != nil {
			return nil, err
		}
		m, err := idx.IndexManifest()
		if err != nil {
			return nil, err
		}
		var out []string
		for _, d := range m.Manifests {
			if t := d.Annotations[RefNameAnnotation]; t != "" {
				if i := strings.LastIndex(t, ":"); i >= 0 && !strings.Contains(t[i:], "/") {
					t = t[i+1:]
				}
				out = append(out, t)
			}
		}
		return out, nil
	}
	return nil, nil
}

// WithTag is r naming another tag of the same repository (or layout).
func (r Ref) WithTag(tag string) (Ref, error) {
	switch r.Kind {
	case Registry:
		return Parse(r.Name.Context().Name()+":"+tag, "/")
	case Layout:
		c := r
		c.Tag, c.Digest = tag, ""
		c.Raw = c.String()
		return c, nil
	}
	return Ref{}, fmt.Errorf("%s has no tags", r.String())
}

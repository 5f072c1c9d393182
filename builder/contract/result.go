package contract

import (
	"fmt"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Result is a built image: Index for a multi-platform base, else Image.
type Result struct {
	Image   v1.Image
	Index   v1.ImageIndex
	Digest  v1.Hash
	Base    string // graft.toml base as written
	BaseRef string // the base pinned by digest
	Plugins []PluginInfo
	// Platforms built, e.g. "linux/amd64", in the index's order.
	Platforms []string
	Created   time.Time
	// Layers describes every layer of every platform's image: for each platform in Platforms,
	// its layers in the image's order (the base's, then the plugins', then the launcher's two).
	Layers []LayerInfo
}

// PlatformLayers are the layers of one platform's image, in order.
func (r *Result) PlatformLayers(platform string) []LayerInfo {
	var out []LayerInfo
	for _, l := range r.Layers {
		if l.Platform == platform {
			out = append(out, l)
		}
	}
	return out
}

// Names names every layer graft added by its digest ("plugin alpha COMMIT", "launcher
// VERSION", "launcher configuration"), for progress lines; base layers are left out.
func (r *Result) Names() map[v1.Hash]string {
	out := map[v1.Hash]string{}
	for _, l := range r.Layers {
		if l.Kind != KindBase {
			out[l.Digest] = l.Name()
		}
	}
	return out
}

// PlatformImage is the built image of platform (os/arch[/variant]).
func (r *Result) PlatformImage(platform string) (v1.Image, error) {
	if r.Index == nil {
		if len(r.Platforms) == 1 && r.Platforms[0] == platform {
			return r.Image, nil
		}
		return nil, fmt.Errorf("the lock builds no image for %s (it builds %s)", platform, strings.Join(r.Platforms, ", "))
	}
	m, err := r.Index.IndexManifest()
	if err != nil {
		return nil, err
	}
	for _, d := range m.Manifests {
		if d.Platform != nil && Platform(*d.Platform) == platform {
			return r.Index.Image(d.Digest)
		}
	}
	return nil, fmt.Errorf("the lock builds no image for %s (it builds %s)", platform, strings.Join(r.Platforms, ", "))
}

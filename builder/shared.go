package builder

import (
	"context"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/graft-build/graft/builder/fetch"
	"github.com/graft-build/graft/builder/layercache"
)

// SharedCache is a layer cache shared between machines (--cache-from/--cache-to, package
// builder/layercache): plugins' listings and layers by the same IDs the local cache uses.
type SharedCache interface {
	Listing(id string) (layercache.Listing, bool)
	Layer(ctx context.Context, id string, mt types.MediaType) (v1.Layer, bool)
	Remember(id string, l v1.Layer) error
	RememberListing(id string, l layercache.Listing)
	Folders(id string) ([]layercache.Folder, bool)
	RememberFolders(id string, fs []layercache.Folder)
}

// WithSharedCache imports plugin layers from, and records them for, a shared cache.
func WithSharedCache(c SharedCache) Option { return func(o *options) { o.shared = c } }

// sharedListing is the listing of key from the shared cache; an empty key (a local folder,
// read on every build) has none.
func (o *options) sharedListing(key string) ([]fetch.File, time.Time, bool) {
	if o.shared == nil || key == "" {
		return nil, time.Time{}, false
	}
	l, ok := o.shared.Listing(listingID(key))
	if !ok {
		return nil, time.Time{}, false
	}
	return filesOf(l), l.CommitTime, true
}

// rememberListing records pl's listing for export.
func (o *options) rememberListing(pl *plugin) {
	if o.shared != nil && pl.listingKey != "" {
		o.shared.RememberListing(listingID(pl.listingKey), listingOf(pl.commitTime, pl.files))
	}
}

// sharedLayer is the layer recorded under id in the shared cache.
func (o *options) sharedLayer(ctx context.Context, id string, mt types.MediaType) (v1.Layer, bool) {
	if o.shared == nil || id == "" {
		return nil, false
	}
	return o.shared.Layer(ctx, id, mt)
}

// remember records l under id for export; a layer that cannot describe itself fails the build.
func (o *options) remember(id string, l v1.Layer) (v1.Layer, error) {
	if o.shared == nil || id == "" {
		return l, nil
	}
	return l, o.shared.Remember(id, l)
}

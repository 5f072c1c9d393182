// Package buildcache holds what one graft build keeps for the next: plugin layers by the key of
// their inputs, plugins' file listings, a base image's folders, licence verdicts and launcher
// binaries. There is one way in, for every kind of entry: the local cache (graft's cache
// folder), then the caches imported with --cache-from in order, then computing the entry; what
// a build used is recorded for --cache-to (package builder/layercache carries it to a registry
// or a folder).
//
// Every entry read from a cache is a claim, and is checked here before a build uses it: a
// listing against graft.lock (commit object, trees, git object IDs); a layer's blob against
// its digest, size and diff ID, and its tar against the one graft writes of the listing's files
// (every path, owner, mode and mtime, each file's content against its git blob); a base's
// folders and a licence verdict against what they can be. An entry that fails is a miss — the
// build makes it again from git — with one note saying why; it never fails a build and is
// never used silently. What cannot be checked without reading a blob the build never downloads
// is said in Options.MountOnly and docs/guides/caching.md.
package buildcache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/graft-build/graft/builder/layercache"
)

// Check says how much of what a cache supplies is read and checked.
type Check int

const (
	// CheckRead checks every entry a build reads: listings, base folders, licence verdicts,
	// and every layer whose blob it reads (the local cache's, a folder cache's, a registry
	// cache's unless MountOnly). A layer record this machine made is used as recorded.
	CheckRead Check = iota
	// CheckAll reads and checks everything: every layer hit is downloaded and checked in full,
	// its blob compressed again to prove it is graft's own encoding (so the image is byte for
	// byte what a build from git gives), records this machine made included; base folders and
	// licence verdicts are computed again. What it saves is the git fetch. graft verify uses it.
	CheckAll
)

// Options configure a Cache.
type Options struct {
	// LayerDir keeps compressed layers, and records of layers, listings and base folders
	// ("" keeps nothing locally). LicenseDir and LauncherDir keep licence verdicts and launcher
	// binaries.
	LayerDir, LicenseDir, LauncherDir string
	// KeyFile holds the key that makes a local record this machine's (see local.go). Keep it
	// outside every cache folder; "" takes no record as this machine's.
	KeyFile string
	// From are the caches imported (--cache-from), in order; To those exported (--cache-to).
	From, To []layercache.Store
	// Notes receives one line per thing worth knowing (an ignored index, a refused entry).
	Notes io.Writer
	Check Check
	// MountFrom are the repositories the build's registry outputs push to: a registry cache in
	// To mounts the blobs the build pushed from there (Export names them again).
	MountFrom []name.Repository
	// MountOnly says every output of the build is a repository of the registry of each
	// registry cache in From: a layer found there is then reused or mounted by its digest and
	// never downloaded, and is taken on its index entry (digest, size, diff ID) without its
	// tar being checked. Without it, such a layer is downloaded and checked like any other.
	MountOnly bool
}

// Cache is the cache of one build.
type Cache struct {
	o     Options
	local local
	notes io.Writer

	imported []imported // one per loaded --cache-from store, in order

	mu     sync.Mutex
	used   *Index              // what the build used, for export
	layers map[string]v1.Layer // key ID -> the layer the build used
}

// imported is one --cache-from store's index.
type imported struct {
	store layercache.Store
	index *Index
	read  layercache.Read
}

// New makes the cache of one build; Load reads the imported indexes.
func New(o Options) *Cache {
	notes := o.Notes
	if notes == nil {
		notes = io.Discard
	}
	c := &Cache{o: o, notes: notes, used: newIndex(), layers: map[string]v1.Layer{},
		local: local{layers: o.LayerDir, licenses: o.LicenseDir, launchers: o.LauncherDir}}
	if o.LayerDir != "" || o.LauncherDir != "" {
		key, err := loadKey(o.KeyFile)
		if err != nil && o.KeyFile != "" {
			fmt.Fprintf(notes, "cache  local: no key (%v): every local record is checked in full\n", err)
		}
		c.local.key = key
	}
	return c
}

// LayerDir is where layers are kept (layer.WithCacheDir), "" for nowhere.
func (c *Cache) LayerDir() string { return c.o.LayerDir }

// Load reads every --cache-from index at once, and connects to every --cache-to store
// meanwhile (a registry's handshake), so that neither waits later. An index that is missing,
// unreadable or of another version is skipped with a note: a cache never fails a build by
// being absent or stale.
func (c *Cache) Load(ctx context.Context) {
	reads := make([]layercache.Read, len(c.o.From))
	errs := make([]error, len(c.o.From))
	var g errgroup.Group
	for i, s := range c.o.From {
		g.Go(func() error { reads[i], errs[i] = s.ReadIndex(ctx); return nil })
	}
	for _, s := range c.o.To {
		g.Go(func() error { _ = s.Connect(ctx, true, c.mountFrom()); return nil }) // Export says what failed
	}
	_ = g.Wait()
	for i, s := range c.o.From {
		switch {
		case errs[i] != nil:
			fmt.Fprintf(c.notes, "cache  %s: %v; building without it\n", s, errs[i])
			continue
		case reads[i].Index == nil:
			fmt.Fprintf(c.notes, "cache  %s: empty\n", s)
			continue
		}
		idx, why := parseIndex(reads[i].Index)
		if idx == nil {
			fmt.Fprintf(c.notes, "cache  %s: %s\n", s, why)
			continue
		}
		fmt.Fprintf(c.notes, "cache  %s: %d layer(s), %d listing(s)\n", s, len(idx.Layers), len(idx.Listings))
		c.imported = append(c.imported, imported{store: s, index: idx, read: reads[i]})
	}
}

// found is where an entry was found.
type found struct {
	from *imported // the imported cache, nil for the local one
}

// kind is one kind of entry: how the local cache and an index keep it (T), and what a build
// uses of it (V).
type kind[T, V any] struct {
	load   func(id string) (T, bool) // the local record
	save   func(id string, doc T)    // records an imported or computed entry locally
	lookup func(idx *Index, id string) (T, bool)
	export func(id string, doc T, v V) // records what the build used, for --cache-to
}

// errAbsent is a miss not worth a note: the local record's blob was deleted.
var errAbsent = errors.New("absent")

// get is the one way into the cache: the local record, then each imported index in order,
// then compute. use checks a found entry and makes the value of it; an entry it refuses is a
// miss, noted with what (the entry, in words) and why. The entry used is recorded locally
// (when it was not the local record) and for export.
func get[T, V any](c *Cache, k kind[T, V], id, what string, use func(T, found) (V, error), compute func() (V, T, error)) (V, error) {
	if doc, ok := k.load(id); ok {
		v, err := use(doc, found{})
		if err == nil {
			c.export(func() { k.export(id, doc, v) })
			return v, nil
		}
		if !errors.Is(err, errAbsent) {
			c.refused("local cache", what, err)
		}
	}
	for i := range c.imported {
		im := &c.imported[i]
		doc, ok := k.lookup(im.index, id)
		if !ok {
			continue
		}
		v, err := use(doc, found{from: im})
		if err == nil {
			k.save(id, doc)
			c.export(func() { k.export(id, doc, v) })
			return v, nil
		}
		c.refused(im.store.String(), what, err)
	}
	v, doc, err := compute()
	if err != nil {
		return v, err
	}
	k.save(id, doc)
	c.export(func() { k.export(id, doc, v) })
	return v, nil
}

// refused notes an entry that failed its check: the build makes it again.
func (c *Cache) refused(where, what string, err error) {
	fmt.Fprintf(c.notes, "cache  %s: %s: %v; making it again\n", where, what, err)
}

// export records an entry the build used, for --cache-to.
func (c *Cache) export(record func()) {
	if len(c.o.To) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	record()
}

// Export writes what this build used — its layers, listings, folders and licence verdicts,
// nothing else, so a cache stays the size of one build — to every --cache-to store at once.
// mountFrom names repositories the build pushed its image to: a registry cache mounts fresh
// blobs from there instead of uploading them again. Blobs a cache imported this build lists
// in its manifest are not asked for again.
func (c *Cache) Export(ctx context.Context, mountFrom []name.Repository) error {
	if len(c.o.To) == 0 {
		return nil
	}
	c.mu.Lock()
	data, err := json.Marshal(c.used)
	blobs := make([]v1.Layer, 0, len(c.layers))
	seen := map[v1.Hash]bool{}
	for _, l := range c.layers {
		d, err := l.Digest()
		if err == nil && !seen[d] {
			seen[d] = true
			blobs = append(blobs, l)
		}
	}
	nl, nls := len(c.used.Layers), len(c.used.Listings)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	up := layercache.Upload{Index: data, Blobs: blobs, MountFrom: mountFrom, Held: c.held()}
	g, gctx := errgroup.WithContext(ctx)
	for _, s := range c.o.To {
		g.Go(func() error {
			if err := s.Write(gctx, up); err != nil {
				return fmt.Errorf("--cache-to %s: %w", s, err)
			}
			fmt.Fprintf(c.notes, "cache  %s: wrote %d layer(s), %d listing(s)\n", s, nl, nls)
			return nil
		})
	}
	return g.Wait()
}

// mountFrom are the repositories a registry cache in To may mount blobs from: the outputs'
// and the registry caches imported.
func (c *Cache) mountFrom() []name.Repository {
	out := append([]name.Repository(nil), c.o.MountFrom...)
	for _, s := range c.o.From {
		if r, ok := layercache.RepositoryOf(s); ok {
			out = append(out, r)
		}
	}
	return out
}

// held are the blobs each imported registry repository is known to hold.
func (c *Cache) held() map[string]map[v1.Hash]bool {
	out := map[string]map[v1.Hash]bool{}
	for _, im := range c.imported {
		if im.read.Repository == "" {
			continue
		}
		if out[im.read.Repository] == nil {
			out[im.read.Repository] = map[v1.Hash]bool{}
		}
		for d := range im.read.Held {
			out[im.read.Repository][d] = true
		}
	}
	return out
}

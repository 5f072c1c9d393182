// Package layercache shares graft's plugin layers between machines: a fresh CI runner that
// imports the cache of an earlier build takes every unchanged plugin's layer from it by its
// key (commit, tree, path, folder, owner, epoch, compressor and layer-format versions, see
// layer.KeyID), so it neither fetches that plugin over git nor compresses it, and the blob is
// reused by digest (skipped when the target holds it, mounted from the cache's repository when
// the target is another repository of the same registry).
//
// A cache is an index (a JSON document) mapping layer key IDs to layer descriptors and listing
// IDs to the plugins' file listings (names, modes, link targets, commit time; no contents),
// kept as an OCI artifact in a registry or as a file in a folder, beside the blobs it names.
package layercache

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Version names this index format. An index of another version is ignored, whole: its key IDs
// were computed by rules this graft does not know.
const Version = "graft-layer-cache/1"

// maxIndex bounds the index read from a cache (listings of thousands of files stay far below).
const maxIndex = 64 << 20

// Descriptor is a cached layer: enough to put it in an image without reading it.
type Descriptor struct {
	Digest    string `json:"digest"`
	DiffID    string `json:"diff_id"`
	Size      int64  `json:"size"`
	MediaType string `json:"media_type"`
}

// Listing is a plugin's files without their contents, and its commit time (the layer's mtime).
type Listing struct {
	CommitTime time.Time `json:"commit_time"`
	Files      []File    `json:"files"`
}

// File is one entry of a Listing; Mode is git's (0100644, 0100755, 0120000, 040000).
type File struct {
	Path string `json:"path"`
	Mode uint32 `json:"mode"`
	Link string `json:"link,omitempty"`
}

// Folder is a folder of a base image as the build repeats it above its own layers (owner and
// mode from the base), recorded so a fresh runner need not read the base's layers to learn it.
type Folder struct {
	Path string `json:"path"`
	UID  int    `json:"uid"`
	GID  int    `json:"gid"`
	Mode int64  `json:"mode"`
	Link string `json:"link,omitempty"`
}

// Index is the cache's document. Folders was added within version 1: an index without it
// reads as having none.
type Index struct {
	Version  string                `json:"version"`
	Layers   map[string]Descriptor `json:"layers"`
	Listings map[string]Listing    `json:"listings"`
	Folders  map[string][]Folder   `json:"folders,omitempty"`
	// Licenses are the SBOM's licence verdicts by ID (builder/attest): the licence of the plugin
	// in a layer, "" when none was recognised.
	Licenses map[string]string `json:"licenses,omitempty"`
}

func newIndex() *Index {
	return &Index{Version: Version, Layers: map[string]Descriptor{}, Listings: map[string]Listing{}, Folders: map[string][]Folder{}}
}

// parseIndex reads an index; ok is false (with why) for another version or a malformed one.
func parseIndex(data []byte) (*Index, string) {
	var probe struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, "not a graft layer cache index: " + err.Error()
	}
	if probe.Version != Version {
		return nil, fmt.Sprintf("written in format %q, this graft reads %q: ignored (the next --cache-to replaces it)", probe.Version, Version)
	}
	idx := newIndex()
	if err := json.Unmarshal(data, idx); err != nil {
		return nil, "malformed index: " + err.Error()
	}
	for id, d := range idx.Layers {
		if _, err := d.parse(""); err != nil || !isID(id) {
			delete(idx.Layers, id)
		}
	}
	for id, l := range idx.Listings {
		if !isID(id) || l.CommitTime.IsZero() || !validListing(l) {
			delete(idx.Listings, id)
		}
	}
	for id, lic := range idx.Licenses {
		if !isID(id) || !validLicense(lic) {
			delete(idx.Licenses, id)
		}
	}
	for id, fs := range idx.Folders {
		if !isID(id) || !validFolders(fs) {
			delete(idx.Folders, id)
		}
	}
	return idx, ""
}

// isID accepts what layer.KeyID and the builder's listing IDs are: 64 lowercase hex digits.
func isID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// validListing refuses names git could not have produced: the listing feeds the builder's
// checks of symlinks, hooks and templates, so a crafted one must not slip a name past them.
func validListing(l Listing) bool {
	for _, f := range l.Files {
		if f.Path == "" || path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path || strings.Contains(f.Path, "\x00") {
			return false
		}
		for _, c := range strings.Split(f.Path, "/") {
			if c == ".." || c == "." || strings.EqualFold(c, ".git") {
				return false
			}
		}
		switch f.Mode {
		case 0o100644, 0o100755, 0o040000:
			if f.Link != "" {
				return false
			}
		case 0o120000:
		default:
			return false
		}
	}
	return true
}

// layerDesc is a parsed Descriptor.
type layerDesc struct {
	digest, diffID v1.Hash
	size           int64
	mediaType      types.MediaType
}

// parse checks d; mt, when set, replaces its media type (the blob is the same gzip stream
// whether the manifest calls it OCI or Docker).
func (d Descriptor) parse(mt types.MediaType) (layerDesc, error) {
	digest, err := v1.NewHash(d.Digest)
	if err != nil {
		return layerDesc{}, err
	}
	diffID, err := v1.NewHash(d.DiffID)
	if err != nil {
		return layerDesc{}, err
	}
	if d.Size <= 0 {
		return layerDesc{}, fmt.Errorf("size %d", d.Size)
	}
	if mt == "" {
		mt = types.MediaType(d.MediaType)
	}
	switch mt {
	case types.OCILayer, types.DockerLayer:
	default:
		return layerDesc{}, fmt.Errorf("media type %q", mt)
	}
	return layerDesc{digest: digest, diffID: diffID, size: d.Size, mediaType: mt}, nil
}

// Store is one place a cache lives: a registry reference or a folder.
type Store interface {
	fmt.Stringer
	// read returns the raw index, or nil when the place holds none yet.
	read(ctx context.Context) ([]byte, error)
	// open returns the blob d names as a layer, or nil when the place no longer holds it.
	open(ctx context.Context, d layerDesc) (v1.Layer, error)
	// write stores index and every layer's blob (those it lacks), mounting from mountFrom
	// where it can.
	write(ctx context.Context, index []byte, layers []v1.Layer, mountFrom []name.Repository) error
}

// Cache is the shared layer cache of one build: what it imported and what it will export.
type Cache struct {
	from, to []Store
	notes    io.Writer

	mu       sync.Mutex
	imported []*Index // one per loaded store, in --cache-from order
	stores   []Store
	used     *Index
	layers   map[string]v1.Layer // key ID -> the layer the build used
}

// New makes a cache reading from and writing to the given stores; notes receives one line per
// thing worth knowing (an ignored index, a missing blob), never an error: a cache never fails
// a build by being absent or stale.
func New(from, to []Store, notes io.Writer) *Cache {
	if notes == nil {
		notes = io.Discard
	}
	return &Cache{from: from, to: to, notes: notes, used: newIndex(), layers: map[string]v1.Layer{}}
}

// Load reads every --cache-from index; one that is missing, unreadable or of another version
// is skipped with a note.
func (c *Cache) Load(ctx context.Context) {
	for _, s := range c.from {
		data, err := s.read(ctx)
		switch {
		case err != nil:
			fmt.Fprintf(c.notes, "cache  %s: %v; building without it\n", s, err)
			continue
		case data == nil:
			fmt.Fprintf(c.notes, "cache  %s: empty\n", s)
			continue
		}
		idx, why := parseIndex(data)
		if idx == nil {
			fmt.Fprintf(c.notes, "cache  %s: %s\n", s, why)
			continue
		}
		fmt.Fprintf(c.notes, "cache  %s: %d layer(s), %d listing(s)\n", s, len(idx.Layers), len(idx.Listings))
		c.imported = append(c.imported, idx)
		c.stores = append(c.stores, s)
	}
}

// Listing returns the listing recorded under id by an imported cache.
func (c *Cache) Listing(id string) (Listing, bool) {
	for _, idx := range c.imported {
		if l, ok := idx.Listings[id]; ok {
			return l, true
		}
	}
	return Listing{}, false
}

// Layer returns the layer recorded under id, with media type mt, when its blob is still where
// the cache says; a blob that is gone is a miss (the build makes the layer again).
func (c *Cache) Layer(ctx context.Context, id string, mt types.MediaType) (v1.Layer, bool) {
	for i, idx := range c.imported {
		d, ok := idx.Layers[id]
		if !ok {
			continue
		}
		ld, err := d.parse(mt)
		if err != nil {
			continue
		}
		l, err := c.stores[i].open(ctx, ld)
		if err != nil {
			fmt.Fprintf(c.notes, "cache  %s: blob %s: %v; building the layer\n", c.stores[i], ld.digest, err)
			continue
		}
		if l == nil {
			fmt.Fprintf(c.notes, "cache  %s: blob %s is gone; building the layer\n", c.stores[i], ld.digest)
			continue
		}
		return l, true
	}
	return nil, false
}

// Remember records that the build used l for key id, for export.
func (c *Cache) Remember(id string, l v1.Layer) error {
	if len(c.to) == 0 {
		return nil
	}
	d, err := describe(l)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.used.Layers[id] = d
	c.layers[id] = l
	return nil
}

// Folders returns the base folders recorded under id by an imported cache.
func (c *Cache) Folders(id string) ([]Folder, bool) {
	for _, idx := range c.imported {
		if fs, ok := idx.Folders[id]; ok {
			return fs, true
		}
	}
	return nil, false
}

// RememberFolders records a base's folders under id, for export.
func (c *Cache) RememberFolders(id string, fs []Folder) {
	if len(c.to) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.used.Folders == nil {
		c.used.Folders = map[string][]Folder{}
	}
	c.used.Folders[id] = fs
}

// validFolders accepts absolute, clean paths other than the root, and permission bits only:
// a tampered entry can at most change an owner or mode the base gives a folder, which
// graft verify (rebuilding without the cache) shows as a different last layer.
func validFolders(fs []Folder) bool {
	for _, f := range fs {
		if !path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path || f.Path == "/" || f.Mode&^0o7777 != 0 ||
			f.UID < 0 || f.GID < 0 {
			return false
		}
	}
	return true
}

// License returns the licence verdict recorded under id by an imported cache.
func (c *Cache) License(id string) (string, bool) {
	for _, idx := range c.imported {
		if lic, ok := idx.Licenses[id]; ok {
			return lic, true
		}
	}
	return "", false
}

// RememberLicense records a licence verdict under id, for export.
func (c *Cache) RememberLicense(id, license string) {
	if len(c.to) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.used.Licenses == nil {
		c.used.Licenses = map[string]string{}
	}
	c.used.Licenses[id] = license
}

// validLicense accepts what an SPDX licence expression is made of, and nothing long: the
// verdict goes into an SBOM as is.
func validLicense(s string) bool {
	if len(s) > 256 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(" .-+():", r)) {
			return false
		}
	}
	return true
}

// RememberListing records a plugin's listing under id, for export.
func (c *Cache) RememberListing(id string, l Listing) {
	if len(c.to) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.used.Listings[id] = l
}

func describe(l v1.Layer) (Descriptor, error) {
	digest, err := l.Digest()
	if err != nil {
		return Descriptor{}, err
	}
	diffID, err := l.DiffID()
	if err != nil {
		return Descriptor{}, err
	}
	size, err := l.Size()
	if err != nil {
		return Descriptor{}, err
	}
	mt, err := l.MediaType()
	if err != nil {
		return Descriptor{}, err
	}
	return Descriptor{Digest: digest.String(), DiffID: diffID.String(), Size: size, MediaType: string(mt)}, nil
}

// Export writes what this build used (its layers and listings, nothing else: the cache stays
// the size of one build) to every --cache-to store. mountFrom names repositories the build
// pushed its image to, so a registry cache mounts fresh blobs from there instead of uploading
// them a second time.
func (c *Cache) Export(ctx context.Context, mountFrom []name.Repository) error {
	if len(c.to) == 0 {
		return nil
	}
	c.mu.Lock()
	data, err := json.Marshal(c.used)
	layers := make([]v1.Layer, 0, len(c.layers))
	seen := map[string]bool{}
	for _, l := range c.layers {
		d, _ := l.Digest()
		if !seen[d.String()] {
			seen[d.String()] = true
			layers = append(layers, l)
		}
	}
	c.mu.Unlock()
	if err != nil {
		return err
	}
	for _, s := range c.to {
		if err := s.write(ctx, data, layers, mountFrom); err != nil {
			return fmt.Errorf("--cache-to %s: %w", s, err)
		}
		fmt.Fprintf(c.notes, "cache  %s: wrote %d layer(s), %d listing(s)\n", s, len(c.used.Layers), len(c.used.Listings))
	}
	return nil
}

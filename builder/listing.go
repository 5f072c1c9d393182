package builder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/go-git/go-git/v5/plumbing/filemode"

	"github.com/graft-build/graft/builder/fetch"
	"github.com/graft-build/graft/builder/layercache"
	"github.com/graft-build/graft/internal/atomicfile"
	"github.com/graft-build/graft/lockfile"
)

// A listing is what a rebuild needs of a plugin it has built before, kept in the layer cache
// beside the layers: the commit time (the layer's mtime) and the files' names, modes and
// symlink targets (for the checks of symlinks, hooks and templates), without their contents.
// With it and a keyed layer (layer.Lookup), a no-op rebuild reads no git objects and hashes no
// tar; a miss on either falls back to reading the commit from the git cache.
type (
	listing    = layercache.Listing // the same document a shared cache carries
	listedFile = layercache.File
)

// listingKey names everything the listing depends on: the commit and the path in it (the tree
// is its hash; kept too so a hand-edited lock never matches).
func listingKey(src fetch.Source) string {
	return fmt.Sprintf("%s\x00%s\x00%s", src.Commit, src.Tree, src.Path)
}

// artifactListingKey names what a url, maven or oci plugin's listing depends on: the file's
// (or manifest's) digest, the unpacked tree and how it was unpacked.
func artifactListingKey(pk lockfile.PluginLock) string {
	return fmt.Sprintf("%s\x00%s\x00%s\x00%s", pk.Kind, pk.Digest, pk.Tree, pk.Path)
}

func (o *options) listingPath(key string) string {
	return filepath.Join(o.layerDir, "listings", listingID(key))
}

// listingID names the listing of key (see listingKey) in the local cache and in a shared one.
func listingID(key string) string {
	sum := sha256.Sum256([]byte("graft listing 1\x00" + key))
	return hex.EncodeToString(sum[:])
}

// loadListing returns the plugin's files (without contents) and commit time, or false. An
// empty key (a local folder, read on every build) has none.
func (o *options) loadListing(key string) ([]fetch.File, time.Time, bool) {
	if o.layerDir == "" || key == "" {
		return nil, time.Time{}, false
	}
	data, err := os.ReadFile(o.listingPath(key))
	if err != nil {
		return nil, time.Time{}, false
	}
	var l listing
	if json.Unmarshal(data, &l) != nil || l.CommitTime.IsZero() {
		return nil, time.Time{}, false
	}
	return filesOf(l), l.CommitTime, true
}

// filesOf is a listing's files, without contents.
func filesOf(l listing) []fetch.File {
	files := make([]fetch.File, len(l.Files))
	for i, f := range l.Files {
		files[i] = fetch.File{Path: f.Path, Mode: filemode.FileMode(f.Mode)}
		if files[i].Mode == filemode.Symlink {
			files[i].Data = []byte(f.Link)
		}
	}
	return files
}

// listingOf lists files (names, modes, link targets) without their contents.
func listingOf(t time.Time, files []fetch.File) listing {
	l := listing{CommitTime: t, Files: make([]listedFile, len(files))}
	for i, f := range files {
		l.Files[i] = listedFile{Path: f.Path, Mode: uint32(f.Mode)}
		if f.Mode == filemode.Symlink {
			l.Files[i].Link = string(f.Data)
		}
	}
	return l
}

// saveListing records res under key; failing to is not an error (the next build reads git).
func (o *options) saveListing(key string, res *fetch.Result) {
	if o.layerDir == "" || key == "" {
		return
	}
	l := listingOf(res.CommitTime, res.Files)
	data, err := json.Marshal(l)
	if err != nil {
		return
	}
	p := o.listingPath(key)
	if os.MkdirAll(filepath.Dir(p), 0o755) != nil {
		return
	}
	_ = atomicfile.Write(p, data, 0o644) // failing to cache is not an error
}

// contents returns the plugin's files with their contents, reading them from the plugin's
// source (the git cache) when only its listing was loaded.
func (pl *plugin) contents(ctx context.Context, o *options) ([]fetch.File, error) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if !pl.listed {
		return pl.files, nil
	}
	res, err := pl.src.Read(ctx)
	if err != nil {
		return nil, err
	}
	// The listing set the layer's mtime; one from a changed cache must not outlive git's word.
	if !res.CommitTime.Equal(pl.commitTime) {
		return nil, fmt.Errorf("plugin %s: the cached listing says commit %s was made at %s, git says %s: "+
			"the cache was changed; delete it (or the --cache-from entry) and build again",
			pl.lock.Name, pl.short(), pl.commitTime.UTC().Format(time.RFC3339), res.CommitTime.UTC().Format(time.RFC3339))
	}
	pl.files, pl.listed = res.Files, false
	return pl.files, nil
}

// release drops what reading the plugin's contents holds (the cache's open storage and its
// decoded objects) once its layer is made: a build of many plugins keeps one plugin's data at
// a time, not all of them. A later layer of the plugin (another platform's owner) reads again.
func (pl *plugin) release() {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	for i := range pl.files {
		pl.files[i].Open = nil
	}
	pl.listed = true
}

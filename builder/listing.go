package builder

import (
	"context"
	"fmt"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"

	"github.com/graft-build/graft/builder/buildcache"
	"github.com/graft-build/graft/builder/fetch"
)

// A listing is what a rebuild needs of a plugin it has built before, kept in the build cache
// beside the layers: the commit time (the layer's mtime) and the files' names, modes, git
// object IDs and symlink targets (for the checks of symlinks, hooks and templates, and of a
// cached layer), without their contents. With it and a cached layer, a no-op rebuild reads no
// git objects; a miss on either reads the commit from the git cache.

// list gives the plugin its files: from its listing in the build cache (git plugins), else
// read from its source. It says how: cached, cache-from, fetched, local or override PATH.
func (pl *plugin) list(ctx context.Context, o *options) (string, error) {
	g, ok := pl.src.(fetch.Git)
	if !ok || g.Source.Tree == "" {
		// A local folder, a working folder (--override) and an unpacked artifact are read (and
		// checked against the lock, or hashed) on every build.
		return pl.read(ctx)
	}
	var res *fetch.Result
	spec := buildcache.ListingSpec{Commit: g.Source.Commit, Tree: g.Source.Tree, Path: g.Source.Path,
		What: "plugin " + pl.lock.Name + "'s listing"}
	l, from, err := o.buildCache.Listing(spec, func() (buildcache.Listing, error) {
		var err error
		if res, err = pl.src.Read(ctx); err != nil {
			return buildcache.Listing{}, err
		}
		return listingOf(res), nil
	})
	if err != nil {
		return "", err
	}
	if res == nil {
		pl.files, pl.commitTime, pl.listed = filesOf(l), l.CommitTime, true
		return from, nil
	}
	pl.files, pl.commitTime = res.Files, res.CommitTime
	if res.Fetched {
		return "fetched", nil
	}
	return "cached", nil
}

// listingOf lists a commit's files (names, tree modes, object IDs, link targets) without their
// contents, with the objects that prove them against the lock.
func listingOf(res *fetch.Result) buildcache.Listing {
	l := buildcache.Listing{CommitTime: res.CommitTime, Commit: res.Commit, Trees: res.Trees,
		Files: make([]buildcache.File, len(res.Files))}
	for i, f := range res.Files {
		l.Files[i] = buildcache.File{Path: f.Path, Mode: uint32(f.TreeMode), ID: f.ID.String()}
		if f.Mode == filemode.Symlink {
			l.Files[i].Link = string(f.Data)
		}
	}
	return l
}

// filesOf is a listing's files, without contents, as the git reader gives them.
func filesOf(l buildcache.Listing) []fetch.File {
	files := make([]fetch.File, len(l.Files))
	for i, f := range l.Files {
		tm := filemode.FileMode(f.Mode)
		files[i] = fetch.File{Path: f.Path, Mode: tm, ID: plumbing.NewHash(f.ID), TreeMode: tm}
		switch tm {
		case filemode.Symlink:
			files[i].Data = []byte(f.Link)
		case filemode.Deprecated:
			files[i].Mode = filemode.Regular
		case filemode.Submodule:
			files[i].Mode = filemode.Dir
		}
	}
	return files
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
	// The listing was checked against the commit object; git must agree.
	if !res.CommitTime.Equal(pl.commitTime) {
		return nil, fmt.Errorf("plugin %s: the listing says commit %s was made at %s, git says %s",
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

// read gives a plugin that has no listing its files, read from its source.
func (pl *plugin) read(ctx context.Context) (string, error) {
	if v, ok := pl.src.(Override); ok {
		res, tree, err := v.Content()
		if err != nil {
			return "", err
		}
		pl.files, pl.commitTime, pl.override = res.Files, res.CommitTime, tree
		return "override " + v.Path, nil
	}
	res, err := pl.src.Read(ctx)
	if err != nil {
		return "", err
	}
	pl.files, pl.commitTime = res.Files, res.CommitTime
	switch {
	case !pl.lock.IsArtifact():
		return "local", nil
	case res.Fetched:
		return "fetched", nil
	}
	return "cached", nil
}

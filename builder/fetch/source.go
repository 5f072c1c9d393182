package fetch

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/go-git/go-git/v5/plumbing/filemode"

	"github.com/graft-build/graft/internal/usererr"
	"github.com/graft-build/graft/lockfile/localtree"
)

// Reader gives one locked plugin's verified files: Git reads a commit through the Cache,
// Local reads a folder of the site repository. Either checks what it read against the lock.
type Reader interface {
	Read(ctx context.Context) (*Result, error)
}

// Git reads Source's commit through Cache (fetching it first unless cached).
type Git struct {
	Cache  *Cache
	Source Source
}

// Read implements Reader.
func (g Git) Read(ctx context.Context) (*Result, error) { return g.Cache.Get(ctx, g.Source) }

// LocalEpoch is the time a local plugin's files are stamped with when SOURCE_DATE_EPOCH is
// unset: a folder has no commit time, and its files' mtimes differ between checkouts.
var LocalEpoch = time.Unix(0, 0).UTC()

// Local reads a folder of the site repository from the working tree and checks its git tree
// hash against the lock: the build takes exactly the files graft lock hashed.
type Local struct {
	Name  string // plugin name, for messages
	Site  string // the site repository (absolute)
	Dir   string // the folder (absolute)
	Shown string // the folder as messages name it, e.g. plugins/cam/files
	Tree  string // tree hash from graft.lock
}

// Read implements Reader.
func (l Local) Read(context.Context) (*Result, error) {
	t, err := localtree.Read(l.Site, l.Dir, l.Shown)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", l.Name, err)
	}
	if t.Hash != l.Tree {
		return nil, usererr.New("plugin %s: folder %s changed since graft.lock was written (tree %s in graft.lock, %s now); "+
			"run `graft lock` (and commit graft.lock) to build what is there now", l.Name, l.Shown, l.Tree, t.Hash)
	}
	files := make([]File, len(t.Files))
	for i, f := range t.Files {
		files[i] = File{Path: f.Path, Mode: f.Mode, Data: f.Data, ID: f.ID, TreeMode: f.Mode}
		if f.Mode != filemode.Symlink && f.Mode != filemode.Dir {
			// Regular files go into layers the way a git plugin's do: streamed through Open,
			// checked against the blob hash the tree was computed from.
			files[i].Size = f.Size
			files[i].Open = l.opener(filepath.Join(t.Root, filepath.FromSlash(f.Path)), f)
		}
	}
	return &Result{Files: files, CommitTime: LocalEpoch}, nil
}

// opener reads the file at p again, failing when its bytes are no longer those hashed into
// the locked tree (the folder changed during the build).
func (l Local) opener(p string, f localtree.File) func() (io.ReadCloser, error) {
	changed := func(what string) error {
		return usererr.New("plugin %s: %s/%s changed while graft built it (%s); run graft again", l.Name, l.Shown, f.Path, what)
	}
	return func() (io.ReadCloser, error) {
		file, size, err := localtree.OpenRegular(p)
		if err != nil {
			return nil, changed(err.Error())
		}
		if size != f.Size {
			file.Close()
			return nil, changed(fmt.Sprintf("%d bytes, %d when hashed", size, f.Size))
		}
		return newChecked(file, f.ID, f.Size, changed), nil
	}
}

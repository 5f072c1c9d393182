package fetch

import (
	"context"
	"io"

	"github.com/go-git/go-git/v5/plumbing/filemode"

	"github.com/graft-build/graft/lockfile/artifact"
	"github.com/graft-build/graft/lockfile/filetree"
)

// Artifact reads a url, maven or oci plugin through the artifact store: the file (or OCI
// blobs) from the cache or the server, checked against the locked digest, unpacked, and the
// unpacked tree checked against the locked tree.
type Artifact struct {
	Store   *artifact.Store
	Request artifact.Request // pinned: Digest, Size and Tree set
}

// Read implements Reader.
func (a Artifact) Read(ctx context.Context) (*Result, error) {
	res, err := a.Store.Get(ctx, a.Request)
	if err != nil {
		return nil, err
	}
	// Like a local folder, a downloaded file has no commit time: its files carry LocalEpoch
	// (or SOURCE_DATE_EPOCH).
	return &Result{Files: TreeFiles(res.Tree), CommitTime: LocalEpoch, Fetched: res.Fetched, CacheDir: res.Tree.Dir}, nil
}

// TreeFiles are the files of a folder read by package filetree, streamed (and checked against
// their hashes) from it when a layer reads them.
func TreeFiles(t *filetree.Tree) []File {
	files := make([]File, len(t.Files))
	for i, f := range t.Files {
		files[i] = File{Path: f.Path, Mode: f.Mode, ID: f.Hash, TreeMode: f.Mode}
		switch f.Mode {
		case filemode.Symlink:
			files[i].Data = []byte(f.Link)
		case filemode.Dir:
		default:
			f := f
			files[i].Size = f.Size
			files[i].Open = func() (io.ReadCloser, error) { return t.Open(f) }
		}
	}
	return files
}

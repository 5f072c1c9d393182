package buildcache

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/graft-build/graft/lockfile/localtree"
)

// ListingSpec names a git plugin's listing by what graft.lock says of it.
type ListingSpec struct {
	Commit, Tree, Path string
	What               string // the listing in notes: "plugin alpha's listing"
}

// ID names the listing in the local cache and in a shared one.
func (s ListingSpec) ID() string {
	sum := sha256.Sum256([]byte("graft listing 2\x00" + s.Commit + "\x00" + s.Tree + "\x00" + s.Path))
	return hex.EncodeToString(sum[:])
}

// Where a listing came from (see Listing).
const (
	FromLocal  = "cached"
	FromImport = "cache-from"
)

// Listing is the listing spec names: the local cache's or an imported one's, each checked
// against the lock first, else what read gives (read may hand back more than the listing,
// e.g. the files with their contents, to its caller). from says which: FromLocal, FromImport,
// or "" when read made it.
func (c *Cache) Listing(spec ListingSpec, read func() (Listing, error)) (l Listing, from string, err error) {
	type used struct {
		l    Listing
		from string
	}
	k := kind[Listing, used]{
		load: func(id string) (Listing, bool) {
			var l Listing
			return l, readJSON(under(c.local.layers, "listings", id), &l)
		},
		save:   func(id string, l Listing) { writeJSON(under(c.local.layers, "listings", id), l) },
		lookup: func(idx *Index, id string) (Listing, bool) { l, ok := idx.Listings[id]; return l, ok },
		export: func(id string, l Listing, _ used) { c.used.Listings[id] = l },
	}
	use := func(l Listing, f found) (used, error) {
		if err := checkListing(l, spec); err != nil {
			return used{}, err
		}
		if f.from == nil {
			return used{l, FromLocal}, nil
		}
		return used{l, FromImport}, nil
	}
	compute := func() (used, Listing, error) {
		l, err := read()
		return used{l, ""}, l, err
	}
	u, err := get(c, k, spec.ID(), spec.What, use, compute)
	return u.l, u.from, err
}

// Bounds of what a listing may carry: a commit object or a tree of these sizes is far beyond
// any repository's, and the index as a whole is bounded too (layercache.MaxIndex).
const (
	maxObject = 4 << 20
	maxLink   = 4095
)

// checkListing proves l against the lock: the commit object hashes to the locked commit and
// gives the commit time; the trees go from its root tree down to the locked tree at the
// plugin's path; and the entries, with their git object IDs, hash to that tree again. Names git
// could not have produced, and modes graft does not install, are refused too.
func checkListing(l Listing, spec ListingSpec) error {
	if len(l.Commit) > maxObject || plumbing.ComputeHash(plumbing.CommitObject, l.Commit).String() != spec.Commit {
		return fmt.Errorf("its commit object is not commit %s", spec.Commit)
	}
	commit := &object.Commit{}
	if err := commit.Decode(memoryObject(plumbing.CommitObject, l.Commit)); err != nil {
		return fmt.Errorf("commit %s: %w", spec.Commit, err)
	}
	if t := commit.Committer.When.UTC(); !t.Equal(l.CommitTime) || l.CommitTime.IsZero() {
		return fmt.Errorf("it says commit %s was made at %s, the commit says %s", spec.Commit, l.CommitTime.UTC().Format(time.RFC3339), t.Format(time.RFC3339))
	}
	root, err := pathTree(commit.TreeHash, l.Trees, spec.Path)
	if err != nil {
		return err
	}
	if root.String() != spec.Tree {
		return fmt.Errorf("path %q of commit %s is tree %s, not the locked %s", spec.Path, spec.Commit, root, spec.Tree)
	}
	got, err := treeOf(l.Files)
	if err != nil {
		return err
	}
	if got != root {
		return fmt.Errorf("its files make tree %s, not the locked %s", got, spec.Tree)
	}
	return nil
}

// pathTree follows p from the commit's root tree through trees (one object per level), each
// checked against the hash its parent names; it returns the hash of p's tree.
func pathTree(h plumbing.Hash, trees [][]byte, p string) (plumbing.Hash, error) {
	var parts []string
	if clean := strings.Trim(path.Clean("/"+p), "/"); clean != "" {
		parts = strings.Split(clean, "/")
	}
	if len(trees) != len(parts) {
		return h, fmt.Errorf("it holds %d trees for path %q, which has %d levels", len(trees), p, len(parts))
	}
	for i, part := range parts {
		if len(trees[i]) > maxObject || plumbing.ComputeHash(plumbing.TreeObject, trees[i]) != h {
			return h, fmt.Errorf("its tree for %q is not tree %s", strings.Join(parts[:i], "/"), h)
		}
		t := &object.Tree{}
		if err := t.Decode(memoryObject(plumbing.TreeObject, trees[i])); err != nil {
			return h, err
		}
		next, ok := plumbing.ZeroHash, false
		for _, e := range t.Entries {
			if e.Name == part && e.Mode == filemode.Dir {
				next, ok = e.Hash, true
			}
		}
		if !ok {
			return h, fmt.Errorf("%q is not a folder of tree %s", part, h)
		}
		h = next
	}
	return h, nil
}

func memoryObject(t plumbing.ObjectType, data []byte) plumbing.EncodedObject {
	m := &plumbing.MemoryObject{}
	m.SetType(t)
	m.Write(data)
	return m
}

// treeOf computes the git tree of files: each folder's tree from its entries, checked against
// the ID the listing gives it, up to the root's.
func treeOf(files []File) (plumbing.Hash, error) {
	children := map[string][]localtree.TreeEntry{}
	folders := map[string]plumbing.Hash{"": plumbing.ZeroHash}
	seen := map[string]bool{}
	for _, f := range files {
		e, err := checkFile(f)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		if seen[f.Path] {
			return plumbing.ZeroHash, fmt.Errorf("it lists %s twice", f.Path)
		}
		seen[f.Path] = true
		dir := path.Dir(f.Path)
		if dir == "." {
			dir = ""
		}
		children[dir] = append(children[dir], e)
		if e.Mode == filemode.Dir {
			folders[f.Path] = e.Hash
		}
	}
	for dir := range children {
		if _, ok := folders[dir]; !ok {
			return plumbing.ZeroHash, fmt.Errorf("it lists files in %s, which it does not list as a folder", dir)
		}
	}
	// Deepest folders first: a folder's tree needs its subfolders' hashes, checked.
	dirs := make([]string, 0, len(folders))
	for d := range folders {
		dirs = append(dirs, d)
	}
	depth := func(d string) int {
		if d == "" {
			return 0
		}
		return strings.Count(d, "/") + 1
	}
	sort.Slice(dirs, func(i, j int) bool { return depth(dirs[i]) > depth(dirs[j]) })
	var root plumbing.Hash
	for _, d := range dirs {
		h := localtree.TreeHash(children[d])
		if d == "" {
			root = h
		} else if h != folders[d] {
			return plumbing.ZeroHash, fmt.Errorf("its entries in %s make tree %s, not the %s it names", d, h, folders[d])
		}
	}
	return root, nil
}

// checkFile checks one entry's form: a name git could hold and graft installs (nothing that
// climbs out, no .git), a mode graft installs, an object ID, and a symlink's ID its target's.
func checkFile(f File) (localtree.TreeEntry, error) {
	e := localtree.TreeEntry{Name: path.Base(f.Path), Mode: filemode.FileMode(f.Mode)}
	if f.Path == "" || path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path || strings.Contains(f.Path, "\x00") {
		return e, fmt.Errorf("it lists %q, which is not a clean relative path", f.Path)
	}
	for _, c := range strings.Split(f.Path, "/") {
		if c == ".." || c == "." || strings.EqualFold(c, ".git") {
			return e, fmt.Errorf("it lists %q, which graft never installs", f.Path)
		}
	}
	if len(f.ID) != 40 || !plumbing.IsHash(f.ID) {
		return e, fmt.Errorf("%s: object ID %q", f.Path, f.ID)
	}
	e.Hash = plumbing.NewHash(f.ID)
	switch e.Mode {
	case filemode.Regular, filemode.Executable, filemode.Deprecated, filemode.Dir, filemode.Submodule:
		if f.Link != "" {
			return e, fmt.Errorf("%s: a link target on mode %o", f.Path, f.Mode)
		}
	case filemode.Symlink:
		if len(f.Link) > maxLink || plumbing.ComputeHash(plumbing.BlobObject, []byte(f.Link)) != e.Hash {
			return e, fmt.Errorf("%s: its link target is not blob %s", f.Path, f.ID)
		}
	default:
		return e, fmt.Errorf("%s: mode %o", f.Path, f.Mode)
	}
	return e, nil
}

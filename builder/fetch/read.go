package fetch

import (
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"

	"github.com/graft-build/graft/internal/usererr"
)

// File is one entry of a plugin's tree. A regular file's content is not read until Open is
// called (a plugin may hold files of hundreds of megabytes); a symlink's target is in Data.
type File struct {
	Path string            // slash-separated, relative to the plugin's path
	Mode filemode.FileMode // Regular, Executable, Symlink, Dir (also for a submodule: empty, as a checkout leaves it)
	Data []byte            // a symlink's target
	Size int64             // a regular file's length
	// Open streams a regular file's content from the cache, checked against its git hash: a
	// mismatch fails the read at its end (nil when the File came from a listing).
	Open func() (io.ReadCloser, error)
	// ID is the git object the tree names: a file's or symlink's blob, a folder's tree, a
	// submodule's commit. A layer read back from a cache is checked against it.
	ID plumbing.Hash
	// TreeMode is the mode the git tree records (Mode turns Deprecated into Regular and
	// Submodule into Dir); with ID it rebuilds the tree, to check a listing against the lock.
	TreeMode filemode.FileMode
}

// LockedCommitError is a locked commit the repository contradicts: it holds another tree at
// the plugin's path than graft.lock says, or the repository has no such commit. graft.lock was
// edited by hand (or the ref's history rewritten): bad input at the lock's commit line, which
// the caller, holding graft.lock, names.
type LockedCommitError struct {
	Name, Commit string
	Why          string // what the repository holds instead
}

func (e *LockedCommitError) Error() string {
	return fmt.Sprintf("plugin %s: commit %s in graft.lock: %s; graft.lock was edited by hand or is damaged: run `graft lock`",
		e.Name, e.Commit, e.Why)
}

// damagedError is a cache entry whose objects do not match their hashes or are missing.
type damagedError struct {
	name, dir, what string
}

func (e *damagedError) Error() string {
	return fmt.Sprintf("plugin %s: the plugin cache entry %s is damaged or was tampered with (%s); delete it (rm -rf %s) and build again",
		e.name, e.dir, e.what, e.dir)
}

// reader reads objects of one cache entry, checking each against its hash: go-git trusts the
// storage, and the cache is a folder anyone on the machine might have changed.
type reader struct {
	src Source
	dir string
	mu  sync.Mutex          // guards s once the files are handed out
	s   *filesystem.Storage // nil until a file is opened again
}

func (r *reader) open() *filesystem.Storage {
	return filesystem.NewStorageWithOptions(osfs.New(r.dir), cache.NewObjectLRU(objectCache),
		filesystem.Options{LargeObjectThreshold: largeObject})
}

// storage is the cache entry's storage, opened again after read handed the files out.
func (r *reader) storage() *filesystem.Storage {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.s == nil {
		r.s = r.open()
	}
	return r.s
}

// largeObject is the size above which go-git streams an object from its pack instead of
// inflating it into memory; objectCache bounds the objects it keeps decoded per plugin.
const (
	largeObject = 256 << 10
	objectCache = 4 * cache.MiByte
)

// maxLinkTarget bounds a symlink's target read into memory (Linux allows 4095 bytes).
const maxLinkTarget = 64 << 10

func read(src Source, dir string) (*Result, error) {
	if st, err := os.Stat(filepath.Join(dir, "objects")); err != nil || !st.IsDir() {
		return nil, &damagedError{src.Name, dir, "no objects folder"}
	}
	r := &reader{src: src, dir: dir}
	r.s = r.open()
	commit, raw, err := r.commit(plumbing.NewHash(src.Commit))
	if err != nil {
		return nil, err
	}
	tree, trees, err := r.subtree(commit.TreeHash, src.Path)
	if err != nil {
		return nil, err
	}
	if src.Tree != "" && tree.String() != src.Tree {
		return nil, &LockedCommitError{Name: src.Name, Commit: src.Commit,
			Why: fmt.Sprintf("that commit holds tree %s at %q, graft.lock says tree %s", tree, "/"+strings.Trim(src.Path, "/"), src.Tree)}
	}
	var files []File
	if err := r.walk(tree, "", &files); err != nil {
		return nil, err
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	// The files' Opens open the storage again when a layer reads them: between the fetch of
	// every plugin and its layer, a plugin holds no decoded objects or pack index.
	r.s = nil
	return &Result{Files: files, CommitTime: commit.Committer.When.UTC(), Commit: raw, Trees: trees}, nil
}

// object returns the content of object h of type t after checking its hash.
func (r *reader) object(t plumbing.ObjectType, h plumbing.Hash) ([]byte, error) {
	obj, err := r.s.EncodedObject(t, h)
	if err != nil {
		return nil, &damagedError{r.src.Name, r.dir, fmt.Sprintf("%s %s: %v", t, h, err)}
	}
	rc, err := obj.Reader()
	if err != nil {
		return nil, &damagedError{r.src.Name, r.dir, fmt.Sprintf("%s %s: %v", t, h, err)}
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return nil, &damagedError{r.src.Name, r.dir, fmt.Sprintf("%s %s: %v", t, h, err)}
	}
	if got := plumbing.ComputeHash(t, data); got != h {
		return nil, &damagedError{r.src.Name, r.dir, fmt.Sprintf("%s %s holds content whose hash is %s", t, h, got)}
	}
	return data, nil
}

// smallObject is object, refused when larger than limit.
func (r *reader) smallObject(t plumbing.ObjectType, h plumbing.Hash, limit int64) ([]byte, error) {
	if size, err := r.s.EncodedObjectSize(h); err == nil && size > limit {
		return nil, usererr.New("plugin %s: symlink with blob %s is %d bytes, over the %d a symlink target may have; remove it from the plugin",
			r.src.Name, h, size, limit)
	}
	return r.object(t, h)
}

// file is a regular file whose content is streamed when it is opened.
func (r *reader) file(p string, e object.TreeEntry) (File, error) {
	mode := e.Mode
	if mode == filemode.Deprecated {
		mode = filemode.Regular
	}
	size, err := r.s.EncodedObjectSize(e.Hash)
	if err != nil {
		return File{}, &damagedError{r.src.Name, r.dir, fmt.Sprintf("blob %s: %v", e.Hash, err)}
	}
	h := e.Hash
	return File{Path: p, Mode: mode, Size: size, ID: h, TreeMode: e.Mode,
		Open: func() (io.ReadCloser, error) { return r.stream(h, size) }}, nil
}

// stream reads blob h, checking its length and hash as it goes: the last Read fails when the
// content is not what the tree names.
func (r *reader) stream(h plumbing.Hash, size int64) (io.ReadCloser, error) {
	obj, err := r.storage().EncodedObject(plumbing.BlobObject, h)
	if err != nil {
		return nil, &damagedError{r.src.Name, r.dir, fmt.Sprintf("blob %s: %v", h, err)}
	}
	if obj.Size() != size {
		return nil, &damagedError{r.src.Name, r.dir, fmt.Sprintf("blob %s is %d bytes, its index says %d", h, obj.Size(), size)}
	}
	rc, err := obj.Reader()
	if err != nil {
		return nil, &damagedError{r.src.Name, r.dir, fmt.Sprintf("blob %s: %v", h, err)}
	}
	return newChecked(rc, h, size, func(what string) error { return &damagedError{r.src.Name, r.dir, what} }), nil
}

// checked hashes a blob as it is read and fails at its end when the hash differs: what is
// read is exactly the blob the tree names, or the read fails.
type checked struct {
	rc   io.ReadCloser
	want plumbing.Hash
	left int64
	hash plumbing.Hasher
	fail func(what string) error // the error for what is wrong
}

func newChecked(rc io.ReadCloser, want plumbing.Hash, size int64, fail func(string) error) *checked {
	return &checked{rc: rc, want: want, left: size, hash: plumbing.NewHasher(plumbing.BlobObject, size), fail: fail}
}

func (c *checked) Read(p []byte) (int, error) {
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1] // one byte more than is left shows an overlong object
	}
	n, err := c.rc.Read(p)
	c.hash.Write(p[:n])
	c.left -= int64(n)
	if c.left < 0 {
		return n, c.fail(fmt.Sprintf("blob %s is longer than its size", c.want))
	}
	if err == io.EOF {
		if got := c.hash.Sum(); c.left != 0 || got != c.want {
			return n, c.fail(fmt.Sprintf("blob %s holds content whose hash is %s", c.want, got))
		}
	}
	return n, err
}

func (c *checked) Close() error { return c.rc.Close() }

func (r *reader) memory(t plumbing.ObjectType, data []byte) plumbing.EncodedObject {
	m := &plumbing.MemoryObject{}
	m.SetType(t)
	m.Write(data)
	return m
}

// commit decodes commit h, and returns its object as stored too.
func (r *reader) commit(h plumbing.Hash) (*object.Commit, []byte, error) {
	data, err := r.object(plumbing.CommitObject, h)
	if err != nil {
		return nil, nil, err
	}
	c := &object.Commit{}
	if err := c.Decode(r.memory(plumbing.CommitObject, data)); err != nil {
		return nil, nil, &damagedError{r.src.Name, r.dir, fmt.Sprintf("commit %s: %v", h, err)}
	}
	return c, data, nil
}

// tree reads tree h, the folder at (slash-separated, "" for the repository's root), and
// refuses it where git fsck would.
func (r *reader) tree(h plumbing.Hash, at string) (*object.Tree, error) {
	t, _, err := r.rawTree(h, at)
	return t, err
}

// rawTree is tree, and returns its object as stored too.
func (r *reader) rawTree(h plumbing.Hash, at string) (*object.Tree, []byte, error) {
	data, err := r.object(plumbing.TreeObject, h)
	if err != nil {
		return nil, nil, err
	}
	t := &object.Tree{}
	if err := t.Decode(r.memory(plumbing.TreeObject, data)); err != nil {
		return nil, nil, &damagedError{r.src.Name, r.dir, fmt.Sprintf("tree %s: %v", h, err)}
	}
	if err := r.checkOrder(t, at); err != nil {
		return nil, nil, err
	}
	return t, data, nil
}

// checkOrder refuses a tree that names one entry twice or lists its entries out of git's
// order, as git fsck does (duplicateEntries, treeNotSorted): git never writes such a tree, and
// from a crafted one whichever entry came last would be installed over the others.
func (r *reader) checkOrder(t *object.Tree, at string) error {
	seen := make(map[string]bool, len(t.Entries))
	for i, e := range t.Entries {
		what := ""
		switch {
		case seen[e.Name]: // also a file and a folder of one name, which sort apart ("a" < "a.b" < "a/")
			what = "twice"
		case i > 0 && orderKey(t.Entries[i-1]) > orderKey(e):
			what = "out of git's order"
		}
		if what != "" {
			return usererr.New("plugin %s: commit %s holds a tree listing %q %s in %q, which git fsck refuses; "+
				"the repository is damaged or crafted: repair it (git fsck names the tree) and run `graft lock`",
				r.src.Name, r.src.Commit, e.Name, what, "/"+at)
		}
		seen[e.Name] = true
	}
	return nil
}

// orderKey is what git sorts a tree's entries by: the name, a folder's as if it ended in "/".
func orderKey(e object.TreeEntry) string {
	if e.Mode == filemode.Dir {
		return e.Name + "/"
	}
	return e.Name
}

// subtree follows p from the root tree; trees are the objects it went through (the root's
// first), which prove that the tree is at p in the commit.
func (r *reader) subtree(root plumbing.Hash, p string) (plumbing.Hash, [][]byte, error) {
	h, at := root, ""
	var trees [][]byte
	for _, part := range strings.Split(strings.Trim(path.Clean("/"+p), "/"), "/") {
		if part == "" {
			continue
		}
		t, raw, err := r.rawTree(h, at)
		if err != nil {
			return h, nil, err
		}
		trees = append(trees, raw)
		found := false
		for _, e := range t.Entries {
			if e.Name == part && e.Mode == filemode.Dir {
				h, at, found = e.Hash, path.Join(at, part), true
				break
			}
		}
		if !found {
			return h, nil, fmt.Errorf("plugin %s: path %q is not a folder in commit %s; fix path in plugins/%s/plugin.toml and run `graft lock`",
				r.src.Name, p, r.src.Commit, r.src.Name)
		}
	}
	return h, trees, nil
}

// walk appends the entries of tree h (at prefix) and everything below it.
func (r *reader) walk(h plumbing.Hash, prefix string, files *[]File) error {
	t, err := r.tree(h, strings.Trim(path.Join(r.src.Path, prefix), "/"))
	if err != nil {
		return err
	}
	for _, e := range t.Entries {
		if err := r.checkName(prefix, e.Name); err != nil {
			return err
		}
		p := path.Join(prefix, e.Name)
		switch e.Mode {
		case filemode.Dir:
			*files = append(*files, File{Path: p, Mode: filemode.Dir, ID: e.Hash, TreeMode: e.Mode})
			if err := r.walk(e.Hash, p, files); err != nil {
				return err
			}
		case filemode.Submodule:
			*files = append(*files, File{Path: p, Mode: filemode.Dir, ID: e.Hash, TreeMode: e.Mode})
		case filemode.Symlink:
			data, err := r.smallObject(plumbing.BlobObject, e.Hash, maxLinkTarget)
			if err != nil {
				return err
			}
			*files = append(*files, File{Path: p, Mode: e.Mode, Data: data, ID: e.Hash, TreeMode: e.Mode})
		case filemode.Regular, filemode.Deprecated, filemode.Executable:
			f, err := r.file(p, e)
			if err != nil {
				return err
			}
			*files = append(*files, f)
		default:
			return usererr.New("plugin %s: %s has git mode %s, which graft cannot install; remove it from the plugin", r.src.Name, p, e.Mode)
		}
	}
	return nil
}

// checkName refuses tree entries git itself would refuse (a crafted repository can still hold
// them): names that climb out of the plugin's folder, and git's own metadata.
func (r *reader) checkName(prefix, name string) error {
	bad := name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") ||
		strings.EqualFold(name, ".git")
	if !bad {
		return nil
	}
	// Bad input (exit 2) like a symlink leaving the plugin: the repository's content is wrong.
	return usererr.New("plugin %s: commit %s holds an entry named %q in %q, which graft never installs; "+
		"the repository is damaged or crafted: remove the entry from the plugin", r.src.Name, r.src.Commit, name, "/"+prefix)
}

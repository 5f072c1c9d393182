// Package filetree reads a folder on disk as git would store it, without holding file contents
// in memory: each file's git mode and blob hash (streamed), symlink targets, and the folder's
// git tree hash. graft uses it for what it unpacked from an archive or artifact (checked against
// graft.lock's tree) and for a working folder given to `graft build --override`.
//
// The folder is hostile: symlinks are read, never followed; a symlink whose target is absolute
// or climbs out of the folder, and anything that is not a file, folder or symlink, are refused
// with a message naming the file. Files are opened again only through an os.Root on the folder,
// so a path swapped for a symlink later cannot lead outside it.
package filetree

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"

	"github.com/graft-build/graft/internal/usererr"
	"github.com/graft-build/graft/lockfile/localtree"
)

// File is one entry of the folder, as a git tree walk gives it.
type File struct {
	Path string            // slash-separated, relative to the folder
	Mode filemode.FileMode // Regular, Executable, Symlink or Dir
	Size int64             // a regular file's length
	Link string            // a symlink's target
	Hash plumbing.Hash     // a regular file's (or symlink's) git blob hash
}

// Tree is a folder read from disk.
type Tree struct {
	Dir   string // the folder (absolute)
	Hash  string // git tree hash of the folder (hex); the empty tree's for an empty folder
	Files []File // sorted by path; folders included (empty folders, which git does not keep, are not)
}

// Options bound and shape a read.
type Options struct {
	Shown   string // the folder as messages name it
	SkipGit bool   // leave out folders and files named .git (a working copy); else refuse them
	MaxFile int64  // bound on one file's size (0: no bound)
}

// Read walks folder dir.
func Read(dir string, o Options) (*Tree, error) {
	if o.Shown == "" {
		o.Shown = dir
	}
	st, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, usererr.New("%s: not found", o.Shown)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.Shown, err)
	}
	if !st.IsDir() {
		return nil, usererr.New("%s is not a folder", o.Shown)
	}
	r := &reader{o: o}
	h, _, err := r.tree(dir, "")
	if err != nil {
		return nil, err
	}
	sort.Slice(r.files, func(i, j int) bool { return r.files[i].Path < r.files[j].Path })
	return &Tree{Dir: dir, Hash: h.String(), Files: r.files}, nil
}

// EmptyTree is git's hash of a tree with no entries.
var EmptyTree = plumbing.ComputeHash(plumbing.TreeObject, nil).String()

type reader struct {
	o     Options
	files []File
}

// tree hashes folder abs (rel inside the read folder); empty reports a folder git would not
// record (nothing but empty folders below it).
func (r *reader) tree(abs, rel string) (plumbing.Hash, bool, error) {
	des, err := os.ReadDir(abs)
	if err != nil {
		return plumbing.ZeroHash, false, fmt.Errorf("%s: %w", r.name(rel), err)
	}
	var entries []localtree.TreeEntry
	for _, de := range des {
		name := de.Name()
		child := path.Join(rel, name)
		if strings.EqualFold(name, ".git") {
			if r.o.SkipGit {
				continue
			}
			return plumbing.ZeroHash, false, usererr.New("%s: graft never installs a .git; remove it", r.name(child))
		}
		info, err := os.Lstat(filepath.Join(abs, name))
		if err != nil {
			return plumbing.ZeroHash, false, fmt.Errorf("%s: %w", r.name(child), err)
		}
		e, skip, err := r.entry(filepath.Join(abs, name), child, info)
		if err != nil {
			return plumbing.ZeroHash, false, err
		}
		if !skip {
			entries = append(entries, e)
		}
	}
	if len(entries) == 0 {
		if rel == "" {
			return plumbing.NewHash(EmptyTree), true, nil
		}
		return plumbing.ZeroHash, true, nil
	}
	return localtree.TreeHash(entries), false, nil
}

func (r *reader) entry(p, rel string, info fs.FileInfo) (localtree.TreeEntry, bool, error) {
	e := localtree.TreeEntry{Name: path.Base(rel)}
	switch t := info.Mode().Type(); {
	case t == fs.ModeDir:
		h, empty, err := r.tree(p, rel)
		if err != nil || empty {
			return e, true, err
		}
		e.Mode, e.Hash = filemode.Dir, h
		r.files = append(r.files, File{Path: rel, Mode: filemode.Dir})
	case t == fs.ModeSymlink:
		target, err := os.Readlink(p)
		if err != nil {
			return e, false, fmt.Errorf("%s: %w", r.name(rel), err)
		}
		if err := CheckLink(rel, target); err != nil {
			return e, false, usererr.New("%s: %v", r.name(rel), err)
		}
		e.Mode, e.Hash = filemode.Symlink, plumbing.ComputeHash(plumbing.BlobObject, []byte(target))
		r.files = append(r.files, File{Path: rel, Mode: filemode.Symlink, Link: target, Hash: e.Hash})
	case t == 0:
		h, size, err := r.hashFile(p, rel, info.Size())
		if err != nil {
			return e, false, err
		}
		// Like git: any owner execute bit makes the file 100755, everything else is 100644.
		e.Mode, e.Hash = filemode.Regular, h
		if info.Mode().Perm()&0o100 != 0 {
			e.Mode = filemode.Executable
		}
		r.files = append(r.files, File{Path: rel, Mode: e.Mode, Size: size, Hash: h})
	default:
		return e, false, usererr.New("%s is a %s, not a file, folder or symlink; graft installs only those: remove it", r.name(rel), typeName(t))
	}
	return e, false, nil
}

// CheckLink refuses a symlink graft must not install: an empty or absolute target, or one that
// climbs out of the folder (lexically; the build also follows the plugin's own links).
func CheckLink(rel, target string) error {
	switch {
	case target == "":
		return errors.New("symlink with an empty target; remove it")
	case strings.ContainsRune(target, 0):
		return errors.New("symlink target holds a NUL byte; remove it")
	case path.IsAbs(target):
		return fmt.Errorf("symlink to the absolute path %q; a plugin installs only its own files: make the link relative and inside the plugin, or remove it", target)
	}
	if j := path.Join(path.Dir(rel), target); j == ".." || strings.HasPrefix(j, "../") {
		return fmt.Errorf("symlink to %q leaves the plugin's folder; make the link point inside it, or remove it", target)
	}
	return nil
}

// hashFile streams a regular file's git blob hash without following a symlink swapped in
// since Lstat, and without blocking on a FIFO swapped in.
func (r *reader) hashFile(p, rel string, size int64) (plumbing.Hash, int64, error) {
	if r.o.MaxFile > 0 && size > r.o.MaxFile {
		return plumbing.ZeroHash, 0, usererr.New("%s is %d bytes, over graft's limit of %d for one file", r.name(rel), size, r.o.MaxFile)
	}
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return plumbing.ZeroHash, 0, fmt.Errorf("%s: %w", r.name(rel), err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return plumbing.ZeroHash, 0, fmt.Errorf("%s: %w", r.name(rel), err)
	}
	if !st.Mode().IsRegular() || st.Size() != size {
		return plumbing.ZeroHash, 0, usererr.New("%s changed while graft read it; run graft again", r.name(rel))
	}
	h := plumbing.NewHasher(plumbing.BlobObject, size)
	n, err := io.Copy(h, io.LimitReader(f, size+1))
	if err != nil {
		return plumbing.ZeroHash, 0, fmt.Errorf("%s: %w", r.name(rel), err)
	}
	if n != size {
		return plumbing.ZeroHash, 0, usererr.New("%s changed while graft read it; run graft again", r.name(rel))
	}
	return h.Sum(), size, nil
}

func (r *reader) name(rel string) string {
	if rel == "" {
		return r.o.Shown
	}
	return r.o.Shown + "/" + rel
}

func typeName(t fs.FileMode) string {
	switch {
	case t&fs.ModeNamedPipe != 0:
		return "named pipe"
	case t&fs.ModeSocket != 0:
		return "socket"
	case t&fs.ModeDevice != 0:
		return "device"
	}
	return "special file"
}

// Open streams regular file f of t through an os.Root on t's folder (no symlink, no ".."
// leads out of it), checking length and git blob hash as it goes: the last Read fails when the
// content is not what Read hashed.
func (t *Tree) Open(f File) (io.ReadCloser, error) {
	root, err := os.OpenRoot(t.Dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	fh, err := root.OpenFile(filepath.FromSlash(f.Path), os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	return &checked{f: fh, want: f.Hash, left: f.Size, hash: plumbing.NewHasher(plumbing.BlobObject, f.Size), name: f.Path}, nil
}

// checked hashes a file as it is read and fails at its end when the content changed.
type checked struct {
	f    *os.File
	name string
	want plumbing.Hash
	left int64
	hash plumbing.Hasher
}

func (c *checked) Read(p []byte) (int, error) {
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1] // one byte more than is left shows a longer file
	}
	n, err := c.f.Read(p)
	c.hash.Write(p[:n])
	c.left -= int64(n)
	if c.left < 0 {
		return n, fmt.Errorf("%s grew after graft read it", c.name)
	}
	if err == io.EOF && (c.left != 0 || c.hash.Sum() != c.want) {
		return n, fmt.Errorf("%s changed after graft read it (its content is not the one hashed)", c.name)
	}
	return n, err
}

func (c *checked) Close() error { return c.f.Close() }

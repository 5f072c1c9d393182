// Package localtree reads a folder of the site repository as git would store it: the files with
// their git modes (regular, executable, symlink) and the folder's git tree hash, computed from
// the working tree. The hash is what `git rev-parse HEAD:<folder>` gives once the folder is
// committed as it is, so graft.lock pins a local plugin whether or not it is committed yet.
//
// Every path is hostile: symlinks are read, never followed; the folder must resolve inside the
// site repository; a symlink whose target leaves the folder, a nested .git, and anything that
// is not a file, folder or symlink are refused with a message naming the file.
package localtree

import (
	"bytes"
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

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/gitignore"

	"github.com/graft-build/graft/internal/usererr"
)

// MaxFileSize bounds one file: a local plugin is source, not a data dump, and every file is
// held in memory for the image layer.
const MaxFileSize = 512 << 20

// File is one entry of the folder, as a git tree walk gives it.
type File struct {
	Path string            // slash-separated, relative to the folder
	Mode filemode.FileMode // Regular, Executable, Symlink or Dir
	Data []byte            // content; a symlink's target; nil for a folder
	ID   plumbing.Hash     // the git object git would store: blob, or a folder's tree
}

// Tree is a folder read from the working tree.
type Tree struct {
	Hash  string // git tree hash of the folder (hex)
	Files []File // sorted by path; folders included (empty folders, which git does not keep, are not)
}

// Read reads the folder dir (absolute) of the site repository site (absolute). shown names
// the folder in messages, e.g. "plugins/cam/files". Bad content is bad input (usererr).
func Read(site, dir, shown string) (*Tree, error) {
	realSite, err := filepath.EvalSymlinks(site)
	if err != nil {
		return nil, fmt.Errorf("site repository %s: %w", site, err)
	}
	real, err := filepath.EvalSymlinks(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, usererr.New("%s: not found; create the folder or fix source.local", shown)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", shown, err)
	}
	if real != realSite && !strings.HasPrefix(real, realSite+string(filepath.Separator)) {
		return nil, usererr.New("%s resolves to %s, outside the site repository %s; a local source must be a folder inside it", shown, real, realSite)
	}
	if st, err := os.Stat(real); err != nil || !st.IsDir() {
		return nil, usererr.New("%s is not a folder; source.local names a folder holding the plugin's files", shown)
	}
	r := &reader{shown: shown}
	r.base, r.patterns = ignores(realSite, real)
	h, _, err := r.tree(real, "")
	if err != nil {
		return nil, err
	}
	sort.Slice(r.files, func(i, j int) bool { return r.files[i].Path < r.files[j].Path })
	return &Tree{Hash: h.String(), Files: r.files}, nil
}

type reader struct {
	shown    string
	files    []File
	base     []string            // the folder's path from the git work tree's top, for ignore patterns
	patterns []gitignore.Pattern // git's exclude patterns so far (later ones win)
}

// TreeEntry is one entry of a git tree: a name, the mode the tree records and the object it
// names.
type TreeEntry struct {
	Name string
	Mode filemode.FileMode
	Hash plumbing.Hash
}

// tree hashes folder abs (rel inside the local folder); empty reports a folder git would not
// record (nothing but empty folders below it).
func (r *reader) tree(abs, rel string) (plumbing.Hash, bool, error) {
	des, err := os.ReadDir(abs)
	if err != nil {
		return plumbing.ZeroHash, false, fmt.Errorf("%s: %w", r.name(rel), err)
	}
	r.patterns = append(r.patterns, readIgnoreFile(abs, r.components(rel))...)
	ignored := gitignore.NewMatcher(r.patterns)
	var entries []TreeEntry
	for _, de := range des {
		name := de.Name()
		p, child := filepath.Join(abs, name), path.Join(rel, name)
		if ignored.Match(r.components(child), de.IsDir()) && !strings.EqualFold(name, ".git") {
			continue // as git add: an ignored file is not part of the tree
		}
		if strings.EqualFold(name, ".git") {
			return plumbing.ZeroHash, false, usererr.New("%s: a .git inside a local source (a nested repository) is never installed; "+
				"make it a plugin with its own git source, or remove it", r.name(child))
		}
		info, err := os.Lstat(p)
		if err != nil {
			return plumbing.ZeroHash, false, fmt.Errorf("%s: %w", r.name(child), err)
		}
		e, skip, err := r.entry(p, child, info)
		if err != nil {
			return plumbing.ZeroHash, false, err
		}
		if !skip {
			entries = append(entries, e)
		}
	}
	if len(entries) == 0 {
		return plumbing.ZeroHash, true, nil
	}
	return TreeHash(entries), false, nil
}

// entry reads one name of a folder: a file's blob, a symlink's target, a folder's tree.
func (r *reader) entry(p, rel string, info fs.FileInfo) (TreeEntry, bool, error) {
	e := TreeEntry{Name: path.Base(rel)}
	switch t := info.Mode().Type(); {
	case t == fs.ModeDir:
		h, empty, err := r.tree(p, rel)
		if err != nil || empty {
			return e, true, err
		}
		e.Mode, e.Hash = filemode.Dir, h
		r.files = append(r.files, File{Path: rel, Mode: filemode.Dir, ID: h})
	case t == fs.ModeSymlink:
		target, err := os.Readlink(p)
		if err != nil {
			return e, false, fmt.Errorf("%s: %w", r.name(rel), err)
		}
		if err := r.checkLink(rel, target); err != nil {
			return e, false, err
		}
		e.Mode, e.Hash = filemode.Symlink, plumbing.ComputeHash(plumbing.BlobObject, []byte(target))
		r.files = append(r.files, File{Path: rel, Mode: filemode.Symlink, Data: []byte(target), ID: e.Hash})
	case t == 0:
		data, err := r.readFile(p, rel)
		if err != nil {
			return e, false, err
		}
		// Like git: any owner execute bit makes the file 100755, everything else is 100644.
		e.Mode = filemode.Regular
		if info.Mode().Perm()&0o100 != 0 {
			e.Mode = filemode.Executable
		}
		e.Hash = plumbing.ComputeHash(plumbing.BlobObject, data)
		r.files = append(r.files, File{Path: rel, Mode: e.Mode, Data: data, ID: e.Hash})
	default:
		return e, false, usererr.New("%s is a %s, not a file, folder or symlink; graft installs only those: remove it", r.name(rel), typeName(t))
	}
	return e, false, nil
}

// checkLink refuses a symlink git would store but graft must not install: an absolute target
// or one that climbs out of the local folder (the build refuses links leaving the plugin too).
func (r *reader) checkLink(rel, target string) error {
	switch {
	case target == "":
		return usererr.New("%s is a symlink with an empty target; remove it", r.name(rel))
	case path.IsAbs(target):
		return usererr.New("%s: symlink to the absolute path %q; a local source installs only its own files: make the link relative and inside %s, or remove it",
			r.name(rel), target, r.shown)
	}
	if j := path.Join(path.Dir(rel), target); j == ".." || strings.HasPrefix(j, "../") {
		return usererr.New("%s: symlink to %q leaves %s; a local source installs only its own files: make the link point inside it, or remove it",
			r.name(rel), target, r.shown)
	}
	return nil
}

// readFile reads a regular file without following a symlink swapped in since Lstat, and
// without blocking on a FIFO swapped in.
func (r *reader) readFile(p, rel string) ([]byte, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.name(rel), err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.name(rel), err)
	}
	if !st.Mode().IsRegular() {
		return nil, usererr.New("%s changed while graft read it; run graft again", r.name(rel))
	}
	if st.Size() > MaxFileSize {
		return nil, usererr.New("%s is %d bytes, over graft's limit of %d for a file of a local source; keep large files out of the plugin", r.name(rel), st.Size(), MaxFileSize)
	}
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, io.LimitReader(f, MaxFileSize+1)); err != nil {
		return nil, fmt.Errorf("%s: %w", r.name(rel), err)
	}
	if buf.Len() > MaxFileSize {
		return nil, usererr.New("%s grew over graft's limit of %d bytes while graft read it", r.name(rel), MaxFileSize)
	}
	return buf.Bytes(), nil
}

func (r *reader) name(rel string) string {
	if rel == "" {
		return r.shown
	}
	return r.shown + "/" + rel
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

// TreeHash encodes entries as a git tree object and hashes it. Git sorts entries by name,
// comparing a folder's name as if it ended in "/", and writes each mode in octal.
func TreeHash(entries []TreeEntry) plumbing.Hash {
	key := func(e TreeEntry) string {
		if e.Mode == filemode.Dir {
			return e.Name + "/"
		}
		return e.Name
	}
	sorted := append([]TreeEntry(nil), entries...)
	sort.Slice(sorted, func(i, j int) bool { return key(sorted[i]) < key(sorted[j]) })
	var buf bytes.Buffer
	for _, e := range sorted {
		fmt.Fprintf(&buf, "%o %s\x00", uint32(e.Mode), e.Name)
		buf.Write(e.Hash[:])
	}
	return plumbing.ComputeHash(plumbing.TreeObject, buf.Bytes())
}

// components is rel (inside the folder) as path components from the git work tree's top.
func (r *reader) components(rel string) []string {
	out := append([]string{}, r.base...)
	if rel != "" {
		out = append(out, strings.Split(rel, "/")...)
	}
	return out
}

// ignores finds the git work tree holding dir (the nearest folder above it with a .git, else
// the site repository) and returns dir's path from its top and the exclude patterns git
// applies above dir: the system's and the user's core.excludesFile, the repository's
// .git/info/exclude, and the .gitignore files from the top down to dir's parent. The
// .gitignore files inside dir are read during the walk.
func ignores(site, dir string) ([]string, []gitignore.Pattern) {
	top := site
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Lstat(filepath.Join(d, ".git")); err == nil {
			top = d
			break
		}
		if d == filepath.Dir(d) {
			break
		}
	}
	rel, err := filepath.Rel(top, dir)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		top, rel = dir, "."
	}
	var base []string
	if rel != "." {
		base = strings.Split(filepath.ToSlash(rel), "/")
	}
	root := osfs.New("/")
	ps, _ := gitignore.LoadSystemPatterns(root)
	global, _ := gitignore.LoadGlobalPatterns(root)
	ps = append(ps, global...)
	ps = append(ps, readPatterns(filepath.Join(top, ".git", "info", "exclude"), nil)...)
	for i := range base { // the .gitignore files of top and the folders down to dir's parent
		ps = append(ps, readIgnoreFile(filepath.Join(append([]string{top}, base[:i]...)...), base[:i])...)
	}
	return base, ps
}

// readIgnoreFile reads the .gitignore of folder abs, whose path from the top is domain.
func readIgnoreFile(abs string, domain []string) []gitignore.Pattern {
	return readPatterns(filepath.Join(abs, ".gitignore"), domain)
}

// readPatterns reads an exclude file (bounded; a missing or unreadable one has no patterns,
// as for git).
func readPatterns(file string, domain []string) []gitignore.Pattern {
	f, err := os.OpenFile(file, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil
	}
	data, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return nil
	}
	var ps []gitignore.Pattern
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		ps = append(ps, gitignore.ParsePattern(line, domain))
	}
	return ps
}

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
	"strconv"
	"strings"
	"syscall"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/config"
	"github.com/go-git/go-git/v5/plumbing/format/gitignore"

	"github.com/graft-build/graft/internal/usererr"
)

// File is one entry of the folder, as a git tree walk gives it. A regular file's content is
// not kept: it was hashed as it streamed by, and a reader reads it again, checked against ID.
type File struct {
	Path string            // slash-separated, relative to the folder
	Mode filemode.FileMode // Regular, Executable, Symlink or Dir
	Data []byte            // a symlink's target; nil otherwise
	Size int64             // a regular file's length when hashed
	ID   plumbing.Hash     // the git object git would store: blob, or a folder's tree
}

// Tree is a folder read from the working tree.
type Tree struct {
	Hash  string // git tree hash of the folder (hex)
	Root  string // the folder, symlinks resolved: where Open reads
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
	return &Tree{Hash: h.String(), Root: real, Files: r.files}, nil
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
		h, size, err := r.hashFile(p, rel)
		if err != nil {
			return e, false, err
		}
		// Like git: any owner execute bit makes the file 100755, everything else is 100644.
		e.Mode = filemode.Regular
		if info.Mode().Perm()&0o100 != 0 {
			e.Mode = filemode.Executable
		}
		e.Hash = h
		r.files = append(r.files, File{Path: rel, Mode: e.Mode, Size: size, ID: h})
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

// hashFile streams a regular file through git's blob hash: memory stays flat whatever its size.
func (r *reader) hashFile(p, rel string) (plumbing.Hash, int64, error) {
	f, size, err := OpenRegular(p)
	if err != nil {
		return plumbing.ZeroHash, 0, r.fileErr(rel, err)
	}
	defer f.Close()
	h := plumbing.NewHasher(plumbing.BlobObject, size)
	n, err := io.Copy(h, io.LimitReader(f, size+1))
	switch {
	case err != nil:
		return plumbing.ZeroHash, 0, fmt.Errorf("%s: %w", r.name(rel), err)
	case n != size:
		return plumbing.ZeroHash, 0, usererr.New("%s changed size while graft read it; run graft again", r.name(rel))
	}
	return h.Sum(), size, nil
}

// errNotRegular is a file replaced by something else (a FIFO, a folder) since it was listed.
var errNotRegular = errors.New("not a regular file")

// OpenRegular opens the regular file p and returns its size, without following a symlink
// swapped in since it was listed and without blocking on a FIFO swapped in.
func OpenRegular(p string) (*os.File, int64, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = errNotRegular
	}
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, st.Size(), nil
}

func (r *reader) fileErr(rel string, err error) error {
	if errors.Is(err, errNotRegular) || errors.Is(err, syscall.ELOOP) {
		return usererr.New("%s changed while graft read it; run graft again", r.name(rel))
	}
	return fmt.Errorf("%s: %w", r.name(rel), err)
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
// applies above dir: core.excludesFile (else git's default, see excludesFile), the
// repository's .git/info/exclude, and the .gitignore files from the top down to dir's parent. The
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
	ps := readPatterns(excludesFile(top, os.LookupEnv), nil, true)
	ps = append(ps, readPatterns(filepath.Join(top, ".git", "info", "exclude"), nil, true)...)
	for i := range base { // the .gitignore files of top and the folders down to dir's parent
		ps = append(ps, readIgnoreFile(filepath.Join(append([]string{top}, base[:i]...)...), base[:i])...)
	}
	return base, ps
}

// readIgnoreFile reads the .gitignore of folder abs, whose path from the top is domain.
func readIgnoreFile(abs string, domain []string) []gitignore.Pattern {
	return readPatterns(filepath.Join(abs, ".gitignore"), domain, false) // git does not follow a symlinked .gitignore
}

// readBounded reads a small regular file (at most 1 MiB), nil when it is missing, unreadable
// or not a regular file, or a symlink unless follow (git follows a symlinked ~/.gitconfig or
// excludes file, not a symlinked .gitignore in the work tree).
func readBounded(file string, follow bool) []byte {
	flags := os.O_RDONLY | syscall.O_NONBLOCK
	if !follow {
		flags |= syscall.O_NOFOLLOW
	}
	f, err := os.OpenFile(file, flags, 0)
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
	return data
}

// readPatterns reads an exclude file (bounded; a missing or unreadable one has no patterns,
// as for git).
func readPatterns(file string, domain []string, follow bool) []gitignore.Pattern {
	if file == "" {
		return nil
	}
	data := readBounded(file, follow)
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

// excludesFile is the exclude file git reads before .git/info/exclude and the .gitignore files:
// the last core.excludesFile of git's configuration (the system's, then
// $XDG_CONFIG_HOME/git/config or ~/.config/git/config, then ~/.gitconfig, then the
// repository's .git/config, then GIT_CONFIG_COUNT's pairs; GIT_CONFIG_SYSTEM, GIT_CONFIG_GLOBAL
// and GIT_CONFIG_NOSYSTEM as git reads them), else $XDG_CONFIG_HOME/git/ignore, else
// ~/.config/git/ignore. "" when there is none. A relative path is taken from the work tree's
// top, where git runs. Configuration includes ([include], [includeIf]) are not followed.
func excludesFile(top string, lookup func(string) (string, bool)) string {
	env := func(k string) string { v, _ := lookup(k); return v }
	home := env("HOME")
	xdg := env("XDG_CONFIG_HOME")
	if xdg == "" && home != "" {
		xdg = filepath.Join(home, ".config")
	}
	var configs []string
	if v := strings.ToLower(env("GIT_CONFIG_NOSYSTEM")); v == "" || v == "0" || v == "false" || v == "no" || v == "off" {
		system, set := lookup("GIT_CONFIG_SYSTEM")
		if !set {
			system = "/etc/gitconfig"
		}
		configs = append(configs, system)
	}
	if g, set := lookup("GIT_CONFIG_GLOBAL"); set {
		configs = append(configs, g) // set but empty: no global configuration, as for git
	} else {
		if xdg != "" {
			configs = append(configs, filepath.Join(xdg, "git", "config"))
		}
		if home != "" {
			configs = append(configs, filepath.Join(home, ".gitconfig"))
		}
	}
	configs = append(configs, filepath.Join(top, ".git", "config"))
	file := ""
	for _, c := range configs {
		if v, ok := configValue(c, "core", "excludesfile"); c != "" && ok {
			file = v
		}
	}
	if n, err := strconv.Atoi(env("GIT_CONFIG_COUNT")); err == nil {
		for i := 0; i < n && i < 1000; i++ {
			if strings.EqualFold(env(fmt.Sprintf("GIT_CONFIG_KEY_%d", i)), "core.excludesfile") {
				file = env(fmt.Sprintf("GIT_CONFIG_VALUE_%d", i))
			}
		}
	}
	switch {
	case file == "" && xdg != "":
		return filepath.Join(xdg, "git", "ignore")
	case file == "~" || strings.HasPrefix(file, "~/"):
		if home == "" {
			return ""
		}
		return filepath.Join(home, file[1:])
	case file != "" && !filepath.IsAbs(file):
		return filepath.Join(top, file)
	}
	return file
}

// configValue reads the last value of section.key in a git config file (bounded; a missing
// or unreadable one has none, as for git).
func configValue(file, section, key string) (string, bool) {
	data := readBounded(file, true)
	if data == nil {
		return "", false
	}
	cfg := config.New()
	if err := config.NewDecoder(bytes.NewReader(data)).Decode(cfg); err != nil {
		return "", false
	}
	if !cfg.HasSection(section) {
		return "", false
	}
	vals := cfg.Section(section).Options.GetAll(key)
	if len(vals) == 0 {
		return "", false
	}
	return vals[len(vals)-1], true
}

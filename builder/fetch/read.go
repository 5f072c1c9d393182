package fetch

import (
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"github.com/graft-build/graft/internal/usererr"
)

// File is one entry of a plugin's tree.
type File struct {
	Path string            // slash-separated, relative to the plugin's path
	Mode filemode.FileMode // Regular, Executable, Symlink, Dir (also for a submodule: empty, as a checkout leaves it)
	Data []byte            // content; a symlink's target
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
	s   storer.EncodedObjectStorer
}

func read(src Source, dir string) (*Result, error) {
	repo, err := git.PlainOpen(dir)
	if err != nil {
		return nil, &damagedError{src.Name, dir, err.Error()}
	}
	r := &reader{src: src, dir: dir, s: repo.Storer}
	commit, err := r.commit(plumbing.NewHash(src.Commit))
	if err != nil {
		return nil, err
	}
	tree, err := r.subtree(commit.TreeHash, src.Path)
	if err != nil {
		return nil, err
	}
	if src.Tree != "" && tree.String() != src.Tree {
		return nil, fmt.Errorf("plugin %s: the tree of path %q at commit %s is %s but graft.lock says %s; "+
			"graft.lock was edited by hand or is damaged: run `graft lock`", src.Name, src.Path, src.Commit, tree, src.Tree)
	}
	var files []File
	if err := r.walk(tree, "", &files); err != nil {
		return nil, err
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return &Result{Files: files, CommitTime: commit.Committer.When.UTC()}, nil
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

func (r *reader) memory(t plumbing.ObjectType, data []byte) plumbing.EncodedObject {
	m := &plumbing.MemoryObject{}
	m.SetType(t)
	m.Write(data)
	return m
}

func (r *reader) commit(h plumbing.Hash) (*object.Commit, error) {
	data, err := r.object(plumbing.CommitObject, h)
	if err != nil {
		return nil, err
	}
	c := &object.Commit{}
	if err := c.Decode(r.memory(plumbing.CommitObject, data)); err != nil {
		return nil, &damagedError{r.src.Name, r.dir, fmt.Sprintf("commit %s: %v", h, err)}
	}
	return c, nil
}

func (r *reader) tree(h plumbing.Hash) (*object.Tree, error) {
	data, err := r.object(plumbing.TreeObject, h)
	if err != nil {
		return nil, err
	}
	t := &object.Tree{}
	if err := t.Decode(r.memory(plumbing.TreeObject, data)); err != nil {
		return nil, &damagedError{r.src.Name, r.dir, fmt.Sprintf("tree %s: %v", h, err)}
	}
	return t, nil
}

// subtree follows p from the root tree.
func (r *reader) subtree(root plumbing.Hash, p string) (plumbing.Hash, error) {
	h := root
	for _, part := range strings.Split(strings.Trim(path.Clean("/"+p), "/"), "/") {
		if part == "" {
			continue
		}
		t, err := r.tree(h)
		if err != nil {
			return h, err
		}
		found := false
		for _, e := range t.Entries {
			if e.Name == part && e.Mode == filemode.Dir {
				h, found = e.Hash, true
				break
			}
		}
		if !found {
			return h, fmt.Errorf("plugin %s: path %q is not a folder in commit %s; fix path in plugins/%s/plugin.toml and run `graft lock`",
				r.src.Name, p, r.src.Commit, r.src.Name)
		}
	}
	return h, nil
}

// walk appends the entries of tree h (at prefix) and everything below it.
func (r *reader) walk(h plumbing.Hash, prefix string, files *[]File) error {
	t, err := r.tree(h)
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
			*files = append(*files, File{Path: p, Mode: filemode.Dir})
			if err := r.walk(e.Hash, p, files); err != nil {
				return err
			}
		case filemode.Submodule:
			*files = append(*files, File{Path: p, Mode: filemode.Dir})
		case filemode.Regular, filemode.Deprecated, filemode.Executable, filemode.Symlink:
			data, err := r.object(plumbing.BlobObject, e.Hash)
			if err != nil {
				return err
			}
			mode := e.Mode
			if mode == filemode.Deprecated {
				mode = filemode.Regular
			}
			*files = append(*files, File{Path: p, Mode: mode, Data: data})
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

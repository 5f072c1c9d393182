package builder

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/filemode"

	"github.com/graft-build/graft/builder/contract"
	"github.com/graft-build/graft/builder/fetch"
	"github.com/graft-build/graft/internal/usererr"
	"github.com/graft-build/graft/lockfile"
	"github.com/graft-build/graft/lockfile/filetree"
)

// WithOverrides builds plugin NAME from the folder or file at PATH (name -> path) instead of
// its locked source: for a plugin developer's loop. The image is labelled unlocked.
func WithOverrides(m map[string]string) Option { return func(o *options) { o.overrides = m } }

// checkOverrides refuses overrides of plugins the lock does not have.
func (o *options) checkOverrides(p *lockfile.Project) error {
	var names []string
	for name := range o.overrides {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if p.PluginLock(name) == nil {
			return usererr.New("--override %s=%s: graft.lock has no plugin %s; override a locked plugin", name, o.overrides[name], name)
		}
	}
	return nil
}

// Override reads a working folder (or one file) given with --override: every file as it is now
// (a .git folder left out), hashed as git would, with no lock to check it against.
type Override struct {
	Name string // plugin
	Path string // absolute
}

// Read implements fetch.Reader.
func (v Override) Read(context.Context) (*fetch.Result, error) {
	res, _, err := v.Content()
	return res, err
}

// Content reads the folder (or file) and names its content: the folder's git tree hash, or
// for one file its blob hash.
func (v Override) Content() (*fetch.Result, string, error) {
	st, err := os.Stat(v.Path)
	if err != nil {
		return nil, "", usererr.New("--override %s=%s: %v", v.Name, v.Path, err)
	}
	dir, only := v.Path, ""
	if !st.IsDir() {
		dir, only = filepath.Dir(v.Path), filepath.Base(v.Path)
	}
	t, err := filetree.Read(dir, filetree.Options{Shown: dir, SkipGit: true})
	if err != nil {
		return nil, "", fmt.Errorf("--override %s: %w", v.Name, err)
	}
	files := fetch.TreeFiles(t)
	if only != "" {
		var one []fetch.File
		for _, f := range files {
			if f.Path == only && (f.Mode == filemode.Regular || f.Mode == filemode.Executable) {
				one = append(one, f)
			}
		}
		files = one
	}
	return &fetch.Result{Files: files, CommitTime: fetch.LocalEpoch, Fetched: true}, treeOf(t, only), nil
}

// treeOf names an override's content for layer keys: the folder's tree hash, or for one file
// the file's blob hash.
func treeOf(t *filetree.Tree, only string) string {
	if only == "" {
		return t.Hash
	}
	for _, f := range t.Files {
		if f.Path == only {
			return "blob " + f.Hash.String()
		}
	}
	return t.Hash
}

// unlockedNames are the overridden plugins, sorted, for contract.LabelUnlocked.
func unlockedNames(plugins []contract.PluginInfo) string {
	var names []string
	for _, pl := range plugins {
		if pl.Unlocked {
			names = append(names, pl.Name)
		}
	}
	return strings.Join(names, ",")
}

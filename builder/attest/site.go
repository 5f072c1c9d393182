package attest

import (
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/graft-build/graft/lockfile"
	"github.com/graft-build/graft/lockfile/gitremote"
)

// LocalSource says where a `[source] local` plugin's folder lives, for readers of the SBOM and
// provenance elsewhere: the site repository's remote, the folder from that repository's top,
// and a commit that holds the folder as locked.
type LocalSource struct {
	Repo   string // the site repository's remote URL without credentials; "" when it has none
	Folder string // e.g. "plugins/cam/files" ("site/plugins/cam/files" for a site in a subfolder)
	// Commit is the oldest commit of the run, from HEAD back along first parents, in which the
	// folder is the locked tree: it stays the same while unrelated commits are added, so
	// rebuilding the same image attaches the same documents. "" when HEAD does not hold the
	// folder as locked (uncommitted changes) or the site is not a git repository.
	Commit string
}

// maxLocalWalk bounds the walk back through history for a local plugin's commit.
const maxLocalWalk = 1000

// localSources finds each local plugin's LocalSource. Nothing here fails the build: a site
// outside git, or a repository go-git cannot read, gives what is known (the folder).
func localSources(p *lockfile.Project) map[string]LocalSource {
	out := map[string]LocalSource{}
	var locals []lockfile.PluginLock
	for _, pk := range p.Lock.Plugins {
		if pk.Kind == lockfile.KindLocal {
			locals = append(locals, pk)
		}
	}
	if len(locals) == 0 {
		return out
	}
	repo, top := openSite(p.Dir)
	for _, pk := range locals {
		src := LocalSource{Folder: lockfile.PluginsDir + "/" + pk.Name + "/" + pk.Local}
		if def := p.Plugin(pk.Name); def != nil {
			abs, shown := p.LocalDir(*def)
			src.Folder = shown
			if repo != nil {
				if rel, ok := relativeTo(top, abs); ok {
					src.Folder = rel
				}
			}
		}
		if repo != nil {
			src.Repo = remoteURL(repo)
			src.Commit = commitHolding(repo, src.Folder, pk.Tree)
		}
		out[pk.Name] = src
	}
	return out
}

// openSite opens the git repository holding dir and returns it with its work tree's top.
func openSite(dir string) (*git.Repository, string) {
	repo, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true, EnableDotGitCommonDir: true})
	if err != nil {
		return nil, ""
	}
	wt, err := repo.Worktree()
	if err != nil {
		return nil, ""
	}
	return repo, wt.Filesystem.Root()
}

// relativeTo is abs as a slash path from top, symlinks resolved on both sides (a site reached
// through a symlinked folder is still inside its repository).
func relativeTo(top, abs string) (string, bool) {
	if t, err := filepath.EvalSymlinks(top); err == nil {
		top = t
	}
	if a, err := filepath.EvalSymlinks(abs); err == nil {
		abs = a
	}
	rel, err := filepath.Rel(top, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", false
	}
	return filepath.ToSlash(rel), true
}

// remoteURL is origin's URL, else the only remote's, without credentials; "" otherwise.
func remoteURL(repo *git.Repository) string {
	remotes, err := repo.Remotes()
	if err != nil {
		return ""
	}
	var pick *git.Remote
	for _, r := range remotes {
		if r.Config().Name == "origin" {
			pick = r
		}
	}
	if pick == nil && len(remotes) == 1 {
		pick = remotes[0]
	}
	if pick == nil || len(pick.Config().URLs) == 0 {
		return ""
	}
	return gitremote.Redact(pick.Config().URLs[0])
}

// commitHolding is the oldest commit of the first-parent run from HEAD in which folder is tree
// (see LocalSource.Commit); "" when HEAD's folder is another tree.
func commitHolding(repo *git.Repository, folder, tree string) string {
	head, err := repo.Head()
	if err != nil {
		return ""
	}
	c, err := repo.CommitObject(head.Hash())
	if err != nil || folderTree(c, folder) != tree {
		return ""
	}
	for i := 0; i < maxLocalWalk && len(c.ParentHashes) > 0; i++ {
		parent, err := repo.CommitObject(c.ParentHashes[0])
		if err != nil || folderTree(parent, folder) != tree {
			break // a shallow clone's boundary, or the commit that made the folder as it is
		}
		c = parent
	}
	return c.Hash.String()
}

func folderTree(c *object.Commit, folder string) string {
	root, err := c.Tree()
	if err != nil {
		return ""
	}
	t, err := root.Tree(folder)
	if err != nil {
		return plumbing.ZeroHash.String()
	}
	return t.Hash.String()
}

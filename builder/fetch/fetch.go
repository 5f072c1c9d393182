// Package fetch gets a plugin's files at its locked commit: a shallow go-git fetch into a cache
// keyed by commit (a rebuild fetches nothing), then the files read straight from the commit's
// tree (no checkout), every object checked against its hash and the tree against the lock.
package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/graft-build/graft/lockfile/gitremote"
)

// EnvCacheDir overrides where fetched commits are kept.
const EnvCacheDir = "GRAFT_CACHE_DIR"

// DefaultDir is $GRAFT_CACHE_DIR/git, else the user cache dir's graft/git.
func DefaultDir() (string, error) {
	if d := os.Getenv(EnvCacheDir); d != "" {
		return filepath.Join(d, "git"), nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find a cache folder (set %s): %w", EnvCacheDir, err)
	}
	return filepath.Join(d, "graft", "git"), nil
}

// Source is one locked plugin.
type Source struct {
	Name   string // plugin name, for messages
	URL    string // to contact (mirrors applied, local paths absolute)
	Ref    string // the requested ref, used when the server refuses a bare commit
	Commit string // full SHA-1
	Path   string // subfolder of the repository; "" is the root
	Tree   string // tree hash of Path in Commit, from the lock
}

// Result is a plugin's verified files.
type Result struct {
	Files      []File    // sorted by path
	CommitTime time.Time // committer time of the commit
	// Commit and Trees are the commit object and the tree objects from its root down to the
	// one holding Path, as stored: with Files' IDs they prove a listing against the lock
	// (commit, tree and path) without git. Nil for a local folder.
	Commit   []byte
	Trees    [][]byte
	Fetched  bool   // false when the cache already held the commit
	CacheDir string // the cache entry
}

// Cache holds fetched commits, one bare repository per commit.
type Cache struct {
	dir   string
	mu    sync.Mutex
	locks map[string]*sync.Mutex // per commit: plugins sharing a commit fetch it once
}

// NewCache uses dir (see DefaultDir).
func NewCache(dir string) *Cache { return &Cache{dir: dir, locks: map[string]*sync.Mutex{}} }

func (c *Cache) lock(commit string) func() {
	c.mu.Lock()
	m, ok := c.locks[commit]
	if !ok {
		m = &sync.Mutex{}
		c.locks[commit] = m
	}
	c.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// Get returns src's files, fetching the commit first unless the cache holds it.
func (c *Cache) Get(ctx context.Context, src Source) (*Result, error) {
	if !plumbing.IsHash(src.Commit) {
		return nil, fmt.Errorf("plugin %s: locked commit %q is not a full SHA-1; run `graft lock`", src.Name, src.Commit)
	}
	unlock := c.lock(src.Commit)
	defer unlock()
	entry := filepath.Join(c.dir, src.Commit)
	fetched := false
	if _, err := os.Stat(entry); errors.Is(err, os.ErrNotExist) {
		if err := c.fetch(ctx, src, entry); err != nil {
			return nil, err
		}
		fetched = true
	}
	res, err := read(src, entry)
	if err != nil {
		return nil, err
	}
	res.Fetched, res.CacheDir = fetched, entry
	return res, nil
}

// fetch gets the commit into a temporary repository and renames it into place, so an entry
// is either complete or absent, even with several graft processes at once. It tries the bare
// commit (servers allowing reachable SHA-1 in want: GitHub, GitLab), then the locked ref
// shallowly, then the ref's whole history (a branch that moved on); each in a fresh repository
// and a fresh session. The pack is streamed to disk and indexed there (see storePack).
func (c *Cache) fetch(ctx context.Context, src Source, entry string) error {
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return fmt.Errorf("plugin cache: %w", err)
	}
	shaErr := c.try(ctx, src, entry, func(r *gitremote.Remote, w io.Writer) error {
		return r.FetchPack(ctx, r.Want(src.Commit), 1, w)
	})
	if shaErr == nil || ctx.Err() != nil || !retryable(shaErr) {
		return shaErr
	}
	var ref string
	for _, depth := range []int{1, 0} {
		err := c.try(ctx, src, entry, func(r *gitremote.Remote, w io.Writer) error {
			name, hash, err := remoteRef(r, src)
			if err != nil {
				return err
			}
			ref = name
			if err := r.FetchPack(ctx, hash, depth, w); err != nil {
				return fmt.Errorf("plugin %s: fetch %s: %w", src.Name, ref, err)
			}
			return nil
		})
		if err == nil || ref == "" || !errors.Is(err, errNoCommit) {
			return err
		}
	}
	return &LockedCommitError{Name: src.Name, Commit: src.Commit,
		Why: fmt.Sprintf("it is not in %s (neither fetchable directly: %v, nor in the history of %s, which may have been rewritten since locking)",
			gitremote.Redact(src.URL), shaErr, ref)}
}

// retryable: the first attempt failed for a reason the ref fallbacks may get around (not an
// unreachable server or refused credentials, which would fail them the same way).
func retryable(err error) bool {
	var ge *gitremote.Error
	if errors.As(err, &ge) {
		return strings.HasPrefix(ge.Step, "fetch ")
	}
	return true
}

var errNoCommit = errors.New("commit not fetched")

// try runs one fetch strategy in a fresh temporary repository over a fresh session and moves
// the repository into place when it brought the commit.
func (c *Cache) try(ctx context.Context, src Source, entry string, fetch func(*gitremote.Remote, io.Writer) error) error {
	tmp, err := os.MkdirTemp(c.dir, ".fetch-")
	if err != nil {
		return fmt.Errorf("plugin cache: %w", err)
	}
	defer os.RemoveAll(tmp)
	if _, err := git.PlainInit(tmp, true); err != nil {
		return fmt.Errorf("plugin cache: %w", err)
	}
	r, err := gitremote.Open(ctx, src.URL)
	if err != nil {
		return fmt.Errorf("plugin %s: %w", src.Name, err)
	}
	defer r.Close()
	if err := storePack(tmp, func(w io.Writer) error { return fetch(r, w) }); err != nil {
		return fmt.Errorf("plugin %s: %w", src.Name, err)
	}
	repo, err := git.PlainOpen(tmp)
	if err != nil {
		return fmt.Errorf("plugin cache: %w", err)
	}
	if !hasCommit(repo, plumbing.NewHash(src.Commit)) {
		return errNoCommit
	}
	if err := os.Rename(tmp, entry); err != nil {
		if _, statErr := os.Stat(entry); statErr == nil {
			return nil // another graft process stored it first
		}
		return fmt.Errorf("plugin cache: %w", err)
	}
	return nil
}

func hasCommit(repo *git.Repository, h plumbing.Hash) bool {
	_, err := repo.Storer.EncodedObject(plumbing.CommitObject, h)
	return err == nil
}

// remoteRef finds the locked ref on the server (a tag or a branch): its full name and what it
// points at.
func remoteRef(r *gitremote.Remote, src Source) (string, string, error) {
	for _, w := range []string{src.Ref, "refs/tags/" + src.Ref, "refs/heads/" + src.Ref} {
		if ref, ok := r.Ref(w); ok && strings.HasPrefix(w, "refs/") {
			return ref.Name, ref.Hash, nil
		}
	}
	return "", "", fmt.Errorf("plugin %s: the server refuses to send commit %s by itself and has no ref %q any more; "+
		"run `graft lock` to pin a commit it still has", src.Name, src.Commit, src.Ref)
}

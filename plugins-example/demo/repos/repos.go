// Package repos turns the demo's plugin folders into git repositories offline, with fixed
// authors, dates and messages, so every machine gets the same commit SHAs (and so the same
// graft.lock and image digest).
package repos

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// FirstCommit is the date of every plugin's first commit.
var FirstCommit = time.Date(2024, 5, 13, 12, 0, 0, 0, time.UTC)

// Version is the tag of the first commit.
const Version = "v1.0.0"

// Create makes DEST/<name>.git (bare) for each folder of src, replacing an existing one: one
// commit on main holding the folder's files, tagged v1.0.0. It returns name -> commit.
func Create(ctx context.Context, src, dest string) (map[string]string, error) {
	entries, err := os.ReadDir(src)
	if err != nil {
		return nil, fmt.Errorf("plugin sources: %w", err)
	}
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return nil, err
	}
	commits := map[string]string{}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		name := e.Name()
		sha, err := create(ctx, filepath.Join(src, name), filepath.Join(dest, name+".git"), name)
		if err != nil {
			return nil, fmt.Errorf("plugin repo %s: %w", name, err)
		}
		commits[name] = sha
	}
	return commits, nil
}

func create(ctx context.Context, src, bare, name string) (string, error) {
	if err := os.RemoveAll(bare); err != nil {
		return "", err
	}
	if _, err := git(ctx, "", time.Time{}, "init", "-q", "--bare", "-b", "main", bare); err != nil {
		return "", err
	}
	work, err := os.MkdirTemp("", "demo-plugin-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	if _, err := git(ctx, work, time.Time{}, "init", "-q", "-b", "main"); err != nil {
		return "", err
	}
	if err := copyTree(src, work); err != nil {
		return "", err
	}
	sha, err := commit(ctx, work, fmt.Sprintf("%s %s", name, strings.TrimPrefix(Version, "v")), FirstCommit)
	if err != nil {
		return "", err
	}
	if _, err := git(ctx, work, FirstCommit, "tag", Version); err != nil {
		return "", err
	}
	_, err = git(ctx, work, FirstCommit, "push", "-q", bare, "main", "--tags")
	return sha, err
}

// Commit adds a commit on main of the bare repository: files (path -> content; "" content
// deletes) changed, dated when, optionally tagged. It returns the new commit.
func Commit(ctx context.Context, bare string, files map[string]string, msg, tag string, when time.Time) (string, error) {
	work, err := os.MkdirTemp("", "demo-plugin-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	if _, err := git(ctx, "", when, "clone", "-q", bare, work); err != nil {
		return "", err
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := filepath.Join(work, filepath.FromSlash(n))
		if files[n] == "" {
			if err := os.Remove(p); err != nil {
				return "", err
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(p, []byte(files[n]), 0o644); err != nil {
			return "", err
		}
	}
	sha, err := commit(ctx, work, msg, when)
	if err != nil {
		return "", err
	}
	refs := []string{"push", "-q", "origin", "main"}
	if tag != "" {
		if _, err := git(ctx, work, when, "tag", tag); err != nil {
			return "", err
		}
		refs = append(refs, tag)
	}
	_, err = git(ctx, work, when, refs...)
	return sha, err
}

func commit(ctx context.Context, work, msg string, when time.Time) (string, error) {
	if _, err := git(ctx, work, when, "add", "-A"); err != nil {
		return "", err
	}
	if _, err := git(ctx, work, when, "commit", "-q", "-m", msg); err != nil {
		return "", err
	}
	out, err := git(ctx, work, when, "rev-parse", "HEAD")
	return strings.TrimSpace(out), err
}

// git runs git isolated from the user's and system's configuration (no signing, no hooks, no
// templates), with a fixed identity and date.
func git(ctx context.Context, dir string, when time.Time, args ...string) (string, error) {
	full := append([]string{"-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false",
		"-c", "core.hooksPath=/dev/null", "-c", "init.templateDir=", "-c", "core.autocrlf=false"}, args...)
	cmd := exec.CommandContext(ctx, "git", full...)
	cmd.Dir = dir
	date := when.Format(time.RFC3339)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=graft demo", "GIT_AUTHOR_EMAIL=demo@graft.invalid", "GIT_AUTHOR_DATE="+date,
		"GIT_COMMITTER_NAME=graft demo", "GIT_COMMITTER_EMAIL=demo@graft.invalid", "GIT_COMMITTER_DATE="+date)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// copyTree copies regular files with git's two modes: 0755 when any execute bit is set (so the
// umask or a checkout's modes cannot change the commit), else 0644.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return fmt.Errorf("%s: only regular files are allowed in demo plugins", path)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if info.Mode()&0o111 != 0 {
			mode = 0o755
		}
		if err := os.WriteFile(target, data, mode); err != nil {
			return err
		}
		return os.Chmod(target, mode)
	})
}

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/graft-build/graft/imagecontract"
	"github.com/graft-build/graft/internal/usererr"
	"github.com/graft-build/graft/lockfile"
	"github.com/graft-build/graft/lockfile/gitremote"
)

type lockOpts struct {
	check   bool
	update  []string
	bump    []string
	changed bool
	json    bool
	jobs    int
	timeout time.Duration
}

func newLockCmd(g *globalOpts) *cobra.Command {
	o := &lockOpts{}
	cmd := &cobra.Command{
		Use:   "lock [--check] [--update NAME...] [--bump NAME...]",
		Short: "Pin every plugin to a commit and the base image to a digest in graft.lock",
		Long: `lock resolves each plugins/<name>/plugin.toml source ref (branch, tag or full SHA) to a
commit, and graft.toml's base to a digest, and writes graft.lock. It never clones: it lists each
repository's refs and fetches the one commit, in parallel.

  --check          compare graft.lock with the definitions and the remotes; exit 1 on drift
  --update NAME... re-resolve only these plugins (base: only the base image's digest); the
                   others keep their locked commit
  --changed        resolve only new plugins and changed plugin.toml files (after a hand or bot edit)
  --bump NAME...   move these plugins to their newest version tag (a branch: its head), editing
                   ref in plugin.toml and graft.lock together; prints the commits in between.
                   base: move graft.toml's base to its newest version tag`,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) > 0 && cmd.Flags().Changed("bump") && !cmd.Flags().Changed("update"):
				o.bump = append(o.bump, args...)
			case len(args) > 0 && !cmd.Flags().Changed("update"):
				return usererr.New("unexpected arguments %q; did you mean --update %s?", args, args[0])
			default:
				o.update = append(o.update, args...)
			}
			if o.check && (len(o.update) > 0 || len(o.bump) > 0) {
				return usererr.New("--check cannot be combined with --update or --bump")
			}
			if len(o.update) > 0 && len(o.bump) > 0 {
				return usererr.New("--update and --bump cannot be combined; run them one after the other")
			}
			if o.changed && (o.check || len(o.update) > 0 || len(o.bump) > 0) {
				return usererr.New("--changed cannot be combined with --check, --update or --bump")
			}
			if len(o.bump) > 0 {
				return runBump(cmd, g, o)
			}
			if o.check {
				return runLockCheck(cmd, g, o)
			}
			return runLock(cmd, g, o)
		},
	}
	cmd.Flags().BoolVar(&o.check, "check", false, "exit 1 when graft.lock is stale or a locked branch or tag moved; writes nothing")
	cmd.Flags().StringSliceVar(&o.update, "update", nil, "re-resolve only these plugins, or base for the base image (repeat, comma-separate, or list after the flag)")
	cmd.Flags().BoolVar(&o.changed, "changed", false, "resolve only new plugins and those whose plugin.toml changed; the others keep their locked commit")
	cmd.Flags().StringSliceVar(&o.bump, "bump", nil, "move these plugins (or base) to their newest version tag (branch: head), editing plugin.toml (graft.toml) and graft.lock")
	cmd.Flags().BoolVar(&o.json, "json", false, "print one JSON document on stdout")
	cmd.Flags().IntVar(&o.jobs, "jobs", lockfile.DefaultJobs, "repositories contacted in parallel")
	cmd.Flags().DurationVar(&o.timeout, "timeout", lockfile.DefaultTimeout, "time allowed per repository")
	return cmd
}

func runLock(cmd *cobra.Command, g *globalOpts, o *lockOpts) error {
	p, err := lockfile.Load(g.dir)
	if err != nil {
		return err
	}
	opts, err := resolveOptions(o.jobs, o.timeout)
	if err != nil {
		return err
	}
	if len(o.update) > 0 || o.changed {
		// --changed is --update with no names: only new plugins and changed plugin.toml files.
		opts = append(opts, lockfile.WithUpdate(o.update...))
	}
	lock, err := p.Resolve(cmd.Context(), opts...)
	if err != nil {
		return err
	}
	path := filepath.Join(p.Dir, lockfile.LockFile)
	written, err := writeIfChanged(path, lock)
	if err != nil {
		return err
	}
	if o.json {
		return writeJSON(g.stdout, lockReport(p, lock, path, written))
	}
	printLock(g.stdout, p, lock, written)
	return nil
}

// writeIfChanged writes graft.lock only when its bytes differ, so an unchanged lock keeps its
// file untouched.
func writeIfChanged(path string, lock *lockfile.Lock) (bool, error) {
	data, err := lockfile.Marshal(lock)
	if err != nil {
		return false, err
	}
	old, err := os.ReadFile(path)
	if err == nil && bytes.Equal(old, data) {
		return false, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("read %s: %w", path, err)
	}
	return true, lockfile.WriteLock(path, lock)
}

func printLock(w io.Writer, p *lockfile.Project, lock *lockfile.Lock, written bool) {
	for _, pk := range lock.Plugins {
		if pk.Kind == lockfile.KindLocal {
			fmt.Fprintf(w, "%s: local %s -> tree %s%s\n", pk.Name, pk.Local, short(pk.Tree), change(p.PluginLock(pk.Name), pk))
			continue
		}
		if pk.IsArtifact() {
			fmt.Fprintf(w, "%s: %s %s -> %s %q (tree %s)%s\n", pk.Name, pk.Kind, pk.SourceName(), short(pk.Digest), pk.Title,
				short(pk.Tree), change(p.PluginLock(pk.Name), pk))
			continue
		}
		fmt.Fprintf(w, "%s: %s %s -> %s %q%s%s\n", pk.Name, pk.Kind, pk.Ref, short(pk.Commit), pk.Title,
			tagList(pk.Tags), change(p.PluginLock(pk.Name), pk))
	}
	fmt.Fprintf(w, "base: %s -> %s%s\n", lock.Base.Ref, lock.Base.Digest, baseChange(p.Lock, lock.Base))
	printContractChanges(w, p.Lock, lock)
	if written {
		fmt.Fprintf(w, "wrote %s\n", lockfile.LockFile)
	} else {
		fmt.Fprintf(w, "%s unchanged\n", lockfile.LockFile)
	}
}

func tagList(tags []string) string {
	if len(tags) == 0 {
		return ""
	}
	return fmt.Sprintf(" (tags: %s)", strings.Join(tags, ", "))
}

// change marks a plugin new, or what it was locked at before (a commit; a local folder's tree).
func change(old *lockfile.PluginLock, now lockfile.PluginLock) string {
	switch {
	case old == nil:
		return " [new]"
	case lockedAt(*old) != lockedAt(now):
		return fmt.Sprintf(" [was %s]", short(lockedAt(*old)))
	}
	return ""
}

// baseChange marks a base whose digest changed with what it was ([was sha256:…], and the old
// reference when that changed too).
func baseChange(old *lockfile.Lock, now lockfile.BaseLock) string {
	switch {
	case old == nil || old.Base.Digest == now.Digest:
		return ""
	case old.Base.Ref != now.Ref:
		return fmt.Sprintf(" [was %s %s]", old.Base.Ref, shortDigest(old.Base.Digest))
	}
	return fmt.Sprintf(" [was %s]", shortDigest(old.Base.Digest))
}

// lockedAt is what pins pk: its commit, a local folder's tree, a file's or manifest's digest.
func lockedAt(pk lockfile.PluginLock) string { return pk.Pin() }

// short is a commit, tree or sha256 digest cut to 12 hex digits.
func short(sha string) string {
	prefix := ""
	if rest, ok := strings.CutPrefix(sha, "sha256:"); ok {
		prefix, sha = "sha256:", rest
	}
	if len(sha) > 12 {
		return prefix + sha[:12]
	}
	return prefix + sha
}

// jsonPlugin is one plugin in `graft lock --json` (credentials stripped from git).
type jsonPlugin struct {
	Name     string   `json:"name"`
	Git      string   `json:"git"`
	Ref      string   `json:"ref"`
	Kind     string   `json:"kind"`
	Commit   string   `json:"commit"`
	Title    string   `json:"title"`
	Tags     []string `json:"tags"`
	Path     string   `json:"path"`
	Local    string   `json:"local,omitempty"` // source.local of a local plugin
	Tree     string   `json:"tree"`
	Previous string   `json:"previous,omitempty"` // commit (local: tree; url, maven, oci: digest) in the lock before this run
	URL      string   `json:"url,omitempty"`      // url, maven: the file's URL (no credentials)
	Maven    string   `json:"maven,omitempty"`
	OCI      string   `json:"oci,omitempty"`
	Version  string   `json:"version,omitempty"`
	Digest   string   `json:"digest,omitempty"` // url, maven: the file's sha256; oci: the manifest's
	Size     int64    `json:"size,omitempty"`
	Dest     string   `json:"dest,omitempty"` // where it is installed, when not plugins_dir/NAME
}

type jsonLock struct {
	Lock        string       `json:"lock"`
	Written     bool         `json:"written"`
	Definitions string       `json:"definitions"`
	Base        jsonBase     `json:"base"`
	Plugins     []jsonPlugin `json:"plugins"`
	// ContractChanges is what changed in the image's runtime contract since the lock before.
	ContractChanges []imagecontract.Change `json:"contract_changes,omitempty"`
}

// jsonBase is the base in `graft lock --json`.
type jsonBase struct {
	Ref      string `json:"ref"`
	Digest   string `json:"digest"`
	Previous string `json:"previous,omitempty"` // digest in the lock before this run, when it changed
}

func lockReport(p *lockfile.Project, lock *lockfile.Lock, path string, written bool) jsonLock {
	r := jsonLock{Lock: path, Written: written, Definitions: lock.Definitions, Plugins: []jsonPlugin{},
		Base: jsonBase{Ref: lock.Base.Ref, Digest: lock.Base.Digest}}
	if p.Lock != nil && p.Lock.Base.Digest != lock.Base.Digest {
		r.Base.Previous = p.Lock.Base.Digest
	}
	r.ContractChanges = contractChanges(p.Lock, lock)
	for _, pk := range lock.Plugins {
		jp := jsonPlugin{Name: pk.Name, Git: gitremote.Redact(pk.Git), Ref: pk.Ref, Kind: pk.Kind, Commit: pk.Commit,
			Title: pk.Title, Tags: pk.Tags, Path: pk.Path, Local: pk.Local, Tree: pk.Tree,
			URL: gitremote.Redact(pk.URL), Maven: pk.Maven, OCI: pk.OCI, Version: pk.Version, Digest: pk.Digest, Size: pk.Size, Dest: pk.Dest}
		if jp.Tags == nil {
			jp.Tags = []string{}
		}
		if old := p.PluginLock(pk.Name); old != nil {
			jp.Previous = lockedAt(*old)
		}
		r.Plugins = append(r.Plugins, jp)
	}
	return r
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func runLockCheck(cmd *cobra.Command, g *globalOpts, o *lockOpts) error {
	p, err := lockfile.Load(g.dir)
	if err != nil {
		return err
	}
	opts, err := resolveOptions(o.jobs, o.timeout)
	if err != nil {
		return err
	}
	drifts, err := p.Check(cmd.Context(), opts...)
	if err != nil {
		return err
	}
	if o.json {
		if drifts == nil {
			drifts = []lockfile.Drift{}
		}
		if err := writeJSON(g.stdout, map[string]any{"ok": len(drifts) == 0, "drift": drifts}); err != nil {
			return err
		}
	} else {
		for _, d := range drifts {
			fmt.Fprintln(g.stdout, d.String())
		}
		if len(drifts) == 0 {
			fmt.Fprintf(g.stdout, "%s is up to date\n", lockfile.LockFile)
		}
	}
	if len(drifts) > 0 {
		return errCheckFailed
	}
	return nil
}

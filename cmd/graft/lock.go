package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/graft-build/graft/internal/usererr"
	"github.com/graft-build/graft/lockfile"
	"github.com/graft-build/graft/lockfile/lockreport"
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

// load reads the site and turns --jobs and --timeout into resolve options.
func (o *lockOpts) load(g *globalOpts) (*lockfile.Project, []lockfile.ResolveOption, error) {
	p, err := lockfile.Load(g.dir)
	if err != nil {
		return nil, nil, err
	}
	opts, err := resolveOptions(o.jobs, o.timeout)
	return p, opts, err
}

func runLock(cmd *cobra.Command, g *globalOpts, o *lockOpts) error {
	p, opts, err := o.load(g)
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
	written, err := lockfile.WriteLockIfChanged(path, lock)
	if err != nil {
		return err
	}
	if o.json {
		return writeJSON(g.stdout, lockreport.New(p, lock, path, written))
	}
	lockreport.Print(g.stdout, p, lock, written)
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func runLockCheck(cmd *cobra.Command, g *globalOpts, o *lockOpts) error {
	p, opts, err := o.load(g)
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

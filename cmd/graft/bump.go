package main

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/graft-build/graft/lockfile"
)

// bumpLogLimit bounds the commit titles listed per bumped plugin.
const bumpLogLimit = 50

// runBump moves plugins to their newest version: it plans every bump (asking each
// repository), edits the refs in memory, resolves the lock with them, lists the commits in
// between, and only then writes the plugin.toml files and graft.lock. A failure before the
// writes changes nothing; a failed lock write puts the plugin.toml files back.
func runBump(cmd *cobra.Command, g *globalOpts, o *lockOpts) error {
	ctx := cmd.Context()
	p, err := lockfile.Load(g.dir)
	if err != nil {
		return err
	}
	opts, err := resolveOptions(o.jobs, o.timeout)
	if err != nil {
		return err
	}
	bumps := make([]*lockfile.Bump, 0, len(o.bump))
	old := map[string][]byte{}
	for _, name := range o.bump {
		b, err := p.PlanBump(ctx, name, opts...)
		if err != nil {
			return err
		}
		if b.NewRef != b.OldRef {
			old[name] = p.PluginData(name)
			if err := p.ApplyBump(b); err != nil {
				return err
			}
		}
		bumps = append(bumps, b)
	}
	lock, err := p.Resolve(ctx, append(opts, lockfile.WithUpdate(o.bump...))...)
	if err != nil {
		return err
	}
	for _, b := range bumps {
		git := true
		for _, pk := range lock.Plugins {
			if pk.Name == b.Plugin {
				b.NewCommit = pk.Pin() // what the lock now pins, should the tag have moved meanwhile
				git = pk.IsGit()
			}
		}
		if b.NewCommit != b.OldCommit && git {
			h, err := p.Log(ctx, b.Plugin, b.OldCommit, b.NewCommit, bumpLogLimit, opts...)
			if err != nil {
				b.HistoryError = err.Error()
			}
			b.History = h
		}
	}
	written, err := writeBump(p, lock, old)
	if err != nil {
		return err
	}
	if o.json {
		rep := lockReport(p, lock, filepath.Join(p.Dir, lockfile.LockFile), written)
		return writeJSON(g.stdout, map[string]any{"bumps": bumps, "lock": rep})
	}
	for _, b := range bumps {
		printBump(g.stdout, b)
	}
	printLock(g.stdout, p, lock, written)
	return nil
}

// writeBump writes the edited plugin.toml files, then graft.lock; when the lock cannot be
// written the plugin.toml files get their old content back.
func writeBump(p *lockfile.Project, lock *lockfile.Lock, old map[string][]byte) (bool, error) {
	var done []string
	restore := func() {
		for _, name := range done {
			_ = p.WritePluginFile(name, old[name])
		}
	}
	for name := range old {
		if err := p.WritePluginFile(name, p.PluginData(name)); err != nil {
			restore()
			return false, err
		}
		done = append(done, name)
	}
	written, err := writeIfChanged(filepath.Join(p.Dir, lockfile.LockFile), lock)
	if err != nil {
		restore()
		return false, err
	}
	return written, nil
}

func printBump(w io.Writer, b *lockfile.Bump) {
	if !b.Moved() {
		fmt.Fprintf(w, "%s: %s %s at %s is the newest; nothing to bump\n", b.Plugin, b.Kind, b.OldRef, short(b.OldCommit))
		return
	}
	ref := b.OldRef
	if b.NewRef != b.OldRef {
		ref += " -> " + b.NewRef
		what := map[string]string{lockfile.KindURL: "version", lockfile.KindMaven: "version", lockfile.KindOCI: "tag"}[b.Kind]
		if what == "" {
			what = "ref"
		}
		fmt.Fprintf(w, "%s: %s %s (%s -> %s), wrote plugins/%s/plugin.toml\n", b.Plugin, what, ref, short(b.OldCommit), short(b.NewCommit), b.Plugin)
	} else {
		fmt.Fprintf(w, "%s: %s %s (%s -> %s)\n", b.Plugin, b.Kind, ref, short(b.OldCommit), short(b.NewCommit))
	}
	switch h := b.History; {
	case b.HistoryError != "":
		fmt.Fprintf(w, "  (commits in between not listed: %s)\n", b.HistoryError)
	case h != nil:
		for _, c := range h.Commits {
			fmt.Fprintf(w, "  - %s %s\n", short(c.Commit), c.Title)
		}
		if h.Truncated {
			fmt.Fprintf(w, "  - ... (more commits; the first %d are listed)\n", bumpLogLimit)
		}
		if h.Unrelated {
			fmt.Fprintf(w, "  (%s is not in the history of %s: the history was rewritten or the tag moved to another branch)\n",
				short(b.OldCommit), short(b.NewCommit))
		}
	}
}
